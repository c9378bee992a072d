// Package chain is vigil's one model of the chain it validates on: genesis,
// the fork schedule, slot timing, domain types and the committee parameters
// the duties need, decoded once from a beacon node's /eth/v1/config/spec and
// /eth/v1/beacon/genesis (Decode), with the slot clock under it (slotclock).
// Chain keeps the model current while vigil runs: it re-reads the node every
// epoch and after a node reconnects, so that a fork the node schedules later
// is picked up, and it reports loudly any other change.
package chain

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// FarFutureEpoch is FAR_FUTURE_EPOCH, the epoch of a fork that is not scheduled.
const FarFutureEpoch = phase0.Epoch(math.MaxUint64)

// ErrSpec marks a chain spec that is missing values or inconsistent.
var ErrSpec = errors.New("invalid chain spec")

// Fork is one fork of the schedule: its version and activation epoch
// (FarFutureEpoch when unscheduled).
type Fork struct {
	Version phase0.Version
	Epoch   phase0.Epoch
}

// Scheduled reports whether the fork has an activation epoch.
func (f Fork) Scheduled() bool { return f.Epoch != FarFutureEpoch }

// NamedFork is a fork with the data version (phase0 … fulu) it starts.
type NamedFork struct {
	Name spec.DataVersion
	Fork
}

// UnknownFork is a fork the beacon node schedules that this build of vigil
// cannot name (a fork after Fulu): nothing may be signed from its epoch on.
type UnknownFork struct {
	// Name is the spec's prefix, e.g. "GLOAS" from GLOAS_FORK_EPOCH.
	Name  string
	Epoch phase0.Epoch
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

// Spec is everything vigil knows about a chain. A Spec is never modified
// once built; Chain replaces it whole.
type Spec struct {
	GenesisTime           time.Time
	GenesisForkVersion    phase0.Version
	GenesisValidatorsRoot phase0.Root
	SlotDuration          time.Duration
	SlotsPerEpoch         uint64
	// Altair to Fulu are the forks vigil knows; an unscheduled one has Epoch
	// FarFutureEpoch.
	Altair, Bellatrix, Capella, Deneb, Electra, Fulu Fork
	// Unknown lists the scheduled forks after Fulu, earliest first.
	Unknown []UnknownFork
	Domains Domains

	// TARGET_AGGREGATORS_PER_COMMITTEE (phase0 validator guide).
	TargetAggregatorsPerCommittee uint64
	// SYNC_COMMITTEE_SIZE, SYNC_COMMITTEE_SUBNET_COUNT,
	// TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE and
	// EPOCHS_PER_SYNC_COMMITTEE_PERIOD (altair).
	SyncCommitteeSize                    uint64
	SyncCommitteeSubnetCount             uint64
	TargetAggregatorsPerSyncSubcommittee uint64
	EpochsPerSyncCommitteePeriod         uint64
}

type knownFork struct {
	prefix  string
	version spec.DataVersion
}

// knownForks are the forks after phase0 that vigil can sign for, in order,
// with the spec key prefix each is configured under.
var knownForks = []knownFork{
	{"ALTAIR", spec.DataVersionAltair}, {"BELLATRIX", spec.DataVersionBellatrix},
	{"CAPELLA", spec.DataVersionCapella}, {"DENEB", spec.DataVersionDeneb},
	{"ELECTRA", spec.DataVersionElectra}, {"FULU", spec.DataVersionFulu},
}

func (s *Spec) fork(v spec.DataVersion) *Fork {
	switch v {
	case spec.DataVersionAltair:
		return &s.Altair
	case spec.DataVersionBellatrix:
		return &s.Bellatrix
	case spec.DataVersionCapella:
		return &s.Capella
	case spec.DataVersionDeneb:
		return &s.Deneb
	case spec.DataVersionElectra:
		return &s.Electra
	case spec.DataVersionFulu:
		return &s.Fulu
	}
	return nil
}

// Forks lists every known fork in order, phase0 (the genesis fork version at
// epoch 0) first.
func (s *Spec) Forks() []NamedFork {
	out := []NamedFork{{spec.DataVersionPhase0, Fork{Version: s.GenesisForkVersion, Epoch: 0}}}
	for _, k := range knownForks {
		out = append(out, NamedFork{k.version, *s.fork(k.version)})
	}
	return out
}

// ForkAt returns the fork in effect at epoch: the latest scheduled fork whose
// epoch is at or before it (get_domain's choice of fork version). It says
// nothing about unknown forks; see Signable.
func (s *Spec) ForkAt(epoch phase0.Epoch) NamedFork {
	fs := s.Forks()
	cur := fs[0]
	for _, f := range fs[1:] {
		if f.Scheduled() && f.Epoch <= epoch {
			cur = f
		}
	}
	return cur
}

// ErrUnknownFork refuses to sign at or after the epoch of a fork this build
// cannot name: its containers and rules may differ from every fork vigil
// knows, so any signing root it computed could be for the wrong object.
var ErrUnknownFork = errors.New("the chain is on a fork this version of vigil does not know")

// Signable returns ErrUnknownFork (wrapped, naming the fork) if epoch is at
// or after an unknown fork's epoch.
func (s *Spec) Signable(epoch phase0.Epoch) error {
	for _, u := range s.Unknown {
		if epoch >= u.Epoch {
			return fmt.Errorf("%w: %s from epoch %d (asked for epoch %d); upgrade vigil", ErrUnknownFork, u.Name, u.Epoch, epoch)
		}
	}
	return nil
}

// ForkName is the fork at epoch as operators call it ("electra", "fulu"), or
// the unknown fork's name in lower case.
func (s *Spec) ForkName(epoch phase0.Epoch) string {
	for i := len(s.Unknown) - 1; i >= 0; i-- {
		if epoch >= s.Unknown[i].Epoch {
			return strings.ToLower(s.Unknown[i].Name)
		}
	}
	return s.ForkAt(epoch).Name.String()
}

// AtLeast reports whether the fork of data version v is in effect at epoch.
func (s *Spec) AtLeast(v spec.DataVersion, epoch phase0.Epoch) bool {
	if v == spec.DataVersionPhase0 {
		return true
	}
	f := s.fork(v)
	return f != nil && f.Scheduled() && epoch >= f.Epoch
}

// EpochAtSlot is compute_epoch_at_slot.
func (s *Spec) EpochAtSlot(slot phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(slot) / s.SlotsPerEpoch)
}

