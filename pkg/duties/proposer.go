package duties

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// propose produces, signs and submits a block at the start of the slot if one
// of our validators is its proposer (phase0 validator guide, "Block proposal").
func (s *Service) propose(ctx context.Context, slot phase0.Slot) {
	epoch := s.clock.EpochOf(slot)
	s.mu.Lock()
	var duty *apiv1.ProposerDuty
	if p := s.proposer[epoch]; p != nil {
		for _, d := range p.duties {
			if d.Slot == slot {
				duty = d
			}
		}
	}
	var v *validator
	if duty != nil {
		var ok bool
		v, ok = s.canSignLocked(duty.ValidatorIndex)
		if !ok || s.proposed[slot] {
			duty = nil
		} else {
			s.proposed[slot] = true
		}
	}
	startSlot := s.startSlot
	s.mu.Unlock()
	if duty == nil {
		return
	}
	log := s.log.With(slog.Uint64("slot", uint64(slot)), slog.Uint64("validator_index", uint64(duty.ValidatorIndex)))
	// A run started mid-slot may find its predecessor's block for this slot
	// in the slashing database: it was broadcast already (or never will be,
	// if the process died before submitting it), and any other block would be
	// refused as a double proposal. Producing one only makes the node build a
	// block in vain, so skip. An error here is not fatal: SignProposal decides.
	if recorded, err := s.signer.BlockRecorded(ctx, v.pubkey, slot); err != nil {
		log.Warn("Could not check the slashing database for an earlier block; proposing", slog.Any("error", err))
	} else if recorded {
		log.Info("Block for this slot already signed before a restart; not proposing again")
		return
	}
	s.obs.Scheduled(KindProposal, slot, 1)
	if err := s.proposeBlock(ctx, slot, duty, v); err != nil {
		log.Error("Failed to propose block", slog.Any("error", err))
		s.obs.Failed(KindProposal, slot, 1, err)
		if fatal := concurrentSignerRefusal(err, signer.KindBlock, slot, 0, 0, startSlot, v.pubkey); fatal != nil {
			s.stop(fatal)
		}
		return
	}
	s.obs.Performed(KindProposal, slot, 1, s.sinceSlotStart(slot))
	log.Info("Proposed block", slog.Duration("into_slot", s.sinceSlotStart(slot)))
}

func (s *Service) proposeBlock(ctx context.Context, slot phase0.Slot, duty *apiv1.ProposerDuty, v *validator) error {
	randao, err := s.signer.SignRANDAOReveal(ctx, v.pubkey, s.clock.EpochOf(slot))
	if err != nil {
		return fmt.Errorf("sign RANDAO reveal: %w", err)
	}
	opts := &api.ProposalOpts{Slot: slot, RandaoReveal: randao, Graffiti: s.cfg.graffiti}
	if s.cfg.builder {
		opts.BuilderBoostFactor = s.cfg.builderBoost
	} else {
		// Without the builder network the node must build locally.
		zero := uint64(0)
		opts.BuilderBoostFactor = &zero
	}
	resp, err := s.node.Proposal(ctx, opts)
	if err != nil {
		return fmt.Errorf("produce block: %w", err)
	}
	if resp == nil || resp.Data == nil || resp.Data.IsEmpty() {
		return errors.New("produce block: empty proposal")
	}
	p := resp.Data
	if got, err := p.Slot(); err != nil || got != slot {
		return fmt.Errorf("produced block is for slot %d, asked %d (%v)", got, slot, err)
	}
	if got, err := p.ProposerIndex(); err != nil || got != duty.ValidatorIndex {
		return fmt.Errorf("produced block has proposer %d, ours is %d (%v)", got, duty.ValidatorIndex, err)
	}
	if got, err := p.RandaoReveal(); err != nil || got != randao {
		return fmt.Errorf("produced block does not carry our RANDAO reveal (%v)", err)
	}
	if !p.Blinded && p.Version >= spec.DataVersionBellatrix {
		if fr, err := p.FeeRecipient(); err == nil && fr != s.proposerConfig(v.pubkey).FeeRecipient {
			s.log.Warn("Locally built block pays another fee recipient than configured", slog.Uint64("slot", uint64(slot)),
				slog.String("fee_recipient", fr.String()))
		}
	}
	sig, err := s.signer.SignProposal(ctx, v.pubkey, p)
	if err != nil {
		return fmt.Errorf("sign block: %w", err)
	}
	if p.Blinded {
		signed, err := signedBlindedProposal(p, sig)
		if err != nil {
			return err
		}
		if err := s.node.SubmitBlindedProposal(ctx, &api.SubmitBlindedProposalOpts{Proposal: signed}); err != nil {
			return fmt.Errorf("submit blinded block: %w", err)
		}
		return nil
	}
	signed, err := signedProposal(p, sig)
	if err != nil {
		return err
	}
	if err := s.node.SubmitProposal(ctx, &api.SubmitProposalOpts{Proposal: signed}); err != nil {
		return fmt.Errorf("submit block: %w", err)
	}
	return nil
}

