package beacon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// ErrWrongChain is returned by New when every configured node serves a chain
// other than the expected one.
var ErrWrongChain = errors.New("beacon node is on a different chain")

// minRefreshGap stops a burst of failing calls from each re-polling every node.
const minRefreshGap = 500 * time.Millisecond

// Pool is a set of beacon nodes used as one: reads fail over in preference
// order, submissions go to every usable node. It implements go-eth2-client's
// provider and submitter interfaces.
type Pool struct {
	ctx             context.Context
	log             *slog.Logger
	observer        Observer
	nodes           []*node
	maxSyncDistance phase0.Slot
	healthInterval  time.Duration
	expectedRoot    *phase0.Root
	explicitTimeout bool
	clock           clock
	// timeout is the per-request timeout in nanoseconds.
	timeout atomic.Int64
	// slotDuration is SECONDS_PER_SLOT in nanoseconds once a node told it.
	slotDuration atomic.Int64

	// mu guards genesis, the chain every node must match.
	mu      sync.Mutex
	genesis *apiv1.Genesis

	// pollMu serialises health rounds; lastPoll is when the last one ended.
	pollMu   sync.Mutex
	lastPoll time.Time

	// subsMu guards subs, the event subscriptions told when a node's state
	// changes (the node serving reads may have changed with it).
	subsMu sync.Mutex
	subs   map[*subscription]struct{}

	// wg counts the pool's goroutines, so connections are closed after them;
	// goMu and stopped keep wg.Add from racing the final wg.Wait.
	wg      sync.WaitGroup
	goMu    sync.Mutex
	stopped bool
}

// New connects to the beacon nodes given by WithAddresses and checks each
// once before returning. A node that is down does not make New fail: it is
// logged and checked again every health interval. New fails only on bad
// options or when every node is on the wrong chain. ctx is the pool's
// lifetime: cancelling it stops every goroutine and closes connections.
func New(ctx context.Context, opts ...Option) (*Pool, error) {
	params, err := parseParameters(opts)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		ctx:             ctx,
		log:             params.logger,
		observer:        observerOf(params.observers),
		maxSyncDistance: params.maxSyncDistance,
		healthInterval:  params.healthInterval,
		expectedRoot:    params.expectedRoot,
		explicitTimeout: params.timeout > 0,
		clock:           params.clock,
		subs:            make(map[*subscription]struct{}),
	}
	timeout := params.timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	p.timeout.Store(int64(timeout))

	// Addresses are all checked before any client is built, then clients are
	// built in parallel: go-eth2-client pings each node as it is built, and a
	// node that does not answer costs a full timeout.
	seen := make(map[string]bool)
	for _, address := range params.addresses {
		u, name, err := parseAddress(address)
		if err != nil {
			return nil, err
		}
		if seen[u.String()] {
			return nil, fmt.Errorf("beacon node %s is listed twice", name)
		}
		seen[u.String()] = true
	}
	p.nodes = make([]*node, len(params.addresses))
	errs := make([]error, len(params.addresses))
	var wg sync.WaitGroup
	for i, address := range params.addresses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.nodes[i], errs[i] = newNode(ctx, i, address, timeout)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	p.Refresh(ctx)
	if err := p.checkAllWrongChain(); err != nil {
		return nil, err
	}
	for _, n := range p.nodes {
		if st := n.status(); st.State != StateHealthy && st.State != StateWrongChain {
			p.log.Warn("beacon node not usable at start; will keep checking it",
				"node", n.name, "state", st.State.String(), "error", st.LastError)
		}
	}

	p.wg.Add(1)
	go p.healthLoop()
	go func() {
		<-ctx.Done()
		p.goMu.Lock()
		p.stopped = true
		p.goMu.Unlock()
		p.wg.Wait()
		for _, n := range p.nodes {
			n.transport.CloseIdleConnections()
		}
	}()
	return p, nil
}

