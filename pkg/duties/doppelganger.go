package duties

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// doppelgangerState is one validator's progress through doppelganger
// protection. Watching starts with the epoch after the key was first seen:
// the epoch we start in may hold our own predecessor's messages (a restart),
// and would look like a doppelganger. An epoch counts as clear once the
// liveness endpoint reported the key not live at or after the epoch's last
// slot (3/4 into it, so most of its attestations are included); the key may
// sign once `epochs` epochs are clear, Lighthouse's 2-3 epoch wait.
type doppelgangerState struct {
	done        bool
	watchFrom   phase0.Epoch
	cleared     uint64
	lastCleared phase0.Epoch
	anyCleared  bool
}

func (s *Service) newDoppelgangerState(epoch phase0.Epoch) doppelgangerState {
	if s.cfg.doppelgangerEpochs == 0 {
		return doppelgangerState{done: true}
	}
	return doppelgangerState{watchFrom: epoch + 1}
}

// watchDoppelgangers asks the node, 3/4 into every slot, whether any key still
// under watch was live in the current or previous epoch, and stops the
// service with ErrDoppelganger if one was.
func (s *Service) watchDoppelgangers(ctx context.Context, slot phase0.Slot) {
	if s.cfg.doppelgangerEpochs == 0 {
		return
	}
	epoch := s.clock.EpochOf(slot)
	watched := func() map[phase0.Epoch][]phase0.ValidatorIndex {
		s.mu.Lock()
		defer s.mu.Unlock()
		out := map[phase0.Epoch][]phase0.ValidatorIndex{}
		for idx, v := range s.byIndex {
			if v.dg.done {
				continue
			}
			for _, e := range []phase0.Epoch{epoch - 1, epoch} {
				if e <= epoch && e >= v.dg.watchFrom {
					out[e] = append(out[e], idx)
				}
			}
		}
		return out
	}
	if len(watched()) == 0 {
		return
	}
	if !s.waitFor(ctx, s.clock.SlotFraction(slot, 3, 4), nil) {
		return
	}
	lastSlot := slot == s.clock.LastSlot(epoch)
	for e, indices := range watched() {
		resp, err := s.node.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: e, Indices: indices})
		if err != nil || resp == nil {
			// Not cleared: the wait grows until the node answers.
			s.log.Warn("Doppelganger check failed; keys stay unsigned until it succeeds", slog.Uint64("epoch", uint64(e)), slog.Any("error", err))
			continue
		}
		asked := map[phase0.ValidatorIndex]bool{}
		for _, idx := range indices {
			asked[idx] = true
		}
		for _, l := range resp.Data {
			if l != nil && l.IsLive && asked[l.Index] {
				s.stop(fmt.Errorf("%w: validator %d was live in epoch %d", ErrDoppelganger, l.Index, e))
				return
			}
		}
		if e < epoch || lastSlot {
			s.clearEpoch(e, indices)
		}
	}
}

// clearEpoch counts epoch as clear for the validators, enabling those that
// have now been watched long enough.
func (s *Service) clearEpoch(epoch phase0.Epoch, indices []phase0.ValidatorIndex) {
	s.mu.Lock()
	defer s.mu.Unlock()
	enabled := 0
	for _, idx := range indices {
		v, ok := s.byIndex[idx]
		if !ok || v.dg.done || (v.dg.anyCleared && epoch <= v.dg.lastCleared) {
			continue
		}
		v.dg.cleared++
		v.dg.lastCleared, v.dg.anyCleared = epoch, true
		if v.dg.cleared >= s.cfg.doppelgangerEpochs {
			v.dg.done = true
			enabled++
		}
	}
	if enabled > 0 {
		s.log.Info("Doppelganger protection passed; validators may sign", slog.Int("validators", enabled), slog.Uint64("epoch", uint64(epoch)))
	}
}
