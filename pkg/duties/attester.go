package duties

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// attestation is one validator's signed attestation in a slot's batch.
type attestation struct {
	duty *apiv1.AttesterDuty
	data *phase0.AttestationData
}

// attesterDutiesAt returns the slot's attester duties of validators that may
// sign and have not attested to this target epoch in this run.
func (s *Service) attesterDutiesAt(slot phase0.Slot) []*apiv1.AttesterDuty {
	epoch := s.clock.EpochOf(slot)
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.attester[epoch]
	if a == nil {
		return nil
	}
	var out []*apiv1.AttesterDuty
	for _, d := range a.duties {
		if d.Slot != slot {
			continue
		}
		if _, ok := s.canSignLocked(d.ValidatorIndex); !ok {
			continue
		}
		if last, ok := s.attested[d.ValidatorIndex]; ok && last >= epoch {
			continue
		}
		out = append(out, d)
	}
	return out
}

// attestAndAggregate attests at 1/3 of the slot or at the slot's head block,
// whichever comes first (phase0 validator guide, "Attesting"), then
// aggregates at 2/3 ("Broadcast aggregate").
func (s *Service) attestAndAggregate(ctx context.Context, slot phase0.Slot) {
	duties := s.attesterDutiesAt(slot)
	if len(duties) == 0 {
		return
	}
	s.obs.Scheduled(KindAttestation, slot, len(duties))
	if !s.waitFor(ctx, s.clock.SlotFraction(slot, 1, 3), s.heads.wait(slot)) {
		s.obs.Failed(KindAttestation, slot, len(duties), ctx.Err())
		return
	}
	done := s.attest(ctx, slot, duties)
	if len(done) == 0 {
		return
	}
	s.aggregate(ctx, slot, done)
}

// attest fetches the attestation data (one request per committee before
// Electra, one per slot after), signs the whole slot in one signer call (one
// slashing-protection commit) and submits it in one call.
func (s *Service) attest(ctx context.Context, slot phase0.Slot, duties []*apiv1.AttesterDuty) []attestation {
	epoch := s.clock.EpochOf(slot)
	isElectra := s.params.isElectra(epoch)
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
			data, err := s.attestationData(ctx, slot, ci)
			if err != nil {
				s.log.Warn("Failed to obtain attestation data", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("committee_index", uint64(ci)), slog.Any("error", err))
				return
			}
			s.checkHeadVote(slot, data)
			mu.Lock()
			committees[ci] = data
			mu.Unlock()
		})
	}
	wg.Wait()

	batch := make([]signer.AttestationDuty, 0, len(duties))
	pending := make([]attestation, 0, len(duties))
	pubkeys := map[phase0.ValidatorIndex]phase0.BLSPubKey{}
	s.mu.Lock()
	for _, d := range duties {
		ci := d.CommitteeIndex
		if isElectra {
			ci = 0
		}
		data := committees[ci]
		v, ok := s.canSignLocked(d.ValidatorIndex)
		if data == nil || !ok {
			continue
		}
		batch = append(batch, signer.AttestationDuty{Pubkey: v.pubkey, Data: data})
		pending = append(pending, attestation{duty: d, data: data})
		pubkeys[d.ValidatorIndex] = v.pubkey
	}
	s.mu.Unlock()
	if missing := len(duties) - len(batch); missing > 0 {
		s.obs.Failed(KindAttestation, slot, missing, errors.New("no attestation data"))
	}
	if len(batch) == 0 {
		return nil
	}

	results, err := s.signer.SignAttestations(ctx, batch)
	if err != nil {
		s.log.Error("Slashing protection could not decide; no attestation signed", slog.Uint64("slot", uint64(slot)),
			slog.Int("validators", len(batch)), slog.Any("error", err))
		s.obs.Failed(KindAttestation, slot, len(batch), err)
		return nil
	}
	version := s.params.versionAt(epoch)
	atts := make([]*spec.VersionedAttestation, 0, len(results))
	signed := make([]attestation, 0, len(results))
	s.mu.Lock()
	for i, r := range results {
		d := pending[i].duty
		s.attested[d.ValidatorIndex] = epoch
		if r.Err != nil {
			continue
		}
		atts = append(atts, versionedAttestation(version, d, pending[i].data, r.Signature))
		signed = append(signed, pending[i])
	}
	startEpoch := s.startEpoch
	s.mu.Unlock()
	for i, r := range results {
		if r.Err == nil {
			continue
		}
		d := pending[i].duty
		s.obs.Failed(KindAttestation, slot, 1, r.Err)
		if restartedDoubleVote(r.Err, pending[i].data.Target.Epoch, startEpoch) {
			// The run before a restart in this epoch attested to this target
			// with other data (another head); its attestation stands.
			s.log.Info("Attestation for this target already signed before a restart; not signing other data", slog.Uint64("slot", uint64(slot)),
				slog.Uint64("validator_index", uint64(d.ValidatorIndex)))
			continue
		}
		s.log.Error("Attestation refused by the signer", slog.Uint64("slot", uint64(slot)),
			slog.Uint64("validator_index", uint64(d.ValidatorIndex)), slog.Any("error", r.Err))
		if fatal := concurrentSignerRefusal(r.Err, signer.KindAttestation, slot, pending[i].data.Target.Epoch, startEpoch, 0, pubkeys[d.ValidatorIndex]); fatal != nil {
			s.stop(fatal)
		}
	}
	if len(atts) == 0 {
		return nil
	}
	if err := s.node.SubmitAttestations(ctx, &api.SubmitAttestationsOpts{Attestations: atts}); err != nil {
		s.log.Error("Failed to submit attestations", slog.Uint64("slot", uint64(slot)), slog.Int("attestations", len(atts)), slog.Any("error", err))
		s.obs.Failed(KindAttestation, slot, len(atts), err)
		return signed
	}
	s.obs.Performed(KindAttestation, slot, len(atts), s.sinceSlotStart(slot))
	s.log.Debug("Attested", slog.Uint64("slot", uint64(slot)), slog.Int("attestations", len(atts)))
	return signed
}