// checkAllWrongChain refuses a configuration in which no node can ever be used.
func (p *Pool) checkAllWrongChain() error {
	var msgs []string
	for _, n := range p.nodes {
		st := n.status()
		if st.State != StateWrongChain {
			return nil
		}
		msgs = append(msgs, n.name+": "+st.LastError)
	}
	return fmt.Errorf("%w: every beacon node was refused (%s); point vigil at nodes of the network its slashing database belongs to",
		ErrWrongChain, joinSemi(msgs))
}

// Nodes returns a snapshot of every node's health, in preference order.
func (p *Pool) Nodes() []NodeStatus {
	out := make([]NodeStatus, len(p.nodes))
	for i, n := range p.nodes {
		out[i] = n.status()
	}
	return out
}

// Timeout returns the current per-request timeout.
func (p *Pool) Timeout() time.Duration {
	return time.Duration(p.timeout.Load())
}

// Name returns the pool's name, for go-eth2-client's Service interface.
func (*Pool) Name() string { return "vigil beacon pool" }

// Address returns the redacted URL of the first healthy node, or of the
// first node if none is healthy.
func (p *Pool) Address() string {
	for _, n := range p.nodes {
		if n.state() == StateHealthy {
			return n.name
		}
	}
	return p.nodes[0].name
}

// IsActive reports whether any node is on the right chain and answering.
func (p *Pool) IsActive() bool {
	for _, n := range p.nodes {
		if s := n.state(); s == StateHealthy || s.degraded() {
			return true
		}
	}
	return false
}

// IsSynced reports whether any node is healthy.
func (p *Pool) IsSynced() bool {
	for _, n := range p.nodes {
		if n.state() == StateHealthy {
			return true
		}
	}
	return false
}

func (p *Pool) healthLoop() {
	defer p.wg.Done()
	ticker := time.NewTicker(p.healthInterval)
	defer ticker.Stop()
	for {
		select {
		case <-p.ctx.Done():
			return
		case <-ticker.C:
			p.Refresh(p.ctx)
		}
	}
}

// Refresh checks every node now: sync state, and the chain of any node not
// yet identified. The health loop calls it every interval; calls that find
// no usable node call it too.
func (p *Pool) Refresh(ctx context.Context) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	p.refreshLocked(ctx)
}

// refreshIfStale runs a health round unless one ended very recently.
func (p *Pool) refreshIfStale(ctx context.Context) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if time.Since(p.lastPoll) < minRefreshGap {
		return
	}
	p.refreshLocked(ctx)
}

func (p *Pool) refreshLocked(ctx context.Context) {
	probes := make([]probe, len(p.nodes))
	var wg sync.WaitGroup
	for i, n := range p.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			probes[i] = p.probe(ctx, n)
		}()
	}
	wg.Wait()
	// Applied in preference order, so without an expected root the first
	// node that answers defines the chain.
	for i, n := range p.nodes {
		p.apply(n, probes[i])
	}
	p.lastPoll = time.Now()
	p.adjustTimeout(ctx)
}

// probe is what one health check learnt about a node.
type probe struct {
	canceled  bool
	sync      syncState
	syncErr   error
	checked   bool // genesis was fetched (or its fetch failed)
	genesis   *apiv1.Genesis
	genesisOK bool
	chainErr  error
	version   string
}

func (p *Pool) probe(ctx context.Context, n *node) probe {
	var pr probe
	timeout := p.Timeout()

	rctx, cancel := context.WithTimeout(ctx, timeout)
	start := time.Now()
	pr.sync, pr.syncErr = n.fetchSyncing(rctx)
	cancel()
	if p.record(ctx, n, OpNodeSyncing, start, pr.syncErr) == OutcomeCanceled {
		pr.canceled = true
		return pr
	}
	if pr.syncErr != nil {
		return pr
	}

	n.mu.Lock()
	identified := n.h.genesis != nil || n.h.wrongChain
	n.mu.Unlock()
	if identified {
		return pr
	}
	pr.checked = true
	rctx, cancel = context.WithTimeout(ctx, timeout)
	start = time.Now()
	pr.genesis, pr.chainErr = n.fetchGenesis(rctx)
	cancel()
	p.record(ctx, n, OpGenesis, start, pr.chainErr)
	if pr.chainErr != nil {
		return pr
	}
	rctx, cancel = context.WithTimeout(ctx, timeout)
	pr.version, _ = n.fetchVersion(rctx) // informational only
	cancel()
	return pr
}

