package duties

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// attester performs attestations: it keeps the attester duties of the
// current and next epoch, subscribes the node to their committees (signing
// the selection proofs of the aggregators ahead), and attests each slot.
type attester struct {
	common
	node   attesterClient
	signer attestationSigner
	proofs selectionProofSigner
	heads  *headTracker
	stop   func(error)

	mu     sync.Mutex
	epochs map[phase0.Epoch]*attesterEpoch
	// generation counts invalidations, so that a fetch that was under way
	// when the validator set changed stores its answer as stale.
	generation uint64
	// attested remembers the latest target epoch this run asked the signer
	// to sign for each validator, so that a duty that moves after a reorg is
	// never signed twice for the same target (and so that a slashing refusal
	// proves another writer).
	attested map[phase0.ValidatorIndex]phase0.Epoch
	// uncertain remembers the target epoch of batches whose signer call
	// failed: the commit may have happened anyway (a PostgreSQL connection
	// lost after COMMIT), so a later double-vote refusal for that target is
	// this run's own record, not another signer.
	uncertain map[phase0.ValidatorIndex]phase0.Epoch
}

// attesterEpoch is one epoch's attester duties for our validators.
type attesterEpoch struct {
	dependentRoot phase0.Root
	duties        []*apiv1.AttesterDuty
	stale         bool
	// subscribed is set once subscriptions went out (or are being sent);
	// proofs holds the selection proofs of the validators selected to
	// aggregate.
	subscribed bool
	proofs     map[phase0.ValidatorIndex]phase0.BLSSignature
	// proofsReady is closed once proofs is set.
	proofsReady chan struct{}
}

func newAttesterEpoch() *attesterEpoch { return &attesterEpoch{proofsReady: make(chan struct{})} }

// attestation is one validator's signed attestation in a slot's batch.
type attestation struct {
	duty   *apiv1.AttesterDuty
	data   *phase0.AttestationData
	pubkey phase0.BLSPubKey
}

// needs reports whether epoch's duties are missing or stale.
func (a *attester) needs(epoch phase0.Epoch) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.epochs[epoch]
	return e == nil || e.stale
}

// forget drops the duties of epochs before epoch-1, and the memory of
// uncertain commits two epochs old.
func (a *attester) forget(epoch phase0.Epoch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for e := range a.epochs {
		if e+1 < epoch {
			delete(a.epochs, e)
		}
	}
	for idx, e := range a.uncertain {
		if e+2 < epoch {
			delete(a.uncertain, idx)
		}
	}
}

// markStale marks the duties of the given epochs for refetching.
func (a *attester) markStale(epochs ...phase0.Epoch) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, e := range epochs {
		if d := a.epochs[e]; d != nil {
			d.stale = true
		}
	}
}

// invalidate marks every epoch's duties stale, after the validator set changed.
func (a *attester) invalidate() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.generation++
	for _, d := range a.epochs {
		d.stale = true
	}
}

// checkDependentRoots compares a head event's dependent roots with those the
// duties of epoch and epoch+1 were fetched under.
func (a *attester) checkDependentRoots(epoch phase0.Epoch, previous, current phase0.Root) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	changed := false
	if d := a.epochs[epoch]; d != nil {
		changed = dependentRootCheck(a.log, &d.dependentRoot, &d.stale, previous, "attester", epoch) || changed
	}
	if d := a.epochs[epoch+1]; d != nil {
		changed = dependentRootCheck(a.log, &d.dependentRoot, &d.stale, current, "attester", epoch+1) || changed
	}
	return changed
}

