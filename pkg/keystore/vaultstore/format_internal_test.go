package vaultstore

import (
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

func randomKey(t testing.TB) *keystore.Key {
	if err := blsinit.Init(); err != nil {
		t.Fatal(err)
	}
	var sk bls.SecretKey
	sk.SetByCSPRNG()
	return &keystore.Key{
		Info: keystore.Info{
			Pubkey:    keystore.PublicKey(&sk),
			Path:      "m/12381/3600/7/0/0",
			CreatedAt: time.Date(2026, 11, 23, 10, 0, 0, 123, time.UTC),
			Origin:    keystore.OriginGenerated,
		},
		Secret: &sk,
	}
}

func readBodyForBench(put []byte) []byte {
	var req struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(put, &req); err != nil {
		panic(err)
	}
	return []byte(`{"request_id":"x","data":{"data":` + string(req.Data) + `,"metadata":{"version":1}}}`)
}

// readBodyFor wraps a Put body's data the way KV v2 returns it from a read.
func readBodyFor(t *testing.T, put []byte) []byte {
	t.Helper()
	var req struct {
		Data json.RawMessage `json:"data"`
	}
	require.NoError(t, json.Unmarshal(put, &req))
	return []byte(`{"request_id":"x","data":{"data":` + string(req.Data) + `,"metadata":{"version":1}}}`)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	key := randomKey(t)
	put, err := encodePut(key)
	require.NoError(t, err)
	require.Contains(t, string(put), `"options":{"cas":0}`, "writes must be create-only")
	require.True(t, json.Valid(put))

	var sk storedKey
	got, err := decodeKeyInto(readBodyFor(t, put), key.Pubkey, &sk)
	require.NoError(t, err)
	require.True(t, sk.SecretKey.set)
	require.Equal(t, [secretKeyLen]byte{}, sk.SecretKey.b, "the decoded secret bytes must be cleared once the key is built")
	require.Equal(t, key.Info, got.Info)
	require.True(t, key.Secret.IsEqual(got.Secret))
}

func TestDecodeKeyRejects(t *testing.T) {
	key := randomKey(t)
	other := randomKey(t)
	put, err := encodePut(key)
	require.NoError(t, err)
	good := string(readBodyFor(t, put))
	secretHex := hex.EncodeToString(key.Secret.Serialize())
	otherSecretHex := hex.EncodeToString(other.Secret.Serialize())

	tests := []struct {
		name     string
		body     string
		want     string
		notVigil bool
	}{
		{"no marker", strings.Replace(good, `"vigil_key_format":"1",`, "", 1), "no vigil_key_format field", true},
		{"future format", strings.Replace(good, `"vigil_key_format":"1"`, `"vigil_key_format":"9"`, 1), `is "9"`, true},
		{"foreign secret", `{"data":{"data":{"foo":"bar"}}}`, "not a vigil key", true},
		{"no secret key", strings.Replace(good, `"secret_key":"0x`+secretHex+`",`, "", 1), "no secret_key field", true},
		{"short secret key", strings.Replace(good, secretHex, secretHex[:10], 1), "has 10 hex digits", true},
		{"secret key not hex", strings.Replace(good, secretHex, strings.Repeat("zz", 32), 1), "not hex", true},
		{"secret of another key", strings.Replace(good, secretHex, otherSecretHex, 1), "does not belong", false},
		{"pubkey of another key", strings.Replace(good, pubkeyHex(key.Pubkey), pubkeyHex(other.Pubkey), 1), "differs from the public key", true},
		{"bad time", strings.Replace(good, `"created_at":"`, `"created_at":"x`, 1), "not an RFC 3339 time", true},
		{"not JSON", `{"data":`, "not KV v2 JSON", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sk storedKey
			k, err := decodeKeyInto([]byte(tc.body), key.Pubkey, &sk)
			require.Equal(t, [secretKeyLen]byte{}, sk.SecretKey.b, "the decoded secret bytes must be cleared on every path")
			require.Nil(t, k)
			require.ErrorContains(t, err, tc.want)
			require.Equal(t, tc.notVigil, errorsIs(err, ErrNotVigilKey))
			require.NotContains(t, err.Error(), secretHex, "errors must never carry the secret")
			require.NotContains(t, err.Error(), otherSecretHex)
		})
	}
}

func TestParsePubkey(t *testing.T) {
	key := randomKey(t)
	good := pubkeyHex(key.Pubkey)
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"canonical", good, true},
		{"no 0x", good[2:], false},
		{"upper case", "0x" + strings.ToUpper(good[2:]), false},
		{"short", good[:50], false},
		{"folder", "sub/", false},
		{"not hex", "0x" + strings.Repeat("g", 96), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pk, err := parsePubkey(tc.in)
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, key.Pubkey, pk)
			} else {
				require.Error(t, err)
			}
		})
	}
}
