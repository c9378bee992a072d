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
// liveness endpoint reported the key not live in it when asked 3/4 into the
// last slot of the next epoch: an attestation for epoch e can be included
// until the end of epoch e+1 (EIP-7045), and a node that counts only included
// attestations sees a doppelganger's last votes only then. The key may sign
// once `epochs` epochs are clear.
type doppelgangerState struct {
	done        bool
	watchFrom   phase0.Epoch
	cleared     uint64
	lastCleared phase0.Epoch
	anyCleared  bool
}

func newDoppelgangerState(epoch phase0.Epoch, epochs uint64) doppelgangerState {
	if epochs == 0 {
		return doppelgangerState{done: true}
	}
	return doppelgangerState{watchFrom: epoch + 1}
}

// doppelganger watches keys that may not sign yet for signs of another
// client signing with them.
type doppelganger struct {
	common
	node   livenessClient
	epochs uint64
	stop   func(error)
}

// watch asks the node, 3/4 into every slot, whether any key still under
// watch was live in the current or previous epoch, and stops the duties with
// ErrDoppelganger if one was.
func (d *doppelganger) watch(ctx context.Context, slot phase0.Slot) {
	if d.epochs == 0 {
		return
	}
	epoch := d.clock.EpochOf(slot)
	if len(d.roster.watched(epoch)) == 0 {
		return
	}
	if !d.waitFor(ctx, d.clock.SlotFraction(slot, 3, 4), nil) {
		return
	}
	lastSlot := slot == d.clock.LastSlot(epoch)
	for e, indices := range d.roster.watched(epoch) {
		resp, err := d.node.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: e, Indices: indices})
		if err != nil || resp == nil {
			// Not cleared: the wait grows until the node answers.
			d.log.Warn("Doppelganger check failed; keys stay unsigned until it succeeds", slog.Uint64("epoch", uint64(e)), slog.Any("error", err))
			continue
		}
		asked := map[phase0.ValidatorIndex]bool{}
		for _, idx := range indices {
			asked[idx] = true
		}
		for _, l := range resp.Data {
			if l != nil && l.IsLive && asked[l.Index] {
				d.stop(fmt.Errorf("%w: validator %d was live in epoch %d", ErrDoppelganger, l.Index, e))
				return
			}
		}
		if e < epoch && lastSlot {
			if enabled := d.roster.clearEpoch(e, indices); enabled > 0 {
				d.log.Info("Doppelganger protection passed; validators may sign", slog.Int("validators", enabled), slog.Uint64("epoch", uint64(e)))
			}
		}
	}
}