// FirstSlot is compute_start_slot_at_epoch.
func (s *Spec) FirstSlot(epoch phase0.Epoch) phase0.Slot {
	return phase0.Slot(uint64(epoch) * s.SlotsPerEpoch)
}

// SlotAt returns the slot at wall-clock time t (0 before genesis).
func (s *Spec) SlotAt(t time.Time) phase0.Slot {
	if t.Before(s.GenesisTime) {
		return 0
	}
	return phase0.Slot(uint64(t.Sub(s.GenesisTime) / s.SlotDuration))
}

// SlotStart returns the time slot begins.
func (s *Spec) SlotStart(slot phase0.Slot) time.Time {
	return s.GenesisTime.Add(time.Duration(slot) * s.SlotDuration)
}

// SyncPeriod is compute_sync_committee_period.
func (s *Spec) SyncPeriod(epoch phase0.Epoch) uint64 {
	return uint64(epoch) / s.EpochsPerSyncCommitteePeriod
}

// SyncSubcommitteeSize is SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT.
func (s *Spec) SyncSubcommitteeSize() uint64 {
	return s.SyncCommitteeSize / s.SyncCommitteeSubnetCount
}

// Validate checks that the spec is complete and its forks are in order.
func (s *Spec) Validate() error {
	switch {
	case s.GenesisTime.IsZero():
		return fmt.Errorf("%w: genesis time is missing", ErrSpec)
	case s.SlotDuration <= 0:
		return fmt.Errorf("%w: SECONDS_PER_SLOT must be positive", ErrSpec)
	case s.SlotsPerEpoch == 0:
		return fmt.Errorf("%w: SLOTS_PER_EPOCH must be positive", ErrSpec)
	case s.GenesisValidatorsRoot == (phase0.Root{}):
		return fmt.Errorf("%w: genesis validators root is missing", ErrSpec)
	case s.SyncCommitteeSize < s.SyncCommitteeSubnetCount:
		return fmt.Errorf("%w: SYNC_COMMITTEE_SIZE is smaller than SYNC_COMMITTEE_SUBNET_COUNT", ErrSpec)
	}
	for name, v := range map[string]uint64{
		"TARGET_AGGREGATORS_PER_COMMITTEE":         s.TargetAggregatorsPerCommittee,
		"SYNC_COMMITTEE_SIZE":                      s.SyncCommitteeSize,
		"SYNC_COMMITTEE_SUBNET_COUNT":              s.SyncCommitteeSubnetCount,
		"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE": s.TargetAggregatorsPerSyncSubcommittee,
		"EPOCHS_PER_SYNC_COMMITTEE_PERIOD":         s.EpochsPerSyncCommitteePeriod,
	} {
		if v == 0 {
			return fmt.Errorf("%w: %s must be positive", ErrSpec, name)
		}
	}
	fs := s.Forks()
	for i := 1; i < len(fs); i++ {
		if fs[i].Epoch < fs[i-1].Epoch {
			return fmt.Errorf("%w: %s fork epoch %d is before %s fork epoch %d", ErrSpec,
				fs[i].Name, fs[i].Epoch, fs[i-1].Name, fs[i-1].Epoch)
		}
	}
	if len(s.Unknown) > 0 && s.Fulu.Scheduled() && s.Unknown[0].Epoch < s.Fulu.Epoch {
		return fmt.Errorf("%w: %s fork epoch %d is before fulu fork epoch %d", ErrSpec, s.Unknown[0].Name, s.Unknown[0].Epoch, s.Fulu.Epoch)
	}
	zero := phase0.DomainType{}
	d := s.Domains
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
			return fmt.Errorf("%w: %s is missing", ErrSpec, name)
		}
	}
	return nil
}

