package dirstore_test

import (
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
)

var cheap = dirstore.WithEncryptParams(keystore.EncryptParams{KDF: keystore.KDFScrypt, Cost: 1 << 4})

func TestConformance(t *testing.T) {
	keystoretest.RunConformance(t, func(t *testing.T) keystore.Store {
		s, err := dirstore.New(filepath.Join(t.TempDir(), "keys"), cheap)
		require.NoError(t, err)
		return s
	})
}

func name(pk phase0.BLSPubKey) string { return "0x" + hex.EncodeToString(pk[:]) }

func TestLayoutAndPermissions(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := dirstore.New(dir, cheap)
	require.NoError(t, err)
	key := keystoretest.Keys(t, 1)[0]
	require.NoError(t, s.Put(ctx, key))

	ksPath := filepath.Join(dir, "validators", name(key.Pubkey), "voting-keystore.json")
	secretPath := filepath.Join(dir, "secrets", name(key.Pubkey))
	for path, mode := range map[string]os.FileMode{
		dir: 0o700, filepath.Join(dir, "validators"): 0o700, filepath.Join(dir, "secrets"): 0o700,
		filepath.Join(dir, "validators", name(key.Pubkey)): 0o700, ksPath: 0o600, secretPath: 0o600,
	} {
		fi, err := os.Stat(path)
		require.NoError(t, err)
		require.Equal(t, mode, fi.Mode().Perm(), path)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "validators"))
	require.NoError(t, err)
	require.Len(t, entries, 1, "no temporary files left")

	// The keystore opens with the password file, as Lighthouse would.
	data, err := os.ReadFile(ksPath)
	require.NoError(t, err)
	ks, err := keystore.ParseKeystore(data)
	require.NoError(t, err)
	pw, err := os.ReadFile(secretPath)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(pw), 64)
	got, err := ks.Decrypt(string(pw))
	require.NoError(t, err)
	require.Equal(t, key.Pubkey, got.Pubkey)
	require.Equal(t, key.Path, ks.Path)

	t.Run("group-readable secret refused", func(t *testing.T) {
		require.NoError(t, os.Chmod(secretPath, 0o640))
		defer os.Chmod(secretPath, 0o600)
		_, err := s.Load(ctx, []phase0.BLSPubKey{key.Pubkey})
		require.ErrorIs(t, err, dirstore.ErrInsecurePermissions)
		require.Contains(t, err.Error(), "chmod 600")
		// Listing needs no secret.
		infos, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, infos, 1)
	})
	t.Run("world-readable secrets dir refused", func(t *testing.T) {
		require.NoError(t, os.Chmod(filepath.Join(dir, "secrets"), 0o755))
		defer os.Chmod(filepath.Join(dir, "secrets"), 0o700)
		_, err := dirstore.New(dir)
		require.ErrorIs(t, err, dirstore.ErrInsecurePermissions)
	})
}

// TestHandPlacedKeys drops keys in the way a user moving them from
// Lighthouse would: keystore plus password file with a trailing newline, no
// vigil.json, and a keystore without pubkey field.
func TestHandPlacedKeys(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := dirstore.New(dir, cheap)
	require.NoError(t, err)
	keys := keystoretest.Keys(t, 3)
	for i, k := range keys[:2] {
		ks, err := keystore.Encrypt(k, "hand placed", keystore.EncryptParams{KDF: keystore.KDFPBKDF2, Cost: 8})
		require.NoError(t, err)
		if i == 1 {
			ks.Pubkey = ""
		}
		data, err := ks.Marshal()
		require.NoError(t, err)
		kdir := filepath.Join(dir, "validators", name(k.Pubkey))
		require.NoError(t, os.Mkdir(kdir, 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(kdir, "voting-keystore.json"), data, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", name(k.Pubkey)), []byte("hand placed\n"), 0o600))
	}
	// Debris that is not a key is ignored.
	require.NoError(t, os.Mkdir(filepath.Join(dir, "validators", "not-a-key"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "validators", "slashing_protection.sqlite"), nil, 0o600))

	infos, err := s.List(ctx)
	require.NoError(t, err)
	require.Len(t, infos, 2)
	for _, in := range infos {
		require.Equal(t, keystore.OriginImported, in.Origin)
		require.False(t, in.CreatedAt.IsZero())
	}
	loaded, err := s.Load(ctx, []phase0.BLSPubKey{keys[0].Pubkey, keys[1].Pubkey})
	require.NoError(t, err)
	require.Equal(t, keys[0].Pubkey, loaded[0].Pubkey)
	require.Equal(t, keys[1].Pubkey, loaded[1].Pubkey)

	t.Run("keystore in the wrong directory", func(t *testing.T) {
		src := filepath.Join(dir, "validators", name(keys[1].Pubkey), "voting-keystore.json")
		wrong := filepath.Join(dir, "validators", name(keys[2].Pubkey))
		require.NoError(t, os.Mkdir(wrong, 0o700))
		data, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(wrong, "voting-keystore.json"), data, 0o600))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "secrets", name(keys[2].Pubkey)), []byte("hand placed"), 0o600))
		_, err = s.Load(ctx, []phase0.BLSPubKey{keys[2].Pubkey})
		require.ErrorIs(t, err, keystore.ErrPubkeyMismatch)
	})
	t.Run("missing password file", func(t *testing.T) {
		require.NoError(t, os.Remove(filepath.Join(dir, "secrets", name(keys[0].Pubkey))))
		_, err := s.Load(ctx, []phase0.BLSPubKey{keys[0].Pubkey})
		require.ErrorIs(t, err, os.ErrNotExist)
		require.Contains(t, err.Error(), "password file")
	})
}
