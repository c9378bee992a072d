package beacon

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Event topics the pool can stream.
const (
	TopicHead                = "head"
	TopicBlock               = "block"
	TopicChainReorg          = "chain_reorg"
	TopicFinalizedCheckpoint = "finalized_checkpoint"
)

const (
	// maxEventBytes caps one server-sent event line.
	maxEventBytes = 1 << 20
	// dedupWindow is how many recent events are remembered to drop the
	// copies that arrive from the other nodes.
	dedupWindow = 256
	// minStreamRetry is the first wait before reconnecting a stream.
	minStreamRetry = 500 * time.Millisecond
	// DefaultHeadHold bounds how long a head event first seen on another
	// node is held for the read node while the chain's slot timing is not
	// known yet (a sixth of a 12 s slot).
	DefaultHeadHold = 2 * time.Second
)

// errPoolStopped is returned by Events once the pool's context has ended.
var errPoolStopped = errors.New("beacon node pool stopped")

// Events streams head, block, chain_reorg and finalized_checkpoint events to
// the handlers in opts until ctx (or the pool's context) ends.
//
// The pool keeps a stream open to every node on its chain, reconnecting each
// one whenever it ends, and passes on an event only if it comes from a node
// that is currently usable (healthy, or degraded when none is healthy) and
// has not already come from another node. Losing the preferred node thus
// loses no event, and a head event arrives as soon as the fastest node sees
// the block. Handlers are called one at a time and should return quickly:
// one that blocks holds up every later event.
//
// A head event first seen on a node other than the one that serves reads is
// held until the read node reports that block (or a later slot) on its own
// stream, so that what the handler then reads is about that block; see
// holdDeadline for how long at most.
//
// go-eth2-client's own Events is not used: its SSE client keeps retrying for
// up to 15 minutes after its context ends, and never reports a dead stream.
func (p *Pool) Events(ctx context.Context, opts *api.EventsOpts) error {
	if err := validateEventsOpts(opts); err != nil {
		return err
	}
	sub := newSubscription(p, opts)
	sctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(p.ctx, cancel)

	p.goMu.Lock()
	defer p.goMu.Unlock()
	if p.stopped {
		stop()
		cancel()
		return errPoolStopped
	}
	p.subsMu.Lock()
	p.subs[sub] = struct{}{}
	p.subsMu.Unlock()
	p.wg.Add(len(p.nodes) + 1)
	go func() {
		defer p.wg.Done()
		sub.releaseLoop(sctx)
		stop()
		p.subsMu.Lock()
		delete(p.subs, sub)
		p.subsMu.Unlock()
	}()
	for _, n := range p.nodes {
		go sub.run(sctx, n)
	}
	return nil
}

func validateEventsOpts(opts *api.EventsOpts) error {
	if opts == nil {
		return eth2client.ErrNoOptions
	}
	if len(opts.Topics) == 0 {
		return fmt.Errorf("events: no topics: %w", eth2client.ErrInvalidOptions)
	}
	for _, topic := range opts.Topics {
		var typed bool
		switch topic {
		case TopicHead:
			typed = opts.HeadHandler != nil
		case TopicBlock:
			typed = opts.BlockHandler != nil
		case TopicChainReorg:
			typed = opts.ChainReorgHandler != nil
		case TopicFinalizedCheckpoint:
			typed = opts.FinalizedCheckpointHandler != nil
		default:
			return fmt.Errorf("events: topic %q is not supported (supported: %s, %s, %s, %s): %w", topic,
				TopicHead, TopicBlock, TopicChainReorg, TopicFinalizedCheckpoint, eth2client.ErrInvalidOptions)
		}
		if !typed && opts.Handler == nil {
			return fmt.Errorf("events: no handler for topic %q: %w", topic, eth2client.ErrInvalidOptions)
		}
	}
	return nil
}

// subscription is one Events call: a stream per node and one delivery point.
type subscription struct {
	p      *Pool
	opts   *api.EventsOpts
	topics []string

	// mu serialises handler calls and guards the fields below it.
	mu    sync.Mutex
	seen  map[eventKey]struct{}
	order []eventKey
	// heads is the last head each node reported on its own stream.
	heads map[*node]headMark
	// held are head events waiting for the read node, oldest first.
	held []*heldHead

	// kick wakes releaseLoop: a hold expired or a node's state changed.
	kick chan struct{}
}

// headMark is the last head a node reported.
type headMark struct {
	slot phase0.Slot
	root phase0.Root
}

// heldHead is a head event first seen on a node other than the read node.
type heldHead struct {
	key      eventKey
	event    *apiv1.HeadEvent
	from     *node
	deadline time.Time
	stop     func() bool
}

func newSubscription(p *Pool, opts *api.EventsOpts) *subscription {
	return &subscription{
		p:      p,
		opts:   opts,
		topics: append([]string(nil), opts.Topics...),
		seen:   make(map[eventKey]struct{}, dedupWindow),
		heads:  make(map[*node]headMark, len(p.nodes)),
		kick:   make(chan struct{}, 1),
	}
}

