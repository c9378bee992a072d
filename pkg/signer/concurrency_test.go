package signer_test

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

type released struct {
	pk   phase0.BLSPubKey
	rec  slashprotect.SignedAttestation
	sig  phase0.BLSSignature
	data *phase0.AttestationData
}

// TestConcurrentSigning races many goroutines sending conflicting batches,
// blocks and key removals at one signer, then checks that no two released
// attestations of a key are slashable together, no slot got two blocks, and
// released signatures verify. Run with -race.
func TestConcurrentSigning(t *testing.T) {
	ctx := context.Background()
	const keys, goroutines, rounds = 6, 12, 15
	e := newEnv(t, envConfig{keys: keys, opts: []signer.Option{signer.WithWorkers(4)}})
	e.at(12 * 8)

	var (
		mu     sync.Mutex
		atts   []released
		blocks = map[phase0.BLSPubKey]map[phase0.Slot]phase0.BLSSignature{}
	)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for range rounds {
				target := phase0.Epoch(1 + rng.IntN(10))
				source := phase0.Epoch(rng.IntN(int(target)))
				data := att(e.spec, phase0.Slot(uint64(target)*8), source, byte(g))
				duties := make([]signer.AttestationDuty, keys)
				for i := range duties {
					duties[i] = signer.AttestationDuty{Pubkey: e.pks[i], Data: data}
				}
				res, err := e.s.SignAttestations(ctx, duties)
				assert.NoError(t, err)
				root := attRoot(t, e.spec, testVersionAt(e.spec, target), data)
				mu.Lock()
				for i, r := range res {
					if r.Err == nil {
						atts = append(atts, released{pk: e.pks[i], sig: r.Signature, data: data,
							rec: slashprotect.SignedAttestation{SourceEpoch: source, TargetEpoch: target, SigningRoot: &root}})
					}
				}
				mu.Unlock()

				slot := phase0.Slot(8*4 + rng.IntN(8)) // deneb
				k := rng.IntN(keys)
				block := allForks()[4].full(slot)
				sig, err := e.s.SignBeaconBlock(ctx, e.pks[k], block)
				if err == nil {
					mu.Lock()
					if blocks[e.pks[k]] == nil {
						blocks[e.pks[k]] = map[phase0.Slot]phase0.BLSSignature{}
					}
					if prev, ok := blocks[e.pks[k]][slot]; ok {
						assert.Equal(t, prev, sig, "a slot is signed for one block only")
					}
					blocks[e.pks[k]][slot] = sig
					mu.Unlock()
				}
			}
		})
	}
	// Keys come and go while the batches run.
	wg.Go(func() {
		for i := range 40 {
			k := signertest.Key(t, 100+i%3)
			assert.NoError(t, e.s.AddKeys(k))
			_, _ = e.s.SignRANDAOReveal(ctx, k.Pubkey, 3)
			e.s.RemoveKeys(k.Pubkey)
		}
	})
	wg.Wait()

	require.NotEmpty(t, atts)
	require.Positive(t, e.obs.RefusedCount(signer.RuleReason(slashprotect.RuleDoubleVote)), "the race produced conflicts to refuse")
	byKey := map[phase0.BLSPubKey][]released{}
	for _, a := range atts {
		byKey[a.pk] = append(byKey[a.pk], a)
	}
	for pk, list := range byKey {
		for i := range list {
			for j := i + 1; j < len(list); j++ {
				require.False(t, slashprotecttest.SlashableAttestations(list[i].rec, list[j].rec),
					"%x released slashable attestations %+v and %+v", pk[:4], list[i].rec, list[j].rec)
			}
		}
	}
	for _, a := range atts[:min(len(atts), 20)] {
		verify(t, a.pk, *a.rec.SigningRoot, a.sig)
	}
}
