package duties

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/signer"
)

func newTestService(t *testing.T) *Service {
	t.Helper()
	genesis := time.Unix(1_700_000_000, 0)
	sp := chaintest.Spec(genesis)
	clock := slotclocktest.NewFake(genesis.Add(100 * sp.SlotDuration))
	s, err := New(WithBeaconNode(dutiestest.New(sp, clock.Now)), WithSigner(&signer.Signer{}),
		WithChain(chaintest.Chain(t, sp, clock)), WithFeeRecipient(bellatrix.ExecutionAddress{1}), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	require.NoError(t, err)
	return s
}

func TestDependentRootChanges(t *testing.T) {
	a, b := phase0.Root{0xa}, phase0.Root{0xb}
	// Slot 100 is in epoch 12 (8 slots per epoch).
	const slot, epoch = phase0.Slot(100), phase0.Epoch(12)
	tests := []struct {
		name                        string
		head                        *apiv1.HeadEvent
		reorg                       *apiv1.ChainReorgEvent
		wantAttNow, wantAttNext     bool
		wantProposerNow, wantWakeup bool
	}{
		{name: "same roots", head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: a, CurrentDutyDependentRoot: a}},
		{name: "previous root changed: this epoch's attester duties",
			head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: b, CurrentDutyDependentRoot: a}, wantAttNow: true, wantWakeup: true},
		{name: "current root changed: next epoch's attester and this epoch's proposer duties",
			head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: a, CurrentDutyDependentRoot: b}, wantAttNext: true, wantProposerNow: true, wantWakeup: true},
		{name: "shallow reorg within the epoch", reorg: &apiv1.ChainReorgEvent{Slot: slot, Depth: 2}},
		{name: "reorg across the epoch boundary", reorg: &apiv1.ChainReorgEvent{Slot: slot, Depth: 5},
			wantAttNow: true, wantAttNext: true, wantProposerNow: true, wantWakeup: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t)
			s.att.epochs[epoch] = &attesterEpoch{dependentRoot: a}
			s.att.epochs[epoch+1] = &attesterEpoch{dependentRoot: a}
			s.prop.epochs[epoch] = &proposerEpoch{dependentRoot: a}
			if tc.head != nil {
				s.onHead(context.Background(), tc.head)
			} else {
				s.onReorg(context.Background(), tc.reorg)
			}
			require.Equal(t, tc.wantAttNow, s.att.epochs[epoch].stale)
			require.Equal(t, tc.wantAttNext, s.att.epochs[epoch+1].stale)
			require.Equal(t, tc.wantProposerNow, s.prop.epochs[epoch].stale)
			require.Equal(t, tc.wantWakeup, len(s.refetch) == 1)
		})
	}
}

func TestHeadTracker(t *testing.T) {
	h := newHeadTracker()
	early := h.wait(5)
	h.update(4, phase0.Root{4})
	select {
	case <-early:
		t.Fatal("head of slot 4 released the attesters of slot 5")
	default:
	}
	h.update(5, phase0.Root{5})
	<-early
	<-h.wait(3)
}

func TestIsAggregator(t *testing.T) {
	// Expected values computed independently (Python hashlib): sha256 of 96
	// zero bytes starts 2ea9ab9198d16380, i.e. 0x8063d19891aba92e as a
	// little-endian uint64: ≡ 0 mod 2 and 3, ≡ 6 mod 8. With a leading 0x01
	// byte: 508eb48186521268, ≡ 0 mod 8, ≡ 2 mod 3.
	zero := phase0.BLSSignature{}
	one := phase0.BLSSignature{1}
	tests := []struct {
		name            string
		committeeLength uint64
		proof           phase0.BLSSignature
		want            bool
	}{
		{name: "committee below target: modulo 1", committeeLength: 15, proof: zero, want: true},
		{name: "modulo 2", committeeLength: 32, proof: zero, want: true},
		{name: "modulo 3", committeeLength: 48, proof: zero, want: true},
		{name: "modulo 8, remainder 6", committeeLength: 128, proof: zero, want: false},
		{name: "modulo 8, remainder 0", committeeLength: 130, proof: one, want: true},
		{name: "modulo 3, remainder 2", committeeLength: 63, proof: one, want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, isAggregator(tc.committeeLength, 16, tc.proof))
		})
	}
}

