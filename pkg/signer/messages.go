package signer

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
)

// Messages that cannot be slashed are signed without a slashing-protection
// record; each computes its own signing root from the spec types.

// SignRANDAOReveal signs the RANDAO reveal for epoch (consensus specs,
// get_epoch_signature: the epoch as SSZ uint64 under DOMAIN_RANDAO).
func (s *Signer) SignRANDAOReveal(ctx context.Context, pubkey phase0.BLSPubKey, epoch phase0.Epoch) (phase0.BLSSignature, error) {
	return s.signMessage(KindRANDAO, pubkey, s.spec().Domains.Randao, epoch, uint64Root(uint64(epoch)), nil)
}

// SignSelectionProof signs the aggregation slot selection proof for slot
// (consensus specs, get_slot_signature).
func (s *Signer) SignSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot) (phase0.BLSSignature, error) {
	return s.signMessage(KindSelectionProof, pubkey, s.spec().Domains.SelectionProof, s.spec().EpochAtSlot(slot), uint64Root(uint64(slot)), nil)
}

// SignAggregateAndProof signs an aggregate-and-proof, before or after Electra
// (consensus specs, get_aggregate_and_proof_signature). The container must
// be the one of the fork scheduled at the aggregate's slot.
func (s *Signer) SignAggregateAndProof(ctx context.Context, pubkey phase0.BLSPubKey, aggregate *spec.VersionedAggregateAndProof) (phase0.BLSSignature, error) {
	const kind = KindAggregateAndProof
	var none phase0.BLSSignature
	invalid := func(format string, a ...any) (phase0.BLSSignature, error) {
		return none, s.refuse(kind, pubkey, ReasonInvalidMessage, fmt.Errorf("%w: "+format, append([]any{ErrInvalidMessage}, a...)...))
	}
	if aggregate == nil {
		return invalid("aggregate and proof is nil")
	}
	var (
		slot    phase0.Slot
		htr     func() ([32]byte, error)
		electra bool
	)
	switch aggregate.Version {
	case spec.DataVersionPhase0, spec.DataVersionAltair, spec.DataVersionBellatrix, spec.DataVersionCapella, spec.DataVersionDeneb:
		var ap *phase0.AggregateAndProof
		switch aggregate.Version {
		case spec.DataVersionPhase0:
			ap = aggregate.Phase0
		case spec.DataVersionAltair:
			ap = aggregate.Altair
		case spec.DataVersionBellatrix:
			ap = aggregate.Bellatrix
		case spec.DataVersionCapella:
			ap = aggregate.Capella
		default:
			ap = aggregate.Deneb
		}
		if ap == nil || ap.Aggregate == nil || ap.Aggregate.Data == nil {
			return invalid("%s aggregate and proof is incomplete", aggregate.Version)
		}
		slot, htr = ap.Aggregate.Data.Slot, ap.HashTreeRoot
	case spec.DataVersionElectra, spec.DataVersionFulu:
		ap := aggregate.Electra
		if aggregate.Version == spec.DataVersionFulu {
			ap = aggregate.Fulu
		}
		if ap == nil || ap.Aggregate == nil || ap.Aggregate.Data == nil {
			return invalid("%s aggregate and proof is incomplete", aggregate.Version)
		}
		slot, htr, electra = ap.Aggregate.Data.Slot, ap.HashTreeRoot, true
	default:
		return invalid("unsupported aggregate and proof version %s", aggregate.Version)
	}
	sp := s.spec()
	epoch := sp.EpochAtSlot(slot)
	// Electra changed the Attestation container (committee_bits), so the
	// container must match the fork at the slot or the root is for another
	// object than the chain will verify.
	scheduled := sp.ForkAt(epoch).Name
	if electra != (scheduled >= spec.DataVersionElectra) {
		return none, s.refuse(kind, pubkey, ReasonForkMismatch,
			fmt.Errorf("%w: %s aggregate at slot %d, where the fork is %s", ErrForkMismatch, aggregate.Version, slot, scheduled))
	}
	return s.signMessage(kind, pubkey, sp.Domains.AggregateAndProof, epoch, nil, htr)
}

// SignSyncCommitteeMessage signs the sync committee message for the beacon
// block root at slot (consensus specs altair, get_sync_committee_message).
func (s *Signer) SignSyncCommitteeMessage(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, blockRoot phase0.Root) (phase0.BLSSignature, error) {
	// hash_tree_root of a Root is the root itself.
	return s.signMessage(KindSyncCommitteeMessage, pubkey, s.spec().Domains.SyncCommittee, s.spec().EpochAtSlot(slot), blockRoot[:], nil)
}

// SignSyncCommitteeSelectionProof signs the sync aggregator selection data for
// slot and subcommittee (consensus specs altair, get_sync_committee_selection_proof).
func (s *Signer) SignSyncCommitteeSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, subcommitteeIndex uint64) (phase0.BLSSignature, error) {
	data := &altair.SyncAggregatorSelectionData{Slot: slot, SubcommitteeIndex: subcommitteeIndex}
	return s.signMessage(KindSyncCommitteeSelectionProof, pubkey, s.spec().Domains.SyncCommitteeSelectionProof,
		s.spec().EpochAtSlot(slot), nil, data.HashTreeRoot)
}

