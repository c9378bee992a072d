package signer

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// FarFutureEpoch is FAR_FUTURE_EPOCH, the epoch of a fork that is not scheduled.
const FarFutureEpoch = phase0.Epoch(math.MaxUint64)

// Fork is one scheduled fork: its version and activation epoch.
type Fork struct {
	Version phase0.Version
	Epoch   phase0.Epoch
}

// Domains holds the chain's domain types (consensus specs, "Domain types").
type Domains struct {
	BeaconProposer              phase0.DomainType
	BeaconAttester              phase0.DomainType
	Randao                      phase0.DomainType
	Deposit                     phase0.DomainType
	VoluntaryExit               phase0.DomainType
	SelectionProof              phase0.DomainType
	AggregateAndProof           phase0.DomainType
	SyncCommittee               phase0.DomainType
	SyncCommitteeSelectionProof phase0.DomainType
	ContributionAndProof        phase0.DomainType
	ApplicationBuilder          phase0.DomainType
}

// ChainSpec is what the signer needs to know about the chain, filled from the
// beacon node's /eth/v1/config/spec and /eth/v1/beacon/genesis (see
// ChainSpecFromBeacon).
type ChainSpec struct {
	GenesisTime           time.Time
	GenesisForkVersion    phase0.Version
	GenesisValidatorsRoot phase0.Root
	SlotDuration          time.Duration
	SlotsPerEpoch         uint64
	// Altair to Fulu are the scheduled forks; an unscheduled one has Epoch
	// FarFutureEpoch.
	Altair, Bellatrix, Capella, Deneb, Electra, Fulu Fork
	Domains                                          Domains
}

// ErrChainSpec marks a chain spec that is missing values or inconsistent.
var ErrChainSpec = errors.New("invalid chain spec")

// forks lists the scheduled forks in order, with the data version each one
// starts.
func (c *ChainSpec) forks() []scheduledFork {
	return []scheduledFork{
		{spec.DataVersionPhase0, Fork{Version: c.GenesisForkVersion, Epoch: 0}},
		{spec.DataVersionAltair, c.Altair},
		{spec.DataVersionBellatrix, c.Bellatrix},
		{spec.DataVersionCapella, c.Capella},
		{spec.DataVersionDeneb, c.Deneb},
		{spec.DataVersionElectra, c.Electra},
		{spec.DataVersionFulu, c.Fulu},
	}
}

type scheduledFork struct {
	version spec.DataVersion
	fork    Fork
}

// Validate checks that the spec is complete and its forks are in order.
func (c *ChainSpec) Validate() error {
	if c.GenesisTime.IsZero() {
		return fmt.Errorf("%w: genesis time is missing", ErrChainSpec)
	}
	if c.SlotDuration <= 0 {
		return fmt.Errorf("%w: SECONDS_PER_SLOT must be positive", ErrChainSpec)
	}
	if c.SlotsPerEpoch == 0 {
		return fmt.Errorf("%w: SLOTS_PER_EPOCH must be positive", ErrChainSpec)
	}
	if c.GenesisValidatorsRoot == (phase0.Root{}) {
		return fmt.Errorf("%w: genesis validators root is missing", ErrChainSpec)
	}
	fs := c.forks()
	for i := 1; i < len(fs); i++ {
		if fs[i].fork.Epoch < fs[i-1].fork.Epoch {
			return fmt.Errorf("%w: %s fork epoch %d is before %s fork epoch %d", ErrChainSpec,
				fs[i].version, fs[i].fork.Epoch, fs[i-1].version, fs[i-1].fork.Epoch)
		}
	}
	zero := phase0.DomainType{}
	d := c.Domains
	for name, v := range map[string]phase0.DomainType{
		"DOMAIN_BEACON_ATTESTER": d.BeaconAttester, "DOMAIN_RANDAO": d.Randao,
		"DOMAIN_VOLUNTARY_EXIT": d.VoluntaryExit, "DOMAIN_SELECTION_PROOF": d.SelectionProof,
		"DOMAIN_AGGREGATE_AND_PROOF": d.AggregateAndProof, "DOMAIN_SYNC_COMMITTEE": d.SyncCommittee,
		"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF": d.SyncCommitteeSelectionProof,
		"DOMAIN_CONTRIBUTION_AND_PROOF":         d.ContributionAndProof, "DOMAIN_APPLICATION_BUILDER": d.ApplicationBuilder,
		"DOMAIN_DEPOSIT": d.Deposit,
	} {
		// DOMAIN_BEACON_PROPOSER is legitimately 0x00000000.
		if v == zero {
			return fmt.Errorf("%w: %s is missing", ErrChainSpec, name)
		}
	}
	return nil
}

// forkAt returns the fork in effect at epoch: the latest scheduled fork whose
// epoch is at or before it (get_domain's choice of fork version).
func (c *ChainSpec) forkAt(epoch phase0.Epoch) scheduledFork {
	fs := c.forks()
	cur := fs[0]
	for _, f := range fs[1:] {
		if f.fork.Epoch != FarFutureEpoch && f.fork.Epoch <= epoch {
			cur = f
		}
	}
	return cur
}

// EpochAtSlot is compute_epoch_at_slot.
func (c *ChainSpec) EpochAtSlot(slot phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(slot) / c.SlotsPerEpoch)
}

// SlotAt returns the slot at wall-clock time t (0 before genesis).
func (c *ChainSpec) SlotAt(t time.Time) phase0.Slot {
	if t.Before(c.GenesisTime) {
		return 0
	}
	return phase0.Slot(uint64(t.Sub(c.GenesisTime) / c.SlotDuration))
}

