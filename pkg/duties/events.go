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
		// Slots long past are never waited for again.
		if s+64 < slot {
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
// of the next epoch and the proposer duties of the head's epoch).
func (s *Service) onHead(_ context.Context, ev *apiv1.HeadEvent) {
	if ev == nil {
		return
	}
	s.heads.update(ev.Slot, ev.Block)
	epoch := s.clock.EpochOf(ev.Slot)
	changed := false
	s.mu.Lock()
	check := func(root *phase0.Root, stale *bool, want phase0.Root, what string, e phase0.Epoch) {
		switch {
		case want == (phase0.Root{}):
		case *root == (phase0.Root{}):
			// The node gave no dependent root with the duties: adopt the
			// first one seen and watch for changes from there.
			*root = want
		case *root != want && !*stale:
			*stale, changed = true, true
			s.log.Info("Duty dependent root changed; refetching", slog.String("duties", what), slog.Uint64("epoch", uint64(e)),
				slog.String("old", rootHex(*root)), slog.String("new", rootHex(want)))
		}
	}
	if a := s.attester[epoch]; a != nil {
		check(&a.dependentRoot, &a.stale, ev.PreviousDutyDependentRoot, "attester", epoch)
	}
	if a := s.attester[epoch+1]; a != nil {
		check(&a.dependentRoot, &a.stale, ev.CurrentDutyDependentRoot, "attester", epoch+1)
	}
	if p := s.proposer[epoch]; p != nil {
		check(&p.dependentRoot, &p.stale, ev.CurrentDutyDependentRoot, "proposer", epoch)
	}
	s.mu.Unlock()
	if changed {
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
	s.mu.Lock()
	for _, e := range []phase0.Epoch{epoch, epoch + 1} {
		if a := s.attester[e]; a != nil {
			a.stale = true
		}
	}
	if p := s.proposer[epoch]; p != nil {
		p.stale = true
	}
	s.mu.Unlock()
	s.wakeRefetch()
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
		now := s.clock.CurrentSlot()
		ctx, cancel := context.WithTimeout(workCtx, s.clock.SlotDuration()+time.Second)
		s.ensureDuties(ctx, s.clock.EpochOf(now))
		s.subscribe(ctx, s.clock.EpochOf(now))
		cancel()
	}
}
