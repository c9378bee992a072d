package keystore

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestProcessPassword uses testdata/vectors/eip2335_vectors.json: the EIP's own password,
// the ethstaker-deposit-cli test_process_password cases, and the cases
// derived from the EIP-2335 rule (C0, DEL and C1 stripped after NFKD).
func TestProcessPassword(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "vectors", "eip2335_vectors.json"))
	require.NoError(t, err)
	type pcase struct {
		Input string `json:"input"`
		Hex   string `json:"processed_utf8_hex"`
	}
	var v struct {
		Vectors []struct {
			Name            string `json:"name"`
			Password        string `json:"password"`
			EncodedPassword string `json:"encoded_password"`
		} `json:"vectors"`
		Processing map[string]struct {
			Cases []pcase `json:"cases"`
		} `json:"password_processing"`
	}
	require.NoError(t, json.Unmarshal(data, &v))
	var cases []pcase
	for _, vec := range v.Vectors {
		cases = append(cases, pcase{Input: vec.Password, Hex: vec.EncodedPassword[2:]})
	}
	for _, group := range []string{"from_deposit_cli_tests", "derived_from_rule"} {
		require.NotEmpty(t, v.Processing[group].Cases, group)
		cases = append(cases, v.Processing[group].Cases...)
	}
	for _, tc := range cases {
		t.Run(hex.EncodeToString([]byte(tc.Input)), func(t *testing.T) {
			require.Equal(t, tc.Hex, hex.EncodeToString(processPassword(tc.Input)))
		})
	}
}

// TestDecryptAltNormalisedPassword checks that a keystore whose key was
// derived from the older ethdo normalisation ("ü" → "u") still opens.
func TestDecryptAltNormalisedPassword(t *testing.T) {
	const password = "grüße"
	require.NotEqual(t, processPassword(password), altProcessPassword(password))
	key := testKey(t)
	ks, err := Encrypt(key, string(altProcessPassword(password)), EncryptParams{KDF: KDFPBKDF2, Cost: 16})
	require.NoError(t, err)
	got, err := ks.Decrypt(password)
	require.NoError(t, err)
	require.Equal(t, key.Pubkey, got.Pubkey)
}

func testKey(t *testing.T) *Key {
	t.Helper()
	sk, err := SecretKeyFromBytes(make32(7))
	require.NoError(t, err)
	return &Key{Info: Info{Pubkey: PublicKey(sk)}, Secret: sk}
}

func make32(b byte) []byte {
	out := make([]byte, 32)
	out[31] = b
	return out
}

func TestCheckNewPassword(t *testing.T) {
	tests := []struct {
		password string
		ok       bool
	}{
		{"", false},
		{"1234567", false},
		{"12345678", true},
		{"äöüßäöü", false}, // seven characters, fourteen bytes
		{"äöüßäöüß", true},
	}
	for _, tt := range tests {
		err := CheckNewPassword(tt.password)
		if tt.ok {
			require.NoError(t, err, tt.password)
		} else {
			require.ErrorContains(t, err, "at least 8 characters", tt.password)
		}
	}
}
