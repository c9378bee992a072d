package chain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// Source is the beacon node capability the chain model is read from; the
// beacon pool and go-eth2-client's http client implement it.
type Source interface {
	Spec(ctx context.Context, opts *api.SpecOpts) (*api.Response[map[string]any], error)
	Genesis(ctx context.Context, opts *api.GenesisOpts) (*api.Response[*apiv1.Genesis], error)
}

// Fetch reads genesis and spec from src once and decodes them.
func Fetch(ctx context.Context, src Source) (*Spec, error) {
	gen, err := src.Genesis(ctx, &api.GenesisOpts{})
	if err != nil {
		return nil, fmt.Errorf("read genesis from the beacon node: %w", err)
	}
	resp, err := src.Spec(ctx, &api.SpecOpts{})
	if err != nil {
		return nil, fmt.Errorf("read the chain spec from the beacon node: %w", err)
	}
	if gen == nil || gen.Data == nil || resp == nil || resp.Data == nil {
		return nil, errors.New("beacon node returned an empty genesis or spec")
	}
	s, err := Decode(resp.Data, gen.Data)
	if err != nil {
		return nil, fmt.Errorf("beacon node's chain spec: %w", err)
	}
	return s, nil
}

// Chain holds the current Spec of the chain the beacon nodes serve, with its
// slot clock, and keeps it current (Run). It is safe for concurrent use.
type Chain struct {
	src   Source
	log   *slog.Logger
	clock *slotclock.SlotClock
	cur   atomic.Pointer[Spec]
	// poke asks Run to re-read the spec now (a node reconnected); refresh
	// is the same from outside.
	poke    chan struct{}
	refresh <-chan struct{}

	mu       sync.Mutex
	mismatch error
	lastFork string
}

type options struct {
	clock   slotclock.Clock
	log     *slog.Logger
	retry   time.Duration
	refresh <-chan struct{}
}

// Option configures Connect and New.
type Option func(*options)

// WithClock sets the wall clock of the slot clock; the system clock by default.
func WithClock(c slotclock.Clock) Option { return func(o *options) { o.clock = c } }

// WithLogger sets the logger; slog.Default() by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRefreshOn makes Run re-read the spec whenever ch delivers, e.g. when a
// beacon node comes back (beacon.OnRecovery).
func WithRefreshOn(ch <-chan struct{}) Option { return func(o *options) { o.refresh = ch } }

// RefreshTrigger carries requests to re-read the spec from components built
// before the chain (the beacon pool's recovery callback) to Run; requests
// made while one is pending merge into it.
type RefreshTrigger chan struct{}

// NewRefreshTrigger returns a trigger to pass to WithRefreshOn.
func NewRefreshTrigger() RefreshTrigger { return make(RefreshTrigger, 1) }

// Poke asks for a refresh without blocking.
func (t RefreshTrigger) Poke() {
	select {
	case t <- struct{}{}:
	default:
	}
}

// WithRetryInterval sets how often Connect asks again while no node answers
// (2 s by default).
func WithRetryInterval(d time.Duration) Option { return func(o *options) { o.retry = d } }

