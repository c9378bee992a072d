package duties_test

import (
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
)

func TestAttestationTiming(t *testing.T) {
	start := phase0.Slot(uint64(denebEpoch) * 8)
	tests := []struct {
		name string
		// head, if set, is when the slot's head block arrives.
		head   time.Duration
		wantAt time.Duration
	}{
		{name: "one third of the slot", wantAt: time.Second},
		{name: "head block before one third", head: 400 * time.Millisecond, wantAt: 400 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{validators: 4, startSlot: start})
			e.run()
			e.waitTimer(e.at(start, 1, 3))
			require.Zero(t, e.node.Count(dutiestest.CallSubmitAttestations), "attested before 1/3 without a head block")
			if tc.head > 0 {
				e.clock.Set(e.slotStart(start).Add(tc.head))
				e.node.EmitHead(&apiv1.HeadEvent{Slot: start, Block: phase0.Root{1}})
			} else {
				e.clock.Set(e.at(start, 1, 3))
			}
			recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)
			require.Equal(t, e.slotStart(start).Add(tc.wantAt), recs[0].At)
		})
	}
}

func TestAttestationBatch(t *testing.T) {
	tests := []struct {
		name  string
		epoch phase0.Epoch
		// wantDataFetches is one per committee before Electra, one per slot after.
		wantDataFetches int
		wantVersion     spec.DataVersion
	}{
		{name: "deneb: phase0 attestations", epoch: denebEpoch, wantDataFetches: 2, wantVersion: spec.DataVersionDeneb},
		{name: "electra: single attestations", epoch: electraEpoch, wantDataFetches: 1, wantVersion: spec.DataVersionElectra},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const n = 6
			slot := phase0.Slot(uint64(tc.epoch) * 8)
			e := newEnv(t, envConfig{validators: n, startSlot: slot})
			e.run()
			// Subscriptions (with selection proofs) go out at the epoch start.
			subs := e.waitCalls(dutiestest.CallSubscriptions, 1)
			e.waitTimer(e.at(slot, 1, 3))
			e.clock.Set(e.at(slot, 1, 3))
			recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)

			require.EqualValues(t, 1, e.signer.attestationCalls.Load(), "one signer call (one slashing-protection commit) per slot")
			require.Len(t, recs, 1, "one submission per slot")
			wire := recs[0].Arg.([]any)
			require.Len(t, wire, n)
			fetches := e.node.Records(dutiestest.CallAttestationData)
			require.Len(t, fetches, tc.wantDataFetches)
			for _, w := range wire {
				switch a := w.(type) {
				case *electra.SingleAttestation:
					require.Equal(t, spec.DataVersionElectra, tc.wantVersion)
					require.Zero(t, a.Data.Index, "EIP-7549: data index is 0")
					require.Equal(t, phase0.CommitteeIndex(uint64(a.AttesterIndex)%2), a.CommitteeIndex)
					require.NotZero(t, a.Signature)
				case *phase0.Attestation:
					require.Equal(t, spec.DataVersionDeneb, tc.wantVersion)
					require.EqualValues(t, 8, a.AggregationBits.Len())
					require.EqualValues(t, 1, a.AggregationBits.Count())
					require.NotZero(t, a.Signature)
				default:
					t.Fatalf("unexpected attestation type %T", w)
				}
			}
			for _, f := range fetches {
				require.Equal(t, slot, f.Arg.(api.AttestationDataOpts).Slot)
				if tc.wantVersion >= spec.DataVersionElectra {
					require.Zero(t, f.Arg.(api.AttestationDataOpts).CommitteeIndex)
				}
			}

			// Committees of 8 make everyone an aggregator (modulo max(1, 8/16) = 1).
			for _, s := range subs[0].Arg.([]*apiv1.BeaconCommitteeSubscription) {
				require.True(t, s.IsAggregator)
			}
			e.waitTimer(e.at(slot, 2, 3))
			require.Zero(t, e.node.Count(dutiestest.CallSubmitAggregates), "aggregated before 2/3")
			e.clock.Set(e.at(slot, 2, 3))
			aggs := e.waitCalls(dutiestest.CallSubmitAggregates, 1)
			require.Equal(t, e.at(slot, 2, 3), aggs[0].At)
			signed := aggs[0].Arg.([]*spec.VersionedSignedAggregateAndProof)
			require.Len(t, signed, n)
			for _, s := range signed {
				require.Equal(t, tc.wantVersion, s.Version)
				if tc.wantVersion >= spec.DataVersionElectra {
					require.NotNil(t, s.Electra)
					require.NotZero(t, s.Electra.Signature)
				} else {
					require.NotNil(t, s.Deneb)
					require.NotZero(t, s.Deneb.Signature)
				}
			}
			for _, r := range e.node.Records(dutiestest.CallAggregateAttestation) {
				require.Equal(t, slot, r.Arg.(api.AggregateAttestationOpts).Slot)
			}
			require.Len(t, e.node.Records(dutiestest.CallAggregateAttestation), 2, "one aggregate per committee")
		})
	}
}

func TestAggregatorSelection(t *testing.T) {
	// Committees far larger than TARGET_AGGREGATORS_PER_COMMITTEE select only
	// some validators; the subscription flag and the aggregates must agree.
	slot := phase0.Slot(uint64(denebEpoch) * 8)
	e := newEnv(t, envConfig{validators: 32, startSlot: slot, configure: func(n *dutiestest.Node) {
		n.Committees, n.CommitteeLength = 1, 16*8
	}})
	e.run()
	subs := e.waitCalls(dutiestest.CallSubscriptions, 1)[0].Arg.([]*apiv1.BeaconCommitteeSubscription)
	selected := map[phase0.ValidatorIndex]bool{}
	for _, s := range subs {
		if s.IsAggregator {
			selected[s.ValidatorIndex] = true
		}
	}
	require.Less(t, len(selected), 32, "modulo 8 should not select everyone")
	e.clock.Set(e.at(slot, 1, 3))
	e.waitCalls(dutiestest.CallSubmitAttestations, 1)
	if len(selected) == 0 {
		return
	}
	e.waitTimer(e.at(slot, 2, 3))
	e.clock.Set(e.at(slot, 2, 3))
	aggs := e.waitCalls(dutiestest.CallSubmitAggregates, 1)[0].Arg.([]*spec.VersionedSignedAggregateAndProof)
	require.Len(t, aggs, len(selected))
	for _, a := range aggs {
		require.True(t, selected[a.Deneb.Message.AggregatorIndex])
	}
}
