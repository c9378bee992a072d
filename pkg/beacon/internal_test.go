package beacon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
)

func TestParseAddressRedacts(t *testing.T) {
	tests := []struct {
		address  string
		wantName string
		errText  string // an error text as net/http or go-eth2-client would print it
		secrets  []string
	}{
		{address: "127.0.0.1:5052", wantName: "http://127.0.0.1:5052"},
		{address: "https://bn.example:443/", wantName: "https://bn.example:443"},
		{
			address:  "http://alice:pa55word@10.0.0.1:5052",
			wantName: "http://10.0.0.1:5052",
			errText:  `Get "http://alice:***@10.0.0.1:5052/eth/v1/node/syncing": EOF; raw http://alice:pa55word@10.0.0.1:5052`,
			secrets:  []string{"alice", "pa55word"},
		},
		{
			address:  "https://bn.example/v1/API-KEY-123?token=T0K",
			wantName: "https://bn.example/…",
			errText:  `Get "https://bn.example/v1/API-KEY-123/eth/v1/node/syncing?token=T0K": EOF`,
			secrets:  []string{"API-KEY-123", "T0K"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.wantName, func(t *testing.T) {
			u, name, err := parseAddress(tc.address)
			require.NoError(t, err)
			require.Equal(t, tc.wantName, name)
			n := &node{redactor: newRedactor(u)}
			got := n.redact(errors.New(tc.errText))
			for _, s := range tc.secrets {
				require.NotContains(t, got, s)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	live := context.Background()
	done, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want Outcome
	}{
		{"success", live, nil, OutcomeSuccess},
		{"caller gave up", done, context.Canceled, OutcomeCanceled},
		{"400", live, errors.Join(errors.New("x"), &api.Error{StatusCode: 400}), OutcomeRejected},
		{"404", live, &api.Error{StatusCode: 404}, OutcomeRejected},
		{"503", live, &api.Error{StatusCode: 503}, OutcomeFailed},
		{"bad options", live, eth2client.ErrInvalidOptions, OutcomeRejected},
		{"attempt timeout", live, &url.Error{Op: "Get", Err: context.DeadlineExceeded}, OutcomeTimeout},
		{"not active", live, eth2client.ErrNotActive, OutcomeUnreachable},
		{"refused", live, &url.Error{Op: "Get", Err: &net.OpError{Op: "dial", Err: errors.New("refused")}}, OutcomeUnreachable},
		{"eof", live, fmt.Errorf("read: %w", io.EOF), OutcomeUnreachable},
		{"not synced", live, eth2client.ErrNotSynced, OutcomeFailed},
		{"inconsistent", live, eth2client.ErrInconsistentResult, OutcomeFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, classify(tc.ctx, tc.err))
		})
	}
}

func TestHealthEvaluate(t *testing.T) {
	g := &apiv1.Genesis{}
	tests := []struct {
		name string
		h    health
		want NodeState
	}{
		{"never checked", health{}, StateUnknown},
		{"down", health{lastErr: "refused"}, StateUnreachable},
		{"wrong chain wins", health{wrongChain: true, reachable: true, genesis: g}, StateWrongChain},
		{"chain unknown", health{reachable: true}, StateUnidentified},
		{"syncing", health{reachable: true, genesis: g, sync: syncState{IsSyncing: true}}, StateSyncing},
		{"behind", health{reachable: true, genesis: g, sync: syncState{SyncDistance: 5}}, StateSyncing},
		{"at the limit", health{reachable: true, genesis: g, sync: syncState{SyncDistance: 4}}, StateHealthy},
		{"optimistic", health{reachable: true, genesis: g, sync: syncState{IsOptimistic: true}}, StateOptimistic},
		{"el offline", health{reachable: true, genesis: g, sync: syncState{ELOffline: true}}, StateELOffline},
		{"healthy", health{reachable: true, genesis: g}, StateHealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, tc.h.evaluate(DefaultMaxSyncDistance))
		})
	}
}

