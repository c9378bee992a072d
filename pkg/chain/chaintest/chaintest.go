// Package chaintest provides a test chain (a Spec with every fork reachable)
// and the spec map a beacon node serves for it, for tests of the packages
// that take their chain model from pkg/chain.
package chaintest

import (
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// GenesisValidatorsRoot is the test chain's genesis validators root.
var GenesisValidatorsRoot = phase0.Root{0x76, 0x69, 0x67, 0x69, 0x6c}

// Spec returns a test chain starting at genesis: 3 s slots, 8 slots per
// epoch, mainnet domain types and committee parameters (with 8-epoch sync
// committee periods), and forks Altair … Fulu at epochs 1 … 6 so that every
// fork is reachable. Callers may modify the returned copy, e.g. set a fork's
// Epoch to chain.FarFutureEpoch to leave it unscheduled.
func Spec(genesis time.Time) *chain.Spec {
	return &chain.Spec{
		GenesisTime:                          genesis,
		GenesisForkVersion:                   phase0.Version{0x10, 0, 0, 0x38},
		GenesisValidatorsRoot:                GenesisValidatorsRoot,
		SlotDuration:                         3 * time.Second,
		SlotsPerEpoch:                        8,
		Altair:                               chain.Fork{Version: phase0.Version{0x20, 0, 0, 0x38}, Epoch: 1},
		Bellatrix:                            chain.Fork{Version: phase0.Version{0x30, 0, 0, 0x38}, Epoch: 2},
		Capella:                              chain.Fork{Version: phase0.Version{0x40, 0, 0, 0x38}, Epoch: 3},
		Deneb:                                chain.Fork{Version: phase0.Version{0x50, 0, 0, 0x38}, Epoch: 4},
		Electra:                              chain.Fork{Version: phase0.Version{0x60, 0, 0, 0x38}, Epoch: 5},
		Fulu:                                 chain.Fork{Version: phase0.Version{0x70, 0, 0, 0x38}, Epoch: 6},
		Domains:                              MainnetDomains(),
		TargetAggregatorsPerCommittee:        16,
		SyncCommitteeSize:                    512,
		SyncCommitteeSubnetCount:             4,
		TargetAggregatorsPerSyncSubcommittee: 16,
		EpochsPerSyncCommitteePeriod:         8,
	}
}

// MainnetDomains returns the domain types of the consensus specs (phase0 and
// altair "Domain types") and builder-specs' DOMAIN_APPLICATION_BUILDER.
func MainnetDomains() chain.Domains {
	return chain.Domains{
		BeaconProposer:              phase0.DomainType{0x00, 0, 0, 0},
		BeaconAttester:              phase0.DomainType{0x01, 0, 0, 0},
		Randao:                      phase0.DomainType{0x02, 0, 0, 0},
		Deposit:                     phase0.DomainType{0x03, 0, 0, 0},
		VoluntaryExit:               phase0.DomainType{0x04, 0, 0, 0},
		SelectionProof:              phase0.DomainType{0x05, 0, 0, 0},
		AggregateAndProof:           phase0.DomainType{0x06, 0, 0, 0},
		SyncCommittee:               phase0.DomainType{0x07, 0, 0, 0},
		SyncCommitteeSelectionProof: phase0.DomainType{0x08, 0, 0, 0},
		ContributionAndProof:        phase0.DomainType{0x09, 0, 0, 0},
		ApplicationBuilder:          phase0.DomainType{0x00, 0, 0, 0x01},
	}
}

// BeaconSpec is what go-eth2-client's Spec() returns for s: versions as
// phase0.Version, epochs and counts as uint64, SECONDS_PER_SLOT as a
// time.Duration and domains as phase0.DomainType (its parseSpecString).
func BeaconSpec(s *chain.Spec) map[string]any {
	d := s.Domains
	m := map[string]any{
		"CONFIG_NAME":                              "vigil-test",
		"PRESET_BASE":                              "mainnet",
		"GENESIS_FORK_VERSION":                     s.GenesisForkVersion,
		"SECONDS_PER_SLOT":                         s.SlotDuration,
		"SLOTS_PER_EPOCH":                          s.SlotsPerEpoch,
		"TARGET_AGGREGATORS_PER_COMMITTEE":         s.TargetAggregatorsPerCommittee,
		"SYNC_COMMITTEE_SIZE":                      s.SyncCommitteeSize,
		"SYNC_COMMITTEE_SUBNET_COUNT":              s.SyncCommitteeSubnetCount,
		"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE": s.TargetAggregatorsPerSyncSubcommittee,
		"EPOCHS_PER_SYNC_COMMITTEE_PERIOD":         s.EpochsPerSyncCommitteePeriod,
		"DOMAIN_BEACON_PROPOSER":                   d.BeaconProposer,
		"DOMAIN_BEACON_ATTESTER":                   d.BeaconAttester,
		"DOMAIN_RANDAO":                            d.Randao,
		"DOMAIN_DEPOSIT":                           d.Deposit,
		"DOMAIN_VOLUNTARY_EXIT":                    d.VoluntaryExit,
		"DOMAIN_SELECTION_PROOF":                   d.SelectionProof,
		"DOMAIN_AGGREGATE_AND_PROOF":               d.AggregateAndProof,
		"DOMAIN_SYNC_COMMITTEE":                    d.SyncCommittee,
		"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF":    d.SyncCommitteeSelectionProof,
		"DOMAIN_CONTRIBUTION_AND_PROOF":            d.ContributionAndProof,
		"DOMAIN_APPLICATION_BUILDER":               d.ApplicationBuilder,
	}
	for _, f := range s.Forks()[1:] {
		name := map[string]string{
			"altair": "ALTAIR", "bellatrix": "BELLATRIX", "capella": "CAPELLA",
			"deneb": "DENEB", "electra": "ELECTRA", "fulu": "FULU",
		}[f.Name.String()]
		m[name+"_FORK_VERSION"] = f.Version
		m[name+"_FORK_EPOCH"] = uint64(f.Epoch)
	}
	for _, u := range s.Unknown {
		m[u.Name+"_FORK_VERSION"] = phase0.Version{0xff, 0, 0, byte(len(u.Name))}
		m[u.Name+"_FORK_EPOCH"] = uint64(u.Epoch)
	}
	return m
}

// Chain returns a Chain for s on clock that never re-reads its spec.
func Chain(t testing.TB, s *chain.Spec, clock slotclock.Clock) *chain.Chain {
	t.Helper()
	c, err := chain.New(s, nil, chain.WithClock(clock))
	if err != nil {
		t.Fatalf("chaintest: %v", err)
	}
	return c
}

// Model is a chain model whose spec never changes, for tests of consumers
// that declare `interface{ Spec() *chain.Spec }`.
type Model struct{ s *chain.Spec }

// Fixed returns a Model of a copy of s.
func Fixed(s chain.Spec) Model { return Model{s: &s} }

// Spec returns the fixed spec.
func (m Model) Spec() *chain.Spec { return m.s }