func (a *attester) fetch(ctx context.Context, epoch phase0.Epoch) {
	a.mu.Lock()
	gen := a.generation
	a.mu.Unlock()
	indices := a.roster.activeIndices(epoch)
	entry := newAttesterEpoch()
	if len(indices) > 0 {
		resp, err := a.node.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil || resp == nil {
			a.log.Warn("Failed to fetch attester duties", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			return
		}
		entry.dependentRoot = dependentRoot(resp.Metadata)
		for _, d := range resp.Data {
			// Keep only duties for our keys, and only sane ones.
			if a.roster.owns(d.ValidatorIndex, d.PubKey) &&
				a.clock.EpochOf(d.Slot) == epoch && d.ValidatorCommitteeIndex < d.CommitteeLength {
				entry.duties = append(entry.duties, d)
			}
		}
	}
	a.mu.Lock()
	entry.stale = a.generation != gen
	a.epochs[epoch] = entry
	a.mu.Unlock()
	a.log.Debug("Attester duties", slog.Uint64("epoch", uint64(epoch)), slog.Int("duties", len(entry.duties)),
		slog.String("dependent_root", rootHex(entry.dependentRoot)))
}

// dutiesAt returns the slot's attester duties of validators that may sign
// and have not attested to this target epoch in this run.
func (a *attester) dutiesAt(slot phase0.Slot) []*apiv1.AttesterDuty {
	epoch := a.clock.EpochOf(slot)
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.epochs[epoch]
	if e == nil {
		return nil
	}
	var out []*apiv1.AttesterDuty
	for _, d := range e.duties {
		if d.Slot != slot {
			continue
		}
		if _, ok := a.roster.signer(d.ValidatorIndex); !ok {
			continue
		}
		if last, ok := a.attested[d.ValidatorIndex]; ok && last >= epoch {
			continue
		}
		out = append(out, d)
	}
	return out
}

// run attests at 1/3 of the slot or at the slot's head block, whichever
// comes first (phase0 validator guide, "Attesting"), and returns what it
// signed for the aggregators.
func (a *attester) run(ctx context.Context, slot phase0.Slot, start runStart) []attestation {
	duties := a.dutiesAt(slot)
	if len(duties) == 0 {
		return nil
	}
	a.obs.Scheduled(signer.KindAttestation, slot, len(duties))
	if !a.waitFor(ctx, a.clock.SlotFraction(slot, 1, 3), a.heads.wait(slot)) {
		a.obs.Failed(signer.KindAttestation, slot, len(duties), ctx.Err())
		return nil
	}
	return a.attest(ctx, slot, duties, start)
}

// attest fetches the attestation data (one request per committee before
// Electra, one per slot after), signs the whole slot in one signer call (one
// slashing-protection commit) and submits it in one call.
func (a *attester) attest(ctx context.Context, slot phase0.Slot, duties []*apiv1.AttesterDuty, start runStart) []attestation {
	epoch := a.clock.EpochOf(slot)
	sp := a.spec()
	isElectra := sp.AtLeast(spec.DataVersionElectra, epoch)
	committees := map[phase0.CommitteeIndex]*phase0.AttestationData{}
	for _, d := range duties {
		if isElectra {
			committees[0] = nil
		} else {
			committees[d.CommitteeIndex] = nil
		}
	}
	indices := make([]phase0.CommitteeIndex, 0, len(committees))
	for ci := range committees {
		indices = append(indices, ci)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, ci := range indices {
		wg.Go(func() {
			data, err := a.attestationData(ctx, slot, ci)
			if err != nil {
				a.log.Warn("Failed to obtain attestation data", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("committee_index", uint64(ci)), slog.Any("error", err))
				return
			}
			a.checkHeadVote(slot, data)
			mu.Lock()
			committees[ci] = data
			mu.Unlock()
		})
	}
	wg.Wait()

	batch := make([]signer.AttestationDuty, 0, len(duties))
	pending := make([]attestation, 0, len(duties))
	for _, d := range duties {
		ci := d.CommitteeIndex
		if isElectra {
			ci = 0
		}
		data := committees[ci]
		pk, ok := a.roster.signer(d.ValidatorIndex)
		if data == nil || !ok {
			continue
		}
		batch = append(batch, signer.AttestationDuty{Pubkey: pk, Data: data})
		pending = append(pending, attestation{duty: d, data: data, pubkey: pk})
	}
	if missing := len(duties) - len(batch); missing > 0 {
		a.obs.Failed(signer.KindAttestation, slot, missing, errors.New("no attestation data"))
	}
	if len(batch) == 0 {
		return nil
	}

	results, err := a.signer.SignAttestations(ctx, batch)
	if err != nil {
		// Remembered before anything is reported, so that whoever hears of
		// the failure finds the state that explains a later refusal.
		a.mu.Lock()
		for _, p := range pending {
			a.uncertain[p.duty.ValidatorIndex] = epoch
		}
		a.mu.Unlock()
		a.log.Error("Slashing protection could not decide; no attestation signed", slog.Uint64("slot", uint64(slot)),
			slog.Int("validators", len(batch)), slog.Any("error", err))
		a.obs.Failed(signer.KindAttestation, slot, len(batch), err)
		return nil
	}
	version := sp.ForkAt(epoch).Name
	atts := make([]*spec.VersionedAttestation, 0, len(results))
	signed := make([]attestation, 0, len(results))
	a.mu.Lock()
	ownEarlier := make([]bool, len(results))
	for i, r := range results {
		d := pending[i].duty
		a.attested[d.ValidatorIndex] = epoch
		if u, ok := a.uncertain[d.ValidatorIndex]; ok && u >= epoch {
			ownEarlier[i] = true
		}
		if r.Err != nil {
			continue
		}
		atts = append(atts, versionedAttestation(version, d, pending[i].data, r.Signature))
		signed = append(signed, pending[i])
	}
	a.mu.Unlock()
	for i, r := range results {
		if r.Err == nil {
			continue
		}
		d := pending[i].duty
		a.obs.Failed(signer.KindAttestation, slot, 1, r.Err)
		if restartedDoubleVote(r.Err, pending[i].data.Target.Epoch, start.epoch) {
			// The run before a restart in this epoch attested to this target
			// with other data (another head); its attestation stands.
			a.log.Info("Attestation for this target already signed before a restart; not signing other data", slog.Uint64("slot", uint64(slot)),
				slog.Uint64("validator_index", uint64(d.ValidatorIndex)))
			continue
		}
		if ownEarlier[i] && restartedDoubleVote(r.Err, pending[i].data.Target.Epoch, pending[i].data.Target.Epoch) {
			// An earlier batch of this run for this target failed after its
			// commit may have happened: the record is ours.
			a.log.Info("Attestation for this target recorded by an earlier batch whose commit outcome was unknown; not signing other data",
				slog.Uint64("slot", uint64(slot)), slog.Uint64("validator_index", uint64(d.ValidatorIndex)))
			continue
		}
		a.log.Error("Attestation refused by the signer", slog.Uint64("slot", uint64(slot)),
			slog.Uint64("validator_index", uint64(d.ValidatorIndex)), slog.Any("error", r.Err))
		if fatal := concurrentSignerRefusal(r.Err, signer.KindAttestation, slot, pending[i].data.Target.Epoch, start, pending[i].pubkey); fatal != nil {
			a.stop(fatal)
		}
	}
	if len(atts) == 0 {
		return nil
	}
	if err := a.node.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: atts}); err != nil {
		a.log.Error("Failed to submit attestations", slog.Uint64("slot", uint64(slot)), slog.Int("attestations", len(atts)), slog.Any("error", err))
		a.obs.Failed(signer.KindAttestation, slot, len(atts), err)
		return signed
	}
	a.obs.Performed(signer.KindAttestation, slot, len(atts), a.sinceSlotStart(slot))
	a.log.Debug("Attested", slog.Uint64("slot", uint64(slot)), slog.Int("attestations", len(atts)))
	return signed
}

