package beacon

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Defaults for the options.
const (
	// DefaultTimeout bounds one request to one node when WithTimeout is not
	// given; once the chain's slot duration is known the pool uses a third of
	// a slot instead if that is shorter, so that failing over from a stalled
	// node still leaves time to act within the slot.
	DefaultTimeout = 2 * time.Second
	// DefaultHealthInterval is how often every node's sync state is polled.
	DefaultHealthInterval = 4 * time.Second
	// DefaultMaxSyncDistance is the largest sync distance, in slots, at which
	// a node that says it is not syncing still counts as healthy.
	DefaultMaxSyncDistance = phase0.Slot(4)
)

// Option configures New.
type Option func(*parameters)

type parameters struct {
	addresses       []string
	timeout         time.Duration
	healthInterval  time.Duration
	maxSyncDistance phase0.Slot
	logger          *slog.Logger
	observers       []Observer
	expectedRoot    *phase0.Root
	clock           clock
}

// WithAddresses sets the beacon node URLs in order of preference; at least
// one is required. A URL may carry basic-auth credentials
// (http://user:password@host:port); they are never logged.
func WithAddresses(addresses []string) Option {
	return func(p *parameters) { p.addresses = append([]string(nil), addresses...) }
}

// WithTimeout bounds each request to each node (not a whole failover call;
// bound that with the context). A call's api.CommonOpts.Timeout overrides it.
func WithTimeout(timeout time.Duration) Option {
	return func(p *parameters) { p.timeout = timeout }
}

// WithHealthInterval sets how often every node's sync state is polled.
func WithHealthInterval(interval time.Duration) Option {
	return func(p *parameters) { p.healthInterval = interval }
}

// WithMaxSyncDistance sets the largest sync distance at which a node still
// counts as healthy.
func WithMaxSyncDistance(slots phase0.Slot) Option {
	return func(p *parameters) { p.maxSyncDistance = slots }
}

// WithLogger sets the structured logger; the default discards.
func WithLogger(logger *slog.Logger) Option {
	return func(p *parameters) { p.logger = logger }
}

// WithObserver adds observers of per-request and per-node measurements; it
// may be given more than once.
func WithObserver(observers ...Observer) Option {
	return func(p *parameters) { p.observers = append(p.observers, observers...) }
}

// WithGenesisValidatorsRoot makes the pool refuse every node whose genesis
// validators root differs from root, e.g. the slashing-protection database's.
// Without it the first node identified, in preference order, defines the chain.
func WithGenesisValidatorsRoot(root phase0.Root) Option {
	return func(p *parameters) { p.expectedRoot = &root }
}

func parseParameters(opts []Option) (*parameters, error) {
	p := &parameters{
		healthInterval:  DefaultHealthInterval,
		maxSyncDistance: DefaultMaxSyncDistance,
		clock:           realClock{},
	}
	for _, opt := range opts {
		if opt != nil {
			opt(p)
		}
	}
	if len(p.addresses) == 0 {
		return nil, errors.New("no beacon node address given (WithAddresses)")
	}
	if p.timeout < 0 {
		return nil, fmt.Errorf("beacon node timeout %s is negative", p.timeout)
	}
	if p.healthInterval <= 0 {
		return nil, fmt.Errorf("beacon node health interval %s must be positive", p.healthInterval)
	}
	if p.logger == nil {
		p.logger = slog.New(slog.DiscardHandler)
	}
	return p, nil
}
