package slotclock_test

import (
	"context"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
)

var genesis = time.Unix(1_606_824_023, 0) // mainnet genesis

func TestSlotMath(t *testing.T) {
	fake := slotclocktest.NewFake(genesis)
	c, err := slotclock.New(fake, genesis, 12*time.Second, 32)
	require.NoError(t, err)
	tests := []struct {
		name      string
		at        time.Time
		wantSlot  phase0.Slot
		wantEpoch phase0.Epoch
	}{
		{name: "before genesis", at: genesis.Add(-time.Hour), wantSlot: 0, wantEpoch: 0},
		{name: "genesis", at: genesis, wantSlot: 0, wantEpoch: 0},
		{name: "end of slot 0", at: genesis.Add(12*time.Second - 1), wantSlot: 0},
		{name: "slot 32 starts epoch 1", at: genesis.Add(32 * 12 * time.Second), wantSlot: 32, wantEpoch: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.wantSlot, c.SlotAt(tc.at))
			require.Equal(t, tc.wantEpoch, c.EpochOf(c.SlotAt(tc.at)))
		})
	}
	require.Equal(t, genesis.Add(12*time.Second+4*time.Second), c.SlotFraction(1, 1, 3))
	require.Equal(t, genesis.Add(12*time.Second+8*time.Second), c.SlotFraction(1, 2, 3))
	require.Equal(t, phase0.Slot(63), c.LastSlot(1))
}

func TestFakeClock(t *testing.T) {
	fake := slotclocktest.NewFake(genesis)
	early, late := fake.NewTimer(time.Second), fake.NewTimer(time.Minute)
	stopped := fake.NewTimer(time.Second)
	require.True(t, stopped.Stop())
	require.Len(t, fake.Pending(), 2)
	fake.Advance(time.Second)
	require.Equal(t, genesis.Add(time.Second), <-early.C())
	select {
	case <-late.C():
		t.Fatal("late timer fired early")
	case <-stopped.C():
		t.Fatal("stopped timer fired")
	default:
	}
	require.True(t, fake.WaitForTimer(context.Background(), genesis.Add(time.Minute)))
	fake.Set(genesis) // never backwards
	require.Equal(t, genesis.Add(time.Second), fake.Now())

	c, err := slotclock.New(fake, genesis, 12*time.Second, 32)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- c.SleepUntil(context.Background(), genesis.Add(2*time.Minute)) }()
	require.True(t, fake.WaitForTimer(context.Background(), genesis.Add(2*time.Minute)))
	fake.Advance(2 * time.Minute)
	require.NoError(t, <-done)

	ctx, cancel := slotclock.WithDeadline(context.Background(), fake, fake.Now().Add(time.Second))
	defer cancel()
	require.True(t, fake.WaitForTimer(context.Background(), fake.Now().Add(time.Second)))
	fake.Advance(time.Second)
	<-ctx.Done()
	require.ErrorIs(t, context.Cause(ctx), context.DeadlineExceeded)
}
