package beacon

import "time"

// clock is the time source for holding head events, injectable in tests.
type clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine after d; the returned function
	// stops the timer.
	AfterFunc(d time.Duration, f func()) (stop func() bool)
}

// realClock is the wall clock.
type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) AfterFunc(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }

// withClock replaces the wall clock; for tests.
func withClock(c clock) Option {
	return func(p *parameters) { p.clock = c }
}
