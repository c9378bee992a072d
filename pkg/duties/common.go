package duties

import (
	"context"
	"log/slog"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// chainModel is the chain the duties run on: *chain.Chain, whose spec follows
// the forks the beacon node schedules.
type chainModel interface {
	Spec() *chain.Spec
	SlotClock() *slotclock.SlotClock
}

// common is what every duty shares: the chain and its clock, the roster of
// validators, the log and the observer.
type common struct {
	chain  chainModel
	clock  *slotclock.SlotClock
	roster *roster
	log    *slog.Logger
	obs    Observer
}

// spec is the chain model now.
func (c *common) spec() *chain.Spec { return c.chain.Spec() }

// waitFor waits until t or until ready fires, whichever is first; false if
// ctx ended.
func (c *common) waitFor(ctx context.Context, t time.Time, ready <-chan struct{}) bool {
	d := t.Sub(c.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := c.clock.Clock().NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	case <-ready:
		return true
	}
}

// sinceSlotStart is how far into slot the clock is.
func (c *common) sinceSlotStart(slot phase0.Slot) time.Duration {
	return c.clock.Now().Sub(c.clock.SlotStart(slot))
}

// runStart is where this run of the duties began: records in the slashing
// database for a slot or epoch not after it may be the previous run's.
type runStart struct {
	slot  phase0.Slot
	epoch phase0.Epoch
}
