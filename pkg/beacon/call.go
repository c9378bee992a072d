package beacon

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrNoHealthyNode is matched (errors.Is) by a call's error when no node
// gave an answer: every node was down, timed out, failed, or was not usable.
var ErrNoHealthyNode = errors.New("no healthy beacon node")

// NodeError is what happened to one node in a failed call.
type NodeError struct {
	// Node is the node's redacted URL.
	Node string
	// Skipped is set when the node was not asked because of its State.
	Skipped bool
	// State is the node's state when it was skipped or had failed.
	State NodeState
	// Err is the node's error; nil when skipped. Print the CallError, not
	// this: only the CallError's text is guaranteed free of URL credentials.
	Err error

	msg string
}

// CallError is a pool call that no node served. It unwraps to every node's
// error (so errors.As finds an *api.Error) and, when no node gave any
// answer, to ErrNoHealthyNode.
type CallError struct {
	// Operation is the Beacon API call.
	Operation Operation
	// Nodes lists every configured node, in the order they were considered.
	Nodes []NodeError

	noHealthy bool
}

// Error names every node and what went wrong with it, with credentials removed.
func (e *CallError) Error() string {
	parts := make([]string, len(e.Nodes))
	for i, n := range e.Nodes {
		parts[i] = n.Node + ": " + n.msg
	}
	what := "every beacon node refused the request"
	if e.noHealthy {
		what = ErrNoHealthyNode.Error()
	}
	return fmt.Sprintf("%s: %s (tried %s)", e.Operation, what, strings.Join(parts, "; "))
}

// Unwrap returns ErrNoHealthyNode when it applies and every node's error.
func (e *CallError) Unwrap() []error {
	var errs []error
	if e.noHealthy {
		errs = append(errs, ErrNoHealthyNode)
	}
	for _, n := range e.Nodes {
		if n.Err != nil {
			errs = append(errs, n.Err)
		}
	}
	return errs
}

// candidates returns the nodes a call may use: the healthy ones in
// preference order or, when none is healthy, the degraded ones, best first
// (execution client offline, then optimistic, then syncing), which may still
// serve some calls and will refuse those they cannot.
func (p *Pool) candidates() []*node {
	var healthy, degraded []*node
	for _, n := range p.nodes {
		switch s := n.state(); {
		case s == StateHealthy:
			healthy = append(healthy, n)
		case s.degraded():
			degraded = append(degraded, n)
		}
	}
	if len(healthy) > 0 {
		return healthy
	}
	// States are ordered from least to most usable; the sort is stable, so
	// preference order holds within a state.
	slices.SortStableFunc(degraded, func(a, b *node) int { return int(b.state()) - int(a.state()) })
	return degraded
}

// usableNodes returns the candidates, first re-checking every node if none
// is known to be usable, so that a call right after an outage does not fail
// on stale health.
func (p *Pool) usableNodes(ctx context.Context) []*node {
	nodes := p.candidates()
	if len(nodes) == 0 && ctx.Err() == nil {
		p.refreshIfStale(ctx)
		nodes = p.candidates()
	}
	return nodes
}

// attempt makes one request to one node, bounded by the per-request timeout
// (or the call's own, when it sets one).
func attempt[T any](ctx context.Context, p *Pool, n *node, op Operation, timeout time.Duration,
	call func(context.Context, *node) (T, error),
) (T, Outcome, error) {
	if timeout <= 0 {
		timeout = p.Timeout()
	}
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	v, err := call(actx, n)
	outcome := p.record(ctx, n, op, start, err)
	return v, outcome, err
}

// read asks the usable nodes in preference order until one answers. Every
// attempt is bounded by the per-request timeout, so a stalled first node
// costs at most that before the next is asked.
func read[T any](ctx context.Context, p *Pool, op Operation, timeout time.Duration,
	call func(context.Context, nodeClient) (T, error),
) (T, error) {
	return readNode(ctx, p, op, timeout, func(ctx context.Context, n *node) (T, error) { return call(ctx, n.client) })
}

// readNode is read for calls that need the node itself rather than its
// go-eth2-client client: endpoints the pool decodes on its own.
func readNode[T any](ctx context.Context, p *Pool, op Operation, timeout time.Duration,
	call func(context.Context, *node) (T, error),
) (T, error) {
	var zero T
	e := &CallError{Operation: op, noHealthy: true}
	asked := make(map[*node]bool)
	for _, n := range p.usableNodes(ctx) {
		asked[n] = true
		v, outcome, err := attempt(ctx, p, n, op, timeout, call)
		if err == nil {
			return v, nil
		}
		e.add(n, outcome, err)
		if outcome == OutcomeCanceled {
			return zero, fmt.Errorf("%s: %w", op, ctx.Err())
		}
		if callerError(err) {
			break
		}
		p.log.Debug("beacon node request failed; trying the next node",
			"operation", string(op), "node", n.name, "outcome", outcome.String(), "error", n.redact(err))
	}
	e.addSkipped(p, asked)
	return zero, e
}

// fanOut asks every usable node in parallel and returns the answers of those
// that gave one, or a CallError if none did.
func fanOut[T any](ctx context.Context, p *Pool, op Operation, timeout time.Duration,
	call func(context.Context, nodeClient) (T, error),
) ([]T, error) {
	nodes := p.usableNodes(ctx)
	type result struct {
		v       T
		outcome Outcome
		err     error
	}
	results := make([]result, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, outcome, err := attempt(ctx, p, n, op, timeout, func(ctx context.Context, n *node) (T, error) { return call(ctx, n.client) })
			results[i] = result{v: v, outcome: outcome, err: err}
		}()
	}
	wg.Wait()

	var answers []T
	e := &CallError{Operation: op, noHealthy: true}
	asked := make(map[*node]bool)
	for i, n := range nodes {
		asked[n] = true
		r := results[i]
		if r.err == nil {
			answers = append(answers, r.v)
			continue
		}
		e.add(n, r.outcome, r.err)
		if r.outcome != OutcomeCanceled {
			p.log.Warn("beacon node did not accept request",
				"operation", string(op), "node", n.name, "outcome", r.outcome.String(), "error", n.redact(r.err))
		}
	}
	if len(answers) > 0 {
		return answers, nil
	}
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", op, ctx.Err())
	}
	e.addSkipped(p, asked)
	return nil, e
}

// submit sends to every usable node in parallel; it succeeds if any accepts.
func submit(ctx context.Context, p *Pool, op Operation, timeout time.Duration,
	call func(context.Context, nodeClient) error,
) error {
	_, err := fanOut(ctx, p, op, timeout, func(ctx context.Context, c nodeClient) (struct{}, error) {
		return struct{}{}, call(ctx, c)
	})
	return err
}

func (e *CallError) add(n *node, outcome Outcome, err error) {
	if outcome == OutcomeRejected {
		e.noHealthy = false
	}
	e.Nodes = append(e.Nodes, NodeError{
		Node:  n.name,
		State: n.state(),
		Err:   err,
		msg:   outcome.String() + ": " + n.redact(err),
	})
}

// addSkipped lists the nodes that were not asked, with the reason.
func (e *CallError) addSkipped(p *Pool, asked map[*node]bool) {
	for _, n := range p.nodes {
		if asked[n] {
			continue
		}
		st := n.status()
		msg := "not used: " + st.State.String()
		if st.LastError != "" {
			msg += ": " + st.LastError
		}
		e.Nodes = append(e.Nodes, NodeError{Node: n.name, Skipped: true, State: st.State, msg: msg})
	}
}
