package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// clearVaultEnv unsets every variable the store flags read, so that the
// developer's shell cannot leak into a case.
func clearVaultEnv(t *testing.T) {
	t.Helper()
	names := []string{vaultstore.EnvAddr, vaultstore.EnvToken, vaultstore.EnvNamespace, vaultstore.EnvCACert,
		vaultstore.EnvClientCert, vaultstore.EnvClientKey, envVigilVaultToken}
	for _, f := range keyStoreFlags() {
		names = append(names, cliutil.EnvVars(f.Names()[0])...)
	}
	for _, name := range names {
		t.Setenv(name, "") // restores the variable when the test ends
		require.NoError(t, os.Unsetenv(name))
	}
}

// runStoreCommand runs a command carrying keyStoreFlags under the real global
// flags and config-file handling, opens the store of kind and returns it.
func runStoreCommand(t *testing.T, kind string, args ...string) (keystore.Store, error) {
	t.Helper()
	var store keystore.Store
	var stderr bytes.Buffer
	app := &cli.App{
		Name:           "vigil",
		Flags:          globalFlags(),
		Writer:         &bytes.Buffer{},
		ErrWriter:      &stderr,
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{{
			Name:  "probe",
			Flags: keyStoreFlags(),
			Action: func(c *cli.Context) error {
				e, err := newEnv(c)
				if err != nil {
					return err
				}
				src, err := openKeyStore(c, e, kind)
				store = src.Store
				return err
			},
		}},
	}
	cliutil.WithConfigFile(app, flagConfig)
	err := app.RunContext(t.Context(), append([]string{"vigil"}, args...))
	return store, err
}

func privateFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credential")
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func TestOpenKeyStoreDir(t *testing.T) {
	clearVaultEnv(t)
	tests := []struct {
		name    string
		args    func(dataDir string) []string
		wantDir func(dataDir string) string
	}{
		{
			name:    "default under the data dir",
			args:    func(d string) []string { return []string{"--data-dir", d, "probe"} },
			wantDir: func(d string) string { return filepath.Join(d, "keys") },
		},
		{
			name: "--keys-dir",
			args: func(d string) []string {
				return []string{"--data-dir", d, "probe", "--keys-dir", filepath.Join(d, "elsewhere")}
			},
			wantDir: func(d string) string { return filepath.Join(d, "elsewhere") },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := filepath.Join(t.TempDir(), "vigil")
			s, err := runStoreCommand(t, "dir", tc.args(dataDir)...)
			require.NoError(t, err)
			require.Equal(t, tc.wantDir(dataDir), s.(*dirstore.Store).Dir())
		})
	}
}

func TestOpenKeyStoreRefuses(t *testing.T) {
	clearVaultEnv(t)
	tests := []struct {
		name string
		kind string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown kind", "floppy", nil, nil, `unknown key store "floppy"`},
		{"no address", "vault", nil, map[string]string{vaultstore.EnvToken: "t"}, "needs Vault's address"},
		{"no credentials", "vault", []string{"--vault-address", "http://127.0.0.1:1"}, nil, "no Vault credentials"},
		{"token flag does not exist", "vault", []string{"--vault-token", "hvs.x"}, nil, "flag provided but not defined"},
		{"vigil token and token file", "vault", []string{"--vault-address", "http://127.0.0.1:1", "--vault-token-file", "/x"},
			map[string]string{envVigilVaultToken: "hvs.x"}, "more than once"},
		{"bad parallelism", "vault", []string{"--vault-address", "http://127.0.0.1:1", "--vault-parallelism", "0"},
			map[string]string{vaultstore.EnvToken: "hvs.x"}, "want at least 1"},
		{"plain http off loopback", "vault", []string{"--vault-address", "http://vault.internal:8200"},
			map[string]string{vaultstore.EnvToken: "hvs.x"}, "uses plain http:// to a host that is not loopback"},
		{"plain http off loopback from VAULT_ADDR", "vault", nil,
			map[string]string{vaultstore.EnvAddr: "http://10.1.2.3:8200", vaultstore.EnvToken: "hvs.x"}, "--vault-allow-insecure-http"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--data-dir", filepath.Join(t.TempDir(), "d"), "probe"}, tc.args...)
			_, err := runStoreCommand(t, tc.kind, args...)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "hvs.x")
		})
	}
}

