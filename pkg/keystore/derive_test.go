package keystore_test

import (
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// TestDeriveEIP2333Vectors uses eip2333_vectors.json (EIP-2333 "Test Cases",
// ethereum/ERCs ERCS/erc-2333.md).
func TestDeriveEIP2333Vectors(t *testing.T) {
	var vectors struct {
		BIP39 struct {
			Mnemonic   string `json:"mnemonic"`
			Passphrase string `json:"passphrase"`
			Seed       string `json:"seed"`
		} `json:"bip39_for_case_0"`
		Cases []struct {
			Name       string `json:"name"`
			Seed       string `json:"seed"`
			MasterSK   string `json:"master_SK"`
			ChildIndex uint32 `json:"child_index"`
			ChildSK    string `json:"child_SK"`
		} `json:"cases"`
	}
	readJSON(t, "eip2333_vectors.json", &vectors)
	require.NotEmpty(t, vectors.Cases)

	t.Run("case 0 seed from mnemonic", func(t *testing.T) {
		seed, err := keystore.Seed(vectors.BIP39.Mnemonic, vectors.BIP39.Passphrase)
		require.NoError(t, err)
		require.Equal(t, unhex(t, vectors.BIP39.Seed), seed)
	})
	for _, tc := range vectors.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			seed := unhex(t, tc.Seed)
			master, err := keystore.DeriveKey(seed, "m", time.Time{})
			require.NoError(t, err)
			require.Equal(t, tc.MasterSK, decimal(master))
			child, err := keystore.DeriveKey(seed, "m/"+strconv.FormatUint(uint64(tc.ChildIndex), 10), time.Time{})
			require.NoError(t, err)
			require.Equal(t, tc.ChildSK, decimal(child))
		})
	}
}

func decimal(k *keystore.Key) string {
	return new(big.Int).SetBytes(k.Secret.Serialize()).String()
}

func TestDeriveKeyPaths(t *testing.T) {
	require.Equal(t, "m/12381/3600/7/0/0", keystore.SigningKeyPath(7))
	require.Equal(t, "m/12381/3600/7/0", keystore.WithdrawalKeyPath(7))

	seed, err := keystore.Seed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	require.NoError(t, err)
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	signing, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(0), at)
	require.NoError(t, err)
	withdrawal, err := keystore.DeriveKey(seed, keystore.WithdrawalKeyPath(0), at)
	require.NoError(t, err)
	require.NotEqual(t, signing.Pubkey, withdrawal.Pubkey)
	require.Equal(t, keystore.Info{Pubkey: keystore.PublicKey(signing.Secret), Path: "m/12381/3600/0/0/0", CreatedAt: at, Origin: keystore.OriginGenerated}, signing.Info)

	t.Run("bad path", func(t *testing.T) {
		_, err := keystore.DeriveKey(seed, "m/12381/x", at)
		require.Error(t, err)
	})
	t.Run("zeroed", func(t *testing.T) {
		signing.Zero()
		require.Nil(t, signing.Secret)
	})
}