// Decode builds a Spec from go-eth2-client's Spec() map and Genesis()
// response; it is the only decoder of the beacon node's spec in vigil. It
// names the first missing or mistyped value. Known forks the node does not
// configure count as unscheduled; scheduled forks after Fulu are listed in
// Unknown; DOMAIN_APPLICATION_BUILDER defaults to the builder-specs value
// 0x00000001.
func Decode(values map[string]any, genesis *apiv1.Genesis) (*Spec, error) {
	s := &Spec{}
	if genesis == nil {
		return nil, fmt.Errorf("%w: genesis response is missing", ErrSpec)
	}
	s.GenesisTime = genesis.GenesisTime
	s.GenesisValidatorsRoot = genesis.GenesisValidatorsRoot
	s.GenesisForkVersion = genesis.GenesisForkVersion
	if v, ok := values["GENESIS_FORK_VERSION"]; ok {
		gv, err := specVersion("GENESIS_FORK_VERSION", v)
		if err != nil {
			return nil, err
		}
		if gv != genesis.GenesisForkVersion {
			return nil, fmt.Errorf("%w: spec GENESIS_FORK_VERSION %#x differs from genesis fork version %#x",
				ErrSpec, gv[:], genesis.GenesisForkVersion[:])
		}
	}
	var err error
	if s.SlotDuration, err = specDuration(values, "SECONDS_PER_SLOT"); err != nil {
		return nil, err
	}
	for _, u := range []struct {
		name string
		dst  *uint64
	}{
		{"SLOTS_PER_EPOCH", &s.SlotsPerEpoch},
		{"TARGET_AGGREGATORS_PER_COMMITTEE", &s.TargetAggregatorsPerCommittee},
		{"SYNC_COMMITTEE_SIZE", &s.SyncCommitteeSize},
		{"SYNC_COMMITTEE_SUBNET_COUNT", &s.SyncCommitteeSubnetCount},
		{"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE", &s.TargetAggregatorsPerSyncSubcommittee},
		{"EPOCHS_PER_SYNC_COMMITTEE_PERIOD", &s.EpochsPerSyncCommitteePeriod},
	} {
		if *u.dst, err = specUint(values, u.name); err != nil {
			return nil, err
		}
	}
	for _, k := range knownForks {
		if *s.fork(k.version), err = specFork(values, k.prefix); err != nil {
			return nil, err
		}
	}
	if s.Unknown, err = unknownForks(values); err != nil {
		return nil, err
	}
	if err := decodeDomains(values, &s.Domains); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func decodeDomains(values map[string]any, d *Domains) error {
	for _, dom := range []struct {
		name string
		dst  *phase0.DomainType
		def  *phase0.DomainType
	}{
		{"DOMAIN_BEACON_PROPOSER", &d.BeaconProposer, nil},
		{"DOMAIN_BEACON_ATTESTER", &d.BeaconAttester, nil},
		{"DOMAIN_RANDAO", &d.Randao, nil},
		{"DOMAIN_DEPOSIT", &d.Deposit, nil},
		{"DOMAIN_VOLUNTARY_EXIT", &d.VoluntaryExit, nil},
		{"DOMAIN_SELECTION_PROOF", &d.SelectionProof, nil},
		{"DOMAIN_AGGREGATE_AND_PROOF", &d.AggregateAndProof, nil},
		{"DOMAIN_SYNC_COMMITTEE", &d.SyncCommittee, nil},
		{"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF", &d.SyncCommitteeSelectionProof, nil},
		{"DOMAIN_CONTRIBUTION_AND_PROOF", &d.ContributionAndProof, nil},
		{"DOMAIN_APPLICATION_BUILDER", &d.ApplicationBuilder, &phase0.DomainType{0x00, 0x00, 0x00, 0x01}},
	} {
		v, ok := values[dom.name]
		if !ok {
			if dom.def != nil {
				*dom.dst = *dom.def
				continue
			}
			return fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrSpec, dom.name)
		}
		dt, ok := v.(phase0.DomainType)
		if !ok {
			return fmt.Errorf("%w: %s has type %T, want phase0.DomainType", ErrSpec, dom.name, v)
		}
		*dom.dst = dt
	}
	return nil
}

