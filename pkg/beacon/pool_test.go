package beacon_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// pool is stopped by cancelling its context in t.Cleanup.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testTimeout is the per-request timeout in tests: long enough for loopback
// under -race on a loaded machine, short enough that stalls cost little.
const testTimeout = 500 * time.Millisecond

// logBuffer collects the pool's log output so tests can check what it says.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(b)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// newPool starts a pool whose health loop never fires on its own, so tests
// decide when health is re-checked (Refresh).
func newPool(t *testing.T, addresses []string, opts ...beacon.Option) (*beacon.Pool, *logBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	logs := &logBuffer{}
	all := append([]beacon.Option{
		beacon.WithAddresses(addresses),
		beacon.WithTimeout(testTimeout),
		beacon.WithHealthInterval(time.Hour),
		beacon.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}, opts...)
	p, err := beacon.New(ctx, all...)
	require.NoError(t, err)
	return p, logs
}

func urls(nodes ...*beacontest.Node) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.URL()
	}
	return out
}

// deadAddress returns a loopback URL on which nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	return "http://" + testharness.LoopbackAddr(t)
}

func states(p *beacon.Pool) []beacon.NodeState {
	var out []beacon.NodeState
	for _, n := range p.Nodes() {
		out = append(out, n.State)
	}
	return out
}

func attestationData(t *testing.T, p *beacon.Pool) (phase0.Root, error) {
	t.Helper()
	resp, err := p.AttestationData(context.Background(), &api.AttestationDataOpts{Slot: 17, CommitteeIndex: 0})
	if err != nil {
		return phase0.Root{}, err
	}
	return resp.Data.BeaconBlockRoot, nil
}

func TestNewWithNodesDown(t *testing.T) {
	t.Run("first node down at start is logged and the second serves", func(t *testing.T) {
		b := beacontest.New(t, beacontest.WithName("b"))
		dead := deadAddress(t)
		p, logs := newPool(t, []string{dead, b.URL()})
		require.Equal(t, []beacon.NodeState{beacon.StateUnreachable, beacon.StateHealthy}, states(p))
		require.Contains(t, logs.String(), "beacon node not usable at start")
		require.Contains(t, logs.String(), strings.TrimPrefix(dead, "http://"))

		root, err := attestationData(t, p)
		require.NoError(t, err)
		require.Equal(t, b.BlockRoot(), root)
	})

	t.Run("every node down: New succeeds and calls name every node", func(t *testing.T) {
		dead1, dead2 := deadAddress(t), deadAddress(t)
		p, _ := newPool(t, []string{dead1, dead2})
		_, err := attestationData(t, p)
		require.ErrorIs(t, err, beacon.ErrNoHealthyNode)
		var callErr *beacon.CallError
		require.ErrorAs(t, err, &callErr)
		require.Len(t, callErr.Nodes, 2)
		msg := err.Error()
		require.Contains(t, msg, "attestation_data: no healthy beacon node (tried ")
		require.Contains(t, msg, dead1)
		require.Contains(t, msg, dead2)
		require.Contains(t, msg, "connection refused")
	})

	t.Run("calls recover from an outage without waiting for the health loop", func(t *testing.T) {
		a := beacontest.New(t, beacontest.WithName("a"))
		a.SetDown(true)
		p, _ := newPool(t, urls(a))
		_, err := attestationData(t, p)
		require.ErrorIs(t, err, beacon.ErrNoHealthyNode)

		a.SetDown(false)
		// The health loop never runs in these tests (interval one hour): a
		// call finding no usable node re-checks them itself, at most twice a
		// second.
		require.Eventually(t, func() bool {
			root, err := attestationData(t, p)
			return err == nil && root == a.BlockRoot()
		}, 5*time.Second, 50*time.Millisecond)
	})

	t.Run("node down at start is used once it answers", func(t *testing.T) {
		a := beacontest.New(t, beacontest.WithName("a"))
		b := beacontest.New(t, beacontest.WithName("b"))
		a.SetDown(true)
		p, _ := newPool(t, urls(a, b))
		root, err := attestationData(t, p)
		require.NoError(t, err)
		require.Equal(t, b.BlockRoot(), root)

		a.SetDown(false)
		p.Refresh(context.Background())
		require.Equal(t, []beacon.NodeState{beacon.StateHealthy, beacon.StateHealthy}, states(p))
		root, err = attestationData(t, p)
		require.NoError(t, err)
		require.Equal(t, a.BlockRoot(), root, "the preferred node is used again")
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []beacon.Option
		want string
	}{
		{name: "no address", opts: nil, want: "no beacon node address"},
		{name: "bad scheme", opts: []beacon.Option{beacon.WithAddresses([]string{"ftp://127.0.0.1:1"})}, want: "not http or https"},
		{name: "listed twice", opts: []beacon.Option{beacon.WithAddresses([]string{"http://127.0.0.1:9", "127.0.0.1:9"})}, want: "listed twice"},
		{
			name: "invalid URL never echoes credentials",
			opts: []beacon.Option{beacon.WithAddresses([]string{"http://user:s3cret@127.0.0.1:%zz"})},
			want: "not a valid URL",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			_, err := beacon.New(ctx, tc.opts...)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "s3cret")
		})
	}
}

