package perf_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/monitor/perf/perftest"
)

// multiChain is a chain in which validators 0..n-1 attest perfectly in
// epoch 2 (committee 0 of slot 17, position = index), validator 0 also
// proposes slot 20 and misses slot 21, and every validator is in the sync
// committee. Epoch 2's rewards are served only when withRewards.
func multiChain(n int, withRewards bool) *perftest.Chain {
	c := perftest.NewChain()
	var totals []apiv1.ValidatorAttestationRewards
	var set []uint64
	for i := range n {
		idx := phase0.ValidatorIndex(i)
		c.AddAttesterDuty(epoch, &apiv1.AttesterDuty{PubKey: pubkey(idx), Slot: dutySlt, ValidatorIndex: idx,
			CommitteeLength: uint64(n), CommitteesAtSlot: 1, ValidatorCommitteeIndex: uint64(i)})
		for _, e := range []phase0.Epoch{3, 4, 5} {
			c.AddAttesterDuty(e, &apiv1.AttesterDuty{PubKey: pubkey(idx), Slot: phase0.Slot(uint64(e)*spe + 5), ValidatorIndex: idx,
				CommitteeLength: uint64(n), CommitteesAtSlot: 1, ValidatorCommitteeIndex: uint64(i)})
		}
		totals = append(totals, apiv1.ValidatorAttestationRewards{ValidatorIndex: idx, Head: 100, Target: 200, Source: 100})
		set = append(set, uint64(i))
		for _, slot := range []phase0.Slot{16, 24, 32} {
			c.SetValidator(slot, &apiv1.Validator{Index: idx, Balance: gwei32 + phase0.Gwei(slot), Status: apiv1.ValidatorStateActiveOngoing,
				Validator: &phase0.Validator{PublicKey: pubkey(idx), EffectiveBalance: gwei32}})
		}
		for _, e := range []phase0.Epoch{2, 3, 4, 5} {
			c.AddSyncDuty(e, &apiv1.SyncCommitteeDuty{PubKey: pubkey(idx), ValidatorIndex: idx, ValidatorSyncCommitteeIndices: []phase0.CommitteeIndex{phase0.CommitteeIndex(i)}})
		}
	}
	if withRewards {
		c.SetRewards(epoch, &apiv1.AttestationRewards{
			IdealRewards: []apiv1.IdealAttestationRewards{{EffectiveBalance: gwei32, Head: 100, Target: 200, Source: 100}},
			TotalRewards: totals,
		})
	}
	c.AddProposerDuty(epoch, &apiv1.ProposerDuty{PubKey: pubkey(0), Slot: 20, ValidatorIndex: 0})
	c.AddProposerDuty(epoch, &apiv1.ProposerDuty{PubKey: pubkey(0), Slot: 21, ValidatorIndex: 0})
	c.AddProposerDuty(5, &apiv1.ProposerDuty{PubKey: pubkey(1), Slot: 43, ValidatorIndex: 1})
	for slot := phase0.Slot(16); slot < 32; slot++ {
		if slot == 21 {
			continue
		}
		b := perftest.BlockSpec{Slot: slot, Proposer: 1000, Parent: root(slot - 1), SlotsPerEpoch: spe, SyncSet: set}
		if slot == 20 {
			b.Proposer = 0
		}
		if slot == dutySlt+1 {
			b.Votes = []perftest.Vote{{Slot: dutySlt, Head: root(dutySlt), Target: targetRoot(), Length: uint64(n), Set: set}}
		}
		c.SetBlock(perftest.Deneb(b))
	}
	return c
}

func validators(n int) []perf.Validator {
	out := make([]perf.Validator, n)
	for i := range out {
		out[i] = perf.Validator{Index: phase0.ValidatorIndex(i), Pubkey: pubkey(phase0.ValidatorIndex(i))}
	}
	return out
}

