package signer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
)

// TestFutureGuard: blocks and attestations up to one epoch ahead of the wall
// clock sign; beyond that they are refused and not recorded.
func TestFutureGuard(t *testing.T) {
	ctx := context.Background()
	const spe = 8
	tests := []struct {
		name  string
		clock phase0.Slot
		slot  phase0.Slot
		block bool
		want  error
	}{
		{"attestation now", 20, 20, false, nil},
		{"attestation exactly one epoch ahead", 20, 28, false, nil},
		{"attestation more than one epoch ahead", 20, 29, false, signer.ErrFuture},
		{"attestation two epochs ahead", 20, 32, false, signer.ErrFuture},
		{"attestation far ahead", 20, 20 + 1000*spe, false, signer.ErrFuture},
		{"attestation before genesis for slot 0", 0, 0, false, nil},
		{"block now", 20, 20, true, nil},
		{"block exactly one epoch ahead", 20, 20 + spe, true, nil},
		{"block more than one epoch ahead", 20, 20 + spe + 1, true, signer.ErrFuture},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{opts: []signer.Option{signer.WithMaxGapEpochs(0)}})
			e.at(tc.clock)
			var err error
			if tc.block {
				epoch := int(uint64(tc.slot) / spe)
				f := allForks()[min(epoch, 6)]
				_, err = e.s.SignBeaconBlock(ctx, e.pks[0], f.full(tc.slot))
			} else {
				source := phase0.Epoch(0)
				_, err = e.s.SignAttestation(ctx, e.pks[0], att(e.spec, tc.slot, source, 1))
			}
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.Equal(t, 1, e.obs.RefusedCount(signer.ReasonFuture))
			_, herr := e.store.History(ctx, e.pks[0], 0)
			require.Error(t, herr, "nothing recorded for a refused future message")
		})
	}
}

// TestLongGap: with a limit of 10 epochs, a message more than 10 epochs after
// the key's latest record is refused unless overridden; the latest record is
// read from the database by a fresh signer too.
func TestLongGap(t *testing.T) {
	ctx := context.Background()
	const spe = 8
	sp := *chaintest.Spec(genesis)
	tests := []struct {
		name     string
		override bool
		restart  bool // sign the second message with a new signer on the same database
		second   phase0.Epoch
		block    bool
		want     error
	}{
		{name: "within the limit", second: 12},
		{name: "at the limit", second: 13},
		{name: "beyond the limit", second: 14, want: signer.ErrLongGap},
		{name: "beyond the limit after restart", second: 14, restart: true, want: signer.ErrLongGap},
		{name: "block beyond the limit", second: 14, block: true, want: signer.ErrLongGap},
		{name: "override", second: 100, override: true},
		{name: "override after restart", second: 100, override: true, restart: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
			clock := signertest.NewClock(genesis)
			newSigner := func(override bool) *signer.Signer {
				opts := []signer.Option{
					signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(signertest.Key(t, 0)),
					signer.WithClock(clock.Now), signer.WithMaxGapEpochs(10), signer.WithLogger(slog.New(slog.DiscardHandler)),
				}
				if override {
					opts = append(opts, signer.WithLongGapOverride())
				}
				s, err := signer.New(ctx, opts...)
				require.NoError(t, err)
				t.Cleanup(func() { _ = s.Close() })
				return s
			}
			pk := signertest.Key(t, 0).Pubkey
			s := newSigner(tc.override && !tc.restart)
			clock.Set(genesis.Add(sp.SlotDuration * 3 * spe))
			_, err := s.SignAttestation(ctx, pk, att(sp, 3*spe, 2, 1))
			require.NoError(t, err)

			if tc.restart {
				s = newSigner(tc.override)
			}
			slot := phase0.Slot(uint64(tc.second) * spe)
			clock.Set(genesis.Add(sp.SlotDuration * time.Duration(slot)))
			if tc.block {
				_, err = s.SignBeaconBlock(ctx, pk, allForks()[6].full(slot))
			} else {
				_, err = s.SignAttestation(ctx, pk, att(sp, slot, 3, 2))
			}
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, signer.ErrRefused)
		})
	}
}
