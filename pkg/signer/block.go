package signer

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// SignProposal signs a block proposal as produced by the beacon node (full or
// blinded, any fork), after recording it in the slashing database. The
// proposal's version must be the fork scheduled at its slot.
func (s *Signer) SignProposal(ctx context.Context, pubkey phase0.BLSPubKey, proposal *api.VersionedProposal) (phase0.BLSSignature, error) {
	if proposal == nil {
		return phase0.BLSSignature{}, s.refuse(KindBlock, pubkey, ReasonInvalidMessage, fmt.Errorf("%w: proposal is nil", ErrInvalidMessage))
	}
	block, err := proposalBlock(proposal)
	if err != nil {
		return phase0.BLSSignature{}, s.refuse(KindBlock, pubkey, ReasonInvalidMessage, err)
	}
	return s.signBlock(ctx, pubkey, block, &proposal.Version)
}

// SignBlindedProposal signs a blinded block proposal, after recording it in
// the slashing database. The proposal's version must be the fork scheduled
// at its slot.
func (s *Signer) SignBlindedProposal(ctx context.Context, pubkey phase0.BLSPubKey, proposal *api.VersionedBlindedProposal) (phase0.BLSSignature, error) {
	if proposal == nil {
		return phase0.BLSSignature{}, s.refuse(KindBlock, pubkey, ReasonInvalidMessage, fmt.Errorf("%w: proposal is nil", ErrInvalidMessage))
	}
	var block any
	switch proposal.Version {
	case spec.DataVersionBellatrix:
		block = proposal.Bellatrix
	case spec.DataVersionCapella:
		block = proposal.Capella
	case spec.DataVersionDeneb:
		block = proposal.Deneb
	case spec.DataVersionElectra:
		block = proposal.Electra
	case spec.DataVersionFulu:
		block = proposal.Fulu
	default:
		return phase0.BLSSignature{}, s.refuse(KindBlock, pubkey, ReasonInvalidMessage,
			fmt.Errorf("%w: unsupported blinded proposal version %s", ErrInvalidMessage, proposal.Version))
	}
	return s.signBlock(ctx, pubkey, block, &proposal.Version)
}

// SignBeaconBlock signs one of go-eth2-client's per-fork block types
// (*phase0.BeaconBlock … *electra.BeaconBlock and the api/v1 blinded ones),
// after recording it in the slashing database. The type must belong to the
// fork scheduled at the block's slot (electra types serve Electra and Fulu).
func (s *Signer) SignBeaconBlock(ctx context.Context, pubkey phase0.BLSPubKey, block any) (phase0.BLSSignature, error) {
	return s.signBlock(ctx, pubkey, block, nil)
}

// proposalBlock picks the block out of a versioned proposal.
func proposalBlock(p *api.VersionedProposal) (any, error) {
	switch p.Version {
	case spec.DataVersionPhase0:
		return p.Phase0, nil
	case spec.DataVersionAltair:
		return p.Altair, nil
	case spec.DataVersionBellatrix:
		if p.Blinded {
			return p.BellatrixBlinded, nil
		}
		return p.Bellatrix, nil
	case spec.DataVersionCapella:
		if p.Blinded {
			return p.CapellaBlinded, nil
		}
		return p.Capella, nil
	case spec.DataVersionDeneb:
		if p.Blinded {
			return p.DenebBlinded, nil
		}
		if p.Deneb == nil {
			return nil, fmt.Errorf("%w: deneb block contents are missing", ErrInvalidMessage)
		}
		return p.Deneb.Block, nil
	case spec.DataVersionElectra:
		if p.Blinded {
			return p.ElectraBlinded, nil
		}
		if p.Electra == nil {
			return nil, fmt.Errorf("%w: electra block contents are missing", ErrInvalidMessage)
		}
		return p.Electra.Block, nil
	case spec.DataVersionFulu:
		if p.Blinded {
			return p.FuluBlinded, nil
		}
		if p.Fulu == nil {
			return nil, fmt.Errorf("%w: fulu block contents are missing", ErrInvalidMessage)
		}
		return p.Fulu.Block, nil
	default:
		return nil, fmt.Errorf("%w: unsupported proposal version %s", ErrInvalidMessage, p.Version)
	}
}

// blockFacts is what signing needs from a block: its slot, its hash tree root
// and the forks whose blocks have its type.
type blockFacts struct {
	slot     phase0.Slot
	root     phase0.Root
	versions []spec.DataVersion
}