// runTracker starts a tracker whose clock is at slot, and returns a
// function that waits until it sleeps (one pass done).
func runTracker(t *testing.T, chain *perftest.Chain, slot phase0.Slot, n int, opts ...perf.Option) (*perf.Tracker, *slotclocktest.Fake, func()) {
	t.Helper()
	clock := slotclocktest.NewFake(testSpec.GenesisTime.Add(time.Duration(slot)*testSpec.SlotDuration + testSpec.SlotDuration/2))
	tr := perf.NewTracker(chain, chaintest.Fixed(*testSpec), append([]perf.Option{perf.WithClock(clock)}, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, func() []perf.Validator { return validators(n) })
	}()
	t.Cleanup(func() { cancel(); <-done })
	idle := func() {
		t.Helper()
		require.Eventually(t, func() bool { return len(clock.Pending()) > 0 }, 5*time.Second, time.Millisecond)
	}
	return tr, clock, idle
}

// step moves the clock one slot on and waits for the tracker's pass.
func step(clock *slotclocktest.Fake, idle func()) {
	clock.Advance(testSpec.SlotDuration)
	idle()
}

func TestTrackerEvaluatesEachEpochOnce(t *testing.T) {
	chain := multiChain(3, false)
	tr, clock, idle := runTracker(t, chain, 32, 3) // epoch 4: epoch 2 is evaluable
	idle()
	require.Nil(t, tr.Status(8).LastEvaluatedEpoch, "no rewards yet")
	require.Positive(t, chain.Calls("AttestationRewards"))

	chain.SetRewards(epoch, &apiv1.AttestationRewards{
		IdealRewards: []apiv1.IdealAttestationRewards{{EffectiveBalance: gwei32, Head: 100, Target: 200, Source: 100}},
		TotalRewards: []apiv1.ValidatorAttestationRewards{
			{ValidatorIndex: 0, Head: 100, Target: 200, Source: 100},
			{ValidatorIndex: 1, Head: 100, Target: 200, Source: 100},
			{ValidatorIndex: 2, Head: 100, Target: 200, Source: 100},
		},
	})
	step(clock, idle)
	st := tr.Status(8)
	require.NotNil(t, st.LastEvaluatedEpoch)
	require.Equal(t, uint64(2), *st.LastEvaluatedEpoch)
	calls := chain.Calls("AttestationRewards")
	step(clock, idle)
	step(clock, idle)
	require.Equal(t, calls, chain.Calls("AttestationRewards"), "an evaluated epoch is not asked for again")
	require.Equal(t, 3.0, testutil.ToFloat64(counterVec(t, tr, "vigil_attestations_total", "result", "included")))
}

func TestTrackerSurvivesBeaconNodeErrors(t *testing.T) {
	chain := multiChain(2, true)
	chain.SetFailure(errors.New("connection refused"))
	tr, clock, idle := runTracker(t, chain, 32, 2)
	idle()
	require.Nil(t, tr.Status(8).LastEvaluatedEpoch)
	step(clock, idle)
	require.Nil(t, tr.Status(8).LastEvaluatedEpoch)
	chain.SetFailure(nil)
	step(clock, idle)
	require.NotNil(t, tr.Status(8).LastEvaluatedEpoch)
	// The head refresh failed too and is retried, so next duties are known.
	rows := tr.Status(8).Validators
	require.NotNil(t, rows[0].NextDuties.AttestationSlot)
}

// counterVec finds one labelled series of a metric the tracker collects.
func counterVec(t *testing.T, c prometheus.Collector, name, label, value string) prometheus.Collector {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	require.NoError(t, reg.Register(c))
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					v := m.GetCounter().GetValue()
					return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "x"}, func() float64 { return v })
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return nil
}

