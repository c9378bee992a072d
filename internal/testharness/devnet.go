package testharness

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-eth/vigil/internal/devnet"
)

// Devnet is a running local chain (geth + Prysm beacon nodes) on loopback.
type Devnet = devnet.Devnet

// DevnetConfig describes the devnet to start; StartDevnet fills Binaries, Dir
// and Logger when they are left empty.
type DevnetConfig = devnet.Config

// PrysmValidatorConfig selects the interop keys of a Prysm validator client.
type PrysmValidatorConfig = devnet.PrysmValidatorConfig

// devnetTailLines is how much of each log a failed test prints.
const devnetTailLines = 40

// DevnetBinaries returns the devnet programs, skipping the test loudly when
// they are not built (failing instead under VIGIL_REQUIRE_INTEGRATION=1).
func DevnetBinaries(t testing.TB) devnet.Binaries {
	t.Helper()
	bins, err := devnet.FindBinaries()
	if err != nil {
		msg := "DEVNET INTEGRATION TEST NOT RUN: " + err.Error()
		if os.Getenv("VIGIL_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bins
}

// StartDevnet starts a devnet in the test's temporary directory and stops it
// when the test ends, printing the tail of every process log if the test
// failed. Validator clients must be attached before d.GenesisTime; tests that
// attach only Prysm's validator clients should use StartDevnetWithValidators.
func StartDevnet(t testing.TB, cfg DevnetConfig) *Devnet {
	t.Helper()
	d, release := startDevnet(t, cfg)
	keepDevnet(t, d, release)
	return d
}

// StartDevnetWithValidators starts a devnet with Prysm validator clients
// attached before genesis; see StartDevnetWith.
func StartDevnetWithValidators(t testing.TB, cfg DevnetConfig, vals ...PrysmValidatorConfig) *Devnet {
	t.Helper()
	return StartDevnetWith(t, cfg, func(d *Devnet) (func(), error) {
		for _, v := range vals {
			if _, err := d.StartPrysmValidator(t.Context(), v); err != nil {
				return nil, fmt.Errorf("start prysm validator: %w", err)
			}
		}
		return func() {}, nil
	})
}

// Attach starts the validator clients of a fresh devnet before its genesis.
// The returned stop ends the clients the devnet does not own (its Prysm
// validator clients stop with it), for a start that is thrown away.
type Attach func(d *Devnet) (stop func(), err error)

// StartDevnetWith starts a devnet, attaches its validator clients, and
// returns once the chain is devnet.GenesisSettleSlots slots old, through
// devnet.StartAttached: a start in which a beacon node died of Prysm's crash
// at genesis is thrown away, loudly, and the chain started afresh in a new
// directory, at most devnet.GenesisAttempts times; any other failure fails
// the test. The devnet lock is held across the attempts.
func StartDevnetWith(t testing.TB, cfg DevnetConfig, attach Attach) *Devnet {
	t.Helper()
	cfg = devnetDefaults(t, cfg)
	release := lockDevnet(t)
	// The attempt in progress is stopped when the test ends, even if attach
	// failed the test mid-start (t.FailNow inside attach ends the goroutine
	// before StartAttached returns); thrown-away attempts StartAttached
	// stops itself.
	var current *Devnet
	t.Cleanup(func() {
		if current != nil {
			stopDevnet(t, current)
		}
		release()
	})
	d, err := devnet.StartAttached(t.Context(), cfg, func(_ context.Context, d *Devnet) (func(), error) {
		current = d
		return attach(d)
	})
	if err != nil {
		t.Fatalf("start devnet in %s: %v", cfg.Dir, err)
	}
	return d
}

// devnetDefaults fills the binaries, directory and logger a test leaves
// empty.
func devnetDefaults(t testing.TB, cfg DevnetConfig) DevnetConfig {
	t.Helper()
	if cfg.Binaries == (devnet.Binaries{}) {
		cfg.Binaries = DevnetBinaries(t)
	}
	if cfg.Dir == "" {
		cfg.Dir = devnetDir(t)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(devnetLogWriter{t}, nil))
	}
	return cfg
}

// startDevnet takes the devnet lock and starts a devnet, leaving its
// stopping to the caller.
func startDevnet(t testing.TB, cfg DevnetConfig) (*Devnet, func()) {
	t.Helper()
	cfg = devnetDefaults(t, cfg)
	release := lockDevnet(t)
	d, err := devnet.Start(t.Context(), cfg)
	if err != nil {
		release()
		t.Fatalf("start devnet in %s: %v", cfg.Dir, err)
	}
	return d, release
}

// keepDevnet stops d and releases the devnet lock when the test ends,
// printing the tail of every process log if the test failed.
func keepDevnet(t testing.TB, d *Devnet, release func()) {
	t.Cleanup(func() {
		stopDevnet(t, d)
		release()
	})
}

// stopDevnet stops d, printing the tail of every process log if the test
// failed.
func stopDevnet(t testing.TB, d *Devnet) {
	d.Stop()
	if t.Failed() {
		for _, p := range d.Processes() {
			t.Logf("---- last %d lines of %s (%s) ----\n%s", devnetTailLines, p.Name, p.LogFile, p.Tail(devnetTailLines))
			t.Logf("---- last %d warnings and errors of %s ----\n%s", devnetTailLines, p.Name, p.Problems(devnetTailLines))
		}
	}
}

// lockDevnet waits until no other test process runs a devnet. go test runs
// packages in parallel, and two or three chains with their validator clients
// on two cores miss slots and stall, which makes every devnet test flaky; one
// at a time, each keeps its slots. The lock is an flock on a file in the
// temporary directory, released by the kernel if the process dies.
func lockDevnet(t testing.TB) (unlock func()) {
	t.Helper()
	path := filepath.Join(os.TempDir(), fmt.Sprintf("vigil-devnet-%d.lock", os.Getuid()))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatalf("open the devnet lock %s: %v", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		start := time.Now()
		t.Logf("waiting for another test's devnet to stop (lock %s)", path)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			t.Fatalf("lock %s: %v", path, err)
		}
		t.Logf("devnet lock acquired after %s", time.Since(start).Round(time.Second))
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// devnetKeepEnv names a directory under which devnet tests keep their data
// and logs after the test, for debugging; unset, they go to t.TempDir.
const devnetKeepEnv = "VIGIL_DEVNET_KEEP_DIR"

func devnetDir(t testing.TB) string {
	t.Helper()
	root := os.Getenv(devnetKeepEnv)
	if root == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(root, 0o700); err != nil {
		t.Fatalf("%s: %v", devnetKeepEnv, err)
	}
	dir, err := os.MkdirTemp(root, strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())+"-")
	if err != nil {
		t.Fatalf("%s: %v", devnetKeepEnv, err)
	}
	t.Logf("devnet data and logs kept in %s", dir)
	return dir
}

// StartPrysmValidator attaches Prysm's validator client with interop keys to
// one of d's beacon nodes; it stops with the devnet.
func StartPrysmValidator(t testing.TB, d *Devnet, cfg PrysmValidatorConfig) *devnet.Process {
	t.Helper()
	p, err := d.StartPrysmValidator(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start prysm validator: %v", err)
	}
	return p
}

// devnetLogWriter sends slog lines to the test log, so they show with -v or on
// failure only.
type devnetLogWriter struct{ t testing.TB }

func (w devnetLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
