package duties

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

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

	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/signer"
)

// proposer proposes blocks: it keeps the proposer duties of the current
// epoch and, at the start of a slot one of our validators proposes, asks the
// node for a block, checks it, has it signed and submits it.
type proposer struct {
	common
	node     proposerClient
	signer   proposalSigner
	stop     func(error)
	settings *proposalSettings

	mu     sync.Mutex
	epochs map[phase0.Epoch]*proposerEpoch
	// generation counts invalidations (see attester.generation).
	generation uint64
	// proposed remembers the slots this run proposed at, so that a duty that
	// moves after a reorg is never proposed twice.
	proposed map[phase0.Slot]bool
}

// proposerEpoch is one epoch's proposer duties for our validators.
type proposerEpoch struct {
	dependentRoot phase0.Root
	// lookahead is set when the duties came from the v2 endpoint for a Fulu
	// epoch: their dependent root is then the block root at the end of
	// epoch-2 (deterministic proposer lookahead, EIP-7917), which a head
	// event carries as previous_duty_dependent_root.
	lookahead bool
	duties    []*apiv1.ProposerDuty
	stale     bool
}

// needs reports whether epoch's duties are missing or stale.
func (p *proposer) needs(epoch phase0.Epoch) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.epochs[epoch]
	return e == nil || e.stale
}

// forget drops the duties of epochs before epoch-1 and the memory of
// proposals two epochs old.
func (p *proposer) forget(epoch phase0.Epoch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for e := range p.epochs {
		if e+1 < epoch {
			delete(p.epochs, e)
		}
	}
	for slot := range p.proposed {
		if p.clock.EpochOf(slot)+2 < epoch {
			delete(p.proposed, slot)
		}
	}
}

// markStale marks the duties of the given epochs for refetching.
func (p *proposer) markStale(epochs ...phase0.Epoch) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range epochs {
		if d := p.epochs[e]; d != nil {
			d.stale = true
		}
	}
}

// invalidate marks every epoch's duties stale, after the validator set changed.
func (p *proposer) invalidate() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.generation++
	for _, d := range p.epochs {
		d.stale = true
	}
}

// checkDependentRoot compares the head event's dependent root that decides
// epoch's proposers (the current one, or the previous one for duties under
// Fulu's lookahead) with the one its duties were fetched under.
func (p *proposer) checkDependentRoot(epoch phase0.Epoch, previous, current phase0.Root) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	d := p.epochs[epoch]
	if d == nil {
		return false
	}
	want := current
	if d.lookahead {
		want = previous
	}
	return dependentRootCheck(p.log, &d.dependentRoot, &d.stale, want, "proposer", epoch)
}

