package deposit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ErrFileExists is returned rather than overwriting a deposit data file.
var ErrFileExists = errors.New("deposit data file already exists")

// FileName is staking-deposit-cli's name: deposit_data-<unix seconds>.json.
func FileName(now time.Time) string {
	return "deposit_data-" + strconv.FormatInt(now.Unix(), 10) + ".json"
}

// WriteFile verifies every deposit against network and writes them to
// dir/FileName(now), atomically and never over an existing file. It returns
// the file's path. Deposit data is public, so the file is 0644.
func WriteFile(dir string, deposits []*Data, network Network, now time.Time) (string, error) {
	if len(deposits) == 0 {
		return "", errors.New("no deposits to write")
	}
	for i, d := range deposits {
		if err := Verify(d, &network); err != nil {
			return "", fmt.Errorf("deposit %d (%s): %w", i, d.Pubkey, err)
		}
	}
	data, err := json.Marshal(deposits)
	if err != nil {
		return "", fmt.Errorf("encode deposit data: %w", err)
	}
	path := filepath.Join(dir, FileName(now))
	if err := writeNew(path, data, 0o644); err != nil {
		return "", err
	}
	return path, nil
}

// writeNew writes a temporary file, syncs it, then hard-links it to path,
// which fails rather than replace an existing file, so a reader sees either
// nothing or the whole file.
func writeNew(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrFileExists, path)
		}
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
