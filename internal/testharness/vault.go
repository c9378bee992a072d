package testharness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vigil-eth/vigil/internal/netport"
)

// VaultVersion is the Vault release tools/vault builds; the cache path is
// keyed by it.
const VaultVersion = "v1.21.1"

// vaultCacheDir is the directory under vigil-tools where
// scripts/build-vault.sh keeps the binary: keyed by version and by the build's
// flavour (upstream's `minimal` tag), so a binary of another build is never
// picked up.
const vaultCacheDir = "vault-" + VaultVersion + "-minimal"

// vaultStartTimeout bounds how long a dev server may take to answer health
// checks; the binary can take a few seconds to start on a busy box.
const vaultStartTimeout = 60 * time.Second

// Vault is a `vault server -dev` on a loopback port, unsealed, with KV v2 at
// secret/. It is stopped when the test ends.
type Vault struct {
	// Addr is the server's URL, e.g. http://127.0.0.1:38211.
	Addr string
	// RootToken is the dev server's root token (random per server).
	RootToken string

	cmd     *exec.Cmd
	logFile string
	exited  chan struct{}
	stop    sync.Once
	root    *api.Client
}

// VaultBinary returns the vault program to run: $VIGIL_VAULT_BIN, or the one
// scripts/build-vault.sh caches under the user's cache directory.
func VaultBinary() (string, error) {
	if p := os.Getenv("VIGIL_VAULT_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("VIGIL_VAULT_BIN: %w", err)
		}
		return p, nil
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the vault binary: %w", err)
	}
	p := filepath.Join(cache, "vigil-tools", vaultCacheDir, "vault")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("no vault binary at %s and VIGIL_VAULT_BIN is unset", p)
	}
	return p, nil
}

// VaultBinaryOrSkip returns the vault binary, skipping the test loudly when it
// is not built (failing instead under VIGIL_REQUIRE_INTEGRATION=1).
func VaultBinaryOrSkip(t testing.TB) string {
	t.Helper()
	bin, err := VaultBinary()
	if err != nil {
		msg := "VAULT INTEGRATION TEST NOT RUN: " + err.Error() +
			"; build it with scripts/build-vault.sh (about 10 minutes, cached) or run `make test`"
		if os.Getenv("VIGIL_REQUIRE_INTEGRATION") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return bin
}

// StartVault starts a Vault dev server on a reserved loopback port with a
// temporary HOME (the dev server writes ~/.vault-token) and waits until it is
// healthy. The server is killed when the test ends.
func StartVault(t testing.TB) *Vault {
	t.Helper()
	bin := VaultBinaryOrSkip(t)
	v, err := startVault(t, bin)
	if err != nil {
		t.Fatalf("start vault dev server: %v", err)
	}
	return v
}

func startVault(t testing.TB, bin string) (*Vault, error) {
	ports, err := netport.Reserve(1)
	if err != nil {
		return nil, err
	}
	// Held until the server is stopped: nothing else can be given the port.
	t.Cleanup(ports.Release)
	port := ports.Ports()[0]
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, err
	}
	token := "root-" + vaultRandomHex(16)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	logPath := filepath.Join(dir, "vault.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+token, "-dev-listen-address="+addr)
	cmd.Env = []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "VAULT_LOG_LEVEL=warn"}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Killed with the test binary even if it dies without running cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("run %s: %w", bin, err)
	}
	v := &Vault{Addr: "http://" + addr, RootToken: token, cmd: cmd, logFile: logPath, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logFile.Close()
		close(v.exited)
	}()
	t.Cleanup(func() {
		v.Stop()
		if t.Failed() {
			t.Logf("---- last lines of the vault dev server log %s ----\n%s", logPath, v.logTail(30))
		}
	})
	if err := v.waitHealthy(); err != nil {
		v.Stop()
		return nil, fmt.Errorf("%w\n%s", err, v.logTail(30))
	}
	root, err := api.NewClient(&api.Config{Address: v.Addr})
	if err != nil {
		v.Stop()
		return nil, err
	}
	root.SetToken(token)
	v.root = root
	return v, nil
}

