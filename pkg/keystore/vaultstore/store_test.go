package vaultstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// vigilPolicy is the least a validator client and the keys commands need on
// the default mount and prefix.
const vigilPolicy = `
path "secret/data/vigil/keys/*"     { capabilities = ["create", "read"] }
path "secret/metadata/vigil/keys/*" { capabilities = ["list", "read", "update", "delete"] }
`

// uniquePrefix isolates a subtest's keys from every other's on a shared server.
func uniquePrefix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "vigil/test-" + hex.EncodeToString(b)
}

func rootConfig(v *testharness.Vault) vaultstore.Config {
	return vaultstore.Config{Address: v.Addr, Token: v.RootToken, Prefix: uniquePrefix()}
}

func open(t testing.TB, cfg vaultstore.Config, opts ...vaultstore.Option) *vaultstore.Store {
	t.Helper()
	s, err := vaultstore.New(t.Context(), cfg, opts...)
	require.NoError(t, err)
	return s
}

// randomKeys makes n fresh BLS keys (CSPRNG; EIP-2333 derivation is too slow
// for thousands).
func randomKeys(t testing.TB, n int) []*keystore.Key {
	t.Helper()
	require.NoError(t, blsinit.Init())
	created := time.Now().UTC().Truncate(time.Second)
	keys := make([]*keystore.Key, n)
	for i := range keys {
		var sk bls.SecretKey
		sk.SetByCSPRNG()
		keys[i] = &keystore.Key{
			Info: keystore.Info{
				Pubkey:    keystore.PublicKey(&sk),
				Path:      keystore.SigningKeyPath(uint32(i)),
				CreatedAt: created,
				Origin:    keystore.OriginImported,
			},
			Secret: &sk,
		}
	}
	return keys
}

// fakeClock is a settable clock; After never fires, so nothing the store
// schedules on it runs unless a test says so.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(time.Duration) <-chan time.Time { return nil }

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// putAll stores keys with parallel puts.
func putAll(t testing.TB, s *vaultstore.Store, keys []*keystore.Key) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(keys))
	sem := make(chan struct{}, 16)
	for i, k := range keys {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = s.Put(context.Background(), k)
		})
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
}

func pubkeys(keys []*keystore.Key) []phase0.BLSPubKey {
	pks := make([]phase0.BLSPubKey, len(keys))
	for i, k := range keys {
		pks[i] = k.Pubkey
	}
	return pks
}

func secretHex(k *keystore.Key) string { return hex.EncodeToString(k.Secret.Serialize()) }