// TestVaultAllowInsecureHTTP checks that --vault-allow-insecure-http reaches
// vaultstore.Config from each source, and is off unless given. Nothing is
// dialled: only the configuration is built.
func TestVaultAllowInsecureHTTP(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		config string
		want   bool
	}{
		{name: "default", want: false},
		{name: "flag", args: []string{"--" + flagVaultAllowInsecureHTTP}, want: true},
		{name: "flag false", args: []string{"--" + flagVaultAllowInsecureHTTP + "=false"}, want: false},
		{name: "environment", env: map[string]string{"VIGIL_VAULT_ALLOW_INSECURE_HTTP": "true"}, want: true},
		{name: "config file", config: flagVaultAllowInsecureHTTP + ": true\n", want: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var got vaultstore.Config
			app := &cli.App{
				Name: "vigil", Flags: globalFlags(), Writer: &bytes.Buffer{}, ErrWriter: &bytes.Buffer{},
				ExitErrHandler: func(*cli.Context, error) {},
				Commands: []*cli.Command{{Name: "probe", Flags: keyStoreFlags(), Action: func(c *cli.Context) (err error) {
					got, err = vaultConfig(c)
					return err
				}}},
			}
			cliutil.WithConfigFile(app, flagConfig)
			args := []string{"vigil", "--data-dir", filepath.Join(t.TempDir(), "d")}
			if tc.config != "" {
				cfg := filepath.Join(t.TempDir(), "vigil.yaml")
				require.NoError(t, os.WriteFile(cfg, []byte(tc.config), 0o600))
				args = append(args, "--config", cfg)
			}
			args = append(append(args, "probe", "--"+flagVaultAddress, "http://vault.internal:8200"), tc.args...)
			require.NoError(t, app.RunContext(t.Context(), args))
			require.Equal(t, tc.want, got.AllowInsecureHTTP)
		})
	}
}

func TestOpenKeyStoreVault(t *testing.T) {
	v := testharness.StartVault(t)
	const policy = `
path "secret/data/vigil/keys/*"     { capabilities = ["create", "read"] }
path "secret/metadata/vigil/keys"   { capabilities = ["list"] }
path "secret/metadata/vigil/keys/*" { capabilities = ["read", "update", "delete"] }
`
	roleID, secretIDFile := v.EnableAppRole(t, "vigil", policy, nil)
	token := v.CreateToken(t, policy, 0)

	tests := []struct {
		name string
		env  map[string]string
		args []string
		// config is YAML for --config, empty for none.
		config string
		want   string // error text; empty for success
	}{
		{name: "VAULT_ADDR and VAULT_TOKEN", env: map[string]string{vaultstore.EnvAddr: v.Addr, vaultstore.EnvToken: token}},
		{name: "VIGIL_VAULT_TOKEN", env: map[string]string{vaultstore.EnvAddr: v.Addr, envVigilVaultToken: token}},
		{name: "token file", args: []string{"--vault-address", v.Addr, "--vault-token-file", privateFile(t, token, 0o600)}},
		{name: "token file readable by others", args: []string{"--vault-address", v.Addr, "--vault-token-file", privateFile(t, token, 0o644)},
			want: "chmod 600"},
		{name: "approle", args: []string{"--vault-address", v.Addr, "--vault-approle-role-id", roleID,
			"--vault-approle-secret-id-file", secretIDFile}},
		{name: "approle wins over a stray VAULT_TOKEN", env: map[string]string{vaultstore.EnvToken: "hvs.stray"},
			args: []string{"--vault-address", v.Addr, "--vault-approle-role-id", roleID, "--vault-approle-secret-id-file", secretIDFile}},
		{name: "config file", config: fmt.Sprintf("vault-address: %s\nvault-token-file: %s\nvault-parallelism: 4\n",
			v.Addr, privateFile(t, token, 0o600))},
		{name: "VIGIL_ variables", env: map[string]string{"VIGIL_VAULT_ADDRESS": v.Addr, "VIGIL_VAULT_TOKEN_FILE": privateFile(t, token, 0o600)}},
		{name: "wrong token", env: map[string]string{vaultstore.EnvAddr: v.Addr, vaultstore.EnvToken: "hvs.wrong"}, want: "rejected the token"},
		{name: "not a KV v2 mount", env: map[string]string{vaultstore.EnvAddr: v.Addr, vaultstore.EnvToken: v.RootToken},
			args: []string{"--vault-mount", "cubbyhole"}, want: "vigil needs KV v2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearVaultEnv(t)
			for k, val := range tc.env {
				t.Setenv(k, val)
			}
			args := []string{"--data-dir", filepath.Join(t.TempDir(), "d")}
			if tc.config != "" {
				cfg := filepath.Join(t.TempDir(), "vigil.yaml")
				require.NoError(t, os.WriteFile(cfg, []byte(tc.config), 0o600))
				args = append(args, "--config", cfg)
			}
			args = append(append(args, "probe"), tc.args...)
			s, err := runStoreCommand(t, "vault", args...)
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				require.NotContains(t, err.Error(), token)
				return
			}
			require.NoError(t, err)
			require.IsType(t, &vaultstore.Store{}, s)
			key := keystoretest.Keys(t, 1)[0]
			require.NoError(t, s.Put(t.Context(), key))
			infos, err := s.List(t.Context())
			require.NoError(t, err)
			require.Len(t, infos, 1)
			require.NoError(t, s.Delete(t.Context(), key.Pubkey))
		})
	}
}