// attestationData fetches and checks the data for a committee: it must be for
// the slot and committee asked (index 0 from Electra on, EIP-7549) and vote
// for the slot's epoch.
func (a *attester) attestationData(ctx context.Context, slot phase0.Slot, ci phase0.CommitteeIndex) (*phase0.AttestationData, error) {
	resp, err := a.node.AttestationData(ctx, &api.AttestationDataOpts{Slot: slot, CommitteeIndex: ci})
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.Data == nil || resp.Data.Source == nil || resp.Data.Target == nil {
		return nil, errors.New("empty attestation data")
	}
	d := resp.Data
	switch {
	case d.Slot != slot:
		return nil, fmt.Errorf("attestation data is for slot %d, asked %d", d.Slot, slot)
	case d.Index != ci:
		return nil, fmt.Errorf("attestation data is for committee %d, asked %d", d.Index, ci)
	case d.Target.Epoch != a.clock.EpochOf(slot):
		return nil, fmt.Errorf("attestation data targets epoch %d, slot is in epoch %d", d.Target.Epoch, a.clock.EpochOf(slot))
	case d.Source.Epoch > d.Target.Epoch:
		return nil, fmt.Errorf("attestation data source epoch %d is after target epoch %d", d.Source.Epoch, d.Target.Epoch)
	case d.Source.Epoch == d.Target.Epoch && d.Target.Epoch > 0:
		// Only genesis justifies its own epoch; after it the source (the
		// justified checkpoint) is always an earlier epoch than the target.
		// Such a vote would make later honest votes look like surrounds.
		return nil, fmt.Errorf("attestation data source epoch %d equals its target epoch after genesis", d.Source.Epoch)
	}
	return d, nil
}