// eip2333Seed reads Test Case 0's seed from the EIP-2333 vectors
// (ethereum/ERCs ERCS/erc-2333.md, "Test Cases"; see testdata/README.md).
func eip2333Seed(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "eip2333_vectors.json"))
	require.NoError(t, err)
	var v struct {
		Cases []struct {
			Seed string `json:"seed"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(b, &v))
	seed, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(v.Cases[0].Seed), "0x"))
	require.NoError(t, err)
	return seed
}

func TestRoundTripSignsTheSame(t *testing.T) {
	v := testharness.StartVault(t)
	s := open(t, rootConfig(v))

	key, err := keystore.DeriveKey(eip2333Seed(t), keystore.SigningKeyPath(0), time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	require.NoError(t, s.Put(t.Context(), key))

	loaded, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
	require.NoError(t, err)
	require.Len(t, loaded, 1)
	require.Equal(t, key.Info, loaded[0].Info)

	msg := []byte("vigil round trip through Vault")
	require.Equal(t, key.Secret.SignByte(msg).Serialize(), loaded[0].Secret.SignByte(msg).Serialize(),
		"the loaded key must sign exactly as the stored one")

	infos, err := s.List(t.Context())
	require.NoError(t, err)
	require.Equal(t, []keystore.Info{key.Info}, infos)

	ttl, expires := s.TokenTTL()
	require.False(t, expires, "the dev root token never expires")
	require.Zero(t, ttl)
}

func TestConformance(t *testing.T) {
	v := testharness.StartVault(t)
	keystoretest.RunConformance(t, func(t *testing.T) keystore.Store { return open(t, rootConfig(v)) })
}

func TestThousandKeys(t *testing.T) {
	v := testharness.StartVault(t)
	s := open(t, rootConfig(v))
	keys := randomKeys(t, 1000)
	putAll(t, s, keys)

	infos, err := s.List(t.Context())
	require.NoError(t, err)
	require.Len(t, infos, len(keys))
	byPubkey := map[phase0.BLSPubKey]keystore.Info{}
	for _, k := range keys {
		byPubkey[k.Pubkey] = k.Info
	}
	for i, info := range infos {
		require.Equal(t, byPubkey[info.Pubkey], info)
		if i > 0 {
			require.Negative(t, strings.Compare(string(infos[i-1].Pubkey[:]), string(info.Pubkey[:])), "List is sorted")
		}
	}

	loaded, err := keystore.LoadAll(t.Context(), s)
	require.NoError(t, err)
	require.Len(t, loaded, len(keys))
	for i, k := range loaded {
		require.Equal(t, infos[i].Pubkey, k.Pubkey, "Load keeps the order asked")
		require.Equal(t, infos[i].Pubkey, keystore.PublicKey(k.Secret))
	}

	for _, k := range keys {
		require.NoError(t, s.Delete(t.Context(), k.Pubkey))
	}
	infos, err = s.List(t.Context())
	require.NoError(t, err)
	require.Empty(t, infos)
}

func TestPutLoadDeleteErrors(t *testing.T) {
	v := testharness.StartVault(t)

	t.Run("put of an existing key", func(t *testing.T) {
		s := open(t, rootConfig(v))
		keys := randomKeys(t, 2)
		require.NoError(t, s.Put(t.Context(), keys[0]))
		impostor := &keystore.Key{Info: keys[0].Info, Secret: keys[0].Secret}
		impostor.Path = "m/12381/3600/99/0/0"
		err := s.Put(t.Context(), impostor)
		require.ErrorIs(t, err, keystore.ErrExists)
		loaded, err := s.Load(t.Context(), []phase0.BLSPubKey{keys[0].Pubkey})
		require.NoError(t, err)
		require.Equal(t, keys[0].Path, loaded[0].Path, "the stored key is not overwritten")
	})
	t.Run("put of a key whose secret does not match", func(t *testing.T) {
		s := open(t, rootConfig(v))
		keys := randomKeys(t, 2)
		bad := &keystore.Key{Info: keys[0].Info, Secret: keys[1].Secret}
		require.ErrorContains(t, s.Put(t.Context(), bad), "does not belong")
	})
	t.Run("load of a missing key", func(t *testing.T) {
		s := open(t, rootConfig(v))
		keys := randomKeys(t, 3)
		putAll(t, s, keys[:2])
		_, err := s.Load(t.Context(), pubkeys(keys))
		require.ErrorIs(t, err, keystore.ErrNotFound)
		require.ErrorContains(t, err, "0x"+hex.EncodeToString(keys[2].Pubkey[:]))
	})
	t.Run("delete of a missing key", func(t *testing.T) {
		s := open(t, rootConfig(v))
		err := s.Delete(t.Context(), randomKeys(t, 1)[0].Pubkey)
		require.ErrorIs(t, err, keystore.ErrNotFound)
	})
	t.Run("load of a soft-deleted key", func(t *testing.T) {
		cfg := rootConfig(v)
		s := open(t, cfg)
		key := randomKeys(t, 1)[0]
		require.NoError(t, s.Put(t.Context(), key))
		require.NoError(t, v.Root().KVv2("secret").Delete(t.Context(), cfg.Prefix+"/0x"+hex.EncodeToString(key.Pubkey[:])))
		_, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
		require.ErrorIs(t, err, keystore.ErrNotFound)
		require.ErrorContains(t, err, "vault kv undelete")
	})
	t.Run("empty store", func(t *testing.T) {
		s := open(t, rootConfig(v))
		infos, err := s.List(t.Context())
		require.NoError(t, err)
		require.Empty(t, infos)
	})
}

func TestNotAVigilKey(t *testing.T) {
	v := testharness.StartVault(t)
	keys := randomKeys(t, 2)
	pk := "0x" + hex.EncodeToString(keys[0].Pubkey[:])

	tests := []struct {
		name  string
		write func(prefix string)
		want  string
	}{
		{
			name:  "foreign data under a public key",
			write: func(prefix string) { v.WriteKV(t, "secret", prefix+"/"+pk, map[string]any{"password": "hunter2"}) },
			want:  "/" + pk + " is not a vigil key",
		},
		{
			name: "another key's secret under a public key",
			write: func(prefix string) {
				v.WriteKV(t, "secret", prefix+"/"+pk, map[string]any{
					"vigil_key_format": "1", "pubkey": pk, "secret_key": "0x" + secretHex(keys[1]),
					"path": "", "created_at": time.Now().UTC().Format(time.RFC3339), "origin": "imported",
				})
			},
			want: "does not belong",
		},
		{
			name:  "a secret not named by a public key",
			write: func(prefix string) { v.WriteKV(t, "secret", prefix+"/notes", map[string]any{"x": "y"}) },
			want:  "/notes is not a vigil key",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rootConfig(v)
			tc.write(cfg.Prefix)
			s := open(t, cfg)
			_, err := keystore.LoadAll(t.Context(), s)
			t.Log(err)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), "hunter2")
			require.NotContains(t, err.Error(), secretHex(keys[1]))
		})
	}
}

func writeFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "credential")
	require.NoError(t, os.WriteFile(p, []byte(content), mode))
	require.NoError(t, os.Chmod(p, mode))
	return p
}

func TestAuth(t *testing.T) {
	v := testharness.StartVault(t)
	roleID, secretIDFile := v.EnableAppRole(t, "vigil", vigilPolicy, nil)
	policyToken := v.CreateToken(t, vigilPolicy, 0)

	tests := []struct {
		name   string
		cfg    func() vaultstore.Config
		want   string // error text; empty for success
		secret string // must not appear in the error
	}{
		{"token", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, Token: policyToken}
		}, "", ""},
		{"token file", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, TokenFile: writeFile(t, policyToken+"\n", 0o600)}
		}, "", ""},
		{"token file readable by others", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, TokenFile: writeFile(t, policyToken, 0o644)}
		}, "chmod 600", policyToken},
		{"approle", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, AppRoleRoleID: roleID, AppRoleSecretIDFile: secretIDFile}
		}, "", ""},
		{"approle with a wrong secret ID", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, AppRoleRoleID: roleID, AppRoleSecretIDFile: writeFile(t, "d0e0f1a2-0000-0000-0000-000000000000", 0o600)}
		}, "AppRole login at auth/approle/login", "d0e0f1a2"},
		{"approle at a missing mount", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, AppRoleRoleID: roleID, AppRoleSecretIDFile: secretIDFile, AppRoleMount: "elsewhere"}
		}, "auth/elsewhere/login", ""},
		{"wrong token", func() vaultstore.Config {
			return vaultstore.Config{Address: v.Addr, Token: "hvs.not-a-real-token"}
		}, "rejected the token from VAULT_TOKEN", "hvs.not-a-real-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			s, err := vaultstore.New(t.Context(), cfg)
			if tc.want != "" {
				t.Log(err)
				require.ErrorContains(t, err, tc.want)
				if tc.secret != "" {
					require.NotContains(t, err.Error(), tc.secret)
				}
				return
			}
			require.NoError(t, err)
			key := randomKeys(t, 1)[0]
			require.NoError(t, s.Put(t.Context(), key))
			loaded, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
			require.NoError(t, err)
			require.True(t, key.Secret.IsEqual(loaded[0].Secret))
			require.NoError(t, s.Delete(t.Context(), key.Pubkey))
		})
	}
}

func TestAppRoleTokenReplacedAfterExpiry(t *testing.T) {
	v := testharness.StartVault(t)

	t.Run("non-renewable token expires", func(t *testing.T) {
		// A batch token cannot be renewed; vigil must log in again before or
		// when it expires. This is the one real wait in these tests.
		roleID, secretIDFile := v.EnableAppRole(t, "short", vigilPolicy, map[string]any{
			"token_type": "batch", "token_ttl": "3s", "token_max_ttl": "3s",
		})
		s := open(t, vaultstore.Config{Address: v.Addr, AppRoleRoleID: roleID, AppRoleSecretIDFile: secretIDFile})
		key := randomKeys(t, 1)[0]
		require.NoError(t, s.Put(t.Context(), key))
		ttl, expires := s.TokenTTL()
		require.True(t, expires)
		require.LessOrEqual(t, ttl, 3*time.Second)
		first := s.CurrentToken()

		time.Sleep(4 * time.Second)
		require.NotEqual(t, first, s.CurrentToken(), "the renewal goroutine logs in again before the token expires")
		_, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
		require.NoError(t, err, "loads keep working after the first token expired")
		require.NotEqual(t, first, s.CurrentToken())
		ttl, expires = s.TokenTTL()
		require.True(t, expires)
		require.Positive(t, ttl)
	})
	t.Run("revoked token is replaced on the next request", func(t *testing.T) {
		roleID, secretIDFile := v.EnableAppRole(t, "long", vigilPolicy, map[string]any{"token_ttl": "1h"})
		s := open(t, vaultstore.Config{Address: v.Addr, AppRoleRoleID: roleID, AppRoleSecretIDFile: secretIDFile})
		key := randomKeys(t, 1)[0]
		require.NoError(t, s.Put(t.Context(), key))
		revoked := s.CurrentToken()
		require.NoError(t, v.Root().Auth().Token().RevokeOrphan(revoked))

		loaded, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
		require.NoError(t, err)
		require.True(t, key.Secret.IsEqual(loaded[0].Secret))
		require.NotEqual(t, revoked, s.CurrentToken())
	})
	t.Run("renewable token is renewed", func(t *testing.T) {
		// The token lives 2 s unless renewed; 3 s later it must still work.
		token := v.CreateToken(t, vigilPolicy, 2*time.Second)
		s := open(t, vaultstore.Config{Address: v.Addr, Token: token})
		ttl, expires := s.TokenTTL()
		require.True(t, expires)
		require.LessOrEqual(t, ttl, 2*time.Second)

		time.Sleep(3 * time.Second)
		_, err := s.List(t.Context())
		require.NoError(t, err, "the token was renewed before it expired")
		require.Equal(t, token, s.CurrentToken())
	})
	t.Run("token TTL follows the injected clock", func(t *testing.T) {
		clock := &fakeClock{now: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)}
		s := open(t, vaultstore.Config{Address: v.Addr, Token: v.CreateToken(t, vigilPolicy, time.Hour)}, vaultstore.WithClock(clock))
		ttl, expires := s.TokenTTL()
		require.True(t, expires)
		require.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5)
		clock.advance(45 * time.Minute)
		ttl, _ = s.TokenTTL()
		require.InDelta(t, (15 * time.Minute).Seconds(), ttl.Seconds(), 5)
		clock.advance(time.Hour)
		ttl, expires = s.TokenTTL()
		require.True(t, expires)
		require.Zero(t, ttl)
	})
	t.Run("token file is read again after revocation", func(t *testing.T) {
		file := writeFile(t, v.CreateToken(t, vigilPolicy, 0), 0o600)
		s := open(t, vaultstore.Config{Address: v.Addr, TokenFile: file})
		key := randomKeys(t, 1)[0]
		require.NoError(t, s.Put(t.Context(), key))
		require.NoError(t, v.Root().Auth().Token().RevokeOrphan(s.CurrentToken()))
		fresh := v.CreateToken(t, vigilPolicy, 0)
		require.NoError(t, os.WriteFile(file, []byte(fresh), 0o600))

		_, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
		require.NoError(t, err)
		require.Equal(t, fresh, s.CurrentToken())
	})
	t.Run("revoked plain token is reported", func(t *testing.T) {
		token := v.CreateToken(t, vigilPolicy, 0)
		s := open(t, vaultstore.Config{Address: v.Addr, Token: token})
		require.NoError(t, v.Root().Auth().Token().RevokeOrphan(token))
		_, err := s.List(t.Context())
		require.ErrorIs(t, err, vaultstore.ErrPermissionDenied)
		require.ErrorContains(t, err, "no longer accepts the token")
		require.NotContains(t, err.Error(), token)
	})
}

func TestPermissionDeniedNamesPathAndCapability(t *testing.T) {
	v := testharness.StartVault(t)
	key := randomKeys(t, 1)[0]
	pk := "0x" + hex.EncodeToString(key.Pubkey[:])
	root := open(t, vaultstore.Config{Address: v.Addr, Token: v.RootToken})
	require.NoError(t, root.Put(t.Context(), key))

	tests := []struct {
		name   string
		policy string
		op     func(s *vaultstore.Store) error
		want   string
	}{
		{
			name:   "load without read on data",
			policy: strings.ReplaceAll(vigilPolicy, `["create", "read"]`, `["create"]`),
			op: func(s *vaultstore.Store) error {
				_, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
				return err
			},
			want: `policy lacks "read" capability on secret/data/vigil/keys/` + pk,
		},
		{
			name:   "put without create on data",
			policy: strings.ReplaceAll(vigilPolicy, `["create", "read"]`, `["read"]`),
			op:     func(s *vaultstore.Store) error { return s.Put(t.Context(), randomKeys(t, 1)[0]) },
			want:   `policy lacks "create" capability on secret/data/vigil/keys/0x`,
		},
		{
			name:   "list without list on metadata",
			policy: strings.ReplaceAll(vigilPolicy, `"list", `, ""),
			op:     func(s *vaultstore.Store) error { _, err := s.List(t.Context()); return err },
			want:   `policy lacks "list" capability on secret/metadata/vigil/keys`,
		},
		{
			name:   "delete without delete on metadata",
			policy: strings.ReplaceAll(vigilPolicy, `, "delete"`, ""),
			op:     func(s *vaultstore.Store) error { return s.Delete(t.Context(), key.Pubkey) },
			want:   `policy lacks "delete" capability on secret/metadata/vigil/keys/` + pk,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			token := v.CreateToken(t, tc.policy, 0)
			s := open(t, vaultstore.Config{Address: v.Addr, Token: token})
			err := tc.op(s)
			t.Log(err)
			require.ErrorIs(t, err, vaultstore.ErrPermissionDenied)
			require.ErrorContains(t, err, tc.want)
			require.NotContains(t, err.Error(), token)
			require.NotContains(t, err.Error(), secretHex(key))
		})
	}
}

func TestUnavailableVault(t *testing.T) {
	t.Run("sealed before start", func(t *testing.T) {
		v := testharness.StartVault(t)
		v.Seal(t)
		_, err := vaultstore.New(t.Context(), rootConfig(v))
		t.Log(err)
		require.ErrorIs(t, err, vaultstore.ErrSealed)
		require.ErrorContains(t, err, fmt.Sprintf("Vault at %s is sealed: unseal it", v.Addr))
	})
	t.Run("sealed while running", func(t *testing.T) {
		v := testharness.StartVault(t)
		s := open(t, rootConfig(v), vaultstore.WithMaxRetries(0))
		key := randomKeys(t, 1)[0]
		require.NoError(t, s.Put(t.Context(), key))
		v.Seal(t)
		_, err := s.Load(t.Context(), []phase0.BLSPubKey{key.Pubkey})
		t.Log(err)
		require.ErrorIs(t, err, vaultstore.ErrSealed)
		require.NotContains(t, err.Error(), v.RootToken)
	})
	t.Run("stopped before start", func(t *testing.T) {
		v := testharness.StartVault(t)
		v.Stop()
		_, err := vaultstore.New(t.Context(), rootConfig(v), vaultstore.WithMaxRetries(0))
		t.Log(err)
		require.ErrorIs(t, err, vaultstore.ErrUnreachable)
		require.ErrorContains(t, err, "cannot reach Vault at "+v.Addr)
		require.NotContains(t, err.Error(), v.RootToken)
	})
	t.Run("stopped while running", func(t *testing.T) {
		v := testharness.StartVault(t)
		s := open(t, rootConfig(v), vaultstore.WithMaxRetries(0))
		v.Stop()
		_, err := s.List(t.Context())
		t.Log(err)
		require.ErrorIs(t, err, vaultstore.ErrUnreachable)
		require.NotContains(t, err.Error(), v.RootToken)
	})
}

func TestMountChecks(t *testing.T) {
	v := testharness.StartVault(t)
	v.EnableKVv1(t, "kv1")

	tests := []struct {
		name  string
		mount string
		want  string
	}{
		{"KV version 1", "kv1", "mount kv1/ is KV version 1; vigil needs KV v2: `vault secrets enable -version=2"},
		{"missing mount", "nothing-here", "mount nothing-here/ does not exist"},
		{"not a KV engine", "cubbyhole", `is a "cubbyhole" secrets engine`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := rootConfig(v)
			cfg.Mount = tc.mount
			_, err := vaultstore.New(t.Context(), cfg)
			t.Log(err)
			require.ErrorIs(t, err, vaultstore.ErrMount)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestTLSConfigErrors(t *testing.T) {
	// No server is needed: the configuration is refused before any request.
	dir := t.TempDir()
	tests := []struct {
		name string
		cfg  vaultstore.Config
		want string
	}{
		{"missing CA file", vaultstore.Config{CAFile: filepath.Join(dir, "ca.pem")}, "Vault TLS CA file: stat"},
		{"CA file that is not PEM", vaultstore.Config{CAFile: writeFile(t, "not a certificate", 0o644)}, "Vault TLS configuration"},
		{"client cert without key", vaultstore.Config{ClientCert: filepath.Join(dir, "c.pem")}, "both a client certificate and a client key"},
		{"missing client cert", vaultstore.Config{ClientCert: filepath.Join(dir, "c.pem"), ClientKey: filepath.Join(dir, "k.pem")}, "Vault TLS client certificate: stat"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Address = "https://127.0.0.1:1"
			tc.cfg.Token = "hvs.unused"
			_, err := vaultstore.New(t.Context(), tc.cfg)
			t.Log(err)
			require.ErrorIs(t, err, vaultstore.ErrConfig)
			require.ErrorContains(t, err, tc.want)
		})
	}
}
