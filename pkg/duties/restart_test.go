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

// checkingSigner counts completed BlockRecorded checks.
type checkingSigner struct {
	*countingSigner
	checked atomic.Int64
}

func (c *checkingSigner) BlockRecorded(ctx context.Context, pk phase0.BLSPubKey, slot phase0.Slot) (bool, error) {
	defer c.checked.Add(1)
	return c.countingSigner.BlockRecorded(ctx, pk, slot)
}

// TestRestartMidSlotProposal: a run started in a slot whose block its
// predecessor already signed does not ask the node for another block (it
// could not sign a different one, and the same one was broadcast already),
// while a slot without a recorded block is proposed as usual.
func TestRestartMidSlotProposal(t *testing.T) {
	tests := []struct {
		name        string
		recorded    bool
		wantPropose bool
	}{
		{name: "block already recorded for the slot", recorded: true},
		{name: "nothing recorded", wantPropose: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slot := phase0.Slot(uint64(denebEpoch)*8 + 3)
			var cs *checkingSigner
			e := newEnv(t, envConfig{validators: 4, startSlot: slot,
				configure:  func(n *dutiestest.Node) { n.Proposers[slot] = 2 },
				wrapSigner: func(s *countingSigner) duties.Signer { cs = &checkingSigner{countingSigner: s}; return cs }})
			if tc.recorded {
				v, err := e.db.CheckAndRecordBlock(context.Background(), slashprotect.BlockRequest{
					Pubkey: e.keys[2], Slot: slot, SigningRoot: phase0.Root{0xbe, 0xef}})
				require.NoError(t, err)
				require.True(t, v.Allowed)
			}
			// Start mid-slot, as a restarted process does.
			e.clock.Set(e.at(slot, 1, 2))
			e.run()
			if tc.wantPropose {
				e.waitCalls(dutiestest.CallSubmitProposal, 1)
				return
			}
			require.Eventually(t, func() bool { return cs.checked.Load() >= 1 }, 10*time.Second, 2*time.Millisecond)
			require.Zero(t, e.node.Count(dutiestest.CallProposal), "no block produced for a slot already signed")
			require.Zero(t, e.node.Count(dutiestest.CallSubmitProposal))
		})
	}
}
