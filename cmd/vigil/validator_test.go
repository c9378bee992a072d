package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// runValidatorCmd runs a validator subcommand with fake key stores and
// returns its error and standard error.
func runValidatorCmd(t *testing.T, d deps, args ...string) (error, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	app := &cli.App{
		Name:           "vigil",
		Flags:          globalFlags(),
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{validatorCommandWith(d)},
		Writer:         &stdout,
		ErrWriter:      &stderr,
	}
	cliutil.WithConfigFile(app, flagConfig)
	err := app.Run(append([]string{"vigil", "--data-dir", filepath.Join(t.TempDir(), "data")}, args...))
	return err, stderr.String()
}

func noStores(t *testing.T) deps {
	return deps{
		openStore: func(*cli.Context, *env, string) (keyset.Source, error) {
			t.Error("no key store may be opened before the flags are valid")
			return keyset.Source{}, errors.New("unexpected")
		},
		stdin: strings.NewReader(""),
		isTTY: func(any) bool { return false },
	}
}

// TestValidatorRunRejectsBadFlags checks that every configuration mistake is
// reported, naming the flag, before anything is opened or connected.
func TestValidatorRunRejectsBadFlags(t *testing.T) {
	const fr = "0x5ca1ab1e00000000000000000000000000000e2e"
	bn := []string{"--beacon-node", "http://127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no beacon node", args: []string{"--fee-recipient", fr}, want: "--beacon-node is required"},
		{name: "blank beacon node", args: []string{"--beacon-node", " ", "--fee-recipient", fr}, want: "--beacon-node is required"},
		{name: "no fee recipient", args: bn, want: "--fee-recipient is required"},
		{name: "fee recipient not hex", args: append([]string{"--fee-recipient", "0xnothex"}, bn...), want: "--fee-recipient"},
		{name: "fee recipient short", args: append([]string{"--fee-recipient", "0x1234"}, bn...), want: "40 hex digits"},
		{name: "fee recipient zero", args: append([]string{"--fee-recipient", "0x0000000000000000000000000000000000000000"}, bn...), want: "zero address"},
		{name: "unknown key store", args: append([]string{"--fee-recipient", fr, "--key-store", "s3"}, bn...), want: `--key-store "s3": want vault or dir`},
		{name: "graffiti too long", args: append([]string{"--fee-recipient", fr, "--graffiti", strings.Repeat("g", 33)}, bn...), want: "at most 32"},
		{name: "zero gas limit", args: append([]string{"--fee-recipient", fr, "--gas-limit", "0"}, bn...), want: "--gas-limit 0"},
		{name: "bad poll interval", args: append([]string{"--fee-recipient", fr, "--key-poll-interval", "soon"}, bn...), want: "--key-poll-interval"},
		{name: "negative poll interval", args: append([]string{"--fee-recipient", fr, "--key-poll-interval", "-1s"}, bn...), want: "--key-poll-interval"},
		{name: "metrics address without port", args: append([]string{"--fee-recipient", fr, "--metrics-address", "127.0.0.1"}, bn...), want: "--metrics-address"},
		{name: "negative validator limit", args: append([]string{"--fee-recipient", fr, "--metrics-validator-limit", "-1"}, bn...), want: "--metrics-validator-limit"},
		{name: "pprof without listener", args: append([]string{"--fee-recipient", fr, "--metrics-address", "", "--enable-pprof"}, bn...), want: "--enable-pprof needs --metrics-address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, _ := runValidatorCmd(t, noStores(t), append([]string{"validator", "run"}, tt.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestValidatorExitRejectsBadFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no pubkey", args: []string{"--beacon-node", "http://127.0.0.1:1"}, want: "--pubkey is required"},
		{name: "bad pubkey", args: []string{"--pubkey", "0x12", "--beacon-node", "http://127.0.0.1:1"}, want: "96 hex digits"},
		{name: "no beacon node", args: []string{"--pubkey", "0x" + strings.Repeat("ab", 48)}, want: "--beacon-node is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err, _ := runValidatorCmd(t, noStores(t), append([]string{"validator", "exit"}, tt.args...)...)
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestRunExit(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantCode int
	}{
		{name: "normal stop", err: nil, wantCode: 0},
		{name: "doppelganger", err: fmt.Errorf("stop: %w", duties.ErrDoppelganger), wantCode: exitUnsafeToRestart},
		{name: "concurrent signer", err: duties.ErrConcurrentSigner, wantCode: exitUnsafeToRestart},
		{name: "other error", err: errors.New("boom"), wantCode: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := runExit(tt.err)
			if tt.wantCode == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			code := 1
			var coder cli.ExitCoder
			if errors.As(err, &coder) {
				code = coder.ExitCode()
			}
			require.Equal(t, tt.wantCode, code)
		})
	}
}

