package duties

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
)

// BenchmarkAttestationSlot313 measures one mainnet slot of a 10,000-key
// operator (10,000 / 32 ≈ 313 attesters in 64 committees) from attestation
// data to submission against the in-process fake node: 64 data fetches, one
// signer batch (one durable SQLite commit, parallel BLS), one submission.
// "interleaved" alternates it with pure parallel BLS signing of 313 roots on
// the same cores and reports the ratio (target ≤ 1.2).
//
//	go test ./pkg/duties -run '^$' -bench AttestationSlot313 -benchtime 20x
func BenchmarkAttestationSlot313(b *testing.B) {
	const n, committees = 313, 64
	ctx := context.Background()
	genesis := time.Unix(1_700_000_000, 0)
	sp := chaintest.Spec(genesis)
	sp.SlotDuration, sp.SlotsPerEpoch = 12*time.Second, 32
	sp.Electra.Epoch, sp.Fulu.Epoch = chain.FarFutureEpoch, chain.FarFutureEpoch
	keys := signertest.Keys(b, n)
	clock := slotclocktest.NewFake(genesis)
	ch := chaintest.Chain(b, sp, clock)
	db := signertest.OpenSQLite(b, sp.GenesisValidatorsRoot)
	sgn, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(ch),
		signer.WithKeys(signertest.Keys(b, n)...), signer.WithClock(clock.Now), signer.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(b, err)
	b.Cleanup(func() { _ = sgn.Close() })
	node := dutiestest.New(sp, clock.Now)
	pubkeys := make([]phase0.BLSPubKey, n)
	for i, k := range keys {
		pubkeys[i] = k.Pubkey
		node.Known[k.Pubkey] = phase0.ValidatorIndex(i)
	}
	s, err := New(WithBeaconNode(node), WithSigner(sgn), WithChain(ch), WithPubkeys(pubkeys...),
		WithFeeRecipient(bellatrix.ExecutionAddress{1}), WithDoppelgangerEpochs(0), WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(b, err)
	require.NoError(b, s.roster.refresh(ctx, node, 0, s.log))

	epoch := phase0.Epoch(1)
	attest := func() {
		slot := phase0.Slot(uint64(epoch) * 32)
		clock.Set(genesis.Add(time.Duration(slot) * sp.SlotDuration))
		duties := make([]*apiv1.AttesterDuty, n)
		for i := range duties {
			duties[i] = &apiv1.AttesterDuty{PubKey: pubkeys[i], Slot: slot, ValidatorIndex: phase0.ValidatorIndex(i),
				CommitteeIndex: phase0.CommitteeIndex(i % committees), CommitteeLength: 8, CommitteesAtSlot: committees, ValidatorCommitteeIndex: uint64(i / committees)}
		}
		require.Len(b, s.att.attest(ctx, slot, duties, runStart{}), n)
		epoch++
	}
	attest() // the first batch also loads each key's history for the long-gap guard

	roots := make([]phase0.Root, n)
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
					if i >= n {
						return
					}
					_ = keys[i].Secret.SignByte(roots[i][:]).Serialize()
				}
			})
		}
		wg.Wait()
	}
	b.Run("duties", func(b *testing.B) {
		for b.Loop() {
			attest()
		}
	})
	b.Run("interleaved", func(b *testing.B) {
		var pipe, pure time.Duration
		count := 0
		for b.Loop() {
			// Alternate which goes first, so load from other processes (and
			// what the previous run left behind) hits both alike.
			if count%2 == 0 {
				pipe += timed(attest)
				pure += timed(blsOnly)
			} else {
				pure += timed(blsOnly)
				pipe += timed(attest)
			}
			count++
		}
		b.ReportMetric(float64(pipe.Nanoseconds())/float64(count), "duties-ns/slot")
		b.ReportMetric(float64(pure.Nanoseconds())/float64(count), "bls-ns/slot")
		b.ReportMetric(float64(pipe)/float64(pure), "ratio")
	})
}

// timed runs f and returns how long it took.
func timed(f func()) time.Duration {
	t0 := time.Now()
	f()
	return time.Since(t0)
}
