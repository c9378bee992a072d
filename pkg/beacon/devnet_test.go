package beacon_test

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

// TestDevnetPool runs the pool against real Prysm v5.3.0 beacon nodes (two,
// peered, plus an address where nothing listens): chain identity, spec,
// duties, liveness and head events, then failover when the preferred node
// stops. The validators are attached to the second node so the chain goes
// on without the first.
func TestDevnetPool(t *testing.T) {
	if testing.Short() {
		t.Skip("devnet test skipped in -short mode")
	}
	const validators = 64
	d := testharness.StartDevnetWithValidators(t, testharness.DevnetConfig{NumInteropValidators: validators, BeaconNodes: 2},
		testharness.PrysmValidatorConfig{BeaconNode: 1, Count: validators})

	ctx, cancel := context.WithDeadline(t.Context(), d.GenesisTime.Add(3*time.Minute))
	defer cancel()
	addresses := []string{d.BeaconURLs[0], d.BeaconURLs[1], deadAddress(t)}
	p, err := beacon.New(ctx,
		beacon.WithAddresses(addresses),
		beacon.WithGenesisValidatorsRoot(d.GenesisValidatorsRoot),
		beacon.WithHealthInterval(time.Second),
	)
	require.NoError(t, err)
	for _, n := range p.Nodes() {
		t.Logf("node %d %s: %s (%s) head %d distance %d el_offline %v", n.Index, n.URL, n.State, n.Version,
			n.HeadSlot, n.SyncDistance, n.ELOffline)
	}
	require.Equal(t, beacon.StateUnreachable, p.Nodes()[2].State)

	g, err := p.Genesis(ctx, &api.GenesisOpts{})
	require.NoError(t, err)
	require.Equal(t, phase0.Root(d.GenesisValidatorsRoot), g.Data.GenesisValidatorsRoot)
	require.True(t, d.GenesisTime.Equal(g.Data.GenesisTime))
	slot, err := p.SlotDuration(ctx)
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, slot)
	require.Equal(t, time.Second, p.Timeout(), "a third of the devnet's 3 s slot")
	slotsPerEpoch, err := p.SlotsPerEpoch(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(8), slotsPerEpoch)

	indices := make([]phase0.ValidatorIndex, validators)
	for i := range indices {
		indices[i] = phase0.ValidatorIndex(i)
	}
	duties, err := p.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: 0, Indices: indices})
	require.NoError(t, err)
	require.Len(t, duties.Data, validators, "every validator attests once per epoch")

	var lastHead atomic.Uint64
	require.NoError(t, p.Events(ctx, &api.EventsOpts{
		Topics: []string{beacon.TopicHead},
		HeadHandler: func(_ context.Context, e *apiv1.HeadEvent) {
			lastHead.Store(uint64(e.Slot))
		},
	}))
	// Past epoch 0, so that liveness for epoch 0 is settled.
	require.Eventually(t, func() bool { return lastHead.Load() >= 10 }, time.Until(d.GenesisTime)+60*time.Second,
		500*time.Millisecond, "head events from the real node")

	live, err := p.ValidatorLiveness(ctx, &api.ValidatorLivenessOpts{Epoch: 0, Indices: indices})
	require.NoError(t, err)
	var liveCount int
	for _, l := range live.Data {
		if l.IsLive {
			liveCount++
		}
	}
	require.Greater(t, liveCount, validators/2, "Prysm's validators attested in epoch 0")

	// The preferred node goes away: reads and events carry on from the next.
	require.NoError(t, d.StopBeaconNode(0))
	stoppedAt := lastHead.Load()
	duties, err = p.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: phase0.Epoch(stoppedAt/8 + 1), Indices: indices})
	require.NoError(t, err, "failover within the call")
	require.Len(t, duties.Data, validators)
	require.Eventually(t, func() bool { return lastHead.Load() > stoppedAt+1 }, 30*time.Second, 500*time.Millisecond,
		"head events from the second node after the first stopped")
	require.Equal(t, beacon.StateUnreachable, p.Nodes()[0].State)
	t.Logf("after stopping node 0: %+v", p.Nodes()[1])
}
