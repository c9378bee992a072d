package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// configFuzzSeeds are config files as operators write them, and as they get
// them wrong: the shipped example, lists in both YAML styles, wrong types,
// nesting, anchors, an unknown key, a duplicate key.
var configFuzzSeeds = []string{
	"beacon-node:\n  - http://127.0.0.1:5052\n  - http://127.0.0.1:5053\nkey-store: [vault, dir]\nfee-recipient: \"0x5ca1ab1e00000000000000000000000000000e2e\"\ndoppelganger-epochs: 0\nkey-poll-interval: 30s\n",
	"beacon-node: http://127.0.0.1:5052\nlog-level: debug\nlog-format: json\nvault-parallelism: 4\nvault-allow-insecure-http: true\n",
	"doppelganger-epochs: -1\nvault-parallelism: 99999999999999999999\ngas-limit: 1.5\nallow-long-gap: yes\n",
	"key-store:\n  vault: true\nbeacon-node: {a: b}\n",
	"base: &b\n  key-poll-interval: 1m\nkey-poll-interval: *b\n",
	"unknown-key: 1\nlog-level: info\nlog-level: warn\n",
	"- just\n- a\n- list\n",
	"",
	"~",
	"data-dir: /\nkeys-dir: ~/keys\nslashing-db: postgres://vigil@127.0.0.1/vigil\n",
}

// FuzzConfigFile feeds arbitrary bytes as the --config file through the real
// application: newApp's global flags, every command's flags and the altsrc
// YAML loading cliutil.WithConfigFile installs. Each command's action is
// replaced by one that only reads its flags (and, for validator run, parses
// its whole configuration), so nothing is opened, written or dialled. Errors are fine;
// a panic is a bug. The corpus lives in testdata/fuzz/FuzzConfigFile. Run it
// with `make fuzz`, or
// go test -run '^$' -fuzz '^FuzzConfigFile$' -parallel 1 ./cmd/vigil
func FuzzConfigFile(f *testing.F) {
	if example, err := os.ReadFile(exampleConfig); err == nil {
		f.Add(uint8(0), example)
	}
	for i, s := range configFuzzSeeds {
		f.Add(uint8(i), []byte(s))
	}
	// The environment wins over the file; clear it so the file is read.
	for _, leaf := range leafCommands(newApp()) {
		for _, fl := range leaf.cmd.Flags {
			for _, ev := range cliutil.EnvVars(fl.Names()[0]) {
				f.Setenv(ev, "")
			}
		}
	}
	for _, fl := range globalFlags() {
		for _, ev := range cliutil.EnvVars(fl.Names()[0]) {
			f.Setenv(ev, "")
		}
	}
	for _, ev := range []string{vaultstore.EnvAddr, vaultstore.EnvToken, vaultstore.EnvNamespace, vaultstore.EnvCACert, vaultstore.EnvClientCert, vaultstore.EnvClientKey, envVigilVaultToken} {
		f.Setenv(ev, "")
	}
	dir := f.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	dataDir := filepath.Join(dir, "data")

	f.Fuzz(func(t *testing.T, which uint8, config []byte) {
		if err := os.WriteFile(cfg, config, 0o600); err != nil {
			t.Fatal(err)
		}
		_ = runWithConfig(cfg, dataDir, int(which), nil)
	})
}

// runWithConfig runs the which-th runnable command of newApp() (modulo their
// number) with --config cfg, its action replaced by readFlagsOnly; seen, if
// not nil, is called from the action.
func runWithConfig(cfg, dataDir string, which int, seen func(c *cli.Context, path []string)) error {
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, io.Discard
	cmds := leafCommands(app)
	for _, cmd := range cmds {
		cmd.cmd.Action = func(c *cli.Context) error {
			if seen != nil {
				seen(c, cmd.path)
			}
			return readFlagsOnly(c, cmd.path)
		}
	}
	target := cmds[which%len(cmds)]
	return app.Run(append([]string{"vigil", "--data-dir", dataDir, "--config", cfg}, target.path...))
}

// TestConfigFuzzHarness checks that FuzzConfigFile is not vacuous: every
// command it picks runs its (replaced) action with the file's values loaded.
func TestConfigFuzzHarness(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log-level: debug\n"), 0o600))
	n := len(leafCommands(newApp()))
	require.Greater(t, n, 10)
	var ran []string
	for i := range n {
		_ = runWithConfig(cfg, filepath.Join(dir, "data"), i, func(c *cli.Context, path []string) {
			require.Equal(t, "debug", c.String(flagLogLevel), "%v must see the file's value", path)
			ran = append(ran, strings.Join(path, " "))
		})
	}
	require.Len(t, ran, n)
	require.Contains(t, ran, "validator run")
}

// readFlagsOnly stands in for a command's action: it reads every flag the
// command and the app define, as the real action would, and parses validator
// run's configuration, without opening or dialling anything.
func readFlagsOnly(c *cli.Context, path []string) error {
	for _, fl := range append(c.Command.Flags, c.App.Flags...) {
		for _, name := range fl.Names() {
			_ = c.Value(name)
		}
	}
	if strings.Join(path, " ") == "validator run" {
		if _, err := parseRunConfig(c); err != nil {
			return err
		}
		_, err := vaultConfig(c)
		return err
	}
	return nil
}

// leafCommand is a runnable command and the words that select it.
type leafCommand struct {
	cmd  *cli.Command
	path []string
}

// leafCommands returns app's runnable commands, subcommands included.
func leafCommands(app *cli.App) []leafCommand {
	var out []leafCommand
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, cmd := range cmds {
			path := append(append([]string(nil), prefix...), cmd.Name)
			if len(cmd.Subcommands) > 0 {
				walk(path, cmd.Subcommands)
				continue
			}
			out = append(out, leafCommand{cmd: cmd, path: path})
		}
	}
	walk(nil, app.Commands)
	return out
}
