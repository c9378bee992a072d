package keystore_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

// TestBLSSignVectors signs bls12-381-tests-v0.1.1/sign/*.json (ethereum/
// bls12-381-tests v0.1.1, Ethereum POP ciphersuite) with herumi. A null output
// means the key is invalid (zero) and must be refused.
func TestBLSSignVectors(t *testing.T) {
	require.NoError(t, blsinit.Init())
	files, err := filepath.Glob(filepath.Join(vectorsDir, "bls12-381-tests-v0.1.1", "sign", "*.json"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			require.NoError(t, err)
			var tc struct {
				Input struct {
					Privkey string `json:"privkey"`
					Message string `json:"message"`
				} `json:"input"`
				Output *string `json:"output"`
			}
			require.NoError(t, json.Unmarshal(data, &tc))
			sk, err := keystore.SecretKeyFromBytes(unhex(t, tc.Input.Privkey))
			if tc.Output == nil {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			sig := sk.SignByte(unhex(t, tc.Input.Message))
			require.Equal(t, strings.TrimPrefix(*tc.Output, "0x"), hex.EncodeToString(sig.Serialize()))
			var pk bls.PublicKey
			pub := keystore.PublicKey(sk)
			require.NoError(t, pk.Deserialize(pub[:]))
			require.True(t, sig.VerifyByte(&pk, unhex(t, tc.Input.Message)))
		})
	}
}
