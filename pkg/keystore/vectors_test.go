package keystore_test

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// vectorsDir holds the shared test vectors (see its README.md for sources);
// VIGIL_VECTORS_DIR overrides it for checkouts laid out differently.
func vectorsDir() string {
	if d := os.Getenv("VIGIL_VECTORS_DIR"); d != "" {
		return d
	}
	return "../../../shared/vectors"
}

func readVector(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir(), path))
	require.NoError(t, err, "read vector file %s (set VIGIL_VECTORS_DIR if the vectors live elsewhere)", path)
	return data
}

func readJSON(t testing.TB, path string, v any) {
	t.Helper()
	data := readVector(t, path)
	require.NoError(t, json.Unmarshal(data, v), "parse vector file %s", path)
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(s), "0x"))
	require.NoError(t, err)
	return b
}