// unknownForks finds <NAME>_FORK_EPOCH keys of forks vigil does not know
// that the node schedules (an epoch other than FAR_FUTURE_EPOCH).
func unknownForks(values map[string]any) ([]UnknownFork, error) {
	var out []UnknownFork
	for key, v := range values {
		name, ok := strings.CutSuffix(key, "_FORK_EPOCH")
		if !ok || name == "" || slices.ContainsFunc(knownForks, func(k knownFork) bool { return k.prefix == name }) {
			continue
		}
		e, err := toUint(key, v)
		if err != nil {
			return nil, err
		}
		if phase0.Epoch(e) != FarFutureEpoch {
			out = append(out, UnknownFork{Name: name, Epoch: phase0.Epoch(e)})
		}
	}
	slices.SortFunc(out, func(a, b UnknownFork) int {
		if a.Epoch != b.Epoch {
			if a.Epoch < b.Epoch {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
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
		return f, fmt.Errorf("%w: %s_FORK_VERSION and %s_FORK_EPOCH must both be present", ErrSpec, name, name)
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
	return phase0.Version{}, fmt.Errorf("%w: %s has type %T, want a 4-byte phase0.Version", ErrSpec, name, v)
}

func specUint(values map[string]any, name string) (uint64, error) {
	v, ok := values[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrSpec, name)
	}
	return toUint(name, v)
}

// toUint accepts the types go-eth2-client decodes spec integers into.
func toUint(name string, v any) (uint64, error) {
	switch x := v.(type) {
	case uint64:
		return x, nil
	case phase0.Epoch:
		return uint64(x), nil
	case phase0.Slot:
		return uint64(x), nil
	case time.Duration:
		return uint64(x / time.Second), nil
	case string:
		u, err := strconv.ParseUint(x, 10, 64)
		if err == nil {
			return u, nil
		}
	}
	return 0, fmt.Errorf("%w: %s has type %T, want an unsigned integer", ErrSpec, name, v)
}

func specDuration(values map[string]any, name string) (time.Duration, error) {
	v, ok := values[name]
	if !ok {
		return 0, fmt.Errorf("%w: %s is missing from the beacon node's spec", ErrSpec, name)
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