func TestReadFailover(t *testing.T) {
	tests := []struct {
		name string
		// before runs before New, after between New and the call.
		before, after func(a *beacontest.Node)
		// wantFromA says whether node a (preferred) should answer.
		wantFromA bool
		// wantState is a's state after the call.
		wantState beacon.NodeState
	}{
		{name: "healthy first node answers", wantFromA: true, wantState: beacon.StateHealthy},
		{
			name: "syncing first node is skipped",
			before: func(a *beacontest.Node) {
				a.SetSyncing(beacontest.SyncState{HeadSlot: 10, SyncDistance: 90, IsSyncing: true})
			},
			wantState: beacon.StateSyncing,
		},
		{
			name:      "first node too far behind is skipped",
			before:    func(a *beacontest.Node) { a.SetSyncing(beacontest.SyncState{HeadSlot: 10, SyncDistance: 20}) },
			wantState: beacon.StateSyncing,
		},
		{
			name:      "optimistic first node is skipped",
			before:    func(a *beacontest.Node) { a.SetSyncing(beacontest.SyncState{HeadSlot: 100, IsOptimistic: true}) },
			wantState: beacon.StateOptimistic,
		},
		{
			name:      "first node with execution client offline is skipped",
			before:    func(a *beacontest.Node) { a.SetSyncing(beacontest.SyncState{HeadSlot: 100, ELOffline: true}) },
			wantState: beacon.StateELOffline,
		},
		{
			name:      "first node answering 500 fails over within the call",
			after:     func(a *beacontest.Node) { a.SetStatus(beacontest.RouteAttestation, http.StatusInternalServerError) },
			wantState: beacon.StateHealthy,
		},
		{
			name:      "first node answering 503 fails over within the call",
			after:     func(a *beacontest.Node) { a.SetStatus(beacontest.RouteAttestation, http.StatusServiceUnavailable) },
			wantState: beacon.StateHealthy,
		},
		{
			name:      "stalled first node times out and is passed over",
			after:     func(a *beacontest.Node) { a.SetStall(true) },
			wantState: beacon.StateUnreachable,
		},
		{
			name:      "first node dropping connections is passed over",
			after:     func(a *beacontest.Node) { a.SetDown(true) },
			wantState: beacon.StateUnreachable,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := beacontest.New(t, beacontest.WithName("a"))
			b := beacontest.New(t, beacontest.WithName("b"))
			if tc.before != nil {
				tc.before(a)
			}
			p, _ := newPool(t, urls(a, b))
			if tc.after != nil {
				tc.after(a)
			}

			start := time.Now()
			root, err := attestationData(t, p)
			require.NoError(t, err)
			want := b.BlockRoot()
			if tc.wantFromA {
				want = a.BlockRoot()
			}
			require.Equal(t, want, root)
			require.Less(t, time.Since(start), 3*testTimeout, "failover must cost at most one timeout")
			require.Equal(t, tc.wantState, p.Nodes()[0].State)

			// A node passed over for a transport failure or timeout is not
			// asked again until a health check finds it answering.
			if tc.wantState == beacon.StateUnreachable {
				before := a.Requests(beacontest.RouteAttestation)
				_, err := attestationData(t, p)
				require.NoError(t, err)
				require.Equal(t, before, a.Requests(beacontest.RouteAttestation))
			}
		})
	}
}