func TestCheckHeadVote(t *testing.T) {
	head := phase0.Root{0xa}
	tests := []struct {
		name     string
		headSlot phase0.Slot
		dataRoot phase0.Root
		wantWarn bool
	}{
		{name: "data votes for the head event's block", headSlot: 100, dataRoot: head},
		{name: "data votes for another block", headSlot: 100, dataRoot: phase0.Root{0xb}, wantWarn: true},
		{name: "no head event for the slot yet", headSlot: 99, dataRoot: phase0.Root{0xb}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t)
			var logs strings.Builder
			s.att.log = slog.New(slog.NewTextHandler(&logs, nil))
			s.onHead(context.Background(), &apiv1.HeadEvent{Slot: tc.headSlot, Block: head})
			s.att.checkHeadVote(100, &phase0.AttestationData{Slot: 100, BeaconBlockRoot: tc.dataRoot})
			require.Equal(t, tc.wantWarn, strings.Contains(logs.String(), "votes for a block other than"), logs.String())
		})
	}
}

// TestHeadAheadOfTheClockIgnored feeds a head event for a slot after the
// wall clock's: it must not release the attesters of later slots, which
// would otherwise attest at slot start to the parent block.
func TestHeadAheadOfTheClockIgnored(t *testing.T) {
	s := newTestService(t) // the clock is at slot 100
	s.onHead(context.Background(), &apiv1.HeadEvent{Slot: 150, Block: phase0.Root{0xf}})
	select {
	case <-s.heads.wait(101):
		t.Fatal("a head from the future released the next slot's attesters")
	default:
	}
	_, ok := s.heads.head(150)
	require.False(t, ok)

	s.onHead(context.Background(), &apiv1.HeadEvent{Slot: 100, Block: phase0.Root{0xa}})
	select {
	case <-s.heads.wait(100):
	default:
		t.Fatal("the current slot's head did not release its attesters")
	}
}

// TestHeadWaitersPruned keeps the event stream silent for a long time: the
// waiters of past slots are dropped by the slot loop's prune, not only by
// head events.
func TestHeadWaitersPruned(t *testing.T) {
	h := newHeadTracker()
	for slot := range phase0.Slot(10_000) {
		h.wait(slot)
		h.prune(slot)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	require.LessOrEqual(t, len(h.waiters), headWaitersKept+2)
}

// TestProposerLookaheadDependentRoot checks that duties read under Fulu's
// proposer lookahead follow the head event's previous dependent root, and
// the others its current one.
func TestProposerLookaheadDependentRoot(t *testing.T) {
	a, b := phase0.Root{0xa}, phase0.Root{0xb}
	const slot, epoch = phase0.Slot(100), phase0.Epoch(12)
	for _, tc := range []struct {
		name      string
		lookahead bool
		head      *apiv1.HeadEvent
		wantStale bool
	}{
		{name: "v1: current root changed", head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: a, CurrentDutyDependentRoot: b}, wantStale: true},
		{name: "v1: previous root changed", head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: b, CurrentDutyDependentRoot: a}},
		{name: "lookahead: previous root changed", lookahead: true, head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: b, CurrentDutyDependentRoot: a}, wantStale: true},
		{name: "lookahead: current root changed", lookahead: true, head: &apiv1.HeadEvent{Slot: slot, PreviousDutyDependentRoot: a, CurrentDutyDependentRoot: b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestService(t)
			s.prop.epochs[epoch] = &proposerEpoch{dependentRoot: a, lookahead: tc.lookahead}
			s.onHead(context.Background(), tc.head)
			require.Equal(t, tc.wantStale, s.prop.epochs[epoch].stale)
		})
	}
}