// apply records a probe's findings, checks the node's chain and logs state
// changes.
func (p *Pool) apply(n *node, pr probe) {
	if pr.canceled {
		return
	}
	var chainErr error
	if pr.checked && pr.genesis != nil {
		chainErr = p.checkChain(pr.genesis)
	}

	n.mu.Lock()
	old := n.h.state
	n.h.lastCheck = time.Now()
	if pr.syncErr != nil {
		n.h.reachable = false
		n.h.genesis = nil
		n.h.lastErr = n.redact(pr.syncErr)
	} else {
		n.h.reachable = true
		n.h.sync = pr.sync
		switch {
		case !pr.checked:
		case pr.genesis == nil:
			n.h.lastErr = "fetch genesis: " + n.redact(pr.chainErr)
		case chainErr != nil:
			n.h.wrongChain = true
			n.h.lastErr = chainErr.Error()
		default:
			n.h.genesis = pr.genesis
			if pr.version != "" {
				n.h.version = pr.version
			}
		}
	}
	n.h.state = n.h.evaluate(p.maxSyncDistance)
	st := n.statusLocked()
	n.mu.Unlock()

	if chainErr != nil {
		p.log.Error("beacon node is on a different chain; it will never be used",
			"node", n.name, "error", chainErr.Error())
	}
	p.stateChanged(old, st)
}

// stateChanged logs and reports a node's state transition.
func (p *Pool) stateChanged(old NodeState, st NodeStatus) {
	if old == st.State {
		return
	}
	attrs := []any{"node", st.URL, "from", old.String(), "to", st.State.String()}
	switch {
	case st.State == StateHealthy:
		p.log.Info("beacon node healthy", append(attrs, "head_slot", uint64(st.HeadSlot), "version", st.Version)...)
	case st.State == StateUnreachable:
		p.log.Warn("beacon node unreachable", append(attrs, "error", st.LastError)...)
	case st.State.degraded():
		p.log.Warn("beacon node degraded", append(attrs,
			"head_slot", uint64(st.HeadSlot), "sync_distance", uint64(st.SyncDistance),
			"is_syncing", st.IsSyncing, "is_optimistic", st.IsOptimistic, "el_offline", st.ELOffline)...)
	case st.State == StateUnidentified:
		p.log.Warn("beacon node answers but its chain could not be checked", append(attrs, "error", st.LastError)...)
	}
	p.observer.NodeChanged(st)
	p.subsMu.Lock()
	for sub := range p.subs {
		sub.poke()
	}
	p.subsMu.Unlock()
}

// checkChain compares a node's genesis with the pool's chain, adopting it as
// the pool's chain if it is the first.
func (p *Pool) checkChain(g *apiv1.Genesis) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.expectedRoot != nil && g.GenesisValidatorsRoot != *p.expectedRoot {
		return fmt.Errorf("%w: genesis validators root %#x, expected %#x (from the slashing-protection database)",
			ErrWrongChain, g.GenesisValidatorsRoot[:], p.expectedRoot[:])
	}
	if p.genesis == nil {
		p.genesis = g
		p.log.Info("beacon chain identified",
			"genesis_validators_root", fmt.Sprintf("%#x", g.GenesisValidatorsRoot[:]),
			"genesis_time", g.GenesisTime.UTC().Format(time.RFC3339),
			"genesis_fork_version", fmt.Sprintf("%#x", g.GenesisForkVersion[:]))
		return nil
	}
	want := p.genesis
	switch {
	case g.GenesisValidatorsRoot != want.GenesisValidatorsRoot:
		return fmt.Errorf("%w: genesis validators root %#x, other nodes %#x",
			ErrWrongChain, g.GenesisValidatorsRoot[:], want.GenesisValidatorsRoot[:])
	case !g.GenesisTime.Equal(want.GenesisTime):
		return fmt.Errorf("%w: genesis time %s, other nodes %s", ErrWrongChain,
			g.GenesisTime.UTC().Format(time.RFC3339), want.GenesisTime.UTC().Format(time.RFC3339))
	case g.GenesisForkVersion != want.GenesisForkVersion:
		return fmt.Errorf("%w: genesis fork version %#x, other nodes %#x",
			ErrWrongChain, g.GenesisForkVersion[:], want.GenesisForkVersion[:])
	}
	return nil
}

