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

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
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
	sp := *chaintest.Spec(genesis)
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

	newPipeline := func(b *testing.B) func() {
		db := signertest.OpenSQLite(b, sp.GenesisValidatorsRoot)
		clock := signertest.NewClock(genesis)
		s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)),
			signer.WithKeys(signertest.Keys(b, batch313)...), signer.WithClock(clock.Now),
			signer.WithLogger(slog.New(slog.DiscardHandler)))
		require.NoError(b, err)
		b.Cleanup(func() { _ = s.Close() })
		epoch := phase0.Epoch(1)
		sign := func() {
			duties := dutiesAt(epoch)
			clock.Set(genesis.Add(sp.SlotDuration * time.Duration(uint64(epoch)*sp.SlotsPerEpoch)))
			res, err := s.SignAttestations(ctx, duties)
			require.NoError(b, err)
			for _, r := range res {
				require.NoError(b, r.Err)
			}
			epoch++
		}
		sign() // the first batch also loads each key's history for the long-gap guard
		return sign
	}

	roots := make([]phase0.Root, batch313)
	for i := range roots {
		roots[i] = phase0.Root{byte(i), byte(i >> 8), 0xaa}
	}
	blsOnly := func() {
		var next atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
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

	b.Run("pipeline", func(b *testing.B) {
		sign := newPipeline(b)
		b.ResetTimer()
		for b.Loop() {
			sign()
		}
	})
	b.Run("bls-only", func(b *testing.B) {
		for b.Loop() {
			blsOnly()
		}
	})
	// interleaved runs both in every iteration, first one then the other
	// first, so that load from other processes on a shared machine (and
	// whatever the previous run left behind, such as SQLite's fsync) hits
	// both alike; it reports both times and their ratio.
	b.Run("interleaved", func(b *testing.B) {
		sign := newPipeline(b)
		var pipe, pure time.Duration
		n := 0
		b.ResetTimer()
		for b.Loop() {
			if n%2 == 0 {
				pipe += timed(sign)
				pure += timed(blsOnly)
			} else {
				pure += timed(blsOnly)
				pipe += timed(sign)
			}
			n++
		}
		b.ReportMetric(float64(pipe.Nanoseconds())/float64(n), "pipeline-ns/batch")
		b.ReportMetric(float64(pure.Nanoseconds())/float64(n), "bls-ns/batch")
		b.ReportMetric(float64(pipe)/float64(pure), "ratio")
	})
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}