// eventKey identifies an event across nodes.
type eventKey struct {
	topic string
	slot  uint64
	root  phase0.Root
}

// run keeps a stream open to one node until ctx ends.
func (s *subscription) run(ctx context.Context, n *node) {
	defer s.p.wg.Done()
	wait := minStreamRetry
	for {
		state := n.state()
		if state == StateWrongChain {
			return
		}
		if state == StateHealthy || state.degraded() {
			connected, err := s.stream(ctx, n)
			if ctx.Err() != nil {
				return
			}
			if connected {
				wait = minStreamRetry
				s.p.log.Warn("beacon node event stream ended; reconnecting", "node", n.name, "error", n.redact(err))
			} else {
				s.p.log.Debug("beacon node event stream could not connect", "node", n.name, "error", n.redact(err))
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
		wait = min(2*wait, s.p.healthInterval)
	}
}

// stream reads one connection's events until it ends; connected reports
// whether the node accepted the subscription.
func (s *subscription) stream(ctx context.Context, n *node) (bool, error) {
	q := url.Values{"topics": s.topics}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, n.endpoint("/eth/v1/events", q.Encode()), nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")

	// The stream has no overall deadline, only one for the node to answer.
	headerTimer := time.AfterFunc(s.p.Timeout(), cancel)
	resp, err := n.httpc.Do(req)
	headerTimer.Stop()
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return false, &api.Error{Method: http.MethodGet, Endpoint: "/eth/v1/events", StatusCode: resp.StatusCode, Data: body}
	}
	s.p.log.Debug("beacon node event stream connected", "node", n.name, "topics", strings.Join(s.topics, ","))

	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 0, 64*1024), maxEventBytes)
	var topic string
	var data bytes.Buffer
	for scanner.Scan() {
		line := strings.TrimSuffix(scanner.Text(), "\r")
		if line == "" {
			if topic != "" && data.Len() > 0 {
				s.deliver(ctx, n, topic, data.Bytes())
			}
			topic = ""
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") {
			continue // keep-alive comment
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			topic = value
		case "data":
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(value)
		}
	}
	if err := scanner.Err(); err != nil {
		return true, err
	}
	return true, io.EOF
}

// eventSource reports whether events from n are passed on: it must be
// healthy, or degraded when no node is healthy.
func (p *Pool) eventSource(n *node) bool {
	state := n.state()
	if state == StateHealthy {
		return true
	}
	return state.degraded() && !p.IsSynced()
}

