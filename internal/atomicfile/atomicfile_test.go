package atomicfile_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/atomicfile"
)

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keystore.json")
	require.NoError(t, atomicfile.Create(p, []byte("one"), 0o600))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	err = atomicfile.Create(p, []byte("two"), 0o600)
	require.ErrorContains(t, err, "already exists; refusing to overwrite it")
	b, _ := os.ReadFile(p)
	require.Equal(t, "one", string(b))
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1, "no temporary file is left behind")
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "interchange.json")
	require.NoError(t, os.WriteFile(p, []byte("old"), 0o644))
	require.NoError(t, atomicfile.Replace(p, 0o600, func(w io.Writer) error { _, err := w.Write([]byte("new")); return err }))
	b, _ := os.ReadFile(p)
	require.Equal(t, "new", string(b))
	fi, _ := os.Stat(p)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	err := atomicfile.Replace(p, 0o600, func(w io.Writer) error {
		_, _ = w.Write([]byte("partial"))
		return errors.New("export failed")
	})
	require.ErrorContains(t, err, "export failed")
	b, _ = os.ReadFile(p)
	require.Equal(t, "new", string(b), "a failed write leaves the old file")
	entries, _ := os.ReadDir(dir)
	require.Len(t, entries, 1)
}
