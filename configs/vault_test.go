package configs

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/hashicorp/hcl"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

var (
	vaultAgentConfig = filepath.Join("vault", "vault-agent.hcl")
	vaultPolicy      = filepath.Join("vault", "vigil-policy.hcl")
)

// policyFile is the shape of a Vault ACL policy.
type policyFile struct {
	Path map[string]struct {
		Capabilities []string `hcl:"capabilities"`
	} `hcl:"path"`
}

// TestVaultFilesParse parses both files with HCL v1, the dialect Vault reads
// agent configurations and policies in, and checks that the policy grants
// the validator client nothing but reading and listing its keys.
func TestVaultFilesParse(t *testing.T) {
	for _, f := range []string{vaultAgentConfig, vaultPolicy} {
		t.Run(f, func(t *testing.T) {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			_, err = hcl.ParseBytes(b)
			require.NoError(t, err)
		})
	}
	t.Run("least privilege", func(t *testing.T) {
		b, err := os.ReadFile(vaultPolicy)
		require.NoError(t, err)
		var p policyFile
		require.NoError(t, hcl.Decode(&p, string(b)))
		got := map[string][]string{}
		for path, rule := range p.Path {
			got[path] = rule.Capabilities
		}
		require.Equal(t, map[string][]string{
			"secret/data/vigil/keys/*":   {"read"},
			"secret/metadata/vigil/keys": {"list"},
		}, got)
	})
	t.Run("agent sink", func(t *testing.T) {
		b, err := os.ReadFile(vaultAgentConfig)
		require.NoError(t, err)
		s := string(b)
		require.Regexp(t, `(?m)^\s*path\s*=\s*"/run/vigil-vault-agent/token"`, s, "the sink vigil's token file points at")
		require.Regexp(t, `(?m)^\s*mode\s*=\s*0600\b`, s, "the token file is vigil's alone")
		require.Regexp(t, `(?m)^\s*method\s+"approle"`, s)
	})
}

// agentConfigFor rewrites the example agent configuration for a dev server:
// its address, no CA file, and every file inside dir. Everything else (the
// auth method, the sink and its mode) is the shipped file's.
func agentConfigFor(t *testing.T, addr, dir, roleIDFile, secretIDFile string) string {
	t.Helper()
	b, err := os.ReadFile(vaultAgentConfig)
	require.NoError(t, err)
	s := string(b)
	for _, r := range []struct{ old, new string }{
		{`"https://vault.internal:8200"`, fmt.Sprintf("%q", addr)},
		{`"/etc/vigil/vault-role-id"`, fmt.Sprintf("%q", roleIDFile)},
		{`"/etc/vigil/vault-secret-id"`, fmt.Sprintf("%q", secretIDFile)},
		{`"/run/vigil-vault-agent/`, `"` + dir + "/"},
	} {
		require.Contains(t, s, r.old)
		s = strings.ReplaceAll(s, r.old, r.new)
	}
	caLine := regexp.MustCompile(`(?m)^\s*ca_cert\s*=.*$`)
	require.Regexp(t, caLine, s)
	s = caLine.ReplaceAllString(s, "")
	p := filepath.Join(dir, "agent.hcl")
	require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
	return p
}

// TestVaultPolicyAndAgent runs the shipped files against a real Vault dev
// server: the policy lets vigil list and load keys and nothing more, and the
// agent configuration logs in with AppRole and leaves a 0600 token file that
// vigil's vault-token-file setting loads keys with.
func TestVaultPolicyAndAgent(t *testing.T) {
	v := testharness.StartVault(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	policy, err := os.ReadFile(vaultPolicy)
	require.NoError(t, err)

	root, err := vaultstore.New(ctx, vaultstore.Config{Address: v.Addr, Token: v.RootToken})
	require.NoError(t, err)
	keys := keystoretest.Keys(t, 2)
	for _, k := range keys {
		require.NoError(t, root.Put(ctx, k))
	}
	want := []phase0.BLSPubKey{keys[0].Pubkey, keys[1].Pubkey}

	// canRun checks what `vigil validator run` does with the store, and that
	// the store cannot be changed.
	canRun := func(t *testing.T, s *vaultstore.Store) {
		t.Helper()
		got, err := s.Pubkeys(ctx)
		require.NoError(t, err)
		require.ElementsMatch(t, want, got)
		loaded, err := s.Load(ctx, want)
		require.NoError(t, err)
		for i, k := range loaded {
			require.Equal(t, want[i], keystore.PublicKey(k.Secret))
			k.Zero()
		}
		extra := keystoretest.Keys(t, 3)[2]
		require.ErrorIs(t, s.Put(ctx, extra), vaultstore.ErrPermissionDenied, "the validator's policy must not write keys")
		require.ErrorIs(t, s.Delete(ctx, want[0]), vaultstore.ErrPermissionDenied, "the validator's policy must not delete keys")
	}

	t.Run("policy", func(t *testing.T) {
		token := v.CreateToken(t, string(policy), 0)
		s, err := vaultstore.New(ctx, vaultstore.Config{Address: v.Addr, Token: token})
		require.NoError(t, err)
		canRun(t, s)
	})

	t.Run("agent", func(t *testing.T) {
		bin := testharness.VaultBinaryOrSkip(t)
		roleID, secretIDFile := v.EnableAppRole(t, "vigil-validator", string(policy), map[string]any{"token_ttl": "1h"})
		dir := t.TempDir()
		roleIDFile := filepath.Join(dir, "role-id")
		require.NoError(t, os.WriteFile(roleIDFile, []byte(roleID+"\n"), 0o600))
		cfg := agentConfigFor(t, v.Addr, dir, roleIDFile, secretIDFile)

		agentCtx, stopAgent := context.WithCancel(ctx)
		cmd := exec.CommandContext(agentCtx, bin, "agent", "-config="+cfg)
		// Only the configuration speaks: no VAULT_* variable of the caller (an
		// empty VAULT_ADDR would even replace the configured address).
		cmd.Env = []string{"HOME=" + dir}
		for _, e := range os.Environ() {
			if !strings.HasPrefix(e, "VAULT_") && !strings.HasPrefix(e, "HOME=") {
				cmd.Env = append(cmd.Env, e)
			}
		}
		logf, err := os.Create(filepath.Join(dir, "agent.log"))
		require.NoError(t, err)
		defer logf.Close()
		cmd.Stdout, cmd.Stderr = logf, logf
		require.NoError(t, cmd.Start())
		defer func() {
			stopAgent()
			_ = cmd.Wait()
		}()

		tokenFile := filepath.Join(dir, "token")
		for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if fi, err := os.Stat(tokenFile); err == nil && fi.Size() > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("vault agent wrote no token in 60 s; its log:\n%s", readFile(filepath.Join(dir, "agent.log")))
			}
		}
		fi, err := os.Stat(tokenFile)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "the sink mode in the example")

		s, err := vaultstore.New(ctx, vaultstore.Config{Address: v.Addr, TokenFile: tokenFile})
		require.NoError(t, err, "vigil with vault-token-file pointing at the agent's sink")
		canRun(t, s)
	})
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
