package duties_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// checkingSigner counts completed LatestBlock checks.
type checkingSigner struct {
	*countingSigner
	checked atomic.Int64
}

func (c *checkingSigner) LatestBlock(ctx context.Context, pk phase0.BLSPubKey) (phase0.Slot, bool, error) {
	defer c.checked.Add(1)
	return c.countingSigner.LatestBlock(ctx, pk)
}

// TestRestartMidSlotProposal: a run started in a slot whose block its
// predecessor already signed does not ask the node for another block (it
// could not sign a different one, and the same one was broadcast already),
// while a slot without a recorded block is proposed as usual.
func TestRestartMidSlotProposal(t *testing.T) {
	tests := []struct {
		name        string
		recorded    bool
		recordAhead phase0.Slot // record at slot+recordAhead
		startBefore bool        // the run starts in the slot before
		wantPropose bool
		wantFatal   bool
	}{
		{name: "block already recorded for the slot", recorded: true},
		{name: "nothing recorded", wantPropose: true},
		{name: "a block at a later slot is another signer's", recorded: true, recordAhead: 2, wantFatal: true},
		{name: "a block for the slot recorded after this run started is another signer's", recorded: true, startBefore: true, wantFatal: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slot := phase0.Slot(uint64(denebEpoch)*8 + 3)
			var cs *checkingSigner
			start := slot
			if tc.startBefore {
				start--
			}
			e := newEnv(t, envConfig{validators: 4, startSlot: start,
				configure:  func(n *dutiestest.Node) { n.Proposers[slot] = 2 },
				wrapSigner: func(s *countingSigner) duties.Signer { cs = &checkingSigner{countingSigner: s}; return cs }})
			if tc.recorded {
				v, err := e.db.CheckAndRecordBlock(context.Background(), slashprotect.BlockRequest{
					Pubkey: e.keys[2], Slot: slot + tc.recordAhead, SigningRoot: phase0.Root{0xbe, 0xef}})
				require.NoError(t, err)
				require.True(t, v.Allowed)
			}
			// Start mid-slot, as a restarted process does.
			e.clock.Set(e.at(start, 1, 2))
			e.run()
			if tc.startBefore {
				e.clock.Set(e.at(slot, 1, 2))
			}
			if tc.wantPropose {
				e.waitCalls(dutiestest.CallSubmitProposal, 1)
				return
			}
			if tc.wantFatal {
				select {
				case err := <-e.done:
					require.ErrorIs(t, err, duties.ErrConcurrentSigner)
					e.done <- err // for the cleanup
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not stop")
				}
				require.Zero(t, e.node.Count(dutiestest.CallProposal))
				return
			}
			require.Eventually(t, func() bool { return cs.checked.Load() >= 1 }, 10*time.Second, 2*time.Millisecond)
			require.Zero(t, e.node.Count(dutiestest.CallProposal), "no block produced for a slot already signed")
			require.Zero(t, e.node.Count(dutiestest.CallSubmitProposal))
		})
	}
}
