package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// exampleConfig is the operator's starting point shipped in configs/.
var exampleConfig = filepath.Join("..", "..", "configs", "vigil.example.yaml")

// readExampleConfig returns the example's top-level keys and values.
func readExampleConfig(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(exampleConfig)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, yaml.Unmarshal(b, &m), "%s is not valid YAML", exampleConfig)
	return m
}

// runFlagNames are the flags `vigil --config FILE validator run` reads from the
// file: the global ones (but --config itself) and validator run's own.
func runFlagNames(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range append(globalFlags(), validatorCommandWith(noStores(t)).Subcommands[0].Flags...) {
		if n := f.Names()[0]; n != flagConfig {
			names = append(names, n)
		}
	}
	return names
}

// clearFlagEnv unsets every VIGIL_* variable of the flags (restored when the
// test ends): the environment wins over the file and would hide what the file
// says.
func clearFlagEnv(t *testing.T, names []string) {
	for _, n := range names {
		for _, ev := range cliutil.EnvVars(n) {
			if v, ok := os.LookupEnv(ev); ok {
				t.Setenv(ev, v)
				require.NoError(t, os.Unsetenv(ev))
			}
		}
	}
}

// TestConfigExampleCoversEveryRunFlag checks that the example names every
// option of validator run and nothing else, so that it cannot drift from the
// flags.
func TestConfigExampleCoversEveryRunFlag(t *testing.T) {
	cfg := readExampleConfig(t)
	names := runFlagNames(t)
	var missing, unknown []string
	for _, n := range names {
		if _, ok := cfg[n]; !ok {
			missing = append(missing, n)
		}
	}
	for k := range cfg {
		if !slices.Contains(names, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	require.Empty(t, missing, "flags of `vigil validator run` missing from %s", exampleConfig)
	require.Empty(t, unknown, "keys in %s that are not flags of `vigil validator run`", exampleConfig)
}

// TestConfigExampleSafeDefaults checks the example's settings that protect
// the keys and the host.
func TestConfigExampleSafeDefaults(t *testing.T) {
	cfg := readExampleConfig(t)
	tests := []struct {
		key  string
		want any
		why  string
	}{
		{flagDoppelgangerEpochs, 2, "doppelganger protection stays on"},
		{flagAllowLongGap, false, "the long-gap check stays on"},
		{flagEnablePprof, false, "no profiler on the monitor listener"},
		{flagMetricsAddress, defaultMetricsAddress, "metrics on loopback only, as the flag's default"},
		{flagMetricsValidatorLimit, defaultValidatorLimit, "bounded metric cardinality, as the flag's default"},
		{flagFeeRecipient, "", "no fee recipient that could burn fees: vigil refuses to start until it is set"},
		{flagVaultTokenFile, "", "no secret file assumed"},
		{flagVaultAllowInsecureHTTP, false, "no Vault token or key in clear over the network"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			require.Equal(t, tt.want, cfg[tt.key], tt.why)
		})
	}
	b, err := os.ReadFile(exampleConfig)
	require.NoError(t, err)
	require.NotContains(t, strings.ToLower(string(b)), "vault-token:", "a token value never belongs in a config file")
}

// TestConfigExampleLoads runs `vigil --config vigil.example.yaml validator
// run` for real: the example alone must refuse to start because it names no
// fee recipient, before opening any database, store or connection.
func TestConfigExampleLoads(t *testing.T) {
	clearFlagEnv(t, runFlagNames(t))
	err, stderr := runValidatorCmd(t, noStores(t), "--config", exampleConfig, "validator", "run")
	require.ErrorContains(t, err, "--fee-recipient is required", stderr)
}

// TestConfigExampleReachesRunConfig parses the example through the real flag
// definitions and checks that every value in the file reaches the parsed
// configuration (the fee recipient comes from the command line, as the example
// leaves it unset). Nothing is opened or dialled.
func TestConfigExampleReachesRunConfig(t *testing.T) {
	names := runFlagNames(t)
	clearFlagEnv(t, names)
	cfg := readExampleConfig(t)
	const feeRecipient = "0x5ca1ab1e00000000000000000000000000000e2e"

	var (
		rc      *runConfig
		vc      vaultstore.Config
		fromCtx = map[string]string{}
	)
	run := validatorCommandWith(noStores(t)).Subcommands[0]
	app := &cli.App{
		Name: "vigil", Flags: globalFlags(), ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name: run.Name, Flags: run.Flags,
			Action: func(c *cli.Context) error {
				for _, n := range names {
					fromCtx[n] = flagString(c, n)
				}
				var err error
				if rc, err = parseRunConfig(c); err != nil {
					return err
				}
				// The example leaves vault-address to $VAULT_ADDR.
				vc, err = vaultConfig(c)
				return err
			},
		}},
	}
	cliutil.WithConfigFile(app, flagConfig)
	t.Setenv("VAULT_ADDR", "https://127.0.0.1:8200")
	require.NoError(t, app.Run([]string{"vigil", "--config", exampleConfig, run.Name, "--" + flagFeeRecipient, feeRecipient}))

	t.Run("every key reaches the flags", func(t *testing.T) {
		want, got := map[string]string{}, map[string]string{}
		for k, v := range cfg {
			want[k], got[k] = fmt.Sprint(v), fromCtx[k]
			if list, ok := v.([]any); ok {
				var s []string
				for _, e := range list {
					s = append(s, fmt.Sprint(e))
				}
				want[k] = strings.Join(s, ",")
			}
		}
		want[flagFeeRecipient] = feeRecipient
		require.Equal(t, want, got, "the values of %s as vigil parsed them", exampleConfig)
	})
	t.Run("defaults are the flags' own", func(t *testing.T) {
		// The same flags without the file: the example may differ from a
		// flag's default only where it documents a deliberate choice.
		deliberate := map[string]string{
			flagDataDir:    "the systemd unit's StateDirectory",
			flagBeaconNode: "a local beacon node (the flag has no default)",
			flagKeyStore:   "dir spelt out (the flag's empty default means dir)",
		}
		defaults := map[string]string{}
		app := &cli.App{
			Name: "vigil", Flags: globalFlags(), ExitErrHandler: func(*cli.Context, error) {},
			Commands: []*cli.Command{{Name: run.Name, Flags: run.Flags, Action: func(c *cli.Context) error {
				for _, n := range names {
					defaults[n] = flagString(c, n)
				}
				return nil
			}}},
		}
		cliutil.WithConfigFile(app, flagConfig)
		require.NoError(t, app.Run([]string{"vigil", run.Name, "--" + flagFeeRecipient, feeRecipient}))
		for _, n := range names {
			if _, ok := deliberate[n]; !ok {
				require.Equal(t, defaults[n], fromCtx[n], "%s sets %s to another value than the flag's default", exampleConfig, n)
			}
		}
	})
	t.Run("run configuration", func(t *testing.T) {
		require.Equal(t, []string{"http://127.0.0.1:5052"}, rc.beaconNodes)
		require.Equal(t, []string{kindDir}, rc.stores)
		require.Equal(t, feeRecipient, fmt.Sprintf("%#x", rc.feeRecipient[:]))
		require.Empty(t, rc.graffiti)
		require.False(t, rc.builder)
		require.Equal(t, uint64(36_000_000), rc.gasLimit)
		require.Equal(t, uint64(2), rc.doppelgangerEpochs)
		require.False(t, rc.allowLongGap)
		require.Equal(t, time.Minute, rc.keyPollInterval)
		require.Equal(t, "127.0.0.1:9465", rc.metricsAddress)
		require.Equal(t, 64, rc.validatorLimit)
		require.False(t, rc.pprof)
	})
	t.Run("vault configuration", func(t *testing.T) {
		require.Equal(t, vaultstore.DefaultMount, vc.Mount)
		require.Equal(t, vaultstore.DefaultPrefix, vc.Prefix)
		require.Equal(t, vaultstore.DefaultAppRoleMount, vc.AppRoleMount)
		require.Equal(t, vaultstore.DefaultParallelism, vc.Parallelism)
		require.Empty(t, vc.TokenFile)
		require.Empty(t, vc.AppRoleSecretIDFile)
	})
}

