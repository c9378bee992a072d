package duties

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// headTracker lets attesters wait for the head block of their slot.
type headTracker struct {
	mu      sync.Mutex
	seen    bool
	slot    phase0.Slot
	root    phase0.Root
	waiters map[phase0.Slot]chan struct{}
}

// headWaitersKept is how many slots of waiters the tracker keeps behind the
// newest: a slot that far behind is never waited for again.
const headWaitersKept = 64

func newHeadTracker() *headTracker { return &headTracker{waiters: map[phase0.Slot]chan struct{}{}} }

// wait returns a channel closed once a head at or after slot is seen.
func (h *headTracker) wait(slot phase0.Slot) <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	ch, ok := h.waiters[slot]
	if !ok {
		ch = make(chan struct{})
		if h.seen && h.slot >= slot {
			close(ch)
		}
		h.waiters[slot] = ch
	}
	return ch
}

// head returns the block of the latest head event, if it is for slot.
func (h *headTracker) head(slot phase0.Slot) (phase0.Root, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.root, h.seen && h.slot == slot
}

func (h *headTracker) update(slot phase0.Slot, root phase0.Root) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.seen || slot >= h.slot {
		h.seen, h.slot, h.root = true, slot, root
	}
	for s, ch := range h.waiters {
		if s <= slot {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	}
	h.pruneLocked(slot)
}

// prune forgets the waiters of slots long before now; the slot loop calls it
// every slot, so the map stays small even when no head event arrives for
// weeks (the event stream down).
func (h *headTracker) prune(now phase0.Slot) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.pruneLocked(now)
}

func (h *headTracker) pruneLocked(now phase0.Slot) {
	for s := range h.waiters {
		if s+headWaitersKept < now {
			delete(h.waiters, s)
		}
	}
}

func (s *Service) subscribeEvents(ctx context.Context) error {
	return s.node.Events(ctx, &api.EventsOpts{
		Topics:            []string{"head", "chain_reorg"},
		HeadHandler:       s.onHead,
		ChainReorgHandler: s.onReorg,
	})
}

// onHead wakes the slot's attesters and checks the duty dependent roots
// (Beacon API head event: previous_duty_dependent_root decides the attester
// duties of the head's epoch; current_duty_dependent_root the attester duties
// of the next epoch and the proposer duties of the head's epoch). A head
// whose slot is ahead of the wall clock is ignored: the node's clock or a
// peer is wrong, and taking it would release every later slot's attesters at
// once, at slot start, on the parent block.
func (s *Service) onHead(_ context.Context, ev *apiv1.HeadEvent) {
	if ev == nil {
		return
	}
	if now := s.clock.CurrentSlot(); ev.Slot > now {
		s.log.Warn("Ignoring a head event for a slot ahead of the wall clock; check the beacon node's and this machine's clocks",
			slog.Uint64("head_slot", uint64(ev.Slot)), slog.Uint64("wall_clock_slot", uint64(now)))
		return
	}
	s.heads.update(ev.Slot, ev.Block)
	epoch := s.clock.EpochOf(ev.Slot)
	attChanged := s.att.checkDependentRoots(epoch, ev.PreviousDutyDependentRoot, ev.CurrentDutyDependentRoot)
	propChanged := s.prop.checkDependentRoot(epoch, ev.PreviousDutyDependentRoot, ev.CurrentDutyDependentRoot)
	if attChanged || propChanged {
		s.wakeRefetch()
	}
}

// onReorg refetches duties when a reorg reaches back past the start of the
// epoch: only then can a dependent root (the last block of an earlier epoch)
// have changed.
func (s *Service) onReorg(_ context.Context, ev *apiv1.ChainReorgEvent) {
	if ev == nil {
		return
	}
	epoch := s.clock.EpochOf(ev.Slot)
	first := s.clock.FirstSlot(epoch)
	if uint64(ev.Slot) >= ev.Depth && ev.Slot-phase0.Slot(ev.Depth) >= first {
		return
	}
	s.log.Info("Chain reorg across an epoch boundary; refetching duties", slog.Uint64("slot", uint64(ev.Slot)), slog.Uint64("depth", ev.Depth))
	s.att.markStale(epoch, epoch+1)
	s.prop.markStale(epoch)
	s.wakeRefetch()
}

// dependentRootCheck compares a dependent root from a head event with the
// one a duty set was fetched under, marking the set stale when it changed.
// It reports whether it did.
func dependentRootCheck(log *slog.Logger, root *phase0.Root, stale *bool, want phase0.Root, what string, e phase0.Epoch) bool {
	switch {
	case want == (phase0.Root{}):
	case *root == (phase0.Root{}):
		// The node gave no dependent root with the duties: adopt the first
		// one seen and watch for changes from there.
		*root = want
	case *root != want && !*stale:
		*stale = true
		log.Info("Duty dependent root changed; refetching", slog.String("duties", what), slog.Uint64("epoch", uint64(e)),
			slog.String("old", rootHex(*root)), slog.String("new", rootHex(want)))
		return true
	}
	return false
}

func (s *Service) wakeRefetch() {
	select {
	case s.refetch <- struct{}{}:
	default:
	}
}

// refetchLoop refreshes stale duties as soon as a dependent root changes,
// rather than at the next slot.
func (s *Service) refetchLoop(loopCtx, workCtx context.Context) {
	for {
		select {
		case <-loopCtx.Done():
			return
		case <-s.refetch:
		}
		epoch := s.clock.CurrentEpoch()
		ctx, cancel := context.WithTimeout(workCtx, s.clock.SlotDuration()+time.Second)
		s.ensureDuties(ctx, epoch)
		s.subscribe(ctx, epoch)
		cancel()
	}
}
