package keystore_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	keystorev4 "github.com/wealdtech/go-eth2-wallet-encryptor-keystorev4"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// TestEIP2335Vectors decrypts the EIP's scrypt and pbkdf2 keystores from
// eip2335_vectors.json (ethereum/ERCs ERCS/erc-2335.md "Test Cases") at their
// full cost (n = c = 2^18), once each.
func TestEIP2335Vectors(t *testing.T) {
	var v struct {
		Vectors []struct {
			Name     string          `json:"name"`
			Password string          `json:"password"`
			Secret   string          `json:"secret"`
			Keystore json.RawMessage `json:"keystore"`
		} `json:"vectors"`
	}
	readJSON(t, "eip2335_vectors.json", &v)
	require.Len(t, v.Vectors, 2)
	for _, vec := range v.Vectors {
		t.Run(vec.Name, func(t *testing.T) {
			ks, err := keystore.ParseKeystore(vec.Keystore)
			require.NoError(t, err)
			key, err := ks.Decrypt(vec.Password)
			require.NoError(t, err)
			require.Equal(t, unhex(t, vec.Secret), key.Secret.Serialize())
			require.Equal(t, ks.Pubkey, pkHex(key))
			require.Equal(t, ks.Path, key.Path)
		})
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	key := fixtureKey(t, 9)
	for _, kdf := range []keystore.KDF{keystore.KDFScrypt, keystore.KDFPBKDF2} {
		t.Run(string(kdf), func(t *testing.T) {
			ks, err := keystore.Encrypt(key, "pass\u00a0word", keystore.EncryptParams{KDF: kdf, Cost: 1 << 4})
			require.NoError(t, err)
			require.Equal(t, 4, ks.Version)
			require.Equal(t, key.Path, ks.Path)
			require.Equal(t, pkHex(key), ks.Pubkey)
			require.Len(t, ks.UUID, 36)

			data, err := ks.Marshal()
			require.NoError(t, err)
			parsed, err := keystore.ParseKeystore(data)
			require.NoError(t, err)
			got, err := parsed.Decrypt("pass\u00a0word")
			require.NoError(t, err)
			require.Equal(t, key.Secret.Serialize(), got.Secret.Serialize())

			// The wealdtech implementation opens what we write.
			var m map[string]any
			require.NoError(t, json.Unmarshal(data, &m))
			secret, err := keystorev4.New().Decrypt(m["crypto"].(map[string]any), "pass\u00a0word")
			require.NoError(t, err)
			require.Equal(t, key.Secret.Serialize(), secret)
		})
	}
	t.Run("defaults are scrypt 2^18", func(t *testing.T) {
		// Only the parameters are checked; encrypting at full cost is left
		// to the EIP vectors.
		ks, err := keystore.Encrypt(key, "x", keystore.EncryptParams{Cost: 2})
		require.NoError(t, err)
		require.Equal(t, keystore.KDFScrypt, ks.Crypto.KDF.Function)
		require.Equal(t, 1<<18, keystore.DefaultKDFCost)
	})
}

func TestDecryptErrors(t *testing.T) {
	key := fixtureKey(t, 10)
	other := fixtureKey(t, 11)
	good, err := keystore.Encrypt(key, "right password", keystore.EncryptParams{KDF: keystore.KDFScrypt, Cost: 16})
	require.NoError(t, err)

	tests := []struct {
		name    string
		mutate  func(ks *keystore.Keystore)
		raw     string
		wantErr error
	}{
		{name: "not json", raw: "{", wantErr: keystore.ErrMalformedKeystore},
		{name: "json array", raw: "[]", wantErr: keystore.ErrMalformedKeystore},
		{name: "empty object", raw: "{}", wantErr: keystore.ErrUnsupportedVersion},
		{name: "version 3", mutate: func(ks *keystore.Keystore) { ks.Version = 3 }, wantErr: keystore.ErrUnsupportedVersion},
		{name: "unknown kdf", mutate: func(ks *keystore.Keystore) { ks.Crypto.KDF.Function = "argon2id" }, wantErr: keystore.ErrUnsupportedKDF},
		{name: "unknown prf", mutate: func(ks *keystore.Keystore) {
			ks.Crypto.KDF = keystore.KDFModule{Function: keystore.KDFPBKDF2, Params: keystore.KDFParams{DKLen: 32, C: 2, PRF: "hmac-sha512", Salt: "00"}}
		}, wantErr: keystore.ErrUnsupportedKDF},
		{name: "scrypt n not power of two", mutate: func(ks *keystore.Keystore) { ks.Crypto.KDF.Params.N = 1000 }, wantErr: keystore.ErrMalformedKeystore},
		{name: "scrypt memory bomb", mutate: func(ks *keystore.Keystore) { ks.Crypto.KDF.Params.N = 1 << 40 }, wantErr: keystore.ErrUnsupportedKDF},
		{name: "dklen 16", mutate: func(ks *keystore.Keystore) { ks.Crypto.KDF.Params.DKLen = 16 }, wantErr: keystore.ErrMalformedKeystore},
		{name: "bad salt", mutate: func(ks *keystore.Keystore) { ks.Crypto.KDF.Params.Salt = "zz" }, wantErr: keystore.ErrMalformedKeystore},
		{name: "unknown cipher", mutate: func(ks *keystore.Keystore) { ks.Crypto.Cipher.Function = "aes-256-gcm" }, wantErr: keystore.ErrUnsupportedCipher},
		{name: "short iv", mutate: func(ks *keystore.Keystore) { ks.Crypto.Cipher.Params.IV = "00" }, wantErr: keystore.ErrMalformedKeystore},
		{name: "short message", mutate: func(ks *keystore.Keystore) { ks.Crypto.Cipher.Message = "00" }, wantErr: keystore.ErrMalformedKeystore},
		{name: "checksum function", mutate: func(ks *keystore.Keystore) { ks.Crypto.Checksum.Function = "md5" }, wantErr: keystore.ErrMalformedKeystore},
		{name: "bad pubkey", mutate: func(ks *keystore.Keystore) { ks.Pubkey = "abcd" }, wantErr: keystore.ErrMalformedKeystore},
		{name: "other pubkey", mutate: func(ks *keystore.Keystore) { ks.Pubkey = pkHex(other) }, wantErr: keystore.ErrPubkeyMismatch},
		{name: "tampered ciphertext", mutate: func(ks *keystore.Keystore) {
			ks.Crypto.Cipher.Message = strings.Repeat("0", 64)
		}, wantErr: keystore.ErrWrongPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.mutate != nil {
				ks := *good
				tt.mutate(&ks)
				var err error
				data, err = ks.Marshal()
				require.NoError(t, err)
			}
			ks, err := keystore.ParseKeystore(data)
			if err == nil {
				_, err = ks.Decrypt("right password")
			}
			require.ErrorIs(t, err, tt.wantErr)
			require.NotContains(t, err.Error(), "right password")
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		_, err := good.Decrypt("wrong password")
		require.ErrorIs(t, err, keystore.ErrWrongPassword)
		require.NotContains(t, err.Error(), "wrong password\"")
	})
	t.Run("0x-prefixed hex is accepted", func(t *testing.T) {
		ks := *good
		ks.Pubkey = "0x" + ks.Pubkey
		got, err := ks.Decrypt("right password")
		require.NoError(t, err)
		require.Equal(t, key.Pubkey, got.Pubkey)
	})
}