// flagString renders a flag's parsed value the way the YAML example spells
// it; lists are joined with commas.
func flagString(c *cli.Context, name string) string {
	switch v := c.Value(name).(type) {
	case *cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case cli.StringSlice:
		return strings.Join(v.Value(), ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

// deploymentFile is a file of the deployment examples, read by the checks
// that tie them to the flags.
func deploymentFile(t *testing.T, parts ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{"..", ".."}, parts...)...))
	require.NoError(t, err)
	return string(b)
}

// TestDeploymentFilesMatchTheFlags ties the systemd unit, its environment
// file and the Dockerfile to vigil's real command line: every VIGIL_*
// variable they set is a flag's, the unit's ExecStart is a valid command, and
// systemd's RestartPreventExitStatus is the exit code of an unsafe stop.
func TestDeploymentFilesMatchTheFlags(t *testing.T) {
	names := runFlagNames(t)
	known := map[string]bool{}
	for _, n := range names {
		for _, ev := range cliutil.EnvVars(n) {
			known[ev] = true
		}
	}
	unit := deploymentFile(t, "configs", "systemd", "vigil-validator.service")

	sets := []struct {
		file    string
		pattern string
	}{
		{filepath.Join("configs", "systemd", "vigil.env.example"), `(?m)^#?(VIGIL_[A-Z_]+)=`},
		{"Dockerfile", `(?m)^ENV (VIGIL_[A-Z_]+)=`},
	}
	for _, s := range sets {
		t.Run(s.file, func(t *testing.T) {
			matches := regexp.MustCompile(s.pattern).FindAllStringSubmatch(deploymentFile(t, s.file), -1)
			require.NotEmpty(t, matches)
			for _, m := range matches {
				require.True(t, known[m[1]], "%s sets %s, which is no flag's variable", s.file, m[1])
			}
		})
	}
	t.Run("RestartPreventExitStatus", func(t *testing.T) {
		require.Contains(t, unit, fmt.Sprintf("\nRestartPreventExitStatus=%d\n", exitUnsafeToRestart))
	})
	t.Run("ExecStart", func(t *testing.T) {
		m := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.+)$`).FindStringSubmatch(unit)
		require.NotNil(t, m)
		args := strings.Fields(m[2])
		i := slices.Index(args, "--"+flagConfig)
		require.GreaterOrEqual(t, i, 0, "the unit passes --config")
		args[i+1] = exampleConfig
		clearFlagEnv(t, names)
		err, stderr := runValidatorCmd(t, noStores(t), args...)
		require.ErrorContains(t, err, "--fee-recipient is required", "%s runs `validator run` with the example config: %s", m[0], stderr)
	})
}