func TestReadWhenNoNodeIsHealthy(t *testing.T) {
	t.Run("degraded nodes serve, best state first", func(t *testing.T) {
		a := beacontest.New(t, beacontest.WithName("a"))
		b := beacontest.New(t, beacontest.WithName("b"))
		a.SetSyncing(beacontest.SyncState{HeadSlot: 100, IsOptimistic: true})
		b.SetSyncing(beacontest.SyncState{HeadSlot: 100, ELOffline: true})
		p, _ := newPool(t, urls(a, b))
		root, err := attestationData(t, p)
		require.NoError(t, err)
		require.Equal(t, b.BlockRoot(), root, "an execution-client-offline node is preferred to an optimistic one")
	})

	t.Run("every node refusing names each refusal", func(t *testing.T) {
		a := beacontest.New(t, beacontest.WithName("a"))
		b := beacontest.New(t, beacontest.WithName("b"))
		p, _ := newPool(t, urls(a, b))
		a.SetStatus(beacontest.RouteAttestation, http.StatusBadRequest)
		b.SetStatus(beacontest.RouteAttestation, http.StatusNotFound)
		_, err := attestationData(t, p)
		require.Error(t, err)
		require.NotErrorIs(t, err, beacon.ErrNoHealthyNode, "the nodes answered; they are not unhealthy")
		var apiErr *api.Error
		require.ErrorAs(t, err, &apiErr)
		require.Contains(t, err.Error(), "status 400")
		require.Contains(t, err.Error(), "status 404")
		require.Equal(t, []beacon.NodeState{beacon.StateHealthy, beacon.StateHealthy}, states(p))
	})

	t.Run("caller's deadline is not held against the node", func(t *testing.T) {
		a := beacontest.New(t, beacontest.WithName("a"))
		p, _ := newPool(t, urls(a))
		a.SetStall(true)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := p.AttestationData(ctx, &api.AttestationDataOpts{Slot: 1})
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.Equal(t, beacon.StateHealthy, p.Nodes()[0].State)
		require.Zero(t, p.Nodes()[0].Failures)
	})
}

func TestWrongChain(t *testing.T) {
	other := phase0.Root{0xde, 0xad}
	tests := []struct {
		name     string
		bOpts    []beacontest.Option
		poolOpts []beacon.Option
		want     string
	}{
		{
			name:  "different genesis validators root",
			bOpts: []beacontest.Option{beacontest.WithGenesisRoot(other)},
			want:  "genesis validators root 0xdead",
		},
		{
			name:  "same root, different genesis time",
			bOpts: []beacontest.Option{beacontest.WithGenesisTime(beacontest.DefaultGenesisTime.Add(time.Hour))},
			want:  "genesis time",
		},
		{
			name:     "root differs from the slashing database's",
			bOpts:    []beacontest.Option{beacontest.WithGenesisRoot(other)},
			poolOpts: []beacon.Option{beacon.WithGenesisValidatorsRoot(beacontest.DefaultGenesisRoot)},
			want:     "expected 0x4b363db9",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := beacontest.New(t, beacontest.WithName("a"))
			b := beacontest.New(t, append(tc.bOpts, beacontest.WithName("b"))...)
			p, logs := newPool(t, urls(a, b), tc.poolOpts...)
			require.Equal(t, []beacon.NodeState{beacon.StateHealthy, beacon.StateWrongChain}, states(p))
			require.Contains(t, p.Nodes()[1].LastError, tc.want)
			require.Contains(t, logs.String(), "different chain")

			// With the right node gone, the wrong one is still never asked.
			a.SetDown(true)
			_, err := attestationData(t, p)
			require.ErrorIs(t, err, beacon.ErrNoHealthyNode)
			require.Contains(t, err.Error(), b.URL()+": not used: wrong_chain")
			require.Zero(t, b.Requests(beacontest.RouteAttestation))

			// It stays refused even when it answers health checks.
			p.Refresh(context.Background())
			require.Equal(t, beacon.StateWrongChain, p.Nodes()[1].State)
		})
	}

	t.Run("every node on another chain than the database's refuses to start", func(t *testing.T) {
		a := beacontest.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, err := beacon.New(ctx, beacon.WithAddresses(urls(a)), beacon.WithTimeout(testTimeout),
			beacon.WithGenesisValidatorsRoot(other))
		require.ErrorIs(t, err, beacon.ErrWrongChain)
		require.ErrorContains(t, err, a.URL())
	})
}

