package chain_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
)

func TestReconcile(t *testing.T) {
	base := func() *chain.Spec {
		s := chaintest.Spec(genesis)
		s.Electra.Epoch, s.Fulu.Epoch = chain.FarFutureEpoch, chain.FarFutureEpoch
		return s
	}
	tests := []struct {
		name       string
		edit       func(s *chain.Spec)
		wantChange string
		wantErr    string
	}{
		{name: "nothing changed"},
		{name: "electra gets an epoch", edit: func(s *chain.Spec) { s.Electra.Epoch = 100 }, wantChange: "electra fork scheduled at epoch 100"},
		{name: "fork scheduled in the past", edit: func(s *chain.Spec) { s.Electra.Epoch = 10 }, wantChange: "not after the current epoch 50"},
		{name: "unscheduled fork gets a new version with its epoch", edit: func(s *chain.Spec) {
			s.Electra = chain.Fork{Version: phase0.Version{0x66}, Epoch: 100}
		}, wantChange: "version 0x66000000"},
		{name: "unknown fork appears", edit: func(s *chain.Spec) {
			s.Electra.Epoch, s.Fulu.Epoch = 60, 70
			s.Unknown = []chain.UnknownFork{{Name: "GLOAS", Epoch: 80}}
		}, wantChange: "GLOAS scheduled at epoch 80, which this version of vigil cannot sign for"},
		{name: "scheduled fork moved", edit: func(s *chain.Spec) { s.Deneb.Epoch = 5 }, wantErr: "deneb fork epoch 4 version 0x50000038 -> epoch 5"},
		{name: "scheduled fork dropped", edit: func(s *chain.Spec) { s.Deneb.Epoch = chain.FarFutureEpoch }, wantErr: "-> unscheduled"},
		{name: "scheduled fork's version changed", edit: func(s *chain.Spec) { s.Deneb.Version = phase0.Version{1} }, wantErr: "deneb fork"},
		{name: "another genesis", edit: func(s *chain.Spec) { s.GenesisTime = s.GenesisTime.Add(time.Second) }, wantErr: "genesis time"},
		{name: "another network", edit: func(s *chain.Spec) { s.GenesisValidatorsRoot = phase0.Root{9} }, wantErr: "genesis validators root"},
		{name: "timing", edit: func(s *chain.Spec) { s.SlotDuration = 12 * time.Second }, wantErr: "timing 3s x 8 slots -> 12s x 8 slots"},
		{name: "domains", edit: func(s *chain.Spec) { s.Domains.Randao = phase0.DomainType{9} }, wantErr: "domain types"},
		{name: "committee parameters", edit: func(s *chain.Spec) { s.SyncCommitteeSize = 32 }, wantErr: "committee parameters"},
		{name: "a good change with a bad one is refused whole", edit: func(s *chain.Spec) {
			s.Electra.Epoch = 100
			s.Capella.Epoch = 2
		}, wantErr: "capella fork"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur, next := base(), base()
			if tc.edit != nil {
				tc.edit(next)
			}
			got, changes, err := chain.Reconcile(cur, next, 50)
			if tc.wantErr != "" {
				require.ErrorIs(t, err, chain.ErrSpecChanged)
				require.ErrorContains(t, err, tc.wantErr)
				require.Same(t, cur, got, "the current spec stays")
				return
			}
			require.NoError(t, err)
			if tc.wantChange == "" {
				require.Same(t, cur, got)
				require.Empty(t, changes)
				return
			}
			require.Contains(t, strings.Join(changes, "\n"), tc.wantChange)
			require.Equal(t, next, got)
			require.Equal(t, base(), cur, "the old spec is never modified")
		})
	}
}

// source is a beacon node serving a spec that tests change.
type source struct {
	mu    sync.Mutex
	spec  *chain.Spec
	err   error
	reads int
}

func (s *source) set(sp *chain.Spec) { s.mu.Lock(); s.spec = sp; s.mu.Unlock() }

func (s *source) Spec(context.Context, *api.SpecOpts) (*api.Response[map[string]any], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	if s.err != nil {
		return nil, s.err
	}
	return &api.Response[map[string]any]{Data: chaintest.BeaconSpec(s.spec)}, nil
}

func (s *source) Genesis(context.Context, *api.GenesisOpts) (*api.Response[*apiv1.Genesis], error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return nil, s.err
	}
	return &api.Response[*apiv1.Genesis]{Data: genesisOf(s.spec)}, nil
}

func (s *source) readCount() int { s.mu.Lock(); defer s.mu.Unlock(); return s.reads }

