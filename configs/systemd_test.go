package configs

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// unitFiles are the systemd units shipped in systemd/, with the program each
// one starts.
var unitFiles = []struct {
	name, program string
}{
	{"vigil-validator.service", "/usr/local/bin/vigil"},
	{"vault-agent.service", "/usr/bin/vault"},
}

// unit is a parsed unit file: section → key → values in order (a key may
// repeat, e.g. SystemCallFilter=).
type unit map[string]map[string][]string

// parseUnit reads the unit file syntax of systemd.syntax(7): sections,
// key=value lines, comments starting with # or ;. It knows nothing of the
// keys; systemd-analyze checks those.
func parseUnit(t *testing.T, path string) unit {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	u := unit{}
	section := ""
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			require.True(t, ok, "%s:%d: not key=value: %q", path, n, line)
			require.NotEmpty(t, section, "%s:%d: %q before any section", path, n, line)
			require.False(t, strings.HasSuffix(line, `\`), "%s:%d: keep directives on one line", path, n)
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.TrimSpace(v))
		}
	}
	require.NoError(t, sc.Err())
	return u
}

// one returns the single value of key in section, failing if it is missing
// or repeated.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	require.Len(t, v, 1, "[%s] %s= should be set exactly once", section, key)
	return v[0]
}

// TestSystemdUnitsVerify runs `systemd-analyze verify` on copies of the units
// whose programs are replaced by a stub (the real ones are not installed
// here; the arguments are kept). systemd-analyze exits 0 even for unknown
// keys, sections or unparsable values, which it only logs, so any log line
// about the unit fails the test. A deliberately broken copy checks that such
// mistakes are caught.
func TestSystemdUnitsVerify(t *testing.T) {
	analyze := lookTool(t, "", "systemd-analyze", "install the Debian package systemd (apt-get install systemd)")
	dir := t.TempDir()
	stub := filepath.Join(dir, "bin", "stub")
	require.NoError(t, os.MkdirAll(filepath.Dir(stub), 0o755))
	require.NoError(t, os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755))

	verify := func(t *testing.T, path string) (string, error) {
		t.Helper()
		cmd := exec.Command(analyze, "verify", "--man=no", "--recursive-errors=no", path)
		cmd.Env = append(os.Environ(), "SYSTEMD_LOG_LEVEL=info", "SYSTEMD_PAGER=cat", "LANG=C")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var lines []string
		for _, l := range strings.Split(out.String(), "\n") {
			// Only what concerns our file: systemd also talks about the host's
			// units and the missing PID 1 in a container.
			if strings.Contains(l, filepath.Base(path)) {
				lines = append(lines, l)
			}
		}
		if err != nil {
			err = fmt.Errorf("systemd-analyze verify %s: %w:\n%s", path, err, out.String())
		}
		return strings.Join(lines, "\n"), err
	}
	copyWithStub := func(t *testing.T, name, program string, edit func(string) string) string {
		b, err := os.ReadFile(filepath.Join("systemd", name))
		require.NoError(t, err)
		s := strings.ReplaceAll(string(b), "ExecStart="+program, "ExecStart="+stub)
		require.NotEqual(t, string(b), s, "%s should start %s", name, program)
		if edit != nil {
			s = edit(s)
		}
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o644))
		return p
	}

	for _, uf := range unitFiles {
		t.Run(uf.name, func(t *testing.T) {
			p := copyWithStub(t, uf.name, uf.program, nil)
			got, err := verify(t, p)
			require.NoError(t, err)
			require.Empty(t, got, "systemd-analyze has complaints about %s", uf.name)

			// Exposure is systemd's own 0-10 score of the sandboxing (lower is
			// better); the units are hardened to "OK".
			cmd := exec.Command(analyze, "security", "--offline=yes", "--no-pager", "--threshold=20", p)
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "exposure of %s above 2.0:\n%s", uf.name, out)
		})
	}
	t.Run("broken unit is caught", func(t *testing.T) {
		p := copyWithStub(t, "vigil-validator.service", "/usr/local/bin/vigil", func(s string) string {
			s = strings.Replace(s, "ProtectHome=yes", "ProtecHome=yes", 1)
			return strings.Replace(s, "RestartPreventExitStatus=3", "RestartPreventExitStatus=three", 1)
		})
		got, _ := verify(t, p) // exits 0 or 1 depending on the mistake
		require.Contains(t, got, "Unknown key")
		require.Contains(t, got, "Failed to parse")
	})
}

// TestValidatorUnitHardening checks the directives the safety of the service
// rests on, so that nobody drops one while editing.
func TestValidatorUnitHardening(t *testing.T) {
	u := parseUnit(t, filepath.Join("systemd", "vigil-validator.service"))
	want := []struct{ key, value, why string }{
		{"Type", "simple", "vigil does not implement sd_notify"},
		{"User", "vigil", "a dedicated unprivileged user"},
		{"Group", "vigil", ""},
		{"RestartPreventExitStatus", "3", "exit 3 means another signer may hold the keys: never auto-restart (2 is a Go crash, restarted)"},
		{"Restart", "on-failure", ""},
		{"KillSignal", "SIGTERM", "SIGTERM lets the current slot's duties finish"},
		{"EnvironmentFile", "-/etc/vigil/vigil.env", "optional environment file of secret paths"},
		{"StateDirectory", "vigil", ""},
		{"StateDirectoryMode", "0700", "vigil refuses a data dir others can read"},
		{"ReadWritePaths", "/var/lib/vigil", ""},
		{"UMask", "0077", "files vigil creates are private"},
		{"NoNewPrivileges", "yes", ""},
		{"ProtectSystem", "strict", ""},
		{"ProtectHome", "yes", ""},
		{"PrivateTmp", "yes", ""},
		{"PrivateDevices", "yes", ""},
		{"CapabilityBoundingSet", "", "no capabilities at all"},
		{"AmbientCapabilities", "", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX", ""},
		{"MemoryDenyWriteExecute", "yes", "neither Go nor herumi's BLS library needs W+X memory"},
		{"SystemCallArchitectures", "native", ""},
		{"LimitCORE", "0", "no core dumps with decrypted keys"},
	}
	for _, w := range want {
		t.Run(w.key, func(t *testing.T) {
			require.Equal(t, w.value, u.one(t, "Service", w.key), w.why)
		})
	}
	t.Run("SystemCallFilter", func(t *testing.T) {
		require.Contains(t, u["Service"]["SystemCallFilter"], "@system-service")
	})
	t.Run("TimeoutStopSec", func(t *testing.T) {
		d, err := time.ParseDuration(u.one(t, "Service", "TimeoutStopSec"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, d, 30*time.Second, "long enough to finish a 12 s slot and close the slashing database")
	})
	t.Run("ExecStart", func(t *testing.T) {
		require.Equal(t, "/usr/local/bin/vigil --config /etc/vigil/vigil.yaml validator run", u.one(t, "Service", "ExecStart"))
	})
	t.Run("data dir matches the example config", func(t *testing.T) {
		var cfg struct {
			DataDir string `yaml:"data-dir"`
		}
		b, err := os.ReadFile("vigil.example.yaml")
		require.NoError(t, err)
		require.NoError(t, yaml.Unmarshal(b, &cfg))
		require.Equal(t, "/var/lib/"+u.one(t, "Service", "StateDirectory"), cfg.DataDir)
		require.Equal(t, cfg.DataDir, u.one(t, "Service", "ReadWritePaths"))
	})
	t.Run("Install", func(t *testing.T) {
		require.Equal(t, "multi-user.target", u.one(t, "Install", "WantedBy"))
	})
}

// TestVaultAgentUnit checks that the agent runs as vigil and keeps its token
// on tmpfs where vigil's token-file settings point.
func TestVaultAgentUnit(t *testing.T) {
	u := parseUnit(t, filepath.Join("systemd", "vault-agent.service"))
	require.Equal(t, "vigil", u.one(t, "Service", "User"), "the sink file must be vigil's own (0600)")
	require.Equal(t, "vigil-vault-agent", u.one(t, "Service", "RuntimeDirectory"))
	require.Equal(t, "0700", u.one(t, "Service", "RuntimeDirectoryMode"))
	require.Equal(t, "/usr/bin/vault agent -config=/etc/vigil/vault-agent.hcl", u.one(t, "Service", "ExecStart"))
	require.Equal(t, "vigil-validator.service", u.one(t, "Unit", "Before"))

	env, err := os.ReadFile(filepath.Join("systemd", "vigil.env.example"))
	require.NoError(t, err)
	require.Contains(t, string(env), "VIGIL_VAULT_TOKEN_FILE=/run/vigil-vault-agent/token")
}

// TestEnvExampleHoldsNoSecrets checks that the environment file names secret
// files only: a variable that carries a secret value must not appear.
func TestEnvExampleHoldsNoSecrets(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("systemd", "vigil.env.example"))
	require.NoError(t, err)
	for _, forbidden := range []string{"VIGIL_VAULT_TOKEN=", "VAULT_TOKEN=", "PGPASSWORD=", "VAULT_SECRET_ID=", "password="} {
		require.NotContains(t, string(b), forbidden)
	}
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "#")
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.Contains(k, " ") {
			continue // prose
		}
		t.Run(k, func(t *testing.T) {
			require.Regexp(t, `^(VIGIL|PG)[A-Z_]+$`, k, "line %d", n+1)
			if strings.HasSuffix(k, "_FILE") || strings.HasSuffix(k, "_CERT") || strings.HasSuffix(k, "_KEY") || k == "PGPASSFILE" {
				require.True(t, filepath.IsAbs(v), "%s must be a path, not a value", k)
			}
		})
	}
}
