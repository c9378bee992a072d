package perf

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// Defaults of the Tracker's options.
const (
	DefaultValidatorLimit = 64
	DefaultHistory        = 32
)

// maxLag is how many epochs the Tracker stays behind the newest evaluable
// one before it gives up the epochs in between (a beacon node that cannot
// serve them, or a long outage) rather than never catching up.
const maxLag = 3

// Option configures a Tracker.
type Option func(*Tracker)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(t *Tracker) { t.log = l } }

// WithClock sets the clock (default: the system clock).
func WithClock(c slotclock.Clock) Option { return func(t *Tracker) { t.clock = c } }

// WithValidatorLimit sets how many validators may have per-validator metric
// series; above it only aggregates are exported (default 64).
func WithValidatorLimit(n int) Option { return func(t *Tracker) { t.limit = n } }

// WithHistory sets how many evaluated epochs are kept for the status table's
// effectiveness window (default 32).
func WithHistory(n int) Option { return func(t *Tracker) { t.history = max(n, 1) } }

// Tracker evaluates every finished epoch of a changing set of validators
// once, and exports the results as Prometheus metrics (it is a
// prometheus.Collector) and as the status table (Handler).
type Tracker struct {
	node    Node
	chain   chainModel
	log     *slog.Logger
	clock   slotclock.Clock
	limit   int
	history int
	blocks  *blockCache
	metrics *metrics

	mu      sync.Mutex
	vals    []Validator
	reports []*EpochReport // oldest first
	head    *headInfo
	// next is the next epoch to evaluate; valid once started.
	next    phase0.Epoch
	started bool
}

// chainModel is the chain the tracker follows: *chain.Chain. Its timing
// never changes; the fork it reports does.
type chainModel interface{ Spec() *chain.Spec }

// NewTracker returns a Tracker reading from node. Run starts it.
func NewTracker(node Node, ch chainModel, opts ...Option) *Tracker {
	t := &Tracker{
		node:    node,
		chain:   ch,
		log:     slog.New(slog.DiscardHandler),
		clock:   slotclock.Real{},
		limit:   DefaultValidatorLimit,
		history: DefaultHistory,
		blocks:  newBlockCache(node),
		metrics: newMetrics(),
	}
	for _, o := range opts {
		o(t)
	}
	return t
}

// Run evaluates each epoch once it is evaluable (E once E+1 has ended) for
// the validators vals returns at that moment, and refreshes the validators'
// state and next duties every epoch, until ctx ends. Beacon node errors are
// logged and the work retried the next slot. Call it in its own goroutine.
func (t *Tracker) Run(ctx context.Context, vals func() []Validator) {
	if err := checkTiming(t.chain.Spec()); err != nil {
		t.log.Error("Performance monitor not started", slog.Any("error", err))
		return
	}
	headEpoch, headOK := phase0.Epoch(0), false
	var headFor map[phase0.ValidatorIndex]bool
	for {
		slot := t.chain.Spec().SlotAt(t.clock.Now())
		current := withIndex(vals())
		t.mu.Lock()
		t.vals = current
		t.mu.Unlock()

		// Each epoch, and as soon as a validator appears that the last
		// refresh did not cover (the client resolves its keys' indices only
		// after it starts, and keys are added at run time).
		if epoch := t.chain.Spec().EpochAtSlot(slot); !headOK || epoch != headEpoch || !covers(headFor, current) {
			headOK = t.refreshHead(ctx, slot, current)
			headEpoch = epoch
			headFor = make(map[phase0.ValidatorIndex]bool, len(current))
			for _, v := range current {
				headFor[v.Index] = true
			}
		}
		t.evaluate(ctx, slot, current)

		// A third into the slot, when the slot's block has normally
		// arrived and been processed.
		wake := t.chain.Spec().SlotStart(slot + 1).Add(t.chain.Spec().SlotDuration / 3)
		if err := slotclock.SleepUntil(ctx, t.clock, wake); err != nil {
			return
		}
	}
}

// covers reports whether every validator in vals is in set.
func covers(set map[phase0.ValidatorIndex]bool, vals []Validator) bool {
	for _, v := range vals {
		if !set[v.Index] {
			return false
		}
	}
	return true
}

