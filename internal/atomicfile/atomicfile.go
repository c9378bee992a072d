// Package atomicfile writes files that hold keys, deposits and slashing
// history so that a crash never leaves a partial file under the final name:
// the content goes to a temporary file in the same directory, is fsynced,
// and only then takes the final name, after which the directory is fsynced.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// ErrExists is returned by Create when path already exists.
var ErrExists = errors.New("file already exists")

// Create writes path with data and mode perm, refusing to replace an
// existing file (keystores and deposit data are never overwritten).
func Create(path string, data []byte, perm os.FileMode) error {
	return writeFile(path, perm, false, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Replace writes path with what write produces and mode perm, replacing any
// existing file only once the new content is durable.
func Replace(path string, perm os.FileMode, write func(io.Writer) error) error {
	return writeFile(path, perm, true, write)
}

func writeFile(path string, perm os.FileMode, replace bool, fill func(io.Writer) error) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(perm)
	if err == nil {
		err = fill(tmp)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if replace {
		err = os.Rename(tmp.Name(), path)
	} else {
		// A hard link fails if path exists, where a rename would replace it.
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s: %w; refusing to overwrite it", path, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
