package deposit

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/vigil-eth/vigil/internal/atomicfile"
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
	if err := atomicfile.Create(path, data, 0o644); err != nil {
		if errors.Is(err, atomicfile.ErrExists) {
			return "", fmt.Errorf("%w: %s", ErrFileExists, path)
		}
		return "", err
	}
	return path, nil
}