func TestSubmitToAll(t *testing.T) {
	attestation := &spec.VersionedAttestation{
		Version: spec.DataVersionDeneb,
		Deneb: &phase0.Attestation{
			AggregationBits: []byte{0x03},
			Data: &phase0.AttestationData{
				Slot: 17, BeaconBlockRoot: phase0.Root{1},
				Source: &phase0.Checkpoint{}, Target: &phase0.Checkpoint{Epoch: 2},
			},
		},
	}
	submit := func(p *beacon.Pool) error {
		return p.SubmitAttestations(context.Background(), &api.SubmitAttestationsOpts{
			Attestations: []*spec.VersionedAttestation{attestation},
		})
	}
	tests := []struct {
		name      string
		setup     func(nodes []*beacontest.Node)
		wantErr   error
		wantCount []int
	}{
		{name: "every node receives it", wantCount: []int{1, 1, 1}},
		{
			name:      "one node refusing does not fail the submission",
			setup:     func(n []*beacontest.Node) { n[0].SetStatus(beacontest.RouteSubmitAtts, http.StatusBadRequest) },
			wantCount: []int{0, 1, 1},
		},
		{
			name:      "a node that went down does not fail the submission",
			setup:     func(n []*beacontest.Node) { n[1].SetDown(true) },
			wantCount: []int{1, 0, 1},
		},
		{
			name: "every node refusing fails with their errors",
			setup: func(n []*beacontest.Node) {
				for _, node := range n {
					node.SetStatus(beacontest.RouteSubmitAtts, http.StatusBadRequest)
				}
			},
			wantErr:   &api.Error{},
			wantCount: []int{0, 0, 0},
		},
		{
			name: "every node down fails with no healthy node",
			setup: func(n []*beacontest.Node) {
				for _, node := range n {
					node.SetDown(true)
				}
			},
			wantErr:   beacon.ErrNoHealthyNode,
			wantCount: []int{0, 0, 0},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nodes := []*beacontest.Node{beacontest.New(t), beacontest.New(t), beacontest.New(t)}
			p, _ := newPool(t, urls(nodes...))
			if tc.setup != nil {
				tc.setup(nodes)
			}
			err := submit(p)
			switch want := tc.wantErr.(type) {
			case nil:
				require.NoError(t, err)
			case *api.Error:
				var apiErr *api.Error
				require.ErrorAs(t, err, &apiErr)
				require.NotErrorIs(t, err, beacon.ErrNoHealthyNode)
			default:
				require.ErrorIs(t, err, want)
			}
			for i, n := range nodes {
				require.Len(t, n.Attestations(), tc.wantCount[i], "node %d", i)
			}
		})
	}

	t.Run("a syncing node is left out while others are healthy", func(t *testing.T) {
		a, b := beacontest.New(t), beacontest.New(t)
		a.SetSyncing(beacontest.SyncState{HeadSlot: 1, SyncDistance: 99, IsSyncing: true})
		p, _ := newPool(t, urls(a, b))
		require.NoError(t, submit(p))
		require.Zero(t, a.Requests(beacontest.RouteSubmitAtts))
		require.Len(t, b.Attestations(), 1)
	})
}

func TestValidatorLivenessIsTheUnionOfNodes(t *testing.T) {
	a, b := beacontest.New(t), beacontest.New(t)
	a.SetLive(1)
	b.SetLive(2)
	p, _ := newPool(t, urls(a, b))
	ask := func() map[phase0.ValidatorIndex]bool {
		t.Helper()
		resp, err := p.ValidatorLiveness(context.Background(), &api.ValidatorLivenessOpts{
			Epoch: 3, Indices: []phase0.ValidatorIndex{1, 2, 3},
		})
		require.NoError(t, err)
		out := make(map[phase0.ValidatorIndex]bool)
		for _, l := range resp.Data {
			out[l.Index] = l.IsLive
		}
		return out
	}
	require.Equal(t, map[phase0.ValidatorIndex]bool{1: true, 2: true, 3: false}, ask())

	b.SetDown(true)
	require.Equal(t, map[phase0.ValidatorIndex]bool{1: true, 2: false, 3: false}, ask())
}

func TestCredentialsNeverShown(t *testing.T) {
	const user, password = "operator", "hunter2-s3cret"
	a := beacontest.New(t, beacontest.WithBasicAuth(user, password), beacontest.WithName("a"))
	withCreds := strings.Replace(a.URL(), "http://", "http://"+user+":"+password+"@", 1)
	dead := strings.Replace(deadAddress(t), "http://", "http://"+user+":"+password+"@", 1) + "/secret-path?apikey=k3y"

	p, logs := newPool(t, []string{withCreds, dead})
	root, err := attestationData(t, p)
	require.NoError(t, err, "basic auth from the URL reaches the node")
	require.Equal(t, a.BlockRoot(), root)

	a.SetDown(true)
	_, err = attestationData(t, p)
	require.Error(t, err)

	var shown []string
	for _, n := range p.Nodes() {
		shown = append(shown, n.URL, n.LastError)
	}
	shown = append(shown, err.Error(), logs.String())
	for _, s := range shown {
		for _, secret := range []string{password, user, "secret-path", "k3y"} {
			require.NotContains(t, s, secret)
		}
	}
	require.Equal(t, a.URL(), p.Nodes()[0].URL)
	require.True(t, strings.HasSuffix(p.Nodes()[1].URL, "/…"))
}