func TestConnectWaitsForANode(t *testing.T) {
	clock := slotclocktest.NewFake(genesis)
	src := &source{spec: chaintest.Spec(genesis), err: errors.New("connection refused")}
	done := make(chan *chain.Chain)
	go func() {
		c, err := chain.Connect(t.Context(), src, chain.WithClock(clock), chain.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(t, err)
		done <- c
	}()
	require.Eventually(t, func() bool { return len(clock.Pending()) > 0 }, 5*time.Second, time.Millisecond)
	src.mu.Lock()
	src.err = nil
	src.mu.Unlock()
	clock.Advance(2 * time.Second)
	c := <-done
	require.Equal(t, chaintest.Spec(genesis), c.Spec())
	require.Equal(t, uint64(8), c.SlotClock().SlotsPerEpoch())
}

func TestConnectStopsOnABadSpec(t *testing.T) {
	s := chaintest.Spec(genesis)
	s.SlotsPerEpoch = 0
	_, err := chain.Connect(t.Context(), &source{spec: s}, chain.WithClock(slotclocktest.NewFake(genesis)))
	require.ErrorIs(t, err, chain.ErrSpec)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = chain.Connect(ctx, &source{spec: chaintest.Spec(genesis), err: errors.New("refused")}, chain.WithClock(slotclocktest.NewFake(genesis)))
	require.ErrorContains(t, err, "no beacon node served genesis and spec before shutdown")
}

// TestRunFollowsAScheduledFork upgrades the node's config mid-run: the next
// epoch's re-read picks up the newly scheduled fork; a later refused change is
// reported by Check and leaves the spec alone until the node agrees again.
func TestRunFollowsAScheduledFork(t *testing.T) {
	start := chaintest.Spec(genesis)
	start.Fulu.Epoch = chain.FarFutureEpoch
	clock := slotclocktest.NewFake(genesis.Add(10 * 24 * time.Second)) // epoch 10
	src := &source{spec: start}
	c, err := chain.New(start, src, chain.WithClock(clock), chain.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	go c.Run(t.Context())

	upgraded := *start
	upgraded.Fulu.Epoch = 20
	src.set(&upgraded)
	require.Eventually(t, func() bool { return len(clock.Pending()) > 0 }, 5*time.Second, time.Millisecond)
	clock.Advance(24 * time.Second) // to the start of epoch 11
	require.Eventually(t, func() bool { return c.Spec().Fulu.Epoch == 20 }, 5*time.Second, time.Millisecond)
	detail, err := c.Check(t.Context())
	require.NoError(t, err)
	require.Contains(t, detail, "electra")

	moved := upgraded
	moved.Fulu.Epoch = 30
	src.set(&moved)
	reads := src.readCount()
	c.Refresh()
	require.Eventually(t, func() bool { return src.readCount() > reads }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool { _, err := c.Check(t.Context()); return err != nil }, 5*time.Second, time.Millisecond)
	_, err = c.Check(t.Context())
	require.ErrorIs(t, err, chain.ErrSpecChanged)
	require.Equal(t, phase0.Epoch(20), c.Spec().Fulu.Epoch, "a moved fork is not followed")

	src.set(&upgraded)
	c.Refresh()
	require.Eventually(t, func() bool { _, err := c.Check(t.Context()); return err == nil }, 5*time.Second, time.Millisecond)
}

// syncBuffer is a strings.Builder safe for the logger's and the test's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestRunLogsForkActivation checks that the live log says when the chain
// enters a fork.
func TestRunLogsForkActivation(t *testing.T) {
	sp := chaintest.Spec(genesis)
	sp.Electra.Epoch, sp.Fulu.Epoch = 11, chain.FarFutureEpoch
	clock := slotclocktest.NewFake(genesis.Add(10 * 24 * time.Second))
	var logs syncBuffer
	c, err := chain.New(sp, &source{spec: sp}, chain.WithClock(clock), chain.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	require.NoError(t, err)
	go c.Run(t.Context())
	require.Eventually(t, func() bool { return len(clock.Pending()) > 0 }, 5*time.Second, time.Millisecond)
	clock.Advance(24 * time.Second)
	require.Eventually(t, func() bool {
		return strings.Contains(logs.String(), `msg="Fork activated" component=chain fork=electra epoch=11 previous_fork=deneb`)
	},
		5*time.Second, time.Millisecond)
}

// TestRefreshTrigger re-reads the spec when the trigger handed to
// WithRefreshOn is poked (the beacon pool pokes it when a node recovers),
// without waiting for the next epoch; pokes never block.
func TestRefreshTrigger(t *testing.T) {
	start := chaintest.Spec(genesis)
	start.Fulu.Epoch = chain.FarFutureEpoch
	clock := slotclocktest.NewFake(genesis.Add(10 * 24 * time.Second))
	src := &source{spec: start}
	trigger := chain.NewRefreshTrigger()
	c, err := chain.New(start, src, chain.WithClock(clock), chain.WithLogger(slog.New(slog.DiscardHandler)), chain.WithRefreshOn(trigger))
	require.NoError(t, err)
	trigger.Poke()
	trigger.Poke() // merged into the pending one, not blocking
	go c.Run(t.Context())

	upgraded := *start
	upgraded.Fulu.Epoch = 20
	require.Eventually(t, func() bool { return src.readCount() > 0 }, 5*time.Second, time.Millisecond)
	src.set(&upgraded)
	trigger.Poke()
	require.Eventually(t, func() bool { return c.Spec().Fulu.Epoch == 20 }, 5*time.Second, time.Millisecond)
	require.Len(t, clock.Pending(), 1, "still waiting for the next epoch: the refresh came from the trigger")
}