func TestTrackerMetrics(t *testing.T) {
	tests := []struct {
		name         string
		validators   int
		limit        int
		perValidator bool
	}{
		{name: "under the limit: per-validator series", validators: 3, limit: 64, perValidator: true},
		{name: "at the limit", validators: 2, limit: 2, perValidator: true},
		{name: "limit 2 with 3 validators: only aggregates", validators: 3, limit: 2, perValidator: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			chain := multiChain(tc.validators, true)
			tr, _, idle := runTracker(t, chain, 32, tc.validators, perf.WithValidatorLimit(tc.limit))
			idle()
			require.NotNil(t, tr.Status(8).LastEvaluatedEpoch)

			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(tr))
			n := tc.validators
			want := `
# HELP vigil_attestations_total Attestation duties of evaluated epochs by result.
# TYPE vigil_attestations_total counter
vigil_attestations_total{result="included"} ` + itoa(n) + `
vigil_attestations_total{result="missed"} 0
# HELP vigil_performance_epoch The epoch the performance metrics describe (the newest evaluated).
# TYPE vigil_performance_epoch gauge
vigil_performance_epoch 2
# HELP vigil_proposals_total Proposer duties of evaluated epochs by result.
# TYPE vigil_proposals_total counter
vigil_proposals_total{result="missed"} 1
vigil_proposals_total{result="proposed"} 1
# HELP vigil_sync_committee_messages_total Sync committee messages of evaluated epochs by result.
# TYPE vigil_sync_committee_messages_total counter
vigil_sync_committee_messages_total{result="included"} ` + itoa(7*n) + `
vigil_sync_committee_messages_total{result="missed"} 0
# HELP vigil_attestation_reward_gwei Sum of the validators' attestation rewards (head+target+source-inactivity) in the evaluated epoch.
# TYPE vigil_attestation_reward_gwei gauge
vigil_attestation_reward_gwei ` + itoa(400*n) + `
# HELP vigil_validators_balance_change_gwei Sum of the validators' balance changes over the evaluated epoch.
# TYPE vigil_validators_balance_change_gwei gauge
vigil_validators_balance_change_gwei ` + itoa(8*n) + `
`
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
				"vigil_attestations_total", "vigil_performance_epoch", "vigil_proposals_total",
				"vigil_sync_committee_messages_total", "vigil_attestation_reward_gwei", "vigil_validators_balance_change_gwei"))

			count, err := testutil.GatherAndCount(reg, "vigil_attestation_votes_total")
			require.NoError(t, err)
			require.Equal(t, 6, count)
			count, err = testutil.GatherAndCount(reg, "vigil_attestation_inclusion_delay_slots")
			require.NoError(t, err)
			require.Equal(t, 1, count)

			perVal, err := testutil.GatherAndCount(reg,
				"vigil_validator_attestation_included", "vigil_validator_attestation_head_correct",
				"vigil_validator_attestation_target_correct", "vigil_validator_attestation_source_correct",
				"vigil_validator_attestation_inclusion_delay_slots", "vigil_validator_attestation_reward_gwei",
				"vigil_validator_proposals_total", "vigil_validator_sync_committee_messages_total",
				"vigil_validator_balance_gwei", "vigil_validator_balance_change_gwei")
			require.NoError(t, err)
			if !tc.perValidator {
				require.Zero(t, perVal)
				return
			}
			require.Equal(t, n*(8+2+2), perVal)
			v0 := `
# HELP vigil_validator_proposals_total The validator's proposer duties by result.
# TYPE vigil_validator_proposals_total counter
`
			for i := range n {
				l := `index="` + itoa(i) + `",pubkey="` + pubkeyHex(phase0.ValidatorIndex(i)) + `"`
				missed, proposed := "0", "0"
				if i == 0 {
					missed, proposed = "1", "1"
				}
				v0 += `vigil_validator_proposals_total{` + l + `,result="missed"} ` + missed + "\n"
				v0 += `vigil_validator_proposals_total{` + l + `,result="proposed"} ` + proposed + "\n"
			}
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(v0), "vigil_validator_proposals_total"))
		})
	}
}

