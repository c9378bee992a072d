package slashprotect_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

// slotBatch is one slot's attestations with 10,000 validators: 10,000 / 32.
const slotBatch = 313

// benchSlotBatch measures one slot batch (313 attestations, one durable
// commit) in steady state: every iteration is the next slot, every validator
// attests once per epoch. It reports the p50 and p99 latency.
func benchSlotBatch(b *testing.B, url string) {
	ctx := context.Background()
	db, err := slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(slashprotecttest.Network))
	require.NoError(b, err)
	defer db.Close()
	slot := 0
	batch := func() {
		epoch := uint64(slot/32 + 1)
		reqs := make([]slashprotect.AttestationRequest, slotBatch)
		for j := range reqs {
			reqs[j] = slashprotecttest.Att(slashprotecttest.PK((slot%32)*slotBatch+j), epoch-1, epoch, slot*slotBatch+j)
		}
		vs, err := db.CheckAndRecordAttestations(ctx, reqs)
		require.NoError(b, err)
		require.True(b, vs[0].Allowed)
		slot++
	}
	// Warm up: one epoch registers every validator and gives it history.
	for range 64 {
		batch()
	}
	measureBatches(b, batch)
}

// measureBatches runs batch b.N times and reports the p50 and p99 latency and
// the CPU time per batch.
func measureBatches(b *testing.B, batch func()) {
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	cpu0 := processCPU(b)
	for range b.N {
		start := time.Now()
		batch()
		durations = append(durations, time.Since(start))
	}
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	slices.Sort(durations)
	pct := func(p float64) float64 {
		return float64(durations[min(len(durations)-1, int(p*float64(len(durations))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	// CPU per batch is what competes with BLS signing on the same cores; the
	// latency also holds the fsync, which costs no CPU.
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// processCPU is the user and system CPU time this process has used, in all
// its threads (cgo included).
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkSlotBatch313(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchSlotBatch(b, sqliteURL(b)) })
	b.Run("postgres", func(b *testing.B) { benchSlotBatch(b, testharness.Postgres(b)) })
}

// deepHistory is how many epochs of attestations each validator of
// BenchmarkSlotBatch313Deep has recorded: a long-running validator's history
// within a typical prune horizon.
const deepHistory = 1024

// benchDeepBatch measures a slot batch of validators with a long history
// (imported), so that any query scanning a validator's history shows: each
// iteration is the next epoch for the same 313 validators.
func benchDeepBatch(b *testing.B, url string) {
	ctx := context.Background()
	file := writeLargeInterchange(b, slotBatch, deepHistory, 0)
	db, err := slashprotect.Open(ctx, url)
	require.NoError(b, err)
	defer db.Close()
	f, err := os.Open(file)
	require.NoError(b, err)
	net, timing := slashprotecttest.Network, slashprotecttest.NetworkTiming()
	_, err = db.Import(ctx, f, slashprotect.ImportOptions{GenesisValidatorsRoot: &net, Timing: &timing})
	require.NoError(b, err)
	require.NoError(b, f.Close())
	epoch := uint64(deepHistory + 1)
	batch := func() {
		reqs := make([]slashprotect.AttestationRequest, slotBatch)
		for j := range reqs {
			reqs[j] = slashprotecttest.Att(slashprotecttest.PK(j), epoch-1, epoch, int(epoch)*slotBatch+j)
		}
		vs, err := db.CheckAndRecordAttestations(ctx, reqs)
		require.NoError(b, err)
		require.True(b, vs[0].Allowed, "%v", vs[0].Err())
		epoch++
	}
	for range 8 {
		batch()
	}
	measureBatches(b, batch)
}

func BenchmarkSlotBatch313Deep(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { benchDeepBatch(b, sqliteURL(b)) })
	b.Run("postgres", func(b *testing.B) { benchDeepBatch(b, testharness.Postgres(b)) })
}

// writeLargeInterchange streams a complete interchange file of n validators,
// each with atts attestations and blocks blocks, to a temporary file.
func writeLargeInterchange(b *testing.B, n, atts, blocks int) string {
	name := filepath.Join(b.TempDir(), "interchange.json")
	f, err := os.Create(name)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	enc := interchange.NewEncoder(w, slashprotecttest.Network)
	v := &interchange.Validator{
		SignedBlocks:       make([]interchange.Block, blocks),
		SignedAttestations: make([]interchange.Attestation, atts),
	}
	roots := make([]phase0.Root, atts+blocks)
	for i := range n {
		v.Pubkey = slashprotecttest.PK(i)
		for j := range atts {
			roots[j] = slashprotecttest.Root(i*7 + j)
			v.SignedAttestations[j] = interchange.Attestation{SourceEpoch: phase0.Epoch(j), TargetEpoch: phase0.Epoch(j + 1), SigningRoot: &roots[j]}
		}
		for j := range blocks {
			roots[atts+j] = slashprotecttest.Root(i*11 + j)
			v.SignedBlocks[j] = interchange.Block{Slot: phase0.Slot(j*320 + i%32), SigningRoot: &roots[atts+j]}
		}
		require.NoError(b, enc.Write(v))
	}
	require.NoError(b, enc.Close())
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
	return name
}

// peakRSS is the process's peak resident set size (VmHWM) in MiB.
func peakRSS(b *testing.B) float64 {
	data, err := os.ReadFile("/proc/self/status")
	require.NoError(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			require.NoError(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// BenchmarkImportLarge imports a complete interchange of
// VIGIL_BENCH_IMPORT_VALIDATORS (10,000) validators with 1,000 attestations
// and 100 blocks each (10^7 attestations, about 1.5 GB of JSON). It is heavy,
// so it runs only with VIGIL_BENCH_IMPORT=sqlite or postgres; run it with
// -benchtime=1x in its own process so that peak-rss-MiB is the import's.
func BenchmarkImportLarge(b *testing.B) {
	backend := os.Getenv("VIGIL_BENCH_IMPORT")
	if backend == "" {
		b.Skip("set VIGIL_BENCH_IMPORT=sqlite or postgres to run the 10^7-record import benchmark")
	}
	n := envInt("VIGIL_BENCH_IMPORT_VALIDATORS", 10_000)
	file := writeLargeInterchange(b, n, 1000, 100)
	fi, err := os.Stat(file)
	require.NoError(b, err)
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		url := sqliteURL(b)
		if backend == "postgres" {
			url = testharness.Postgres(b)
		}
		db, err := slashprotect.Open(ctx, url)
		require.NoError(b, err)
		f, err := os.Open(file)
		require.NoError(b, err)
		b.StartTimer()
		start := time.Now()
		net, timing := slashprotecttest.Network, slashprotecttest.NetworkTiming()
		rep, err := db.Import(ctx, f, slashprotect.ImportOptions{GenesisValidatorsRoot: &net, Timing: &timing})
		elapsed := time.Since(start)
		b.StopTimer()
		require.NoError(b, err)
		require.Equal(b, n*1000, rep.NewAttestations)
		require.Equal(b, n*100, rep.NewBlocks)
		require.NoError(b, f.Close())
		require.NoError(b, db.Close())
		b.ReportMetric(elapsed.Seconds(), "import-s")
		fmt.Fprintf(os.Stderr, "import of %d validators: %s\n", n, elapsed)
	}
	b.ReportMetric(peakRSS(b), "peak-rss-MiB")
}

// BenchmarkLatestRecords10k reads what a restarting signer needs (watermarks,
// newest attestation and block) for VIGIL_BENCH_LATEST_VALIDATORS (10,000)
// validators with VIGIL_BENCH_LATEST_EPOCHS (128) epochs of attestations and 8
// blocks each: with LatestRecords, one query, and for comparison with
// History(pk, 1) per key, as the signer did before. Run it with -benchtime 3x:
// the histories are imported once per backend.
func BenchmarkLatestRecords10k(b *testing.B) {
	n := envInt("VIGIL_BENCH_LATEST_VALIDATORS", 10_000)
	epochs := envInt("VIGIL_BENCH_LATEST_EPOCHS", 128)
	file := writeLargeInterchange(b, n, epochs, 8)
	keys := make([]phase0.BLSPubKey, n)
	for i := range keys {
		keys[i] = slashprotecttest.PK(i)
	}
	ctx := context.Background()
	for _, be := range []struct {
		name string
		url  func(testing.TB) string
	}{{"sqlite", sqliteURL}, {"postgres", testharness.Postgres}} {
		b.Run(be.name, func(b *testing.B) {
			db, err := slashprotect.Open(ctx, be.url(b))
			require.NoError(b, err)
			defer db.Close()
			f, err := os.Open(file)
			require.NoError(b, err)
			net, timing := slashprotecttest.Network, slashprotecttest.NetworkTiming()
			_, err = db.Import(ctx, f, slashprotect.ImportOptions{GenesisValidatorsRoot: &net, Timing: &timing})
			require.NoError(b, err)
			require.NoError(b, f.Close())
			b.Run("LatestRecords", func(b *testing.B) {
				for range b.N {
					got, err := db.LatestRecords(ctx, keys)
					require.NoError(b, err)
					require.Len(b, got, n)
					require.Equal(b, phase0.Epoch(epochs), *got[keys[n-1]].AttestationTarget)
				}
			})
			b.Run("HistoryPerKey", func(b *testing.B) {
				for range b.N {
					for _, pk := range keys {
						h, err := db.History(ctx, pk, 1)
						require.NoError(b, err)
						require.Len(b, h.Attestations, 1)
					}
				}
			})
			// What an online prune costs every time it runs: the first run deletes
			// half of every history (reported once), later runs find nothing.
			var firstPrune time.Duration
			b.Run("PruneOnline", func(b *testing.B) {
				if firstPrune == 0 {
					start := time.Now()
					rep, err := db.PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: uint64(epochs / 2)})
					require.NoError(b, err)
					require.Equal(b, n, rep.Validators)
					firstPrune = time.Since(start)
				}
				b.ResetTimer()
				for range b.N {
					rep, err := db.PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: uint64(epochs / 2)})
					require.NoError(b, err)
					require.Zero(b, rep.Attestations)
				}
				b.ReportMetric(firstPrune.Seconds(), "first-prune-s")
			})
		})
	}
}