func (p *proposer) fetch(ctx context.Context, epoch phase0.Epoch) {
	p.mu.Lock()
	gen := p.generation
	p.mu.Unlock()
	indices := p.roster.activeIndices(epoch)
	entry := &proposerEpoch{}
	if len(indices) > 0 {
		// The endpoint lists every proposer of the epoch; the filter below
		// keeps ours.
		resp, v2, err := p.duties(ctx, epoch, indices)
		if err != nil || resp == nil {
			p.log.Warn("Failed to fetch proposer duties", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			return
		}
		entry.dependentRoot = dependentRoot(resp.Metadata)
		entry.lookahead = v2 && p.spec().AtLeast(spec.DataVersionFulu, epoch)
		for _, d := range resp.Data {
			if p.roster.owns(d.ValidatorIndex, d.PubKey) && p.clock.EpochOf(d.Slot) == epoch {
				entry.duties = append(entry.duties, d)
			}
		}
	}
	p.mu.Lock()
	entry.stale = p.generation != gen
	p.epochs[epoch] = entry
	p.mu.Unlock()
	for _, d := range entry.duties {
		p.log.Info("Proposer duty", slog.Uint64("slot", uint64(d.Slot)), slog.Uint64("validator_index", uint64(d.ValidatorIndex)))
	}
}

// duties reads epoch's proposer duties from the v2 endpoint where the node
// serves it (its dependent root is right under Fulu's lookahead) and from v1
// otherwise; v2 reports which answered.
func (p *proposer) duties(ctx context.Context, epoch phase0.Epoch, indices []phase0.ValidatorIndex) (*api.Response[[]*apiv1.ProposerDuty], bool, error) {
	opts := &api.ProposerDutiesOpts{Epoch: epoch, Indices: indices}
	resp, err := p.node.ProposerDutiesV2(ctx, opts)
	var apiErr *api.Error
	if err == nil || !errors.As(err, &apiErr) || (apiErr.StatusCode != 404 && apiErr.StatusCode != 405 && apiErr.StatusCode != 501) {
		return resp, true, err
	}
	p.log.Debug("The beacon node has no v2 proposer duties; using v1", slog.Uint64("epoch", uint64(epoch)))
	resp, err = p.node.ProposerDuties(ctx, opts)
	return resp, false, err
}

// dutyAt returns the proposer duty at slot and its validator's key if one of
// ours may sign it and this run has not proposed at slot yet; it marks the
// slot proposed.
func (p *proposer) dutyAt(slot phase0.Slot) (*apiv1.ProposerDuty, phase0.BLSPubKey, bool) {
	epoch := p.clock.EpochOf(slot)
	p.mu.Lock()
	defer p.mu.Unlock()
	var duty *apiv1.ProposerDuty
	if e := p.epochs[epoch]; e != nil {
		for _, d := range e.duties {
			if d.Slot == slot {
				duty = d
			}
		}
	}
	if duty == nil || p.proposed[slot] {
		return nil, phase0.BLSPubKey{}, false
	}
	pk, ok := p.roster.signer(duty.ValidatorIndex)
	if !ok {
		return nil, phase0.BLSPubKey{}, false
	}
	p.proposed[slot] = true
	return duty, pk, true
}

// propose produces, signs and submits a block at the start of the slot if one
// of our validators is its proposer (phase0 validator guide, "Block proposal").
func (p *proposer) propose(ctx context.Context, slot phase0.Slot, start runStart) {
	duty, pk, ok := p.dutyAt(slot)
	if !ok {
		return
	}
	const kind = signer.KindBlock
	log := p.log.With(slog.Uint64("slot", uint64(slot)), slog.Uint64("validator_index", uint64(duty.ValidatorIndex)))
	if skip := p.recordedBefore(ctx, log, pk, slot, start); skip {
		return
	}
	p.obs.Scheduled(kind, slot, 1)
	if err := p.proposeBlock(ctx, slot, duty, pk); err != nil {
		log.Error("Failed to propose block", slog.Any("error", err))
		p.obs.Failed(kind, slot, 1, err)
		if fatal := concurrentSignerRefusal(err, kind, slot, 0, start, pk); fatal != nil {
			p.stop(fatal)
		}
		return
	}
	p.obs.Performed(kind, slot, 1, p.sinceSlotStart(slot))
	log.Info("Proposed block", slog.Duration("into_slot", p.sinceSlotStart(slot)))
}

// recordedBefore reports whether the slot must be skipped because the
// slashing database already holds a block at or after it. A run started
// within the slot may find its predecessor's block for this very slot: it was
// broadcast already (or never will be, if the process died before submitting
// it), any other block would be refused as a double proposal, and producing
// one only makes the node build a block in vain. A block recorded at a later
// slot, or at this slot when this run started before it, is no predecessor's:
// another signer holds the key, and the duties stop. An error is not fatal:
// SignProposal decides.
func (p *proposer) recordedBefore(ctx context.Context, log *slog.Logger, pk phase0.BLSPubKey, slot phase0.Slot, start runStart) bool {
	latest, ok, err := p.signer.LatestBlock(ctx, pk)
	switch {
	case err != nil:
		log.Warn("Could not check the slashing database for an earlier block; proposing", slog.Any("error", err))
		return false
	case !ok || latest < slot:
		return false
	case latest == slot && slot <= start.slot:
		log.Info("Block for this slot already signed before a restart; not proposing again")
		return true
	}
	p.stop(fmt.Errorf("%w: a block for validator %s is recorded at slot %d, at or after slot %d that this run did not sign: "+
		"another instance appears to be signing with this key", ErrConcurrentSigner, pubkey.Short(pk), latest, slot))
	return true
}

func (p *proposer) proposeBlock(ctx context.Context, slot phase0.Slot, duty *apiv1.ProposerDuty, pk phase0.BLSPubKey) error {
	randao, err := p.signer.SignRANDAOReveal(ctx, pk, p.clock.EpochOf(slot))
	if err != nil {
		return fmt.Errorf("sign RANDAO reveal: %w", err)
	}
	cfg := p.settings.forKey(pk)
	opts := &api.ProposalOpts{Slot: slot, RandaoReveal: randao, Graffiti: p.settings.graffiti}
	opts.Common.Timeout = p.settings.blockTimeout
	if cfg.Builder {
		opts.BuilderBoostFactor = p.settings.builderBoost
	} else {
		// Without the builder network the node must build locally.
		zero := uint64(0)
		opts.BuilderBoostFactor = &zero
	}
	resp, err := p.node.Proposal(ctx, opts)
	if err != nil {
		return fmt.Errorf("produce block: %w", err)
	}
	if resp == nil || resp.Data == nil || resp.Data.IsEmpty() {
		return errors.New("produce block: empty proposal")
	}
	prop := resp.Data
	if got, err := prop.Slot(); err != nil || got != slot {
		return fmt.Errorf("produced block is for slot %d, asked %d (%v)", got, slot, err)
	}
	if got, err := prop.ProposerIndex(); err != nil || got != duty.ValidatorIndex {
		return fmt.Errorf("produced block has proposer %d, ours is %d (%v)", got, duty.ValidatorIndex, err)
	}
	if got, err := prop.RandaoReveal(); err != nil || got != randao {
		return fmt.Errorf("produced block does not carry our RANDAO reveal (%v)", err)
	}
	if err := checkFeeRecipient(prop, cfg.FeeRecipient); err != nil {
		return err
	}
	sig, err := p.signer.SignProposal(ctx, pk, prop)
	if err != nil {
		return fmt.Errorf("sign block: %w", err)
	}
	if prop.Blinded {
		signed, err := signedBlindedProposal(prop, sig)
		if err != nil {
			return err
		}
		if err := p.node.SubmitBlindedProposal(ctx, &api.SubmitBlindedProposalOpts{Proposal: signed}); err != nil {
			return fmt.Errorf("submit blinded block: %w", err)
		}
		return nil
	}
	signed, err := signedProposal(prop, sig)
	if err != nil {
		return err
	}
	if err := p.node.SubmitProposal(ctx, &api.SubmitProposalOpts{Proposal: signed}); err != nil {
		return fmt.Errorf("submit block: %w", err)
	}
	return nil
}

var errUnsupportedProposal = errors.New("unsupported proposal version")

// ErrFeeRecipient refuses a locally built block that pays its execution fees
// to another address than the one configured for the validator: a beacon
// node that rewrites the fee recipient (a bug, a misconfigured
// --suggested-fee-recipient, or a hostile node) would otherwise take the
// validator's fees.
var ErrFeeRecipient = errors.New("the beacon node built a block that pays another fee recipient than configured")

// checkFeeRecipient refuses a local (not blinded) block whose fee recipient
// is not want. A builder's blinded block is paid by the builder's own
// transaction, so its header's fee recipient says nothing.
func checkFeeRecipient(prop *api.VersionedProposal, want bellatrix.ExecutionAddress) error {
	if prop.Blinded || prop.Version < spec.DataVersionBellatrix {
		return nil
	}
	got, err := prop.FeeRecipient()
	if err != nil {
		return fmt.Errorf("read the produced block's fee recipient: %w", err)
	}
	if got != want {
		return fmt.Errorf("%w: the block pays %s, configured %s; not signed (check the beacon node's suggested fee recipient and the proposer configuration)",
			ErrFeeRecipient, got, want)
	}
	return nil
}

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
