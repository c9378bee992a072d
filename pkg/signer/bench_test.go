package signer_test

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
)

// batch313 is one mainnet slot's attestations for 10,000 validators
// (10,000 / 32 ≈ 313), spread over 64 committees.
const batch313, committees = 313, 64

// BenchmarkAttestationBatch313 compares the whole signing pipeline (signing
// roots, guards, one durable SQLite commit, parallel BLS) with pure parallel
// BLS signing of the same 313 roots on the same cores (GOMAXPROCS workers).
// Each iteration signs a new epoch, so every record is a real insert.
//
//	go test ./pkg/signer -run '^$' -bench AttestationBatch313 -count 3
func BenchmarkAttestationBatch313(b *testing.B) {
	ctx := context.Background()
	sp := signertest.ChainSpec(genesis)
	sp.SlotDuration, sp.SlotsPerEpoch = 12*time.Second, 32
	keys := signertest.Keys(b, batch313)

	dutiesAt := func(epoch phase0.Epoch) []signer.AttestationDuty {
		slot := phase0.Slot(uint64(epoch) * sp.SlotsPerEpoch)
		data := make([]*phase0.AttestationData, committees)
		for c := range data {
			data[c] = &phase0.AttestationData{
				Slot: slot, Index: phase0.CommitteeIndex(c), BeaconBlockRoot: phase0.Root{byte(epoch), byte(epoch >> 8), 1},
				Source: &phase0.Checkpoint{Epoch: epoch - 1, Root: phase0.Root{2}},
				Target: &phase0.Checkpoint{Epoch: epoch, Root: phase0.Root{byte(epoch), byte(epoch >> 8), 3}},
			}
		}
		duties := make([]signer.AttestationDuty, batch313)
		for i := range duties {
			duties[i] = signer.AttestationDuty{Pubkey: keys[i].Pubkey, Data: data[i%committees]}
		}
		return duties
	}

	b.Run("pipeline", func(b *testing.B) {
		db := signertest.OpenSQLite(b, sp.GenesisValidatorsRoot)
		clock := signertest.NewClock(genesis)
		s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChainSpec(sp),
			signer.WithKeys(signertest.Keys(b, batch313)...), signer.WithClock(clock.Now),
			signer.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(b, err)
		defer s.Close()
		epoch := phase0.Epoch(1)
		sign := func() {
			clock.Set(genesis.Add(sp.SlotDuration * time.Duration(uint64(epoch)*sp.SlotsPerEpoch)))
			res, err := s.SignAttestations(ctx, dutiesAt(epoch))
			require.NoError(b, err)
			for _, r := range res {
				require.NoError(b, r.Err)
			}
			epoch++
		}
		sign() // first batch also loads each key's history for the long-gap guard
		b.ResetTimer()
		for b.Loop() {
			sign()
		}
	})

	b.Run("bls-only", func(b *testing.B) {
		roots := make([]phase0.Root, batch313)
		for i := range roots {
			roots[i] = phase0.Root{byte(i), byte(i >> 8), 0xaa}
		}
		workers := runtime.GOMAXPROCS(0)
		for b.Loop() {
			var next atomic.Int64
			var wg sync.WaitGroup
			for range workers {
				wg.Go(func() {
					for {
						i := int(next.Add(1) - 1)
						if i >= batch313 {
							return
						}
						_ = keys[i].Secret.SignByte(roots[i][:]).Serialize()
					}
				})
			}
			wg.Wait()
		}
	})
}