func TestMergeLiveness(t *testing.T) {
	resp := func(l ...*apiv1.ValidatorLiveness) *api.Response[[]*apiv1.ValidatorLiveness] {
		return &api.Response[[]*apiv1.ValidatorLiveness]{Data: l}
	}
	a := resp(&apiv1.ValidatorLiveness{Index: 1, IsLive: false}, &apiv1.ValidatorLiveness{Index: 2, IsLive: true})
	b := resp(&apiv1.ValidatorLiveness{Index: 1, IsLive: true}, &apiv1.ValidatorLiveness{Index: 3, IsLive: false}, nil)
	got := mergeLiveness([]*api.Response[[]*apiv1.ValidatorLiveness]{a, nil, b})
	require.Equal(t, []*apiv1.ValidatorLiveness{{Index: 1, IsLive: true}, {Index: 2, IsLive: true}, {Index: 3, IsLive: false}}, got.Data)
	require.False(t, a.Data[0].IsLive, "inputs are not modified")
}

// testNodes builds a pool of nodes in the given states, without servers.
func testNodes(states ...NodeState) (*Pool, []*node) {
	p := &Pool{log: slog.New(slog.DiscardHandler), observer: nopObserver{}, clock: realClock{}}
	for i, s := range states {
		n := &node{index: i, name: fmt.Sprintf("http://node%d", i), redactor: newRedactor(&url.URL{})}
		n.h.state = s
		p.nodes = append(p.nodes, n)
	}
	return p, p.nodes
}

func headJSON(slot phase0.Slot, root byte) []byte {
	e := &apiv1.HeadEvent{Slot: slot, Block: phase0.Root{root}}
	b, err := e.MarshalJSON()
	if err != nil {
		panic(err)
	}
	return b
}

func TestEventDelivery(t *testing.T) {
	tests := []struct {
		name   string
		states []NodeState
		from   []int // node index of each event, all for the same head
		want   int
	}{
		{name: "same head from two healthy nodes is delivered once", states: []NodeState{StateHealthy, StateHealthy}, from: []int{0, 1}, want: 1},
		{name: "syncing node ignored while another is healthy", states: []NodeState{StateSyncing, StateHealthy}, from: []int{0}, want: 0},
		{name: "degraded node used when none is healthy", states: []NodeState{StateELOffline, StateUnreachable}, from: []int{0}, want: 1},
		{name: "unreachable node ignored", states: []NodeState{StateUnreachable, StateHealthy}, from: []int{0}, want: 0},
		{name: "wrong-chain node ignored", states: []NodeState{StateWrongChain}, from: []int{0}, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, nodes := testNodes(tc.states...)
			var got int
			sub := newSubscription(p, &api.EventsOpts{
				Topics:      []string{TopicHead},
				HeadHandler: func(context.Context, *apiv1.HeadEvent) { got++ },
			})
			for _, i := range tc.from {
				sub.deliver(context.Background(), nodes[i], TopicHead, headJSON(5, 1))
			}
			require.Equal(t, tc.want, got)
		})
	}

	t.Run("generic handler, bad data, eviction", func(t *testing.T) {
		p, nodes := testNodes(StateHealthy)
		var got []string
		sub := newSubscription(p, &api.EventsOpts{
			Topics:  []string{TopicHead, TopicChainReorg},
			Handler: func(e *apiv1.Event) { got = append(got, e.Topic) },
		})
		ctx := context.Background()
		sub.deliver(ctx, nodes[0], TopicHead, []byte(`{"slot":"nope"}`))
		require.Empty(t, got, "undecodable events are dropped")

		reorg, err := (&apiv1.ChainReorgEvent{Slot: 9, Depth: 2, NewHeadBlock: phase0.Root{2}}).MarshalJSON()
		require.NoError(t, err)
		sub.deliver(ctx, nodes[0], TopicChainReorg, reorg)
		require.Equal(t, []string{TopicChainReorg}, got)

		for slot := range phase0.Slot(dedupWindow + 1) {
			sub.deliver(ctx, nodes[0], TopicHead, headJSON(slot, 7))
		}
		require.Len(t, got, dedupWindow+2)
		sub.deliver(ctx, nodes[0], TopicHead, headJSON(0, 7))
		require.Len(t, got, dedupWindow+3, "the oldest event left the window")
	})
}