// ChainSpecFromBeacon builds a ChainSpec from go-eth2-client's Spec() map and
// Genesis() response, naming the first missing or mistyped value. Forks the
// node does not know yet count as unscheduled; DOMAIN_APPLICATION_BUILDER
// defaults to the builder-specs value 0x00000001.
func ChainSpecFromBeacon(values map[string]any, genesis *apiv1.Genesis) (ChainSpec, error) {
	var c ChainSpec
	if genesis == nil {
		return c, fmt.Errorf("%w: genesis response is missing", ErrChainSpec)
	}
	c.GenesisTime = genesis.GenesisTime
	c.GenesisValidatorsRoot = genesis.GenesisValidatorsRoot
	c.GenesisForkVersion = genesis.GenesisForkVersion
	if v, ok := values["GENESIS_FORK_VERSION"]; ok {
		gv, err := specVersion("GENESIS_FORK_VERSION", v)
		if err != nil {
			return c, err
		}
		if gv != genesis.GenesisForkVersion {
			return c, fmt.Errorf("%w: spec GENESIS_FORK_VERSION %#x differs from genesis fork version %#x",
				ErrChainSpec, gv[:], genesis.GenesisForkVersion[:])
		}
	}
	var err error
	if c.SlotDuration, err = specDuration(values, "SECONDS_PER_SLOT"); err != nil {
		return c, err
	}
	if c.SlotsPerEpoch, err = specUint(values, "SLOTS_PER_EPOCH"); err != nil {
		return c, err
	}
	for _, f := range []struct {
		name string
		dst  *Fork
	}{
		{"ALTAIR", &c.Altair}, {"BELLATRIX", &c.Bellatrix}, {"CAPELLA", &c.Capella},
		{"DENEB", &c.Deneb}, {"ELECTRA", &c.Electra}, {"FULU", &c.Fulu},
	} {
		if *f.dst, err = specFork(values, f.name); err != nil {
			return c, err
		}
	}
	for _, d := range []struct {
		name string
		dst  *phase0.DomainType
		def  *phase0.DomainType
	}{
		{"DOMAIN_BEACON_PROPOSER", &c.Domains.BeaconProposer, nil},
		{"DOMAIN_BEACON_ATTESTER", &c.Domains.BeaconAttester, nil},
		{"DOMAIN_RANDAO", &c.Domains.Randao, nil},
		{"DOMAIN_DEPOSIT", &c.Domains.Deposit, nil},
		{"DOMAIN_VOLUNTARY_EXIT", &c.Domains.VoluntaryExit, nil},
		{"DOMAIN_SELECTION_PROOF", &c.Domains.SelectionProof, nil},
		{"DOMAIN_AGGREGATE_AND_PROOF", &c.Domains.AggregateAndProof, nil},
		{"DOMAIN_SYNC_COMMITTEE", &c.Domains.SyncCommittee, nil},
		{"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF", &c.Domains.SyncCommitteeSelectionProof, nil},
		{"DOMAIN_CONTRIBUTION_AND_PROOF", &c.Domains.ContributionAndProof, nil},
		{"DOMAIN_APPLICATION_BUILDER", &c.Domains.ApplicationBuilder, &phase0.DomainType{0x00, 0x00, 0x00, 0x01}},
	} {
		v, ok := values[d.name]
		if !ok {
			if d.def != nil {
				*d.dst = *d.def
				continue
			}
			return c, fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrChainSpec, d.name)
		}
		dt, ok := v.(phase0.DomainType)
		if !ok {
			return c, fmt.Errorf("%w: %s has type %T, want phase0.DomainType", ErrChainSpec, d.name, v)
		}
		*d.dst = dt
	}
	return c, c.Validate()
}

func specFork(values map[string]any, name string) (Fork, error) {
	f := Fork{Epoch: FarFutureEpoch}
	vv, okV := values[name+"_FORK_VERSION"]
	ev, okE := values[name+"_FORK_EPOCH"]
	if !okV && !okE {
		// A node that predates the fork: treat it as unscheduled.
		return f, nil
	}
	if !okV || !okE {
		return f, fmt.Errorf("%w: %s_FORK_VERSION and %s_FORK_EPOCH must both be present", ErrChainSpec, name, name)
	}
	var err error
	if f.Version, err = specVersion(name+"_FORK_VERSION", vv); err != nil {
		return f, err
	}
	e, err := toUint(name+"_FORK_EPOCH", ev)
	if err != nil {
		return f, err
	}
	f.Epoch = phase0.Epoch(e)
	return f, nil
}

func specVersion(name string, v any) (phase0.Version, error) {
	switch x := v.(type) {
	case phase0.Version:
		return x, nil
	case []byte:
		if len(x) == 4 {
			return phase0.Version(x), nil
		}
	}
	return phase0.Version{}, fmt.Errorf("%w: %s has type %T, want a 4-byte phase0.Version", ErrChainSpec, name, v)
}

func specUint(values map[string]any, name string) (uint64, error) {
	v, ok := values[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrChainSpec, name)
	}
	return toUint(name, v)
}

func toUint(name string, v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case phase0.Epoch:
		return uint64(x), nil
	case phase0.Slot:
		return uint64(x), nil
	case string:
		u, err := strconv.ParseUint(x, 10, 64)
		if err == nil {
			return u, nil
		}
	}
	return 0, fmt.Errorf("%w: %s has type %T, want an unsigned integer", ErrChainSpec, name, v)
}

func specDuration(values map[string]any, name string) (time.Duration, error) {
	v, ok := values[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrChainSpec, name)
	}
	if d, ok := v.(time.Duration); ok {
		return d, nil
	}
	u, err := toUint(name, v)
	if err != nil {
		return 0, err
	}
	return time.Duration(u) * time.Second, nil
}
