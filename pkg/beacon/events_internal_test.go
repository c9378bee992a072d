package beacon

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped *bool
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	stopped := new(bool)
	c.timers = append(c.timers, fakeTimer{at: c.now.Add(d), f: f, stopped: stopped})
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := *stopped
		*stopped = true
		return !was
	}
}

// Advance moves the clock and fires the timers that came due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case *t.stopped:
		case !t.at.After(c.now):
			*t.stopped = true
			due = append(due, t.f)
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	c.mu.Unlock()
	for _, f := range due {
		f()
	}
}

// headRecorder is a subscriber that keeps the head events it was given and
// counts block events, which tests use as a barrier: a node's stream is
// ordered, so once a block event it sent after a head is in, that head was
// handled (delivered or held).
type headRecorder struct {
	mu     sync.Mutex
	heads  []phase0.Slot
	blocks int
}

func (r *headRecorder) opts() *api.EventsOpts {
	return &api.EventsOpts{
		Topics: []string{TopicHead, TopicBlock},
		HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.heads = append(r.heads, e.Slot)
		},
		BlockHandler: func(context.Context, *apiv1.BlockEvent) {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.blocks++
		},
	}
}

func (r *headRecorder) got() []phase0.Slot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]phase0.Slot(nil), r.heads...)
}

func (r *headRecorder) blockCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.blocks
}

// TestHeadEventWaitsForReadNode covers the two-node race: b (second in
// preference) sees each block first, a (which serves reads) lags.
func TestHeadEventWaitsForReadNode(t *testing.T) {
	const slotDuration = 12 * time.Second
	slotStart := func(slot phase0.Slot) time.Time {
		return beacontest.DefaultGenesisTime.Add(time.Duration(slot) * slotDuration)
	}
	head := func(slot phase0.Slot, root byte) *apiv1.HeadEvent {
		return &apiv1.HeadEvent{Slot: slot, Block: phase0.Root{root}, State: phase0.Root{0xff}}
	}
	type step struct {
		from    string // "a" or "b": the node that emits
		event   *apiv1.HeadEvent
		advance time.Duration // clock move before the event
		down    string        // take this node down (and re-check health) instead
		want    []phase0.Slot // heads delivered after the step
	}
	tests := []struct {
		name  string
		start time.Time
		steps []step
	}{
		{
			name:  "the read node's own head is delivered at once",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "a", event: head(10, 1), want: []phase0.Slot{10}},
				{from: "b", event: head(10, 1), want: []phase0.Slot{10}},
			},
		},
		{
			name:  "held until the read node reports the block",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: nil},
				{from: "a", event: head(10, 1), want: []phase0.Slot{10}},
			},
		},
		{
			name:  "released when the read node reports a later slot, in order",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: nil},
				{from: "a", event: head(11, 2), want: []phase0.Slot{10, 11}},
			},
		},
		{
			name:  "a different block at the same slot on the read node releases it",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: nil},
				{from: "a", event: head(10, 7), want: []phase0.Slot{10, 10}},
			},
		},
		{
			name:  "released at the attestation deadline when the read node never has it",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: nil},
				{advance: 2*time.Second + 999*time.Millisecond, want: nil},
				{advance: time.Millisecond, want: []phase0.Slot{10}},
				{from: "a", event: head(10, 1), want: []phase0.Slot{10}},
			},
		},
		{
			name:  "a late block is not held",
			start: slotStart(10).Add(5 * time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: []phase0.Slot{10}},
			},
		},
		{
			name:  "failover to the node that sent it releases it",
			start: slotStart(10).Add(time.Second),
			steps: []step{
				{from: "b", event: head(10, 1), want: nil},
				{down: "a", want: []phase0.Slot{10}},
				{from: "b", event: head(11, 2), want: []phase0.Slot{10, 11}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := map[string]*beacontest.Node{
				"a": beacontest.New(t, beacontest.WithName("a")),
				"b": beacontest.New(t, beacontest.WithName("b")),
			}
			clk := &fakeClock{now: tc.start}
			ctx, cancel := context.WithCancel(context.Background())
			t.Cleanup(cancel)
			p, err := New(ctx,
				WithAddresses([]string{nodes["a"].URL(), nodes["b"].URL()}),
				WithTimeout(500*time.Millisecond),
				WithHealthInterval(time.Hour),
				WithLogger(slog.New(slog.DiscardHandler)),
				withClock(clk))
			require.NoError(t, err)
			require.Equal(t, slotDuration, time.Duration(p.slotDuration.Load()))

			rec := &headRecorder{}
			require.NoError(t, p.Events(ctx, rec.opts()))
			for _, n := range nodes {
				require.Eventually(t, func() bool { return n.Subscribers() == 1 }, 5*time.Second, 5*time.Millisecond)
			}
			barriers := 0
			for i, st := range tc.steps {
				clk.Advance(st.advance)
				switch {
				case st.down != "":
					nodes[st.down].SetDown(true)
					p.Refresh(ctx)
				case st.event != nil:
					n := nodes[st.from]
					require.NoError(t, n.Emit(TopicHead, st.event))
					require.NoError(t, n.Emit(TopicBlock, &apiv1.BlockEvent{Slot: phase0.Slot(1000 + i), Block: phase0.Root{byte(i), 0xbb}}))
					barriers++
					require.Eventually(t, func() bool { return rec.blockCount() == barriers }, 5*time.Second, 5*time.Millisecond)
				}
				require.Eventually(t, func() bool { return len(rec.got()) == len(st.want) }, 5*time.Second, 5*time.Millisecond,
					"step %d: got %v, want %v", i, rec.got(), st.want)
				require.Equal(t, st.want, rec.got(), "step %d", i)
			}
		})
	}
}