// checkHeadVote warns when attestation data for a slot whose head event has
// arrived votes for another block: the node that served the data had not
// imported the head (or has since reorged away from it), so the head vote
// will likely be wrong. The data is still signed; it is the node's view.
func (a *attester) checkHeadVote(slot phase0.Slot, data *phase0.AttestationData) {
	root, ok := a.heads.head(slot)
	if !ok || root == data.BeaconBlockRoot {
		return
	}
	a.log.Warn("Attestation data votes for a block other than the slot's head event; the beacon node serving reads may lag",
		slog.Uint64("slot", uint64(slot)), slog.Uint64("committee_index", uint64(data.Index)),
		slog.String("head_event_block", rootHex(root)), slog.String("data_block", rootHex(data.BeaconBlockRoot)))
}

// versionedAttestation builds the attestation for one validator: from Electra
// on an electra.Attestation with the committee bit and the validator index,
// which go-eth2-client submits as a SingleAttestation (EIP-7549); before, a
// phase0 Attestation with the validator's aggregation bit.
func versionedAttestation(version spec.DataVersion, d *apiv1.AttesterDuty, data *phase0.AttestationData, sig phase0.BLSSignature) *spec.VersionedAttestation {
	bits := bitfield.NewBitlist(d.CommitteeLength)
	bits.SetBitAt(d.ValidatorCommitteeIndex, true)
	index := d.ValidatorIndex
	va := &spec.VersionedAttestation{Version: version, ValidatorIndex: &index}
	if version >= spec.DataVersionElectra {
		committeeBits := bitfield.NewBitvector64()
		committeeBits.SetBitAt(uint64(d.CommitteeIndex), true)
		att := &electra.Attestation{AggregationBits: bits, Data: data, Signature: sig, CommitteeBits: committeeBits}
		if version == spec.DataVersionElectra {
			va.Electra = att
		} else {
			va.Fulu = att
		}
		return va
	}
	att := &phase0.Attestation{AggregationBits: bits, Data: data, Signature: sig}
	switch version {
	case spec.DataVersionPhase0:
		va.Phase0 = att
	case spec.DataVersionAltair:
		va.Altair = att
	case spec.DataVersionBellatrix:
		va.Bellatrix = att
	case spec.DataVersionCapella:
		va.Capella = att
	default:
		va.Deneb = att
	}
	return va
}

// isAggregator is is_aggregator (phase0 validator guide, "Aggregation
// selection"): modulo = max(1, len(committee) // TARGET_AGGREGATORS_PER_COMMITTEE)
// and the first 8 bytes of the proof's hash, little-endian, divisible by it.
func isAggregator(committeeLength, targetAggregators uint64, proof phase0.BLSSignature) bool {
	modulo := max(1, committeeLength/targetAggregators)
	h := sha256.Sum256(proof[:])
	return binary.LittleEndian.Uint64(h[:8])%modulo == 0
}

