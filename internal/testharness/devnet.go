package testharness

import (
	"log/slog"
	"os"
	"strings"
	"testing"

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
// failed. Validator clients must be attached before d.GenesisTime.
func StartDevnet(t testing.TB, cfg DevnetConfig) *Devnet {
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
	d, err := devnet.Start(t.Context(), cfg)
	if err != nil {
		t.Fatalf("start devnet in %s: %v", cfg.Dir, err)
	}
	t.Cleanup(func() {
		d.Stop()
		if t.Failed() {
			for _, p := range d.Processes() {
				t.Logf("---- last %d lines of %s (%s) ----\n%s", devnetTailLines, p.Name, p.LogFile, p.Tail(devnetTailLines))
			}
		}
	})
	return d
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