// inspectBlock computes a block's hash tree root itself (never trusting one
// handed in) and names the forks its type belongs to.
func inspectBlock(block any) (blockFacts, error) {
	var (
		f       blockFacts
		hasBody bool
		htr     func() ([32]byte, error)
	)
	switch b := block.(type) {
	case *phase0.BeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionPhase0}
	case *altair.BeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionAltair}
	case *bellatrix.BeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionBellatrix}
	case *apiv1bellatrix.BlindedBeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionBellatrix}
	case *capella.BeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionCapella}
	case *apiv1capella.BlindedBeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionCapella}
	case *deneb.BeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionDeneb}
	case *apiv1deneb.BlindedBeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionDeneb}
	case *electra.BeaconBlock:
		// Fulu changed no block container (consensus specs, fulu/beacon-chain.md).
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionElectra, spec.DataVersionFulu}
	case *apiv1electra.BlindedBeaconBlock:
		if b != nil {
			f.slot, hasBody, htr = b.Slot, b.Body != nil, b.HashTreeRoot
		}
		f.versions = []spec.DataVersion{spec.DataVersionElectra, spec.DataVersionFulu}
	default:
		return f, fmt.Errorf("%w: unsupported block type %T", ErrInvalidMessage, block)
	}
	if htr == nil || !hasBody {
		return f, fmt.Errorf("%w: block or block body is missing", ErrInvalidMessage)
	}
	r, err := htr()
	if err != nil {
		return f, fmt.Errorf("%w: block root: %v", ErrInvalidMessage, err)
	}
	f.root = r
	return f, nil
}

// signBlock is the one path for blocks: inspect, guard, record durably, sign.
// want is the version the caller's envelope claims, if any.
func (s *Signer) signBlock(ctx context.Context, pk phase0.BLSPubKey, block any, want *spec.DataVersion) (phase0.BLSSignature, error) {
	const kind = KindBlock
	start := time.Now()
	var none phase0.BLSSignature
	f, err := inspectBlock(block)
	if err != nil {
		return none, s.refuse(kind, pk, ReasonInvalidMessage, err)
	}
	sp := s.spec()
	epoch := sp.EpochAtSlot(f.slot)
	if err := sp.Signable(epoch); err != nil {
		return none, s.refuse(kind, pk, ReasonUnknownFork, err, "slot", f.slot)
	}
	scheduled := sp.ForkAt(epoch).Name
	if !slices.Contains(f.versions, scheduled) || (want != nil && *want != scheduled) {
		return none, s.refuse(kind, pk, ReasonForkMismatch,
			fmt.Errorf("%w: %T at slot %d, where the fork is %s", ErrForkMismatch, block, f.slot, scheduled), "slot", f.slot)
	}
	if err := s.checkFuture(s.now(), f.slot, epoch); err != nil {
		return none, s.refuse(kind, pk, ReasonFuture, err, "slot", f.slot)
	}
	if err := s.loadLatest(ctx, []phase0.BLSPubKey{pk}); err != nil {
		s.obs.SlashingDB(kind, 0, err)
		s.obs.Failed(kind, 1)
		return none, err
	}
	if err := s.checkGap(pk, epoch); err != nil {
		return none, s.refuse(kind, pk, ReasonLongGap, err, "slot", f.slot)
	}
	held, err := s.holds(pk)
	if err != nil {
		return none, err
	}
	if !held {
		return none, s.refuse(kind, pk, ReasonUnknownKey, ErrUnknownKey, "slot", f.slot)
	}
	dom, err := s.domain(sp, sp.Domains.BeaconProposer, epoch)
	if err != nil {
		return none, err
	}
	root, err := ComputeSigningRoot(f.root, dom)
	if err != nil {
		return none, err
	}
	// Rule 1: the record is durably committed when this returns Allowed.
	dbStart := time.Now()
	v, err := s.db.CheckAndRecordBlock(ctx, slashprotect.BlockRequest{Pubkey: pk, Slot: f.slot, SigningRoot: root})
	s.obs.SlashingDB(kind, time.Since(dbStart), err)
	if err != nil {
		s.obs.Failed(kind, 1)
		s.log.Error("slashing database failed; block not signed", "pubkey", pubkey.Short(pk), "slot", f.slot, "err", err)
		return none, fmt.Errorf("check and record block at slot %d: %w", f.slot, err)
	}
	if !v.Allowed {
		return none, s.refuseVerdict(kind, pk, v, "slot", f.slot)
	}
	if s.gapGuarded() {
		s.noteLatest(pk, latestEpoch{epoch: epoch, known: true})
	}
	return s.signSingle(kind, pk, root, start)
}

// LatestBlock returns the slot of the latest block recorded for pk in the
// slashing-protection database (ok false when none), so that the duties can
// tell a block their predecessor signed before a restart from one another
// signer recorded. It is advisory: SignProposal still decides.
func (s *Signer) LatestBlock(ctx context.Context, pk phase0.BLSPubKey) (phase0.Slot, bool, error) {
	found, err := s.db.LatestRecords(ctx, []phase0.BLSPubKey{pk})
	if err != nil {
		return 0, false, fmt.Errorf("read block history of %s: %w", pubkey.Short(pk), err)
	}
	l, ok := found[pk]
	if !ok || l.BlockSlot == nil {
		return 0, false, nil
	}
	return *l.BlockSlot, true, nil
}
