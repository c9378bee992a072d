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

// vectorsDir holds the spec test vectors, copied into the repository so that
// a plain clone passes (testdata/README.md names each file's source, version
// and licence).
const vectorsDir = "testdata/vectors"

func readVector(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(vectorsDir, path))
	require.NoError(t, err, "read vector file %s", path)
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
