package vaultstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestConfigWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		mode authMode
		want string // error text; empty for success
	}{
		{"token", Config{Address: "http://x", Token: "t"}, authToken, ""},
		{"token file", Config{Address: "http://x", TokenFile: "/f"}, authTokenFile, ""},
		{"approle", Config{Address: "http://x", AppRoleRoleID: "r", AppRoleSecretIDFile: "/f"}, authAppRole, ""},
		{"no address", Config{Token: "t"}, 0, "no Vault address"},
		{"no credentials", Config{Address: "http://x"}, 0, "no Vault credentials"},
		{"two credentials", Config{Address: "http://x", Token: "t", TokenFile: "/f"}, 0, "more than once"},
		{"approle without secret ID", Config{Address: "http://x", AppRoleRoleID: "r"}, 0, "both a role ID and a secret ID file"},
		{"client cert without key", Config{Address: "http://x", Token: "t", ClientCert: "/c"}, 0, "both a client certificate and a client key"},
		{"slash mount", Config{Address: "http://x", Token: "t", Mount: "/"}, 0, "only slashes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, mode, err := tc.cfg.withDefaults()
			if tc.want != "" {
				require.ErrorContains(t, err, tc.want)
				require.ErrorIs(t, err, ErrConfig)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.mode, mode)
			require.Equal(t, DefaultMount, cfg.Mount)
			require.Equal(t, DefaultPrefix, cfg.Prefix)
			require.Equal(t, DefaultAppRoleMount, cfg.AppRoleMount)
			require.Equal(t, DefaultParallelism, cfg.Parallelism)
		})
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(content), mode))
		require.NoError(t, os.Chmod(p, mode))
		return p
	}
	tests := []struct {
		name string
		path string
		want string // error text; empty for success
	}{
		{"private", write("ok", "hvs.secret\n", 0o600), ""},
		{"group readable", write("group", "hvs.secret", 0o640), "chmod 600"},
		{"world readable", write("world", "hvs.secret", 0o644), "has mode 0644"},
		{"empty", write("empty", " \n", 0o600), "is empty"},
		{"missing", filepath.Join(dir, "missing"), "no such file"},
		{"directory", dir, "is a directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := readSecretFile("Vault token file", tc.path)
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, "hvs.secret", v)
				return
			}
			require.ErrorContains(t, err, tc.want)
			require.ErrorIs(t, err, ErrConfig)
			require.NotContains(t, err.Error(), "hvs.secret")
		})
	}
}
