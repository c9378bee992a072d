// Package slotclock turns wall-clock time into beacon chain slots and epochs,
// from the genesis time and timing of a chain.Spec, over an injectable Clock so
// tests can move time instantly.
package slotclock

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Clock is the source of wall-clock time and timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once after d (at once if d <= 0).
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer from a Clock.
type Timer interface {
	// C delivers the time once the timer fires.
	C() <-chan time.Time
	// Stop cancels the timer; it reports whether the timer was still pending.
	Stop() bool
}

// Real is the system clock.
type Real struct{}

// Now implements Clock.
func (Real) Now() time.Time { return time.Now() }

// NewTimer implements Clock.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }

// ErrSpec marks spec values that are missing or unusable.
var ErrSpec = errors.New("invalid slot clock spec")

// SlotClock maps time to slots for one chain. It is safe for concurrent use.
type SlotClock struct {
	clock         Clock
	genesis       time.Time
	slotDuration  time.Duration
	slotsPerEpoch uint64
}

// New returns a slot clock for a chain starting at genesis.
func New(clock Clock, genesis time.Time, slotDuration time.Duration, slotsPerEpoch uint64) (*SlotClock, error) {
	switch {
	case clock == nil:
		return nil, fmt.Errorf("%w: no clock", ErrSpec)
	case genesis.IsZero():
		return nil, fmt.Errorf("%w: genesis time is missing", ErrSpec)
	case slotDuration <= 0:
		return nil, fmt.Errorf("%w: SECONDS_PER_SLOT must be positive", ErrSpec)
	case slotsPerEpoch == 0:
		return nil, fmt.Errorf("%w: SLOTS_PER_EPOCH must be positive", ErrSpec)
	}
	return &SlotClock{clock: clock, genesis: genesis, slotDuration: slotDuration, slotsPerEpoch: slotsPerEpoch}, nil
}

// Clock returns the underlying clock.
func (s *SlotClock) Clock() Clock { return s.clock }

// Now returns the clock's current time.
func (s *SlotClock) Now() time.Time { return s.clock.Now() }

// Genesis returns the chain's genesis time.
func (s *SlotClock) Genesis() time.Time { return s.genesis }

// SlotDuration returns SECONDS_PER_SLOT as a duration.
func (s *SlotClock) SlotDuration() time.Duration { return s.slotDuration }

// SlotsPerEpoch returns SLOTS_PER_EPOCH.
func (s *SlotClock) SlotsPerEpoch() uint64 { return s.slotsPerEpoch }

// CurrentSlot returns the slot now (0 before genesis).
func (s *SlotClock) CurrentSlot() phase0.Slot { return s.SlotAt(s.clock.Now()) }

// CurrentEpoch returns the epoch now (0 before genesis).
func (s *SlotClock) CurrentEpoch() phase0.Epoch { return s.EpochOf(s.CurrentSlot()) }

// SlotAt returns the slot at t (0 before genesis).
func (s *SlotClock) SlotAt(t time.Time) phase0.Slot {
	if t.Before(s.genesis) {
		return 0
	}
	return phase0.Slot(uint64(t.Sub(s.genesis) / s.slotDuration))
}

// EpochOf is compute_epoch_at_slot.
func (s *SlotClock) EpochOf(slot phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(slot) / s.slotsPerEpoch)
}

// FirstSlot is compute_start_slot_at_epoch.
func (s *SlotClock) FirstSlot(epoch phase0.Epoch) phase0.Slot {
	return phase0.Slot(uint64(epoch) * s.slotsPerEpoch)
}

// LastSlot returns the last slot of epoch.
func (s *SlotClock) LastSlot(epoch phase0.Epoch) phase0.Slot {
	return s.FirstSlot(epoch+1) - 1
}

// SlotStart returns the time slot begins.
func (s *SlotClock) SlotStart(slot phase0.Slot) time.Time {
	return s.genesis.Add(time.Duration(slot) * s.slotDuration)
}

// SlotFraction returns the time num/den of the way into slot, e.g. 1/3 for
// attestations and 2/3 for aggregates (consensus specs, phase0 validator
// guide "Attesting" and "Broadcast aggregate").
func (s *SlotClock) SlotFraction(slot phase0.Slot, num, den int64) time.Time {
	return s.SlotStart(slot).Add(time.Duration(int64(s.slotDuration) * num / den))
}

// SleepUntil waits until t or until ctx is done, returning ctx's error then.
func (s *SlotClock) SleepUntil(ctx context.Context, t time.Time) error {
	return SleepUntil(ctx, s.clock, t)
}

// SleepUntil waits on clock until t or until ctx is done, returning ctx's error then.
func SleepUntil(ctx context.Context, clock Clock, t time.Time) error {
	d := t.Sub(clock.Now())
	if d <= 0 {
		return ctx.Err()
	}
	timer := clock.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C():
		return nil
	}
}

// WithDeadline returns a context cancelled when clock reaches t (or parent is
// done). Unlike context.WithDeadline it follows clock, so a fake clock bounds it.
func WithDeadline(parent context.Context, clock Clock, t time.Time) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		if err := SleepUntil(ctx, clock, t); err == nil {
			cancel(context.DeadlineExceeded)
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}