func TestTimeoutFollowsSlotDuration(t *testing.T) {
	a := beacontest.New(t, beacontest.WithSpec(map[string]string{"SECONDS_PER_SLOT": "3"}))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, err := beacon.New(ctx, beacon.WithAddresses(urls(a)), beacon.WithHealthInterval(time.Hour))
	require.NoError(t, err)
	require.Equal(t, time.Second, p.Timeout(), "a third of a 3 s slot")

	p2, err := beacon.New(ctx, beacon.WithAddresses(urls(a)), beacon.WithTimeout(5*time.Second), beacon.WithHealthInterval(time.Hour))
	require.NoError(t, err)
	require.Equal(t, 5*time.Second, p2.Timeout(), "an explicit timeout is kept")
}

// recordingObserver keeps what the pool reports.
type recordingObserver struct {
	mu       sync.Mutex
	requests []beacon.Request
	changes  []beacon.NodeStatus
}

func (o *recordingObserver) RequestDone(r beacon.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.requests = append(o.requests, r)
}

func (o *recordingObserver) NodeChanged(s beacon.NodeStatus) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.changes = append(o.changes, s)
}

func TestObserverAndStatistics(t *testing.T) {
	a := beacontest.New(t, beacontest.WithName("a"))
	b := beacontest.New(t, beacontest.WithName("b"))
	obs := &recordingObserver{}
	p, _ := newPool(t, urls(a, b), beacon.WithObserver(obs))
	a.SetStatus(beacontest.RouteAttestation, http.StatusInternalServerError)
	_, err := attestationData(t, p)
	require.NoError(t, err)

	obs.mu.Lock()
	defer obs.mu.Unlock()
	var outcomes []string
	for _, r := range obs.requests {
		if r.Operation == beacon.OpAttestationData {
			outcomes = append(outcomes, r.Node+" "+r.Outcome.String())
		}
	}
	require.Equal(t, []string{a.URL() + " failed", b.URL() + " success"}, outcomes)
	require.Len(t, obs.changes, 2, "each node went from unknown to healthy")
	for _, c := range obs.changes {
		require.Equal(t, beacon.StateHealthy, c.State)
	}

	st := p.Nodes()
	require.Equal(t, uint64(1), st[0].Failures)
	require.Equal(t, 1, st[0].ConsecutiveFailures)
	require.Contains(t, st[0].LastError, "attestation_data")
	require.Zero(t, st[1].Failures)
	require.Positive(t, st[1].Latency)
	require.Equal(t, "beacontest/b", st[1].Version)
	require.Equal(t, phase0.Slot(100), st[1].HeadSlot)
}

func TestPoolServesChainData(t *testing.T) {
	a := beacontest.New(t)
	p, _ := newPool(t, urls(a))
	ctx := context.Background()

	g, err := p.Genesis(ctx, &api.GenesisOpts{})
	require.NoError(t, err)
	require.Equal(t, beacontest.DefaultGenesisRoot, g.Data.GenesisValidatorsRoot)
	require.True(t, beacontest.DefaultGenesisTime.Equal(g.Data.GenesisTime))

	slot, err := p.SlotDuration(ctx)
	require.NoError(t, err)
	require.Equal(t, 12*time.Second, slot)
	spe, err := p.SlotsPerEpoch(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(8), spe)

	duties, err := p.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: 2, Indices: []phase0.ValidatorIndex{3, 9}})
	require.NoError(t, err)
	require.Len(t, duties.Data, 2)
	require.Equal(t, phase0.Slot(19), duties.Data[0].Slot)
	require.Equal(t, phase0.Slot(17), duties.Data[1].Slot)
	require.Equal(t, []*apiv1.AttesterDuty(nil), []*apiv1.AttesterDuty(nil))

	_, err = p.AttesterDuties(ctx, nil)
	require.Error(t, err)
	require.True(t, p.IsActive())
	require.True(t, p.IsSynced())
	require.Equal(t, a.URL(), p.Address())
}