// ChainGenesis returns the genesis every used node shares, or nil while no
// node has been identified.
func (p *Pool) ChainGenesis() *apiv1.Genesis {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.genesis == nil {
		return nil
	}
	g := *p.genesis
	return &g
}

// adjustTimeout learns the slot duration from the first node that tells it
// and shortens the default timeout to a third of a slot, so a stalled node
// still leaves time to fail over. Degraded nodes count: the spec they serve
// is the same.
func (p *Pool) adjustTimeout(ctx context.Context) {
	if p.slotDuration.Load() > 0 {
		return
	}
	for _, n := range p.nodes {
		if s := n.state(); s != StateHealthy && !s.degraded() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, p.Timeout())
		slot, err := n.client.SlotDuration(rctx)
		cancel()
		if err != nil || slot <= 0 {
			continue
		}
		p.slotDuration.Store(int64(slot))
		if third := slot / 3; !p.explicitTimeout && third < DefaultTimeout {
			p.timeout.Store(int64(third))
			p.log.Info("beacon node request timeout set to a third of a slot", "timeout", third.String())
		}
		return
	}
}

// readNode is the node reads go to first, or nil when none is usable.
func (p *Pool) readNode() *node {
	if c := p.candidates(); len(c) > 0 {
		return c[0]
	}
	return nil
}

// record updates a node's statistics after one request and reports it.
func (p *Pool) record(callerCtx context.Context, n *node, op Operation, start time.Time, err error) Outcome {
	d := time.Since(start)
	outcome := classify(callerCtx, err)
	p.observer.RequestDone(Request{Node: n.name, Operation: op, Duration: d, Outcome: outcome})
	if outcome == OutcomeCanceled {
		return outcome
	}

	n.mu.Lock()
	old := n.h.state
	n.h.requests++
	switch {
	case outcome == OutcomeSuccess:
		n.h.consecutive = 0
		if n.h.latency == 0 {
			n.h.latency = d
		} else {
			n.h.latency = time.Duration(latencyWeight*float64(d) + (1-latencyWeight)*float64(n.h.latency))
		}
	case outcome.countsAgainstNode():
		n.h.failures++
		n.h.consecutive++
		n.h.lastErr = string(op) + ": " + n.redact(err)
		// A node that times out or cannot be reached is passed over until
		// the next health check finds it answering again, so later calls in
		// the same slot do not wait on it. A slow block production is not a
		// dead node: building a block (a builder's bid, an execution client
		// catching up after a restart) can take seconds on a healthy node,
		// and marking it down would lose the slot's other duties too.
		if (outcome == OutcomeUnreachable || (outcome == OutcomeTimeout && op != OpProposal)) && op != OpNodeSyncing && op != OpGenesis {
			n.h.reachable = false
			n.h.genesis = nil
			n.h.state = n.h.evaluate(p.maxSyncDistance)
		}
	}
	st := n.statusLocked()
	n.mu.Unlock()
	p.stateChanged(old, st)
	return outcome
}

func joinSemi(parts []string) string {
	return strings.Join(parts, "; ")
}
