package vaultstore_test

import (
	"context"
	"encoding/hex"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// benchKeys is the number of validators the load benchmarks store. The
// population (20,000 requests) happens only when a benchmark runs, i.e. under
// -bench, so ordinary `go test` stays fast.
const (
	benchKeys    = 10_000
	benchReaders = 16
)

type benchFixture struct {
	v     *testharness.Vault
	s     *vaultstore.Store
	cfg   vaultstore.Config
	paths []string
	pks   []phase0.BLSPubKey
}

func newBenchFixture(b *testing.B) *benchFixture {
	b.Helper()
	v := testharness.StartVault(b)
	cfg := vaultstore.Config{Address: v.Addr, Token: v.RootToken, Parallelism: benchReaders}
	s, err := vaultstore.New(b.Context(), cfg)
	require.NoError(b, err)
	keys := randomKeys(b, benchKeys)
	start := time.Now()
	putAll(b, s, keys)
	b.Logf("stored %d keys in %s", len(keys), time.Since(start).Round(time.Millisecond))
	f := &benchFixture{v: v, s: s, cfg: cfg, pks: pubkeys(keys)}
	for _, pk := range f.pks {
		f.paths = append(f.paths, s.Location()+"/0x"+hex.EncodeToString(pk[:]))
	}
	for _, k := range keys {
		k.Zero()
	}
	return f
}

// rawReader reads KV v2 secrets with Vault's own client and nothing else: the
// server's parallel read rate that vigil's Load is measured against. It gets
// the same connection pool size as the store, so the comparison is fair.
func rawReader(b *testing.B, f *benchFixture) *api.Client {
	b.Helper()
	cfg := api.DefaultConfig()
	cfg.Address = f.v.Addr
	cfg.HttpClient.Transport.(*http.Transport).MaxIdleConnsPerHost = 2 * benchReaders
	c, err := api.NewClient(cfg)
	require.NoError(b, err)
	c.SetToken(f.v.RootToken)
	return c
}

// readAll reads every path once with benchReaders goroutines.
func readAll(b *testing.B, c *api.Client, paths []string) {
	var wg sync.WaitGroup
	next := make(chan string)
	errs := make(chan error, benchReaders)
	for range benchReaders {
		wg.Go(func() {
			for p := range next {
				sec, err := c.Logical().ReadWithContext(context.Background(), p)
				if err == nil && (sec == nil || sec.Data["data"] == nil) {
					err = keystore.ErrNotFound
				}
				if err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			}
		})
	}
	for _, p := range paths {
		next <- p
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		b.Fatal(err)
	default:
	}
}

// BenchmarkVaultLoad10k measures a validator client's start: list the public
// keys and load all 10,000 keys into signing-ready form (each secret parsed
// and checked against its public key). In the same loop, untimed, it measures
// the raw parallel read rate of the same server, and reports both and their
// ratio.
func BenchmarkVaultLoad10k(b *testing.B) {
	f := newBenchFixture(b)
	raw := rawReader(b, f)
	ctx := b.Context()
	var rawTime time.Duration
	loads := 0
	for b.Loop() {
		b.StopTimer()
		start := time.Now()
		readAll(b, raw, f.paths)
		rawTime += time.Since(start)
		b.StartTimer()

		pks, err := f.s.Pubkeys(ctx)
		if err != nil {
			b.Fatal(err)
		}
		keys, err := f.s.Load(ctx, pks)
		if err != nil {
			b.Fatal(err)
		}
		if len(keys) != benchKeys {
			b.Fatalf("loaded %d keys, want %d", len(keys), benchKeys)
		}
		for _, k := range keys {
			k.Zero()
		}
		loads++
	}
	keysPerSec := float64(loads*benchKeys) / b.Elapsed().Seconds()
	rawPerSec := float64(loads*benchKeys) / rawTime.Seconds()
	b.ReportMetric(keysPerSec, "keys/s")
	b.ReportMetric(rawPerSec, "raw_reads/s")
	b.ReportMetric(keysPerSec/rawPerSec, "load/raw")
}

// BenchmarkVaultLoadAll10k measures keystore.LoadAll, which lists with
// metadata (one read per key) before loading, so it makes twice the requests
// of BenchmarkVaultLoad10k.
func BenchmarkVaultLoadAll10k(b *testing.B) {
	f := newBenchFixture(b)
	ctx := b.Context()
	loads := 0
	for b.Loop() {
		keys, err := keystore.LoadAll(ctx, f.s)
		if err != nil {
			b.Fatal(err)
		}
		for _, k := range keys {
			k.Zero()
		}
		loads++
	}
	b.ReportMetric(float64(loads*benchKeys)/b.Elapsed().Seconds(), "keys/s")
}

// BenchmarkVaultRawRead measures the server's raw parallel KV v2 read rate
// with benchReaders readers using Vault's own client.
func BenchmarkVaultRawRead(b *testing.B) {
	f := newBenchFixture(b)
	raw := rawReader(b, f)
	passes := 0
	for b.Loop() {
		readAll(b, raw, f.paths)
		passes++
	}
	b.ReportMetric(float64(passes*benchKeys)/b.Elapsed().Seconds(), "reads/s")
}