// TestValidatorRunRefusesAnotherNetwork checks that a slashing database that
// belongs to one network refuses a beacon node of another, naming both.
func TestValidatorRunRefusesAnotherNetwork(t *testing.T) {
	dbRoot, nodeRoot := phase0.Root{0xaa}, phase0.Root{0xbb}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "slashing.db")
	db, err := slashprotect.Open(t.Context(), dbURL, slashprotect.WithGenesisValidatorsRoot(dbRoot))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	node := beacontest.New(t, beacontest.WithGenesisRoot(nodeRoot))

	d := deps{
		openStore: func(_ *cli.Context, _ *env, kind string) (keyset.Source, error) {
			return keyset.Source{Name: kind, Store: &keystoretest.Store{}}, nil
		},
		stdin: strings.NewReader(""),
		isTTY: func(any) bool { return false },
	}
	err, _ = runValidatorCmd(t, d, "validator", "run", "--beacon-node", node.URL(), "--slashing-db", dbURL,
		"--fee-recipient", "0x5ca1ab1e00000000000000000000000000000e2e", "--metrics-address", "127.0.0.1:0")
	require.Error(t, err)
	require.Contains(t, err.Error(), "another network than the slashing database's")
	require.Contains(t, err.Error(), fmt.Sprintf("%#x", dbRoot[:]))
}

// TestValidatorRunStopsCleanly starts the client against a fake beacon node
// with keys from two stores (one key in both), checks its monitor listener,
// and checks that cancelling (SIGTERM in main) ends it with exit code 0 and
// releases the database.
func TestValidatorRunStopsCleanly(t *testing.T) {
	node := beacontest.New(t, beacontest.WithSpec(completeSpec))
	keys := keystoretest.Keys(t, 3)
	stores := map[string]keystore.Store{kindVault: storeWith(t, keys[0], keys[1]), kindDir: storeWith(t, keys[1], keys[2])}
	d := deps{
		openStore: func(_ *cli.Context, _ *env, kind string) (keyset.Source, error) {
			return keyset.Source{Name: kind, Store: stores[kind]}, nil
		},
		stdin: strings.NewReader(""),
		isTTY: func(any) bool { return false },
	}
	dbURL := "sqlite://" + filepath.Join(t.TempDir(), "slashing.db")
	metricsAddr := testharness.LoopbackAddr(t)
	var stderr syncBuffer
	app := &cli.App{
		Name: "vigil", Flags: globalFlags(), ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{validatorCommandWith(d)}, Writer: io.Discard, ErrWriter: &stderr,
	}
	cliutil.WithConfigFile(app, flagConfig)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- app.RunContext(ctx, []string{"vigil", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"validator", "run", "--beacon-node", node.URL(), "--slashing-db", dbURL, "--key-store", "vault", "--key-store", "dir",
			"--fee-recipient", "0x5ca1ab1e00000000000000000000000000000e2e", "--doppelganger-epochs", "0",
			"--metrics-address", metricsAddr})
	}()
	var early error
	started := func() bool {
		select {
		case early = <-done:
			return true
		default:
		}
		return strings.Contains(stderr.String(), "Duties starting")
	}
	require.Eventually(t, started, 10*time.Second, 10*time.Millisecond, "vigil did not start:\n%s", stderr.String())
	require.NoError(t, early, "vigil stopped early:\n%s", stderr.String())
	require.Contains(t, stderr.String(), "validators=3", "a key in two stores is loaded once")

	code, body := httpGet(t, "http://"+metricsAddr+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = httpGet(t, "http://"+metricsAddr+"/readyz")
	require.Contains(t, body, `{"name":"keys_loaded","ok":true,"detail":"3 keys"}`)
	require.Contains(t, body, `"name":"slashing_db","ok":true`)
	require.Contains(t, []int{http.StatusOK, http.StatusServiceUnavailable}, code)
	_, body = httpGet(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{
		`vigil_keys_loaded{status="unknown",store="dir"} 1`, // the fake node knows none of the keys
		`vigil_keys_loaded{status="unknown",store="vault"} 2`,
		`vigil_slashing_db_up 1`,
		`vigil_beacon_node_up{node="` + node.URL() + `"} 1`,
		`vigil_build_info{`,
		`process_resident_memory_bytes `,
	} {
		require.Contains(t, body, want)
	}
	code, _ = httpGet(t, "http://"+metricsAddr+"/debug/pprof/")
	require.Equal(t, http.StatusNotFound, code, "no pprof unless asked for")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatal("vigil did not stop after cancellation")
	}
	db, err := slashprotect.Open(t.Context(), dbURL, slashprotect.WithExclusiveAccess())
	require.NoError(t, err, "the database must be released on exit")
	root, ok, err := db.GenesisValidatorsRoot(t.Context())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, beacontest.DefaultGenesisRoot, root, "the database records the node's network")
	require.NoError(t, db.Close())
}