// deliver decodes one event and hands it to the subscriber unless it comes
// from a node not in use or was already delivered from another node; head
// events go through deliverHead.
func (s *subscription) deliver(ctx context.Context, n *node, topic string, data []byte) {
	var (
		key     eventKey
		payload any
		err     error
	)
	switch topic {
	case TopicHead:
		e := &apiv1.HeadEvent{}
		err = e.UnmarshalJSON(data)
		key, payload = eventKey{topic, uint64(e.Slot), e.Block}, e
	case TopicBlock:
		e := &apiv1.BlockEvent{}
		err = e.UnmarshalJSON(data)
		key, payload = eventKey{topic, uint64(e.Slot), e.Block}, e
	case TopicChainReorg:
		e := &apiv1.ChainReorgEvent{}
		err = e.UnmarshalJSON(data)
		key, payload = eventKey{topic, uint64(e.Slot), e.NewHeadBlock}, e
	case TopicFinalizedCheckpoint:
		e := &apiv1.FinalizedCheckpointEvent{}
		err = e.UnmarshalJSON(data)
		key, payload = eventKey{topic, uint64(e.Epoch), e.Block}, e
	default:
		return
	}
	if err != nil {
		s.p.log.Warn("beacon node sent an event that does not decode", "node", n.name, "topic", topic, "error", err.Error())
		return
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if head, ok := payload.(*apiv1.HeadEvent); ok {
		// Every node's head is noted, used or not: after a failover the new
		// read node's last head decides what is still held.
		s.heads[n] = headMark{slot: head.Slot, root: head.Block}
		if s.p.eventSource(n) {
			s.deliverHead(ctx, n, key, head)
		}
		return
	}
	if !s.p.eventSource(n) {
		return
	}
	if _, dup := s.seen[key]; dup {
		return
	}
	s.remember(key)
	s.dispatch(ctx, topic, payload)
}

// deliverHead passes a head event on at once when the node serving reads
// has the block, and holds it otherwise. Reads go to the read node only: a
// handler woken by a head that node has not imported yet would read
// attestation data and sync committee roots for the previous block (seen on
// the devnet with two nodes: a quarter of head votes correct). Call with
// s.mu held.
func (s *subscription) deliverHead(ctx context.Context, n *node, key eventKey, e *apiv1.HeadEvent) {
	reader := s.p.readNode()
	if n == reader {
		// The read node's stream is ordered: what it held back for it is
		// older or the same block, and goes first.
		s.releaseLocked(ctx, reader, false)
	}
	if _, dup := s.seen[key]; dup {
		return
	}
	for _, h := range s.held {
		if h.key == key {
			return // already waiting; the read node's copy releases it above
		}
	}
	if n == reader || reader == nil || s.readerHas(reader, key) {
		s.remember(key)
		s.dispatch(ctx, TopicHead, e)
		return
	}
	now := s.p.clock.Now()
	deadline := s.holdDeadline(e.Slot, now)
	if !deadline.After(now) {
		s.remember(key)
		s.dispatch(ctx, TopicHead, e)
		return
	}
	h := &heldHead{key: key, event: e, from: n, deadline: deadline}
	h.stop = s.p.clock.AfterFunc(deadline.Sub(now), s.poke)
	s.held = append(s.held, h)
	s.p.log.Debug("head event held until the beacon node serving reads has the block",
		"node", n.name, "read_node", reader.name, "slot", uint64(e.Slot), "block", fmt.Sprintf("%#x", e.Block[:]))
}

// holdDeadline is the latest a head event for slot, first seen at now, is
// held: the slot's attestation deadline, a third into the slot (phase0
// validator guide, "Attesting"). Attesters and sync committee members act at
// that mark whether or not a head event came, reading from the read node, so
// holding longer cannot help them and releasing earlier, while the read node
// still lacks the block, would only make them vote for its parent. An event
// whose slot is past that mark is not held; one for a slot far ahead of the
// clock is held at most a third of a slot. Before the slot timing is known
// the hold is DefaultHeadHold.
func (s *subscription) holdDeadline(slot phase0.Slot, now time.Time) time.Time {
	slotDuration := time.Duration(s.p.slotDuration.Load())
	g := s.p.ChainGenesis()
	if slotDuration <= 0 || g == nil {
		return now.Add(DefaultHeadHold)
	}
	mark := g.GenesisTime.Add(time.Duration(slot)*slotDuration + slotDuration/3)
	if limit := now.Add(slotDuration / 3); mark.After(limit) {
		return limit
	}
	return mark
}

// readerHas reports whether the read node has reported key's block, or a
// head at its slot or later (after which waiting for it is pointless).
func (s *subscription) readerHas(reader *node, key eventKey) bool {
	m, ok := s.heads[reader]
	return ok && (m.root == key.root || uint64(m.slot) >= key.slot)
}

// releaseLocked passes on, oldest first, every held event the read node now
// has, that came from the read node itself (after a failover), or whose hold
// expired (only when expired is set, so that events are never released ahead
// of their time by a stream). Call with s.mu held.
func (s *subscription) releaseLocked(ctx context.Context, reader *node, expired bool) {
	if len(s.held) == 0 {
		return
	}
	now := s.p.clock.Now()
	kept := s.held[:0]
	for _, h := range s.held {
		timedOut := expired && !now.Before(h.deadline)
		if reader != nil && h.from != reader && !s.readerHas(reader, h.key) && !timedOut {
			kept = append(kept, h)
			continue
		}
		h.stop()
		if timedOut && reader != nil {
			s.p.log.Debug("beacon node serving reads did not report the head block in time; passing the head event on",
				"node", h.from.name, "read_node", reader.name, "slot", h.key.slot)
		}
		if _, dup := s.seen[h.key]; dup {
			continue
		}
		s.remember(h.key)
		s.dispatch(ctx, TopicHead, h.event)
	}
	clear(s.held[len(kept):])
	s.held = kept
}

// poke wakes releaseLoop without blocking.
func (s *subscription) poke() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// releaseLoop re-evaluates held head events when a hold expires or a node's
// state changes (the read node may have failed over to the node that sent
// them), until ctx ends.
func (s *subscription) releaseLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			s.mu.Lock()
			for _, h := range s.held {
				h.stop()
			}
			s.held = nil
			s.mu.Unlock()
			return
		case <-s.kick:
			s.mu.Lock()
			s.releaseLocked(ctx, s.p.readNode(), true)
			s.mu.Unlock()
		}
	}
}

func (s *subscription) remember(key eventKey) {
	s.seen[key] = struct{}{}
	s.order = append(s.order, key)
	if len(s.order) > dedupWindow {
		delete(s.seen, s.order[0])
		s.order = s.order[1:]
	}
}

func (s *subscription) dispatch(ctx context.Context, topic string, payload any) {
	o := s.opts
	switch e := payload.(type) {
	case *apiv1.HeadEvent:
		if o.HeadHandler != nil {
			o.HeadHandler(ctx, e)
			return
		}
	case *apiv1.BlockEvent:
		if o.BlockHandler != nil {
			o.BlockHandler(ctx, e)
			return
		}
	case *apiv1.ChainReorgEvent:
		if o.ChainReorgHandler != nil {
			o.ChainReorgHandler(ctx, e)
			return
		}
	case *apiv1.FinalizedCheckpointEvent:
		if o.FinalizedCheckpointHandler != nil {
			o.FinalizedCheckpointHandler(ctx, e)
			return
		}
	}
	if o.Handler != nil {
		o.Handler(&apiv1.Event{Topic: topic, Data: payload})
	}
}
