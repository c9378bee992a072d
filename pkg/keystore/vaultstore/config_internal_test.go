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
		{"token", Config{Address: "https://x", Token: "t"}, authToken, ""},
		{"token file", Config{Address: "https://x", TokenFile: "/f"}, authTokenFile, ""},
		{"approle", Config{Address: "https://x", AppRoleRoleID: "r", AppRoleSecretIDFile: "/f"}, authAppRole, ""},
		{"no address", Config{Token: "t"}, 0, "no Vault address"},
		{"no credentials", Config{Address: "https://x"}, 0, "no Vault credentials"},
		{"two credentials", Config{Address: "https://x", Token: "t", TokenFile: "/f"}, 0, "more than once"},
		{"approle without secret ID", Config{Address: "https://x", AppRoleRoleID: "r"}, 0, "both a role ID and a secret ID file"},
		{"client cert without key", Config{Address: "https://x", Token: "t", ClientCert: "/c"}, 0, "both a client certificate and a client key"},
		{"slash mount", Config{Address: "https://x", Token: "t", Mount: "/"}, 0, "only slashes"},
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

// TestCheckAddress pins which Vault addresses carry the token and keys in
// clear: plain http:// is accepted for loopback hosts only, unless the
// operator allows it explicitly.
func TestCheckAddress(t *testing.T) {
	tests := []struct {
		name         string
		address      string
		allow        bool
		wantInsecure bool
		want         []string // error fragments; none for success
	}{
		{name: "https", address: "https://vault.internal:8200"},
		{name: "https upper-case scheme", address: "HTTPS://vault.internal:8200"},
		{name: "https IP", address: "https://10.0.0.5:8200"},
		{name: "http 127.0.0.1", address: "http://127.0.0.1:8200"},
		{name: "http elsewhere in 127/8", address: "http://127.42.0.9:8100"},
		{name: "http ::1", address: "http://[::1]:8200"},
		{name: "http ::1 with zone", address: "http://[::1%25lo]:8200"},
		{name: "http IPv4-mapped loopback", address: "http://[::ffff:127.0.0.1]:8200"},
		{name: "http localhost", address: "http://localhost:8200"},
		{name: "http LOCALHOST.", address: "http://LOCALHOST.:8200"},
		{name: "unix socket", address: "unix:///run/vault-agent/agent.sock"},
		{
			name: "http remote host", address: "http://vault.internal:8200",
			want: []string{"http://vault.internal:8200", "not loopback", "unencrypted", "https://", "Vault Agent", "--vault-allow-insecure-http"},
		},
		{name: "http remote IP", address: "http://10.0.0.5:8200", want: []string{"http://10.0.0.5:8200", "not loopback"}},
		{name: "http unspecified address", address: "http://0.0.0.0:8200", want: []string{"not loopback"}},
		{name: "http ::", address: "http://[::]:8200", want: []string{"not loopback"}},
		{name: "http name starting with localhost", address: "http://localhost.attacker.example:8200", want: []string{"not loopback"}},
		{name: "http name resolving to loopback", address: "http://127.0.0.1.nip.io:8200", want: []string{"not loopback"}},
		{name: "http remote host allowed", address: "http://vault.internal:8200", allow: true, wantInsecure: true},
		{name: "http loopback with allow is not insecure", address: "http://127.0.0.1:8200", allow: true},
		{name: "http no host", address: "http:///v1", want: []string{"names no host"}},
		{name: "https no host", address: "https://", want: []string{"names no host"}},
		{name: "no scheme", address: "vault.internal:8200", want: []string{`scheme "vault.internal"`, "want https://"}},
		{name: "other scheme", address: "ftp://vault.internal", want: []string{`scheme "ftp"`}},
		{name: "not a URL", address: "http://vault internal:8200", want: []string{"not a URL"}},
		{
			name: "credentials in the URL", address: "https://ops:hunter2@vault.internal:8200",
			want: []string{"carries user credentials", "ops:xxxxx@vault.internal"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			insecure, err := checkAddress(tc.address, tc.allow)
			if len(tc.want) == 0 {
				require.NoError(t, err)
				require.Equal(t, tc.wantInsecure, insecure)
				return
			}
			require.ErrorIs(t, err, ErrConfig)
			for _, w := range tc.want {
				require.ErrorContains(t, err, w)
			}
			require.NotContains(t, err.Error(), "hunter2")
			require.False(t, insecure)
		})
	}
	t.Run("withDefaults applies it", func(t *testing.T) {
		_, _, err := Config{Address: "http://vault.internal:8200", Token: "t"}.withDefaults()
		require.ErrorIs(t, err, ErrConfig)
		require.ErrorContains(t, err, "not loopback")
		_, _, err = Config{Address: "http://vault.internal:8200", Token: "t", AllowInsecureHTTP: true}.withDefaults()
		require.NoError(t, err)
	})
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

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		EnvAddr: "https://env:8200", EnvToken: "env-token", EnvNamespace: "env-ns",
		EnvCACert: "/env/ca.pem", EnvClientCert: "/env/cert.pem", EnvClientKey: "/env/key.pem",
	}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name string
		in   Config
		want Config
	}{
		{
			name: "everything from the environment",
			want: Config{Address: "https://env:8200", Token: "env-token", Namespace: "env-ns",
				CAFile: "/env/ca.pem", ClientCert: "/env/cert.pem", ClientKey: "/env/key.pem"},
		},
		{
			name: "configured values win",
			in:   Config{Address: "https://cfg:8200", Namespace: "cfg-ns", CAFile: "/cfg/ca.pem", Token: "cfg-token"},
			want: Config{Address: "https://cfg:8200", Token: "cfg-token", Namespace: "cfg-ns",
				CAFile: "/cfg/ca.pem", ClientCert: "/env/cert.pem", ClientKey: "/env/key.pem"},
		},
		{
			name: "VAULT_TOKEN never beside a token file",
			in:   Config{TokenFile: "/run/token"},
			want: Config{Address: "https://env:8200", TokenFile: "/run/token", Namespace: "env-ns",
				CAFile: "/env/ca.pem", ClientCert: "/env/cert.pem", ClientKey: "/env/key.pem"},
		},
		{
			name: "VAULT_TOKEN never beside AppRole",
			in:   Config{AppRoleRoleID: "role", AppRoleSecretIDFile: "/run/secret-id"},
			want: Config{Address: "https://env:8200", AppRoleRoleID: "role", AppRoleSecretIDFile: "/run/secret-id", Namespace: "env-ns",
				CAFile: "/env/ca.pem", ClientCert: "/env/cert.pem", ClientKey: "/env/key.pem"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in
			got.ApplyEnv(getenv)
			require.Equal(t, tt.want, got)
		})
	}
}