func pubkeyHex(i phase0.ValidatorIndex) string {
	pk := pubkey(i)
	const hexdigits = "0123456789abcdef"
	out := []byte("0x")
	for _, b := range pk {
		out = append(out, hexdigits[b>>4], hexdigits[b&0xf])
	}
	return string(out)
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestTrackerHandler(t *testing.T) {
	chain := multiChain(2, true)
	tr, _, idle := runTracker(t, chain, 41, 2) // epoch 5, slot 41: epoch 3 is the newest evaluable
	idle()
	srv := httptest.NewServer(tr.Handler())
	t.Cleanup(srv.Close)

	resp, err := http.Get(srv.URL + "?epochs=4")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var st perf.StatusReport
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&st))
	require.Equal(t, uint64(41), st.CurrentSlot)
	require.Equal(t, 4, st.EffectivenessEpochs)
	require.Len(t, st.Validators, 2)
	v1 := st.Validators[1]
	require.Equal(t, pubkeyHex(1), v1.Pubkey)
	require.Equal(t, uint64(1), v1.Index)
	require.Equal(t, "active_ongoing", v1.Status)
	require.Equal(t, uint64(gwei32+32), v1.BalanceGwei, "balance at head")
	require.NotNil(t, v1.NextDuties.AttestationSlot)
	require.Equal(t, uint64(45), *v1.NextDuties.AttestationSlot)
	require.Equal(t, []uint64{43}, v1.NextDuties.ProposalSlots)
	require.True(t, v1.NextDuties.SyncCommittee)

	resp2, err := http.Get(srv.URL + "?epochs=zero")
	require.NoError(t, err)
	resp2.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp2.StatusCode)
}

func TestTrackerHandlerEffectiveness(t *testing.T) {
	chain := multiChain(2, true)
	tr, _, idle := runTracker(t, chain, 32, 2)
	idle()
	st := tr.Status(8)
	require.Equal(t, uint64(2), *st.LastEvaluatedEpoch)
	v0 := st.Validators[0]
	require.NotNil(t, v0.LastAttestation)
	require.Equal(t, perf.AttestationStatus{Epoch: 2, Slot: 17, Included: true, Head: true, Target: true, Source: true, InclusionDelay: 1, RewardGwei: 400}, *v0.LastAttestation)
	require.NotNil(t, v0.EffectivenessPercent)
	require.InDelta(t, 100, *v0.EffectivenessPercent, 1e-9)
	require.Equal(t, 1, v0.EffectivenessEpochs)
}

// TestTrackerStatusForValidatorsAddedLater checks that validators the client
// resolves after the tracker started (indices come from the beacon node once
// the duties run, and keys are added at run time) get their state and next
// duties within a slot, not an epoch later.
func TestTrackerStatusForValidatorsAddedLater(t *testing.T) {
	chain := multiChain(2, true)
	clock := slotclocktest.NewFake(testSpec.GenesisTime.Add(41*testSpec.SlotDuration + testSpec.SlotDuration/2))
	tr := perf.NewTracker(chain, chaintest.Fixed(*testSpec), perf.WithClock(clock))
	var mu sync.Mutex
	var vals []perf.Validator
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.Run(ctx, func() []perf.Validator { mu.Lock(); defer mu.Unlock(); return vals })
	}()
	t.Cleanup(func() { cancel(); <-done })
	idle := func() {
		require.Eventually(t, func() bool { return len(clock.Pending()) > 0 }, 5*time.Second, time.Millisecond)
	}
	idle()
	require.Empty(t, tr.Status(8).Validators)

	mu.Lock()
	vals = validators(2)
	mu.Unlock()
	step(clock, idle) // still epoch 5
	st := tr.Status(8)
	require.Len(t, st.Validators, 2)
	require.Equal(t, "active_ongoing", st.Validators[1].Status)
	require.NotNil(t, st.Validators[1].NextDuties.AttestationSlot)
}