func buildOptions(opts []Option) options {
	o := options{clock: slotclock.Real{}, log: slog.Default(), retry: 2 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New returns a Chain starting from an already decoded spec; src is where
// Run re-reads it (nil: the spec never changes, as in tests and one-shot
// commands).
func New(s *Spec, src Source, opts ...Option) (*Chain, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no spec", ErrSpec)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	o := buildOptions(opts)
	clock, err := slotclock.New(o.clock, s.GenesisTime, s.SlotDuration, s.SlotsPerEpoch)
	if err != nil {
		return nil, err
	}
	c := &Chain{src: src, log: o.log.With(slog.String("component", "chain")), clock: clock, poke: make(chan struct{}, 1), refresh: o.refresh}
	c.cur.Store(s)
	return c, nil
}

// Connect reads the spec from src, retrying until a node answers or ctx
// ends (a validator client and its beacon node are routinely started
// together), and returns the Chain. A spec that does not decode is final.
func Connect(ctx context.Context, src Source, opts ...Option) (*Chain, error) {
	o := buildOptions(opts)
	for attempt := 0; ; attempt++ {
		s, err := Fetch(ctx, src)
		if err == nil {
			c, err := New(s, src, opts...)
			if err == nil {
				o.log.Info("Chain", slog.String("genesis_validators_root", fmt.Sprintf("%#x", s.GenesisValidatorsRoot[:])),
					slog.Time("genesis_time", s.GenesisTime), slog.Duration("slot_duration", s.SlotDuration),
					slog.Uint64("slots_per_epoch", s.SlotsPerEpoch), slog.String("fork", s.ForkName(c.clock.CurrentEpoch())))
			}
			return c, err
		}
		if errors.Is(err, ErrSpec) {
			return nil, err
		}
		if attempt%5 == 0 {
			o.log.Warn("Waiting for a beacon node to serve genesis and spec", slog.Any("error", err))
		}
		if serr := slotclock.SleepUntil(ctx, o.clock, o.clock.Now().Add(o.retry)); serr != nil {
			return nil, fmt.Errorf("no beacon node served genesis and spec before shutdown: %w", err)
		}
	}
}

// Spec returns the current spec; callers must not modify it.
func (c *Chain) Spec() *Spec { return c.cur.Load() }

// SlotClock returns the chain's slot clock. Genesis and timing never change
// for a chain (a change is a mismatch, never applied), so it is fixed.
func (c *Chain) SlotClock() *slotclock.SlotClock { return c.clock }

// Refresh asks Run to re-read the spec now, e.g. because a beacon node came
// back: it may have been upgraded for a fork while it was away.
func (c *Chain) Refresh() {
	select {
	case c.poke <- struct{}{}:
	default:
	}
}

// Run re-reads the spec at the start of every epoch and on Refresh until ctx
// ends, applying an update that only schedules forks and reporting any other
// change loudly (Check fails until the node agrees again).
func (c *Chain) Run(ctx context.Context) {
	if c.src == nil {
		return
	}
	for {
		next := c.clock.SlotStart(c.clock.FirstSlot(c.clock.CurrentEpoch() + 1))
		timer := c.clock.Clock().NewTimer(next.Sub(c.clock.Now()))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C():
		case <-c.poke:
			timer.Stop()
		case <-c.refresh:
			timer.Stop()
		}
		c.update(ctx)
		c.logForkActivation()
	}
}

// logForkActivation says in the live log when the chain enters a fork.
func (c *Chain) logForkActivation() {
	epoch := c.clock.CurrentEpoch()
	if epoch == 0 || c.clock.Now().Before(c.clock.SlotStart(c.clock.FirstSlot(epoch))) {
		return
	}
	s := c.Spec()
	if now, before := s.ForkName(epoch), s.ForkName(epoch-1); now != before {
		c.mu.Lock()
		seen := c.lastFork == now
		c.lastFork = now
		c.mu.Unlock()
		if !seen {
			c.log.Info("Fork activated", slog.String("fork", now), slog.Uint64("epoch", uint64(epoch)), slog.String("previous_fork", before))
		}
	}
}

// update reads the node once and reconciles.
func (c *Chain) update(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, c.clock.SlotDuration())
	defer cancel()
	s, err := Fetch(rctx, c.src)
	if err != nil {
		// The beacon pool reports unreachable nodes; the next epoch retries.
		c.log.Debug("Could not re-read the chain spec", slog.Any("error", err))
		return
	}
	old := c.Spec()
	next, changes, err := Reconcile(old, s, c.clock.CurrentEpoch())
	c.mu.Lock()
	c.mismatch = err
	c.mu.Unlock()
	if err != nil {
		c.log.Error("The beacon node's chain spec changed in a way vigil will not follow; keeping the spec vigil started with. "+
			"Check the beacon node's configuration, then restart vigil if the change is intended", slog.Any("error", err))
		return
	}
	for _, ch := range changes {
		c.log.Warn("Chain spec updated from the beacon node", slog.String("change", ch))
	}
	if next != old {
		c.cur.Store(next)
	}
}

// Check is a readiness check: it fails while the node's spec disagrees with
// vigil's in a way Reconcile refused.
func (c *Chain) Check(context.Context) (string, error) {
	c.mu.Lock()
	err := c.mismatch
	c.mu.Unlock()
	if err != nil {
		return "", err
	}
	s := c.Spec()
	return fmt.Sprintf("fork %s at epoch %d", s.ForkName(c.clock.CurrentEpoch()), c.clock.CurrentEpoch()), nil
}

// ErrSpecChanged reports a spec from the beacon node that differs from the
// current one in more than newly scheduled forks.
var ErrSpecChanged = errors.New("the beacon node's chain spec changed")