// subscribe sends the beacon committee subscriptions of the freshly fetched
// attester duties of epoch and epoch+1, with selection proofs signed ahead
// so the node joins the subnets of the committees we aggregate for.
func (a *attester) subscribe(ctx context.Context, epoch phase0.Epoch) {
	for _, e := range []phase0.Epoch{epoch, epoch + 1} {
		a.mu.Lock()
		entry := a.epochs[e]
		if entry == nil || entry.subscribed || len(entry.duties) == 0 {
			a.mu.Unlock()
			continue
		}
		entry.subscribed = true
		duties := entry.duties
		a.mu.Unlock()
		a.subscribeCommittees(ctx, e, entry, duties)
	}
}

func (a *attester) subscribeCommittees(ctx context.Context, epoch phase0.Epoch, entry *attesterEpoch, duties []*apiv1.AttesterDuty) {
	proofs := make([]phase0.BLSSignature, len(duties))
	selected := make([]bool, len(duties))
	target := a.spec().TargetAggregatorsPerCommittee
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, d := range duties {
		pk, ok := a.roster.signer(d.ValidatorIndex)
		if !ok {
			// Still in doppelganger watch: subscribe without aggregating.
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			proof, err := a.proofs.SignSelectionProof(ctx, pk, d.Slot)
			if err != nil {
				a.log.Warn("Failed to sign selection proof", slog.Uint64("slot", uint64(d.Slot)),
					slog.Uint64("validator_index", uint64(d.ValidatorIndex)), slog.Any("error", err))
				return
			}
			proofs[i], selected[i] = proof, isAggregator(d.CommitteeLength, target, proof)
		})
	}
	wg.Wait()
	subs := make([]*apiv1.BeaconCommitteeSubscription, 0, len(duties))
	aggregators := map[phase0.ValidatorIndex]phase0.BLSSignature{}
	for i, d := range duties {
		subs = append(subs, &apiv1.BeaconCommitteeSubscription{
			ValidatorIndex: d.ValidatorIndex, Slot: d.Slot, CommitteeIndex: d.CommitteeIndex,
			CommitteesAtSlot: d.CommitteesAtSlot, IsAggregator: selected[i],
		})
		if selected[i] {
			aggregators[d.ValidatorIndex] = proofs[i]
		}
	}
	a.mu.Lock()
	entry.proofs = aggregators
	a.mu.Unlock()
	close(entry.proofsReady)
	slot := a.clock.FirstSlot(epoch)
	if err := a.node.SubmitBeaconCommitteeSubscriptions(ctx, subs); err != nil {
		a.log.Warn("Failed to submit beacon committee subscriptions", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
		a.obs.Failed(signer.KindBeaconCommitteeSubscription, slot, len(subs), err)
		return
	}
	a.obs.Performed(signer.KindBeaconCommitteeSubscription, slot, len(subs), a.sinceSlotStart(slot))
	a.log.Debug("Subscribed to beacon committees", slog.Uint64("epoch", uint64(epoch)), slog.Int("subscriptions", len(subs)), slog.Int("aggregators", len(aggregators)))
}

// selectionProofs waits until the selection proofs of epoch are signed and
// returns those of the validators selected to aggregate; false if the epoch's
// duties are gone or ctx ended.
func (a *attester) selectionProofs(ctx context.Context, epoch phase0.Epoch) (map[phase0.ValidatorIndex]phase0.BLSSignature, bool) {
	a.mu.Lock()
	entry := a.epochs[epoch]
	a.mu.Unlock()
	if entry == nil {
		return nil, false
	}
	select {
	case <-entry.proofsReady:
	case <-ctx.Done():
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return entry.proofs, true
}

// dependentRoot reads the dependent_root the Beacon API returns with duties.
func dependentRoot(md map[string]any) phase0.Root {
	var root phase0.Root
	s, ok := md["dependent_root"].(string)
	if !ok {
		return root
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err == nil && len(b) == len(root) {
		copy(root[:], b)
	}
	return root
}

func rootHex(r phase0.Root) string { return "0x" + hex.EncodeToString(r[:]) }