// withIndex drops duplicates; the caller passes only validators with an index.
func withIndex(vals []Validator) []Validator {
	seen := make(map[phase0.ValidatorIndex]bool, len(vals))
	out := make([]Validator, 0, len(vals))
	for _, v := range vals {
		if !seen[v.Index] {
			seen[v.Index] = true
			out = append(out, v)
		}
	}
	return out
}

func (t *Tracker) refreshHead(ctx context.Context, slot phase0.Slot, vals []Validator) bool {
	indices := make([]phase0.ValidatorIndex, len(vals))
	for i, v := range vals {
		indices[i] = v.Index
	}
	h, err := fetchHead(ctx, t.node, t.chain.Spec(), slot, indices)
	if err != nil {
		if ctx.Err() == nil {
			t.log.Warn("Could not read validator states and duties; retrying next slot", slog.Any("error", err))
		}
		return false
	}
	t.mu.Lock()
	t.head = h
	t.mu.Unlock()
	return true
}

// evaluate works through the epochs that have become evaluable, oldest
// first, stopping at the first that fails.
func (t *Tracker) evaluate(ctx context.Context, slot phase0.Slot, vals []Validator) {
	newest, ok := newestEvaluable(t.chain.Spec(), slot)
	if !ok {
		return
	}
	t.mu.Lock()
	if !t.started || t.next+maxLag < newest {
		if t.started {
			t.log.Warn("Performance monitor fell behind; skipping epochs",
				slog.Uint64("from_epoch", uint64(t.next)), slog.Uint64("to_epoch", uint64(newest)-1))
		}
		t.next, t.started = newest, true
	}
	next := t.next
	t.mu.Unlock()

	for e := next; e <= newest && ctx.Err() == nil; e++ {
		rep, err := compute(ctx, t.node, t.chain.Spec(), e, vals, t.blocks.get)
		switch {
		case errors.Is(err, ErrNotReady):
			t.log.Debug("Epoch not evaluable yet; retrying next slot", slog.Uint64("epoch", uint64(e)), slog.Any("error", err))
			return
		case err != nil:
			if ctx.Err() == nil {
				t.log.Warn("Could not evaluate validator performance; retrying next slot",
					slog.Uint64("epoch", uint64(e)), slog.Any("error", err))
			}
			return
		}
		t.record(rep, len(vals))
		t.blocks.forget(t.chain.Spec().FirstSlot(e + 1))
		t.log.Info("Evaluated validator performance", slog.Uint64("epoch", uint64(e)), slog.Int("validators", len(rep.Validators)))
	}
}

func (t *Tracker) record(rep *EpochReport, keys int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.reports = append(t.reports, rep)
	if len(t.reports) > t.history {
		t.reports = t.reports[len(t.reports)-t.history:]
	}
	t.next = rep.Epoch + 1
	t.metrics.add(rep, keys <= t.limit)
}

// Describe implements prometheus.Collector.
func (t *Tracker) Describe(ch chan<- *prometheus.Desc) { t.metrics.describe(ch) }

// Collect implements prometheus.Collector. It reads only what the last
// evaluation left, never the beacon node.
func (t *Tracker) Collect(ch chan<- prometheus.Metric) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.metrics.collect(ch)
}

// Status returns the status table with effectiveness over the last epochs
// evaluated (at most the history length).
func (t *Tracker) Status(epochs int) *StatusReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	sp := t.chain.Spec()
	return buildStatus(t.vals, t.reports, epochs, t.head, sp, sp.SlotAt(t.clock.Now()))
}

// Handler serves GET /api/v1/validators: the status table as JSON, with an
// optional ?epochs=N effectiveness window.
func (t *Tracker) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, `{"message":"use GET"}`, http.StatusMethodNotAllowed)
			return
		}
		epochs := DefaultEffectivenessEpochs
		if s := r.URL.Query().Get("epochs"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_ = json.NewEncoder(w).Encode(map[string]string{"message": "epochs must be a positive integer"})
				return
			}
			epochs = n
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(t.Status(epochs))
	})
}