// completeSpec adds to the fake node's spec what a signer and the duties
// need beyond it: fork versions, domain types (mainnet's values) and the
// sync committee parameters.
var completeSpec = map[string]string{
	"ALTAIR_FORK_VERSION": "0x20000038", "BELLATRIX_FORK_VERSION": "0x30000038", "CAPELLA_FORK_VERSION": "0x40000038",
	"DENEB_FORK_VERSION": "0x50000038", "ELECTRA_FORK_VERSION": "0x60000038", "FULU_FORK_VERSION": "0x70000038",
	"DOMAIN_BEACON_PROPOSER": "0x00000000", "DOMAIN_BEACON_ATTESTER": "0x01000000", "DOMAIN_RANDAO": "0x02000000",
	"DOMAIN_DEPOSIT": "0x03000000", "DOMAIN_VOLUNTARY_EXIT": "0x04000000", "DOMAIN_SELECTION_PROOF": "0x05000000",
	"DOMAIN_AGGREGATE_AND_PROOF": "0x06000000", "DOMAIN_SYNC_COMMITTEE": "0x07000000",
	"DOMAIN_SYNC_COMMITTEE_SELECTION_PROOF": "0x08000000", "DOMAIN_CONTRIBUTION_AND_PROOF": "0x09000000",
	"EPOCHS_PER_SYNC_COMMITTEE_PERIOD": "8", "SYNC_COMMITTEE_SIZE": "32", "SYNC_COMMITTEE_SUBNET_COUNT": "4",
	"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE": "16",
}

// syncBuffer is a bytes.Buffer safe for the logger's and the test's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestValidatorRunWaitsForBeaconNode checks that vigil started before its
// beacon node waits for it, and that a stop while waiting is a normal exit.
func TestValidatorRunWaitsForBeaconNode(t *testing.T) {
	node := beacontest.New(t)
	node.SetDown(true)
	d := deps{
		openStore: func(_ *cli.Context, _ *env, kind string) (keyset.Source, error) {
			return keyset.Source{Name: kind, Store: &keystoretest.Store{}}, nil
		},
		stdin: strings.NewReader(""),
		isTTY: func(any) bool { return false },
	}
	var stderr syncBuffer
	app := &cli.App{
		Name: "vigil", Flags: globalFlags(), ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{validatorCommandWith(d)}, Writer: io.Discard, ErrWriter: &stderr,
	}
	cliutil.WithConfigFile(app, flagConfig)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	metricsAddr := testharness.LoopbackAddr(t)
	go func() {
		done <- app.RunContext(ctx, []string{"vigil", "--data-dir", filepath.Join(t.TempDir(), "data"),
			"validator", "run", "--beacon-node", node.URL(), "--fee-recipient", "0x5ca1ab1e00000000000000000000000000000e2e",
			"--metrics-address", metricsAddr})
	}()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "Waiting for a beacon node") }, 10*time.Second, 10*time.Millisecond)
	// While it waits, it is alive but not ready, and says why.
	code, body := httpGet(t, "http://"+metricsAddr+"/healthz")
	require.Equal(t, http.StatusOK, code, body)
	code, body = httpGet(t, "http://"+metricsAddr+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, `"status":"not_ready"`)
	require.Contains(t, body, `{"name":"beacon_node","ok":false,"detail":"no synced beacon node: `+node.URL()+` unreachable"}`)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("vigil did not stop while waiting for its beacon node")
	}
}

