package vaultstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/hashicorp/vault/api"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// mountKVv2 mounts a fresh KV version 2 engine at a unique path, so that a
// test can move or remove it without touching the shared secret/ mount, and
// waits until it accepts writes (a new KV v2 mount upgrades itself first).
func mountKVv2(t *testing.T, v *testharness.Vault) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	mount := "kv-" + hex.EncodeToString(b)
	require.NoError(t, v.Root().Sys().Mount(mount, &api.MountInput{Type: "kv", Options: map[string]string{"version": "2"}}))
	require.Eventually(t, func() bool {
		_, err := v.Root().KVv2(mount).Put(context.Background(), "probe", map[string]any{"x": "y"})
		return err == nil
	}, 30*time.Second, 100*time.Millisecond, "KV v2 mount %s never accepted a write", mount)
	require.NoError(t, v.Root().KVv2(mount).DeleteMetadata(context.Background(), "probe"))
	return mount
}

// TestListingFaults pins what Pubkeys and List return when Vault's LIST of
// the prefix does not list keys (issue #12: a 404 read as "no keys" made the
// reload loop drop every loaded key). KV v2 answers 404, never an empty list,
// for a prefix without keys, so an empty store and one this node cannot see
// look the same: WithStrictListing turns that 404 into keystore.ErrNoListing;
// a mount that disappeared or moved is ErrMount in both modes; a token that
// lost "list" is ErrPermissionDenied.
func TestListingFaults(t *testing.T) {
	v := testharness.StartVault(t)
	keys := randomKeys(t, 2)
	type want struct {
		keys int   // with a nil err: how many keys are listed
		err  error // the sentinel the error matches
	}
	tests := []struct {
		name string
		// setup prepares the mount and returns the config to open and a
		// fault to apply after opening (nil for none).
		setup  func(t *testing.T) (vaultstore.Config, func(t *testing.T))
		strict want
		lax    want
	}{
		{
			name: "prefix never written",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				return rootConfig(v), nil
			},
			strict: want{err: keystore.ErrNoListing},
			lax:    want{keys: 0},
		},
		{
			name: "every key deleted",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				cfg := rootConfig(v)
				s := open(t, cfg)
				putAll(t, s, keys)
				for _, k := range keys {
					require.NoError(t, s.Delete(t.Context(), k.Pubkey))
				}
				return cfg, nil
			},
			strict: want{err: keystore.ErrNoListing},
			lax:    want{keys: 0},
		},
		{
			name: "keys listed",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				cfg := rootConfig(v)
				putAll(t, open(t, cfg), keys)
				return cfg, nil
			},
			strict: want{keys: 2},
			lax:    want{keys: 2},
		},
		{
			name: "a soft-deleted key is still listed",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				cfg := rootConfig(v)
				putAll(t, open(t, cfg), keys)
				require.NoError(t, v.Root().KVv2(vaultstore.DefaultMount).Delete(t.Context(), cfg.Prefix+"/"+pubkeyHexOf(keys[0].Pubkey)))
				return cfg, nil
			},
			strict: want{keys: 2},
			lax:    want{keys: 2},
		},
		{
			name: "mount moved while running",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				mount := mountKVv2(t, v)
				cfg := rootConfig(v)
				cfg.Mount = mount
				putAll(t, open(t, cfg), keys)
				return cfg, func(t *testing.T) {
					require.NoError(t, v.Root().Sys().Remount(mount, mount+"-moved"))
				}
			},
			strict: want{err: vaultstore.ErrMount},
			lax:    want{err: vaultstore.ErrMount},
		},
		{
			name: "mount disabled while running",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				mount := mountKVv2(t, v)
				cfg := rootConfig(v)
				cfg.Mount = mount
				putAll(t, open(t, cfg), keys)
				return cfg, func(t *testing.T) {
					require.NoError(t, v.Root().Sys().Unmount(mount))
				}
			},
			strict: want{err: vaultstore.ErrMount},
			lax:    want{err: vaultstore.ErrMount},
		},
		{
			name: "token without list capability",
			setup: func(t *testing.T) (vaultstore.Config, func(*testing.T)) {
				cfg := rootConfig(v)
				putAll(t, open(t, cfg), keys)
				cfg.Token = v.CreateToken(t, `path "secret/data/`+cfg.Prefix+`/*" { capabilities = ["read"] }`, 0)
				return cfg, nil
			},
			strict: want{err: vaultstore.ErrPermissionDenied},
			lax:    want{err: vaultstore.ErrPermissionDenied},
		},
	}
	for _, tc := range tests {
		for _, strict := range []bool{true, false} {
			w, mode := tc.lax, "lax"
			var opts []vaultstore.Option
			if strict {
				w, mode, opts = tc.strict, "strict", []vaultstore.Option{vaultstore.WithStrictListing()}
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				cfg, fault := tc.setup(t)
				s := open(t, cfg, opts...)
				if fault != nil {
					fault(t)
				}
				pks, err := s.Pubkeys(t.Context())
				infos, lerr := s.List(t.Context())
				if w.err != nil {
					require.ErrorIs(t, err, w.err)
					require.ErrorIs(t, lerr, w.err)
					require.Nil(t, pks)
					require.Nil(t, infos)
					if w.err != keystore.ErrNoListing {
						require.NotErrorIs(t, err, keystore.ErrNoListing, "a fault that is not an empty answer is not ErrNoListing")
					}
					require.NotContains(t, err.Error(), cfg.Token, "errors never carry the token")
					return
				}
				require.NoError(t, err)
				require.NoError(t, lerr)
				require.Len(t, pks, w.keys)
				require.Len(t, infos, w.keys)
			})
		}
	}
}

func pubkeyHexOf(pk phase0.BLSPubKey) string { return "0x" + hex.EncodeToString(pk[:]) }
