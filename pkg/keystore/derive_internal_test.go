package keystore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"
	e2util "github.com/wealdtech/go-eth2-util"
)

// TestLamportIntermediates checks IKM_to_lamport_SK and
// parent_SK_to_lamport_PK against the EIP-2333 intermediate-values vector
// (testdata/vectors/eip2333_vectors.json).
func TestLamportIntermediates(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "vectors", "eip2333_vectors.json"))
	require.NoError(t, err)
	var v struct {
		Intermediate struct {
			MasterSK   string   `json:"master_SK"`
			ChildIndex uint32   `json:"child_index"`
			Lamport0   []string `json:"lamport_0"`
			Lamport1   []string `json:"lamport_1"`
			Compressed string   `json:"compressed_lamport_PK"`
			ChildSK    string   `json:"child_SK"`
		} `json:"intermediate"`
	}
	require.NoError(t, json.Unmarshal(data, &v))
	iv := v.Intermediate
	require.Len(t, iv.Lamport0, lamportChunks)
	require.Len(t, iv.Lamport1, lamportChunks)

	parent := skFromDecimal(t, iv.MasterSK)
	var w wiper
	defer w.wipe()
	ikm := parent.Serialize()
	notIKM := make([]byte, len(ikm))
	for i, b := range ikm {
		notIKM[i] = ^b
	}
	salt := []byte{0, 0, 0, byte(iv.ChildIndex)}
	for name, tc := range map[string]struct {
		ikm  []byte
		want []string
	}{"lamport_0": {ikm, iv.Lamport0}, "lamport_1": {notIKM, iv.Lamport1}} {
		t.Run(name, func(t *testing.T) {
			got, err := ikmToLamportSK(tc.ikm, salt, &w)
			require.NoError(t, err)
			require.Len(t, got, lamportChunks*32)
			for c, want := range tc.want {
				require.Equal(t, strings.TrimPrefix(want, "0x"), hex.EncodeToString(got[c*32:(c+1)*32]), "chunk %d", c)
			}
		})
	}
	compressed, err := parentSKToLamportPK(parent, iv.ChildIndex, &w)
	require.NoError(t, err)
	require.Equal(t, strings.TrimPrefix(iv.Compressed, "0x"), hex.EncodeToString(compressed))
	child, err := deriveChildSK(parent, iv.ChildIndex, &w)
	require.NoError(t, err)
	require.Equal(t, iv.ChildSK, new(big.Int).SetBytes(child.Serialize()).String())
}

func skFromDecimal(t *testing.T, s string) *bls.SecretKey {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	require.True(t, ok)
	sk, err := SecretKeyFromBytes(n.FillBytes(make([]byte, 32)))
	require.NoError(t, err)
	return sk
}

// TestDeriveMatchesGoEth2Util derives keys along EIP-2334 paths from random
// seeds with vigil's EIP-2333 and with go-eth2-util, an independent
// implementation, and requires the same keys.
func TestDeriveMatchesGoEth2Util(t *testing.T) {
	paths := []string{"m", "m/0", "m/4294967295", SigningKeyPath(0), WithdrawalKeyPath(3), SigningKeyPath(123456), "m/12381/60/0/0"}
	for range 8 {
		seed := make([]byte, 64)
		_, err := rand.Read(seed)
		require.NoError(t, err)
		for _, path := range paths {
			got, err := DeriveKey(seed, path, time.Time{})
			require.NoError(t, err)
			want, err := e2util.PrivateKeyFromSeedAndPath(seed, path)
			require.NoError(t, err, path)
			require.Equal(t, hex.EncodeToString(want.Marshal()), hex.EncodeToString(got.Secret.Serialize()), "seed %x path %s", seed, path)
		}
	}
}

// TestDeriveWipesIntermediates checks that every buffer and key that held an
// intermediate secret is zero once derivePath returns, while the returned key
// still signs.
func TestDeriveWipesIntermediates(t *testing.T) {
	seed := make([]byte, 64)
	seed[0] = 1
	var w wiper
	key, err := derivePath(seed, SigningKeyPath(5), time.Time{}, &w)
	require.NoError(t, err)
	// Master and five levels: each HKDF_mod_r leaves at least a PRK and an
	// OKM, each level two Lamport OKMs.
	require.GreaterOrEqual(t, len(w.bufs), 6*3+5*4)
	require.GreaterOrEqual(t, len(w.keys), 6)
	for i, b := range w.bufs {
		require.NotEmpty(t, b, "buffer %d", i)
		require.Equal(t, make([]byte, len(b)), b, "buffer %d of %d bytes is not wiped", i, len(b))
	}
	for i, k := range w.keys {
		require.True(t, k.IsZero(), "key %d is not wiped", i)
	}
	require.False(t, key.Secret.IsZero(), "the returned key must survive the wipe")
	want, err := DeriveKey(seed, SigningKeyPath(5), time.Time{})
	require.NoError(t, err)
	require.Equal(t, want.Secret.Serialize(), key.Secret.Serialize())
}

func TestDeriveKeyRefuses(t *testing.T) {
	seed := make([]byte, 64)
	tests := []struct {
		name string
		seed []byte
		path string
		want string
	}{
		{"empty path", seed, "", `does not start with "m"`},
		{"no m", seed, "12381/3600", `does not start with "m"`},
		{"trailing slash", seed, "m/12381/", `path component 2 is ""`},
		{"not a number", seed, "m/12381/x", `path component 2 is "x"`},
		{"negative", seed, "m/-1", `path component 1 is "-1"`},
		{"too large", seed, "m/4294967296", "below 2^32"},
		{"second m", seed, "m/m", `path component 1 is "m"`},
		{"short seed", seed[:31], "m/0", "seed is 31 bytes, EIP-2333 wants at least 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var w wiper
			_, err := derivePath(tc.seed, tc.path, time.Time{}, &w)
			require.ErrorContains(t, err, tc.want)
			for _, b := range w.bufs {
				require.Equal(t, make([]byte, len(b)), b)
			}
		})
	}
}
