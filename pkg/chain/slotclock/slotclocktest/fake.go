// Package slotclocktest provides a fake slotclock.Clock that tests move by
// hand, so slot-based code is tested without sleeping real slot durations.
package slotclocktest

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// Fake is a slotclock.Clock whose time only moves when Advance or Set is
// called; timers fire as the time passes their deadline.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	changed chan struct{}
}

type fakeTimer struct {
	clock    *Fake
	deadline time.Time
	ch       chan time.Time
	fired    bool
}

// NewFake returns a fake clock at t.
func NewFake(t time.Time) *Fake { return &Fake{now: t, changed: make(chan struct{})} }

// Now implements slotclock.Clock.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// NewTimer implements slotclock.Clock.
func (f *Fake) NewTimer(d time.Duration) slotclock.Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &fakeTimer{clock: f, deadline: f.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.ch <- f.now
		return t
	}
	f.timers = append(f.timers, t)
	f.notifyLocked()
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.fired {
		return false
	}
	t.fired = true
	for i, x := range f.timers {
		if x == t {
			f.timers = append(f.timers[:i], f.timers[i+1:]...)
			break
		}
	}
	f.notifyLocked()
	return true
}

// Advance moves the clock forward by d, firing due timers in deadline order.
func (f *Fake) Advance(d time.Duration) { f.Set(f.Now().Add(d)) }

// Set moves the clock to t (never backwards), firing due timers in deadline order.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t.After(f.now) {
		f.now = t
	}
	sort.SliceStable(f.timers, func(i, j int) bool { return f.timers[i].deadline.Before(f.timers[j].deadline) })
	kept := f.timers[:0]
	for _, x := range f.timers {
		if !x.deadline.After(f.now) {
			x.fired = true
			x.ch <- f.now
			continue
		}
		kept = append(kept, x)
	}
	f.timers = kept
	f.notifyLocked()
}

func (f *Fake) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// Pending returns the deadlines of the timers not yet fired or stopped.
func (f *Fake) Pending() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]time.Time, 0, len(f.timers))
	for _, x := range f.timers {
		out = append(out, x.deadline)
	}
	return out
}

// WaitForTimer blocks until a pending timer has deadline t, so a test knows the
// code under test is waiting for t before it moves the clock there. It returns
// false if ctx ends first.
func (f *Fake) WaitForTimer(ctx context.Context, t time.Time) bool {
	for {
		f.mu.Lock()
		for _, x := range f.timers {
			if x.deadline.Equal(t) {
				f.mu.Unlock()
				return true
			}
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}
