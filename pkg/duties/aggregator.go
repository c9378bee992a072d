package duties

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// aggregator publishes aggregate-and-proofs for the validators the
// attester's selection proofs chose (phase0 validator guide, "Attestation
// aggregation").
type aggregator struct {
	common
	node   aggregatorClient
	signer aggregationSigner
	// proofs waits for the selection proofs of an epoch (the attester signs
	// them with the subscriptions).
	proofs func(ctx context.Context, epoch phase0.Epoch) (map[phase0.ValidatorIndex]phase0.BLSSignature, bool)
}

// aggregate publishes aggregate-and-proofs at 2/3 of the slot for the
// validators selected to aggregate among those that attested, one aggregate
// fetch per committee.
func (g *aggregator) aggregate(ctx context.Context, slot phase0.Slot, done []attestation) {
	if len(done) == 0 {
		return
	}
	epoch := g.clock.EpochOf(slot)
	type member struct {
		att    attestation
		pubkey phase0.BLSPubKey
		proof  phase0.BLSSignature
	}
	// Selection proofs are signed with the subscriptions at the start of the
	// epoch; read them once the aggregation time has come.
	if !g.waitFor(ctx, g.clock.SlotFraction(slot, 2, 3), nil) {
		return
	}
	proofs, ok := g.proofs(ctx, epoch)
	if !ok {
		return
	}
	var aggs []member
	for _, at := range done {
		proof, ok := proofs[at.duty.ValidatorIndex]
		pk, canSign := g.roster.signer(at.duty.ValidatorIndex)
		if ok && canSign {
			aggs = append(aggs, member{att: at, pubkey: pk, proof: proof})
		}
	}
	if len(aggs) == 0 {
		return
	}
	const kind = signer.KindAggregateAndProof
	g.obs.Scheduled(kind, slot, len(aggs))
	version := g.spec().ForkAt(epoch).Name
	byCommittee := map[phase0.CommitteeIndex][]member{}
	for _, a := range aggs {
		byCommittee[a.att.duty.CommitteeIndex] = append(byCommittee[a.att.duty.CommitteeIndex], a)
	}
	var mu sync.Mutex
	var out []*spec.VersionedSignedAggregateAndProof
	var wg sync.WaitGroup
	for ci, members := range byCommittee {
		wg.Go(func() {
			agg, err := g.aggregateAttestation(ctx, slot, ci, members[0].att.data, version)
			if err != nil {
				g.log.Warn("Failed to obtain aggregate attestation", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("committee_index", uint64(ci)), slog.Any("error", err))
				g.obs.Failed(kind, slot, len(members), err)
				return
			}
			for _, m := range members {
				signed, err := g.signAggregate(ctx, version, m.pubkey, m.att.duty.ValidatorIndex, agg, m.proof)
				if err != nil {
					g.log.Warn("Failed to sign aggregate and proof", slog.Uint64("slot", uint64(slot)),
						slog.Uint64("validator_index", uint64(m.att.duty.ValidatorIndex)), slog.Any("error", err))
					g.obs.Failed(kind, slot, 1, err)
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
	if err := g.node.SubmitAggregateAttestations(ctx, &api.SubmitAggregateAttestationsOpts{SignedAggregateAndProofs: out}); err != nil {
		g.log.Error("Failed to submit aggregates", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		g.obs.Failed(kind, slot, len(out), err)
		return
	}
	g.obs.Performed(kind, slot, len(out), g.sinceSlotStart(slot))
}

// aggregateAttestation fetches the node's aggregate for our attestation data
// (and, from Electra on, our committee) and checks it is for that data.
func (g *aggregator) aggregateAttestation(ctx context.Context, slot phase0.Slot, ci phase0.CommitteeIndex, data *phase0.AttestationData, version spec.DataVersion) (*spec.VersionedAttestation, error) {
	root, err := data.HashTreeRoot()
	if err != nil {
		return nil, fmt.Errorf("hash attestation data: %w", err)
	}
	resp, err := g.node.AggregateAttestation(ctx, &api.AggregateAttestationOpts{Slot: slot, AttestationDataRoot: root, CommitteeIndex: ci})
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

func (g *aggregator) signAggregate(ctx context.Context, version spec.DataVersion, pubkey phase0.BLSPubKey, index phase0.ValidatorIndex, agg *spec.VersionedAttestation, proof phase0.BLSSignature) (*spec.VersionedSignedAggregateAndProof, error) {
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
	sig, err := g.signer.SignAggregateAndProof(ctx, pubkey, ap)
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
