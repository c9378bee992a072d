package keystore

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireWiped fails unless every buffer and key w registered is zero.
func requireWiped(t *testing.T, w *wiper) {
	t.Helper()
	for i, b := range w.bufs {
		require.Equal(t, make([]byte, len(b)), b, "buffer %d of %d bytes is not wiped", i, len(b))
	}
	for i, k := range w.keys {
		require.True(t, k.IsZero(), "key %d is not wiped", i)
	}
}

// TestEncryptDecryptWipe runs every exit path of encrypt and decrypt and
// checks that what held secret material is zero afterwards, and that the
// refused key of a pubkey mismatch is among it (issue #12: it was not
// zeroed).
func TestEncryptDecryptWipe(t *testing.T) {
	const password = "correct horse"
	key := testKey(t)
	other, err := SecretKeyFromBytes(make32(9))
	require.NoError(t, err)
	params := EncryptParams{KDF: KDFPBKDF2, Cost: 16}

	var ew wiper
	ks, err := encrypt(key, password, params, &ew)
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ew.bufs), 4, "password, KDF output, secret, checksum input")
	requireWiped(t, &ew)

	// The same ciphertext claimed for another public key.
	mismatched := *ks
	otherPK := PublicKey(other)
	mismatched.Pubkey = hex.EncodeToString(otherPK[:])
	// A keystore made under the older ethdo normalisation opens through
	// the second, alternative password.
	alt, err := Encrypt(key, string(altProcessPassword("grüße")), params)
	require.NoError(t, err)

	tests := []struct {
		name     string
		ks       *Keystore
		password string
		wantErr  error
		wantKeys int // refused keys registered for wiping
	}{
		{name: "success", ks: ks, password: password},
		{name: "wrong password", ks: ks, password: "wrong", wantErr: ErrWrongPassword},
		{name: "pubkey mismatch", ks: &mismatched, password: password, wantErr: ErrPubkeyMismatch, wantKeys: 1},
		{name: "alternative normalisation", ks: alt, password: "grüße"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w wiper
			got, err := tc.ks.decrypt(tc.password, &w)
			require.NotEmpty(t, w.bufs)
			require.Len(t, w.keys, tc.wantKeys)
			requireWiped(t, &w)
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.False(t, got.Secret.IsZero(), "the returned key must survive the wipe")
			require.Equal(t, key.Pubkey, got.Pubkey)
		})
	}
}
