package slashprotect_test

import (
	"context"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// TestRunPruning runs the online pruner on a fake clock: nothing is pruned
// before the next epoch starts, then history beyond the horizon goes at each
// pass while the records the horizon keeps stay.
func TestRunPruning(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	db, err := slashprotect.Open(ctx, sqliteURL(t), slashprotect.WithGenesisValidatorsRoot(phase0.Root{1}))
	require.NoError(t, err)
	defer db.Close()
	pk := phase0.BLSPubKey{0xaa}
	record := func(from, to phase0.Epoch) {
		for e := from; e < to; e++ {
			v, err := db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{{Pubkey: pk, SourceEpoch: e, TargetEpoch: e + 1, SigningRoot: phase0.Root{byte(e)}}})
			require.NoError(t, err)
			require.True(t, v[0].Allowed)
		}
	}
	count := func() int {
		h, err := db.History(ctx, pk, 0)
		require.NoError(t, err)
		return h.TotalAttestations
	}
	record(0, 40)

	genesis := time.Unix(1_700_000_000, 0)
	fake := slotclocktest.NewFake(genesis.Add(5 * 12 * time.Second)) // slot 5 of epoch 0
	clock, err := slotclock.New(fake, genesis, 12*time.Second, 32)
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.RunPruning(ctx, clock, slashprotect.PruneOptions{KeepEpochs: 10}, 2)
	}()

	epochStart := func(e phase0.Epoch) time.Time { return clock.SlotStart(clock.FirstSlot(e)) }
	require.True(t, fake.WaitForTimer(ctx, epochStart(1)), "the first pass waits for the next epoch")
	require.Equal(t, 40, count(), "nothing pruned before then")
	fake.Set(epochStart(1))
	require.True(t, fake.WaitForTimer(ctx, epochStart(3)), "the next pass is `every` epochs later")
	require.Equal(t, 11, count(), "targets 30..40 kept: within 10 epochs of the latest")

	record(40, 50)
	fake.Set(epochStart(3))
	require.True(t, fake.WaitForTimer(ctx, epochStart(5)))
	require.Equal(t, 11, count())
	cancel()
	<-done
}

func TestRunPruningDisabled(t *testing.T) {
	db, err := slashprotect.Open(t.Context(), sqliteURL(t))
	require.NoError(t, err)
	defer db.Close()
	clock, err := slotclock.New(slotclocktest.NewFake(time.Unix(1_700_000_000, 0)), time.Unix(1_700_000_000, 0), 12*time.Second, 32)
	require.NoError(t, err)
	// Returns at once instead of waiting for an epoch that never comes.
	db.RunPruning(t.Context(), clock, slashprotect.PruneOptions{KeepEpochs: 0}, 64)
	db.RunPruning(t.Context(), clock, slashprotect.PruneOptions{KeepEpochs: 10}, 0)
}
