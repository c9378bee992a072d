package e2e

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/beacon"
)

// poolCheck runs vigil's beacon node pool (pkg/beacon) against the devnet's
// real Prysm nodes, beside the vigil process: chain identity, spec, duties,
// liveness and head events, and later the failover when node 0 stops.
type poolCheck struct {
	pool     *beacon.Pool
	indices  []phase0.ValidatorIndex
	lastHead atomic.Uint64
}

// startPoolCheck connects a pool to both nodes and an address where nothing
// listens, and checks what the nodes serve at the start of the chain.
func startPoolCheck(ctx context.Context, t *testing.T, d *testharness.Devnet, validators int) *poolCheck {
	t.Helper()
	dead := deadAddress(t)
	p, err := beacon.New(ctx,
		beacon.WithAddresses([]string{d.BeaconURLs[0], d.BeaconURLs[1], dead}),
		beacon.WithGenesisValidatorsRoot(d.GenesisValidatorsRoot),
		beacon.WithHealthInterval(time.Second),
	)
	require.NoError(t, err)
	c := &poolCheck{pool: p, indices: make([]phase0.ValidatorIndex, validators)}
	for i := range c.indices {
		c.indices[i] = phase0.ValidatorIndex(i)
	}
	nodes := p.Nodes()
	require.Equal(t, beacon.StateUnreachable, nodes[2].State, "nothing listens at %s", dead)
	for _, n := range nodes[:2] {
		require.False(t, n.ELOffline, "node %s reports its execution client offline", n.URL)
	}

	g, err := p.Genesis(ctx, &api.GenesisOpts{})
	require.NoError(t, err)
	require.Equal(t, phase0.Root(d.GenesisValidatorsRoot), g.Data.GenesisValidatorsRoot)
	require.True(t, d.GenesisTime.Equal(g.Data.GenesisTime))
	slot, err := p.SlotDuration(ctx)
	require.NoError(t, err)
	require.Equal(t, slotDuration, slot)
	require.Equal(t, slotDuration/3, p.Timeout(), "a third of the slot")
	spe, err := p.SlotsPerEpoch(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(slotsPerEpoch), spe)

	duties, err := p.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: 0, Indices: c.indices})
	require.NoError(t, err)
	require.Len(t, duties.Data, validators, "every validator attests once per epoch")
	require.NoError(t, p.Events(ctx, &api.EventsOpts{
		Topics:      []string{beacon.TopicHead},
		HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) { c.lastHead.Store(uint64(e.Slot)) },
	}))
	return c
}

// checkHeadEvents waits for a head event at slot or later.
func (c *poolCheck) checkHeadEvents(t *testing.T, slot uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return c.lastHead.Load() >= slot }, 4*slotDuration, slotDuration/4,
		"head events up to slot %d from the real node (last %d)", slot, c.lastHead.Load())
}

// checkLiveness checks that the node saw most validators attest in epoch.
func (c *poolCheck) checkLiveness(ctx context.Context, t *testing.T, epoch uint64) {
	t.Helper()
	live, err := c.pool.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: phase0.Epoch(epoch), Indices: c.indices})
	require.NoError(t, err)
	var n int
	for _, l := range live.Data {
		if l.IsLive {
			n++
		}
	}
	require.GreaterOrEqual(t, n, len(c.indices)*9/10, "validators seen live in epoch %d", epoch)
}

// checkFailover runs after node 0 stopped: reads and events carry on from
// node 1, and node 0 is reported unreachable.
func (c *poolCheck) checkFailover(ctx context.Context, t *testing.T, epoch uint64) {
	t.Helper()
	stoppedAt := c.lastHead.Load()
	duties, err := c.pool.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: phase0.Epoch(epoch), Indices: c.indices})
	require.NoError(t, err, "failover within the call")
	require.Len(t, duties.Data, len(c.indices))
	c.checkHeadEvents(t, stoppedAt+2)
	require.Eventually(t, func() bool { return c.pool.Nodes()[0].State == beacon.StateUnreachable }, 10*time.Second, 100*time.Millisecond,
		"node 0 reported unreachable after it stopped")
}

// deadAddress is a loopback URL where nothing listens.
func deadAddress(t *testing.T) string {
	t.Helper()
	return "http://" + testharness.LoopbackAddr(t)
}