func TestEventsSurviveNodeFailover(t *testing.T) {
	a := beacontest.New(t, beacontest.WithName("a"))
	b := beacontest.New(t, beacontest.WithName("b"))
	p, _ := newPool(t, urls(a, b))

	var mu sync.Mutex
	got := make(map[phase0.Slot]int)
	received := func(slot phase0.Slot) int {
		mu.Lock()
		defer mu.Unlock()
		return got[slot]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	require.NoError(t, p.Events(ctx, &api.EventsOpts{
		Topics: []string{beacon.TopicHead},
		HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
			mu.Lock()
			defer mu.Unlock()
			got[e.Slot]++
		},
	}))
	subscribed := func(n *beacontest.Node) func() bool { return func() bool { return n.Subscribers() == 1 } }
	require.Eventually(t, subscribed(a), 5*time.Second, 10*time.Millisecond)
	require.Eventually(t, subscribed(b), 5*time.Second, 10*time.Millisecond)

	head := func(slot phase0.Slot) *apiv1.HeadEvent {
		return &apiv1.HeadEvent{Slot: slot, Block: phase0.Root{byte(slot)}, State: phase0.Root{0xff}}
	}
	// The same head from both nodes is delivered once. b's stream is
	// ordered, so once its slot 11 is in, its copy of slot 10 was handled.
	require.NoError(t, a.Emit(beacon.TopicHead, head(10)))
	require.NoError(t, b.Emit(beacon.TopicHead, head(10)))
	require.NoError(t, b.Emit(beacon.TopicHead, head(11)))
	require.Eventually(t, func() bool { return received(11) == 1 }, 5*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, received(10))

	// The preferred node dies: events keep coming from the other.
	a.SetDown(true)
	p.Refresh(context.Background())
	require.Equal(t, beacon.StateUnreachable, p.Nodes()[0].State)
	require.NoError(t, b.Emit(beacon.TopicHead, head(12)))
	require.Eventually(t, func() bool { return received(12) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Then the other dies and the first returns: the pool re-subscribes.
	b.SetDown(true)
	a.SetDown(false)
	p.Refresh(context.Background())
	require.Eventually(t, subscribed(a), 10*time.Second, 10*time.Millisecond)
	require.NoError(t, a.Emit(beacon.TopicHead, head(13)))
	require.Eventually(t, func() bool { return received(13) == 1 }, 5*time.Second, 10*time.Millisecond)

	// Cancelling the subscription closes the streams.
	cancel()
	require.Eventually(t, func() bool { return a.Subscribers() == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestEventsRejectsUnsupportedOptions(t *testing.T) {
	a := beacontest.New(t)
	p, _ := newPool(t, urls(a))
	noop := func(context.Context, *apiv1.HeadEvent) {}
	tests := []struct {
		name string
		opts *api.EventsOpts
	}{
		{name: "nil", opts: nil},
		{name: "no topics", opts: &api.EventsOpts{HeadHandler: noop}},
		{name: "unsupported topic", opts: &api.EventsOpts{Topics: []string{"attestation"}, Handler: func(*apiv1.Event) {}}},
		{name: "no handler", opts: &api.EventsOpts{Topics: []string{beacon.TopicBlock}, HeadHandler: noop}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := p.Events(context.Background(), tc.opts)
			require.Error(t, err)
			require.False(t, errors.Is(err, beacon.ErrNoHealthyNode))
		})
	}
}

// TestSlowBlockProductionKeepsTheNode stalls block production past the
// proposal's timeout: the proposal fails, but the node stays in use for the
// slot's other duties, unlike a node that stalls on an ordinary read.
func TestSlowBlockProductionKeepsTheNode(t *testing.T) {
	a := beacontest.New(t, beacontest.WithName("a"))
	a.Handle("GET /eth/v3/validator/blocks/{slot}", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	})
	p, _ := newPool(t, urls(a))
	opts := &api.ProposalOpts{Slot: 5, RandaoReveal: phase0.BLSSignature{1}}
	opts.Common.Timeout = 200 * time.Millisecond
	_, err := p.Proposal(context.Background(), opts)
	require.Error(t, err)
	require.Equal(t, beacon.StateHealthy, p.Nodes()[0].State, "a slow block production does not mark the node down")
	_, err = attestationData(t, p)
	require.NoError(t, err, "the node still serves the slot's attestations")
}
