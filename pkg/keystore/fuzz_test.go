package keystore_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// FuzzParseKeystore (go test -fuzz FuzzParseKeystore -fuzzminimizetime 2s ./pkg/keystore)
// checks that no input makes the parser panic, that what
// it accepts survives a marshal round trip, and that decrypting whatever it
// accepts (when cheap) fails cleanly. The committed corpus lives in
// testdata/fuzz/FuzzParseKeystore; the tool fixtures seed it too.
func FuzzParseKeystore(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "keystores", "*.json"))
	require.NoError(f, err)
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ks, err := keystore.ParseKeystore(data)
		if err != nil {
			return
		}
		out, err := ks.Marshal()
		require.NoError(t, err)
		again, err := keystore.ParseKeystore(out)
		require.NoError(t, err)
		require.Equal(t, ks.Crypto.KDF, again.Crypto.KDF)
		p := ks.Crypto.KDF.Params
		if p.N*p.R*p.P <= 1<<12 && p.C <= 1<<12 {
			_, _ = ks.Decrypt("password")
		}
	})
}