func (v *Vault) waitHealthy() error {
	deadline := time.Now().Add(vaultStartTimeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-v.exited:
			return errors.New("vault dev server exited during start")
		default:
		}
		resp, err := client.Get(v.Addr + "/v1/sys/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("vault dev server at %s not healthy after %s", v.Addr, vaultStartTimeout)
}

// Stop kills the server (idempotent); requests to Addr then fail to connect.
func (v *Vault) Stop() {
	v.stop.Do(func() {
		_ = v.cmd.Process.Kill()
		<-v.exited
	})
}

// Root returns a client authenticated with the root token, for test setup.
func (v *Vault) Root() *api.Client { return v.root }

// Seal seals the server; every later request but seal-status fails with 503.
func (v *Vault) Seal(t testing.TB) {
	t.Helper()
	if err := v.root.Sys().Seal(); err != nil {
		t.Fatalf("seal vault: %v", err)
	}
}

// WritePolicy creates or replaces an ACL policy.
func (v *Vault) WritePolicy(t testing.TB, name, hcl string) {
	t.Helper()
	if err := v.root.Sys().PutPolicy(name, hcl); err != nil {
		t.Fatalf("write vault policy %s: %v", name, err)
	}
}

// CreateToken creates a token carrying the default policy and one new policy
// with the given HCL; ttl 0 means the dev server's default (32 days).
func (v *Vault) CreateToken(t testing.TB, policyHCL string, ttl time.Duration) string {
	t.Helper()
	name := "test-" + vaultRandomHex(6)
	v.WritePolicy(t, name, policyHCL)
	req := &api.TokenCreateRequest{Policies: []string{name}}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	sec, err := v.root.Auth().Token().Create(req)
	if err != nil {
		t.Fatalf("create vault token: %v", err)
	}
	return sec.Auth.ClientToken
}

// EnableAppRole enables AppRole at auth/approle (once per server), creates a
// policy and a role named role with that policy and the given role parameters
// (e.g. "token_ttl": "3s", "token_type": "batch"), and returns the role ID and
// a 0600 file in the test's temporary directory holding a fresh secret ID.
func (v *Vault) EnableAppRole(t testing.TB, role, policyHCL string, params map[string]any) (roleID, secretIDFile string) {
	t.Helper()
	auths, err := v.root.Sys().ListAuth()
	if err != nil {
		t.Fatalf("list vault auth methods: %v", err)
	}
	if _, ok := auths["approle/"]; !ok {
		if err := v.root.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil {
			t.Fatalf("enable approle: %v", err)
		}
	}
	v.WritePolicy(t, role, policyHCL)
	data := map[string]any{"token_policies": []string{role}}
	for k, val := range params {
		data[k] = val
	}
	if _, err := v.root.Logical().Write("auth/approle/role/"+role, data); err != nil {
		t.Fatalf("create approle role %s: %v", role, err)
	}
	sec, err := v.root.Logical().Read("auth/approle/role/" + role + "/role-id")
	if err != nil || sec == nil {
		t.Fatalf("read approle role ID of %s: %v", role, err)
	}
	roleID, _ = sec.Data["role_id"].(string)
	sec, err = v.root.Logical().Write("auth/approle/role/"+role+"/secret-id", nil)
	if err != nil || sec == nil {
		t.Fatalf("create approle secret ID for %s: %v", role, err)
	}
	secretID, _ := sec.Data["secret_id"].(string)
	secretIDFile = filepath.Join(t.TempDir(), role+".secret-id")
	if err := os.WriteFile(secretIDFile, []byte(secretID+"\n"), 0o600); err != nil {
		t.Fatalf("write secret ID file: %v", err)
	}
	return roleID, secretIDFile
}

// EnableKVv1 mounts a KV version 1 engine at mount.
func (v *Vault) EnableKVv1(t testing.TB, mount string) {
	t.Helper()
	err := v.root.Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}})
	if err != nil {
		t.Fatalf("mount KV v1 at %s: %v", mount, err)
	}
}

// WriteKV writes data as a new version of the KV v2 secret at path in mount.
func (v *Vault) WriteKV(t testing.TB, mount, path string, data map[string]any) {
	t.Helper()
	if _, err := v.root.KVv2(mount).Put(context.Background(), path, data); err != nil {
		t.Fatalf("write %s/%s: %v", mount, path, err)
	}
}

func (v *Vault) logTail(n int) string {
	b, err := os.ReadFile(v.logFile)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.TrimSpace(string(bytes.Join(lines, []byte("\n"))))
}

func vaultRandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
