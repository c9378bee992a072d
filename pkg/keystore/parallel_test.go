package keystore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

func TestEncryptDecryptAll(t *testing.T) {
	keys := make([]*keystore.Key, 9)
	for i := range keys {
		keys[i] = fixtureKey(t, uint32(i))
	}
	params := keystore.EncryptParams{KDF: keystore.KDFScrypt, Cost: 1 << 6}
	var calls []int
	stores, errs := keystore.EncryptAll(context.Background(), keys, "pw", params, 3, func(done, total int) {
		require.Equal(t, len(keys), total)
		calls = append(calls, done)
	})
	require.Equal(t, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}, calls)
	for _, err := range errs {
		require.NoError(t, err)
	}

	jobs := make([]keystore.DecryptJob, len(stores))
	for i, ks := range stores {
		jobs[i] = keystore.DecryptJob{Keystore: ks, Password: "pw"}
	}
	jobs[4].Password = "wrong"
	got, errs := keystore.DecryptAll(context.Background(), jobs, 0, nil)
	for i := range jobs {
		if i == 4 {
			require.ErrorIs(t, errs[i], keystore.ErrWrongPassword)
			require.Nil(t, got[i])
			continue
		}
		require.NoError(t, errs[i])
		require.Equal(t, keys[i].Pubkey, got[i].Pubkey)
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, errs := keystore.DecryptAll(ctx, jobs, 2, nil)
		for _, err := range errs {
			require.ErrorIs(t, err, context.Canceled)
		}
	})
	t.Run("empty", func(t *testing.T) {
		got, errs := keystore.DecryptAll(context.Background(), nil, 0, nil)
		require.Empty(t, got)
		require.Empty(t, errs)
	})
}

// BenchmarkDecryptAll reports keys/s for 1 and 2 workers at scrypt n=2^14
// (16 MiB, ~1/16 of the EIP-2335 default, so a run takes seconds); the ratio
// of the two is the scaling figure.
func BenchmarkDecryptAll(b *testing.B) {
	const batch = 8
	params := keystore.EncryptParams{KDF: keystore.KDFScrypt, Cost: 1 << 14}
	jobs := make([]keystore.DecryptJob, batch)
	for i := range jobs {
		ks, err := keystore.Encrypt(fixtureKey(b, uint32(i)), "pw", params)
		require.NoError(b, err)
		jobs[i] = keystore.DecryptJob{Keystore: ks, Password: "pw"}
	}
	for _, workers := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			for b.Loop() {
				_, errs := keystore.DecryptAll(context.Background(), jobs, workers, nil)
				require.NoError(b, errs[0])
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}