var errUnsupportedProposal = errors.New("unsupported proposal version")

// signedProposal wraps a full proposal and its signature for submission.
func signedProposal(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedProposal, error) {
	out := &api.VersionedSignedProposal{Version: p.Version}
	switch {
	case p.Version == spec.DataVersionPhase0 && p.Phase0 != nil:
		out.Phase0 = &phase0.SignedBeaconBlock{Message: p.Phase0, Signature: sig}
	case p.Version == spec.DataVersionAltair && p.Altair != nil:
		out.Altair = &altair.SignedBeaconBlock{Message: p.Altair, Signature: sig}
	case p.Version == spec.DataVersionBellatrix && p.Bellatrix != nil:
		out.Bellatrix = &bellatrix.SignedBeaconBlock{Message: p.Bellatrix, Signature: sig}
	case p.Version == spec.DataVersionCapella && p.Capella != nil:
		out.Capella = &capella.SignedBeaconBlock{Message: p.Capella, Signature: sig}
	case p.Version == spec.DataVersionDeneb && p.Deneb != nil:
		out.Deneb = &apiv1deneb.SignedBlockContents{
			SignedBlock: &deneb.SignedBeaconBlock{Message: p.Deneb.Block, Signature: sig},
			KZGProofs:   p.Deneb.KZGProofs, Blobs: p.Deneb.Blobs,
		}
	case p.Version == spec.DataVersionElectra && p.Electra != nil:
		out.Electra = &apiv1electra.SignedBlockContents{
			SignedBlock: &electra.SignedBeaconBlock{Message: p.Electra.Block, Signature: sig},
			KZGProofs:   p.Electra.KZGProofs, Blobs: p.Electra.Blobs,
		}
	case p.Version == spec.DataVersionFulu && p.Fulu != nil:
		out.Fulu = &apiv1fulu.SignedBlockContents{
			SignedBlock: &electra.SignedBeaconBlock{Message: p.Fulu.Block, Signature: sig},
			KZGProofs:   p.Fulu.KZGProofs, Blobs: p.Fulu.Blobs,
		}
	default:
		return nil, fmt.Errorf("%w: %s", errUnsupportedProposal, p.Version)
	}
	return out, nil
}

// signedBlindedProposal wraps a blinded proposal and its signature for submission.
func signedBlindedProposal(p *api.VersionedProposal, sig phase0.BLSSignature) (*api.VersionedSignedBlindedProposal, error) {
	out := &api.VersionedSignedBlindedProposal{Version: p.Version}
	switch {
	case p.Version == spec.DataVersionBellatrix && p.BellatrixBlinded != nil:
		out.Bellatrix = &apiv1bellatrix.SignedBlindedBeaconBlock{Message: p.BellatrixBlinded, Signature: sig}
	case p.Version == spec.DataVersionCapella && p.CapellaBlinded != nil:
		out.Capella = &apiv1capella.SignedBlindedBeaconBlock{Message: p.CapellaBlinded, Signature: sig}
	case p.Version == spec.DataVersionDeneb && p.DenebBlinded != nil:
		out.Deneb = &apiv1deneb.SignedBlindedBeaconBlock{Message: p.DenebBlinded, Signature: sig}
	case p.Version == spec.DataVersionElectra && p.ElectraBlinded != nil:
		out.Electra = &apiv1electra.SignedBlindedBeaconBlock{Message: p.ElectraBlinded, Signature: sig}
	case p.Version == spec.DataVersionFulu && p.FuluBlinded != nil:
		out.Fulu = &apiv1electra.SignedBlindedBeaconBlock{Message: p.FuluBlinded, Signature: sig}
	default:
		return nil, fmt.Errorf("%w: blinded %s", errUnsupportedProposal, p.Version)
	}
	return out, nil
}