// SignContributionAndProof signs a sync committee contribution-and-proof
// (consensus specs altair, get_contribution_and_proof_signature).
func (s *Signer) SignContributionAndProof(ctx context.Context, pubkey phase0.BLSPubKey, cp *altair.ContributionAndProof) (phase0.BLSSignature, error) {
	if cp == nil || cp.Contribution == nil {
		return phase0.BLSSignature{}, s.refuse(KindContributionAndProof, pubkey, ReasonInvalidMessage,
			fmt.Errorf("%w: contribution and proof is incomplete", ErrInvalidMessage))
	}
	return s.signMessage(KindContributionAndProof, pubkey, s.spec().Domains.ContributionAndProof,
		s.spec().EpochAtSlot(cp.Contribution.Slot), nil, cp.HashTreeRoot)
}

// SignValidatorRegistration signs a builder registration with the key of
// reg.Pubkey. Builder-specs: DOMAIN_APPLICATION_BUILDER computed with the
// genesis fork version and a zero genesis validators root, so one
// registration is valid across forks.
func (s *Signer) SignValidatorRegistration(ctx context.Context, reg *apiv1.ValidatorRegistration) (phase0.BLSSignature, error) {
	const kind = KindValidatorRegistration
	if reg == nil {
		return phase0.BLSSignature{}, s.refuse(kind, phase0.BLSPubKey{}, ReasonInvalidMessage,
			fmt.Errorf("%w: registration is nil", ErrInvalidMessage))
	}
	dom, err := ComputeDomain(s.spec().Domains.ApplicationBuilder, s.spec().GenesisForkVersion, phase0.Root{})
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return s.signWithDomain(kind, reg.Pubkey, dom, nil, reg.HashTreeRoot)
}

// SignVoluntaryExit signs a voluntary exit. EIP-7044: from Deneb on, exits
// are verified with the Capella fork version whatever the current fork, so
// that signed exits stay valid forever; before Deneb, get_domain at the
// exit's epoch.
func (s *Signer) SignVoluntaryExit(ctx context.Context, pubkey phase0.BLSPubKey, exit *phase0.VoluntaryExit) (phase0.BLSSignature, error) {
	const kind = KindVoluntaryExit
	if exit == nil {
		return phase0.BLSSignature{}, s.refuse(kind, pubkey, ReasonInvalidMessage, fmt.Errorf("%w: exit is nil", ErrInvalidMessage))
	}
	dom, err := s.VoluntaryExitDomain(exit.Epoch)
	if errors.Is(err, chain.ErrUnknownFork) {
		return phase0.BLSSignature{}, s.refuse(kind, pubkey, ReasonUnknownFork, err)
	}
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return s.signWithDomain(kind, pubkey, dom, nil, exit.HashTreeRoot)
}

// VoluntaryExitDomain is the domain an exit for epoch is signed with now.
// An exit can only be processed at or after its epoch, so it is verified
// under EIP-7044's rule once either the wall clock or its epoch reaches Deneb.
func (s *Signer) VoluntaryExitDomain(epoch phase0.Epoch) (phase0.Domain, error) {
	sp := s.spec()
	now := sp.EpochAtSlot(sp.SlotAt(s.now()))
	if err := sp.Signable(max(now, epoch)); err != nil {
		return phase0.Domain{}, err
	}
	deneb := sp.Deneb.Epoch
	if deneb != chain.FarFutureEpoch && (now >= deneb || epoch >= deneb) {
		return s.domainWithVersion(sp, sp.Domains.VoluntaryExit, sp.Capella.Version)
	}
	return s.domain(sp, sp.Domains.VoluntaryExit, epoch)
}

// signMessage signs an unslashable message under domain type dt at epoch;
// the object root is either given or computed by htr.
func (s *Signer) signMessage(kind Kind, pk phase0.BLSPubKey, dt phase0.DomainType, epoch phase0.Epoch, objectRoot []byte, htr func() ([32]byte, error)) (phase0.BLSSignature, error) {
	dom, err := s.domain(s.spec(), dt, epoch)
	if errors.Is(err, chain.ErrUnknownFork) {
		return phase0.BLSSignature{}, s.refuse(kind, pk, ReasonUnknownFork, err)
	}
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return s.signWithDomain(kind, pk, dom, objectRoot, htr)
}

func (s *Signer) signWithDomain(kind Kind, pk phase0.BLSPubKey, dom phase0.Domain, objectRoot []byte, htr func() ([32]byte, error)) (phase0.BLSSignature, error) {
	start := time.Now()
	var obj phase0.Root
	if htr != nil {
		r, err := htr()
		if err != nil {
			return phase0.BLSSignature{}, s.refuse(kind, pk, ReasonInvalidMessage, fmt.Errorf("%w: object root: %v", ErrInvalidMessage, err))
		}
		obj = r
	} else {
		copy(obj[:], objectRoot)
	}
	root, err := ComputeSigningRoot(obj, dom)
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return s.signSingle(kind, pk, root, start)
}

// uint64Root is hash_tree_root of an SSZ uint64: little-endian, zero-padded.
func uint64Root(v uint64) []byte {
	b := make([]byte, 32)
	binary.LittleEndian.PutUint64(b, v)
	return b
}