// attestationData fetches and checks the data for a committee: it must be for
// the slot and committee asked (index 0 from Electra on, EIP-7549) and vote
// for the slot's epoch.
func (s *Service) attestationData(ctx context.Context, slot phase0.Slot, ci phase0.CommitteeIndex) (*phase0.AttestationData, error) {
	resp, err := s.node.AttestationData(ctx, &api.AttestationDataOpts{Slot: slot, CommitteeIndex: ci})
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
	case d.Target.Epoch != s.clock.EpochOf(slot):
		return nil, fmt.Errorf("attestation data targets epoch %d, slot is in epoch %d", d.Target.Epoch, s.clock.EpochOf(slot))
	case d.Source.Epoch > d.Target.Epoch:
		return nil, fmt.Errorf("attestation data source epoch %d is after target epoch %d", d.Source.Epoch, d.Target.Epoch)
	}
	return d, nil
}

// checkHeadVote warns when attestation data for a slot whose head event has
// arrived votes for another block: the node that served the data had not
// imported the head (or has since reorged away from it), so the head vote
// will likely be wrong. The data is still signed; it is the node's view.
func (s *Service) checkHeadVote(slot phase0.Slot, data *phase0.AttestationData) {
	root, ok := s.heads.head(slot)
	if !ok || root == data.BeaconBlockRoot {
		return
	}
	s.log.Warn("Attestation data votes for a block other than the slot's head event; the beacon node serving reads may lag",
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
// so the node joins the subnets of the committees we aggregate for, and the
// sync committee subscriptions of the current and next period.
func (s *Service) subscribe(ctx context.Context, epoch phase0.Epoch) {
	for _, e := range []phase0.Epoch{epoch, epoch + 1} {
		s.mu.Lock()
		a := s.attester[e]
		if a == nil || a.subscribed || len(a.duties) == 0 {
			s.mu.Unlock()
			continue
		}
		a.subscribed = true
		duties := a.duties
		s.mu.Unlock()
		s.subscribeCommittees(ctx, e, a, duties)
	}
	s.subscribeSyncCommittees(ctx, epoch)
}

func (s *Service) subscribeCommittees(ctx context.Context, epoch phase0.Epoch, a *attesterEpoch, duties []*apiv1.AttesterDuty) {
	proofs := make([]phase0.BLSSignature, len(duties))
	selected := make([]bool, len(duties))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	for i, d := range duties {
		s.mu.Lock()
		v, ok := s.canSignLocked(d.ValidatorIndex)
		s.mu.Unlock()
		if !ok {
			// Still in doppelganger watch: subscribe without aggregating.
			continue
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			proof, err := s.signer.SignSelectionProof(ctx, v.pubkey, d.Slot)
			if err != nil {
				s.log.Warn("Failed to sign selection proof", slog.Uint64("slot", uint64(d.Slot)),
					slog.Uint64("validator_index", uint64(d.ValidatorIndex)), slog.Any("error", err))
				return
			}
			proofs[i], selected[i] = proof, isAggregator(d.CommitteeLength, s.params.targetAggregatorsPerCommittee, proof)
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
	s.mu.Lock()
	a.proofs = aggregators
	s.mu.Unlock()
	close(a.proofsReady)
	slot := s.clock.FirstSlot(epoch)
	if err := s.node.SubmitBeaconCommitteeSubscriptions(ctx, subs); err != nil {
		s.log.Warn("Failed to submit beacon committee subscriptions", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
		s.obs.Failed(KindBeaconCommitteeSubscription, slot, len(subs), err)
		return
	}
	s.obs.Performed(KindBeaconCommitteeSubscription, slot, len(subs), s.sinceSlotStart(slot))
	s.log.Debug("Subscribed to beacon committees", slog.Uint64("epoch", uint64(epoch)), slog.Int("subscriptions", len(subs)), slog.Int("aggregators", len(aggregators)))
}

// aggregate publishes aggregate-and-proofs at 2/3 of the slot for the
// validators selected to aggregate, one aggregate fetch per committee.
func (s *Service) aggregate(ctx context.Context, slot phase0.Slot, done []attestation) {
	epoch := s.clock.EpochOf(slot)
	type aggregator struct {
		att    attestation
		pubkey phase0.BLSPubKey
		proof  phase0.BLSSignature
	}
	// Selection proofs are signed with the subscriptions at the start of the
	// epoch; read them once the aggregation time has come.
	if !s.waitFor(ctx, s.clock.SlotFraction(slot, 2, 3), nil) {
		return
	}
	s.mu.Lock()
	a := s.attester[epoch]
	s.mu.Unlock()
	if a == nil {
		return
	}
	select {
	case <-a.proofsReady:
	case <-ctx.Done():
		return
	}
	var aggs []aggregator
	s.mu.Lock()
	{
		for _, at := range done {
			proof, ok := a.proofs[at.duty.ValidatorIndex]
			v, canSign := s.canSignLocked(at.duty.ValidatorIndex)
			if ok && canSign {
				aggs = append(aggs, aggregator{att: at, pubkey: v.pubkey, proof: proof})
			}
		}
	}
	s.mu.Unlock()
	if len(aggs) == 0 {
		return
	}
	s.obs.Scheduled(KindAggregate, slot, len(aggs))
	version := s.params.versionAt(epoch)
	byCommittee := map[phase0.CommitteeIndex][]aggregator{}
	for _, a := range aggs {
		byCommittee[a.att.duty.CommitteeIndex] = append(byCommittee[a.att.duty.CommitteeIndex], a)
	}
	var mu sync.Mutex
	var out []*spec.VersionedSignedAggregateAndProof
	var wg sync.WaitGroup
	for ci, members := range byCommittee {
		wg.Go(func() {
			agg, err := s.aggregateAttestation(ctx, slot, ci, members[0].att.data, version)
			if err != nil {
				s.log.Warn("Failed to obtain aggregate attestation", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("committee_index", uint64(ci)), slog.Any("error", err))
				s.obs.Failed(KindAggregate, slot, len(members), err)
				return
			}
			for _, m := range members {
				signed, err := s.signAggregate(ctx, version, m.pubkey, m.att.duty.ValidatorIndex, agg, m.proof)
				if err != nil {
					s.log.Warn("Failed to sign aggregate and proof", slog.Uint64("slot", uint64(slot)),
						slog.Uint64("validator_index", uint64(m.att.duty.ValidatorIndex)), slog.Any("error", err))
					s.obs.Failed(KindAggregate, slot, 1, err)
					continue
				}
				mu.Lock()
				out = append(out, signed)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(out) == 0 {
		return
	}
	if err := s.node.SubmitAggregateAttestations(ctx, &api.SubmitAggregateAttestationsOpts{SignedAggregateAndProofs: out}); err != nil {
		s.log.Error("Failed to submit aggregates", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		s.obs.Failed(KindAggregate, slot, len(out), err)
		return
	}
	s.obs.Performed(KindAggregate, slot, len(out), s.sinceSlotStart(slot))
}

// aggregateAttestation fetches the node's aggregate for our attestation data
// (and, from Electra on, our committee) and checks it is for that data.
func (s *Service) aggregateAttestation(ctx context.Context, slot phase0.Slot, ci phase0.CommitteeIndex, data *phase0.AttestationData, version spec.DataVersion) (*spec.VersionedAttestation, error) {
	root, err := data.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("hash attestation data: %w", err)
	}
	resp, err := s.node.AggregateAttestation(ctx, &api.AggregateAttestationOpts{Slot: slot, AttestationDataRoot: root, CommitteeIndex: ci})
	if err != nil {
		return nil, err
	}
	if resp == nil || resp.Data == nil {
		return nil, errors.New("empty aggregate attestation")
	}
	agg := resp.Data
	if agg.Version != version {
		return nil, fmt.Errorf("aggregate is %s, slot is %s", agg.Version, version)
	}
	got, err := agg.Data()
	if err != nil {
		return nil, err
	}
	gotRoot, err := got.HashTreeRoot()
	if err != nil || gotRoot != root {
		return nil, errors.New("aggregate is for other attestation data")
	}
	return agg, nil
}

func (s *Service) signAggregate(ctx context.Context, version spec.DataVersion, pubkey phase0.BLSPubKey, index phase0.ValidatorIndex, agg *spec.VersionedAttestation, proof phase0.BLSSignature) (*spec.VersionedSignedAggregateAndProof, error) {
	ap := &spec.VersionedAggregateAndProof{Version: version}
	signed := &spec.VersionedSignedAggregateAndProof{Version: version}
	var phase0AP *phase0.AggregateAndProof
	var electraAP *electra.AggregateAndProof
	switch version {
	case spec.DataVersionElectra, spec.DataVersionFulu:
		att := agg.Electra
		if version == spec.DataVersionFulu {
			att = agg.Fulu
		}
		if att == nil {
			return nil, errors.New("aggregate has no attestation")
		}
		electraAP = &electra.AggregateAndProof{AggregatorIndex: index, Aggregate: att, SelectionProof: proof}
		ap.Electra, ap.Fulu = electraAP, electraAP
		if version == spec.DataVersionElectra {
			ap.Fulu = nil
		} else {
			ap.Electra = nil
		}
	default:
		att := map[spec.DataVersion]*phase0.Attestation{
			spec.DataVersionPhase0: agg.Phase0, spec.DataVersionAltair: agg.Altair, spec.DataVersionBellatrix: agg.Bellatrix,
			spec.DataVersionCapella: agg.Capella, spec.DataVersionDeneb: agg.Deneb,
		}[version]
		if att == nil {
			return nil, errors.New("aggregate has no attestation")
		}
		phase0AP = &phase0.AggregateAndProof{AggregatorIndex: index, Aggregate: att, SelectionProof: proof}
		switch version {
		case spec.DataVersionPhase0:
			ap.Phase0 = phase0AP
		case spec.DataVersionAltair:
			ap.Altair = phase0AP
		case spec.DataVersionBellatrix:
			ap.Bellatrix = phase0AP
		case spec.DataVersionCapella:
			ap.Capella = phase0AP
		default:
			ap.Deneb = phase0AP
		}
	}
	sig, err := s.signer.SignAggregateAndProof(ctx, pubkey, ap)
	if err != nil {
		return nil, err
	}
	if electraAP != nil {
		sap := &electra.SignedAggregateAndProof{Message: electraAP, Signature: sig}
		if version == spec.DataVersionElectra {
			signed.Electra = sap
		} else {
			signed.Fulu = sap
		}
		return signed, nil
	}
	sap := &phase0.SignedAggregateAndProof{Message: phase0AP, Signature: sig}
	switch version {
	case spec.DataVersionPhase0:
		signed.Phase0 = sap
	case spec.DataVersionAltair:
		signed.Altair = sap
	case spec.DataVersionBellatrix:
		signed.Bellatrix = sap
	case spec.DataVersionCapella:
		signed.Capella = sap
	default:
		signed.Deneb = sap
	}
	return signed, nil
}