// TestValidatorRunReadsConfigFile checks that run's flags, lists included,
// come from the YAML config file.
func TestValidatorRunReadsConfigFile(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("beacon-node:\n  - http://127.0.0.1:1\n  - http://127.0.0.1:2\n"+
		"key-store: [vault, dir]\nfee-recipient: \"0x0000000000000000000000000000000000000000\"\n"), 0o600))
	err, _ := runValidatorCmd(t, noStores(t), "--config", cfg, "validator", "run")
	require.ErrorContains(t, err, "--fee-recipient is the zero address", "beacon-node must have come from the file")

	var got *runConfig
	app := &cli.App{Name: "vigil", Flags: globalFlags(), ExitErrHandler: func(*cli.Context, error) {}, Commands: []*cli.Command{{
		Name: "run", Flags: validatorCommandWith(noStores(t)).Subcommands[0].Flags,
		Action: func(c *cli.Context) (err error) { got, err = parseRunConfig(c); return err },
	}}}
	cliutil.WithConfigFile(app, flagConfig)
	require.NoError(t, os.WriteFile(cfg, []byte("beacon-node: [http://a:1, http://b:2]\nkey-store: [vault, dir]\n"+
		"fee-recipient: \"0x5ca1ab1e00000000000000000000000000000e2e\"\ndoppelganger-epochs: 0\nkey-poll-interval: 30s\n"), 0o600))
	require.NoError(t, app.Run([]string{"vigil", "--config", cfg, "run"}))
	require.Equal(t, []string{"http://a:1", "http://b:2"}, got.beaconNodes)
	require.Equal(t, []string{kindVault, kindDir}, got.stores)
	require.Zero(t, got.doppelgangerEpochs)
	require.Equal(t, 30*time.Second, got.keyPollInterval)
	require.Equal(t, uint64(duties.DefaultGasLimit), got.gasLimit)
}

// TestYesIsCommandLineOnly checks that an irreversible exit or key deletion
// cannot be confirmed by a config file or the environment.
func TestYesIsCommandLineOnly(t *testing.T) {
	t.Setenv("VIGIL_YES", "true")
	tests := []struct {
		name  string
		flags []cli.Flag
	}{
		{name: "validator exit", flags: validatorCommandWith(noStores(t)).Subcommands[1].Flags},
		{name: "keys delete", flags: findCommand(t, keysCommand(), "delete").Flags},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range tc.flags {
				if slices.Contains(f.Names(), flagYes) {
					bf, ok := f.(*cli.BoolFlag)
					require.True(t, ok, "--yes must be a plain flag, not one read from the config file")
					require.Empty(t, bf.EnvVars)
					return
				}
			}
			t.Fatalf("%s has no --yes flag", tc.name)
		})
	}
}

func findCommand(t *testing.T, parent *cli.Command, name string) *cli.Command {
	t.Helper()
	for _, c := range parent.Subcommands {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("%s has no subcommand %s", parent.Name, name)
	return nil
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestValidatorRunMetricsPortInUse checks that a taken monitor port stops
// vigil before it opens anything, naming the address and the flag.
func TestValidatorRunMetricsPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	err, _ = runValidatorCmd(t, noStores(t), "validator", "run", "--beacon-node", "http://127.0.0.1:1",
		"--fee-recipient", "0x5ca1ab1e00000000000000000000000000000e2e", "--metrics-address", ln.Addr().String())
	require.ErrorContains(t, err, ln.Addr().String())
	require.ErrorContains(t, err, "--metrics-address")
}

func storeWith(t *testing.T, keys ...*keystore.Key) *keystoretest.Store {
	t.Helper()
	s := &keystoretest.Store{}
	for _, k := range keys {
		cp := *k
		require.NoError(t, s.Put(t.Context(), &cp))
	}
	return s
}

// TestUnsafeExitIsNotACrash runs a process that panics, as a Go crash does:
// its exit code must differ from the one systemd never restarts, so that a
// crash is restarted and an unsafe stop is not.
func TestUnsafeExitIsNotACrash(t *testing.T) {
	if os.Getenv("VIGIL_TEST_PANIC") == "1" {
		panic("a crash")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUnsafeExitIsNotACrash$")
	cmd.Env = append(os.Environ(), "VIGIL_TEST_PANIC=1")
	err := cmd.Run()
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr)
	require.Equal(t, 2, exitErr.ExitCode(), "a Go panic exits 2")
	require.NotEqual(t, exitErr.ExitCode(), exitUnsafeToRestart)
	require.NotEqual(t, exitError, exitUnsafeToRestart)
}