// Reconcile decides whether next may replace cur while vigil runs at epoch
// now. The one change it follows is a fork that was unscheduled getting an
// epoch (an operator upgrading the node for a hard fork without restarting
// vigil), also for forks vigil does not know, which then block signing from
// their epoch. Anything else -- a scheduled fork moved or dropped, another
// genesis, timing or domain -- is an error naming the difference, and cur
// stays. It returns the spec to use (cur itself when nothing changed) and a
// description of each accepted change.
func Reconcile(cur, next *Spec, now phase0.Epoch) (*Spec, []string, error) {
	var bad []string
	if !cur.GenesisTime.Equal(next.GenesisTime) {
		bad = append(bad, fmt.Sprintf("genesis time %s -> %s", cur.GenesisTime.UTC().Format(time.RFC3339), next.GenesisTime.UTC().Format(time.RFC3339)))
	}
	if cur.GenesisValidatorsRoot != next.GenesisValidatorsRoot {
		bad = append(bad, fmt.Sprintf("genesis validators root %#x -> %#x", cur.GenesisValidatorsRoot[:], next.GenesisValidatorsRoot[:]))
	}
	if cur.GenesisForkVersion != next.GenesisForkVersion {
		bad = append(bad, fmt.Sprintf("genesis fork version %#x -> %#x", cur.GenesisForkVersion[:], next.GenesisForkVersion[:]))
	}
	if cur.SlotDuration != next.SlotDuration || cur.SlotsPerEpoch != next.SlotsPerEpoch {
		bad = append(bad, fmt.Sprintf("timing %s x %d slots -> %s x %d slots", cur.SlotDuration, cur.SlotsPerEpoch, next.SlotDuration, next.SlotsPerEpoch))
	}
	if cur.Domains != next.Domains {
		bad = append(bad, "domain types")
	}
	if cur.TargetAggregatorsPerCommittee != next.TargetAggregatorsPerCommittee || cur.SyncCommitteeSize != next.SyncCommitteeSize ||
		cur.SyncCommitteeSubnetCount != next.SyncCommitteeSubnetCount ||
		cur.TargetAggregatorsPerSyncSubcommittee != next.TargetAggregatorsPerSyncSubcommittee ||
		cur.EpochsPerSyncCommitteePeriod != next.EpochsPerSyncCommitteePeriod {
		bad = append(bad, "committee parameters")
	}
	var changes []string
	out := *cur
	curForks, nextForks := cur.Forks(), next.Forks()
	for i := 1; i < len(curForks); i++ {
		a, b := curForks[i], nextForks[i]
		switch {
		case a.Fork == b.Fork:
		case !a.Scheduled() && b.Scheduled():
			*out.fork(b.Name) = b.Fork
			changes = append(changes, scheduledChange(b.Name.String(), b.Epoch, b.Version, now))
		default:
			bad = append(bad, fmt.Sprintf("%s fork %s -> %s", a.Name, forkString(a.Fork), forkString(b.Fork)))
		}
	}
	unknown, uchanges, ubad := reconcileUnknown(cur.Unknown, next.Unknown, now)
	out.Unknown = unknown
	changes, bad = append(changes, uchanges...), append(bad, ubad...)
	if len(bad) > 0 {
		return cur, nil, fmt.Errorf("%w: %s", ErrSpecChanged, strings.Join(bad, "; "))
	}
	if len(changes) == 0 {
		return cur, nil, nil
	}
	if err := out.Validate(); err != nil {
		return cur, nil, fmt.Errorf("%w: %w", ErrSpecChanged, err)
	}
	return &out, changes, nil
}

// reconcileUnknown follows forks after Fulu the way Reconcile follows known
// ones: a new one may appear, an existing one may not move or vanish.
func reconcileUnknown(cur, next []UnknownFork, now phase0.Epoch) (out []UnknownFork, changes, bad []string) {
	byName := map[string]phase0.Epoch{}
	for _, u := range next {
		byName[u.Name] = u.Epoch
	}
	for _, u := range cur {
		e, ok := byName[u.Name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("fork %s at epoch %d is no longer scheduled", u.Name, u.Epoch))
		case e != u.Epoch:
			bad = append(bad, fmt.Sprintf("fork %s moved from epoch %d to %d", u.Name, u.Epoch, e))
		}
		delete(byName, u.Name)
	}
	for _, u := range next {
		if _, added := byName[u.Name]; added {
			changes = append(changes, fmt.Sprintf("fork %s scheduled at epoch %d, which this version of vigil cannot sign for: "+
				"upgrade vigil before then, or it stops signing at that epoch (now epoch %d)", u.Name, u.Epoch, now))
		}
	}
	return next, changes, bad
}

func scheduledChange(name string, epoch phase0.Epoch, v phase0.Version, now phase0.Epoch) string {
	msg := fmt.Sprintf("%s fork scheduled at epoch %d (version %#x)", name, epoch, v[:])
	if epoch <= now {
		msg += fmt.Sprintf("; that is not after the current epoch %d: messages signed since then used the previous fork's domain", now)
	}
	return msg
}

func forkString(f Fork) string {
	if !f.Scheduled() {
		return fmt.Sprintf("unscheduled (version %#x)", f.Version[:])
	}
	return fmt.Sprintf("epoch %d version %#x", f.Epoch, f.Version[:])
}
