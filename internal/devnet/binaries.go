package devnet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ToolsVersion names the pinned build of the devnet programs (Prysm's from
// tools/devnet, geth from tools/geth); it keys the cache directory that
// scripts/build-devnet.sh fills.
const ToolsVersion = "prysm-v7.1.2-geth-v1.17.10"

// BinDirEnv is the environment variable that points at a directory holding
// geth, beacon-chain, prysmctl and validator, overriding the default cache.
const BinDirEnv = "VIGIL_DEVNET_BIN_DIR"

// BuildCommand is the command that builds the devnet programs; errors about
// missing binaries name it.
const BuildCommand = "scripts/build-devnet.sh"

// ErrBinariesNotFound means one of the devnet programs is missing; callers
// branch on it to skip or fail integration tests.
var ErrBinariesNotFound = errors.New("devnet binaries not found")

// Binaries holds the paths of the programs a devnet runs.
type Binaries struct {
	Geth        string
	BeaconChain string
	Prysmctl    string
	Validator   string
}

// DefaultBinDir returns where scripts/build-devnet.sh puts the programs:
// ${XDG_CACHE_HOME:-$HOME/.cache}/vigil-tools/devnet-<ToolsVersion>.
func DefaultBinDir() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("find the devnet binaries: no XDG_CACHE_HOME and no home directory: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "vigil-tools", "devnet-"+ToolsVersion), nil
}

// FindBinaries locates the devnet programs in $VIGIL_DEVNET_BIN_DIR when set,
// otherwise in DefaultBinDir. The error wraps ErrBinariesNotFound and names the
// missing program and the command that builds it.
func FindBinaries() (Binaries, error) {
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		var err error
		if dir, err = DefaultBinDir(); err != nil {
			return Binaries{}, err
		}
	}
	return BinariesIn(dir)
}

// BinariesIn returns the programs in dir, checking that each is an executable
// file.
func BinariesIn(dir string) (Binaries, error) {
	b := Binaries{
		Geth:        filepath.Join(dir, "geth"),
		BeaconChain: filepath.Join(dir, "beacon-chain"),
		Prysmctl:    filepath.Join(dir, "prysmctl"),
		Validator:   filepath.Join(dir, "validator"),
	}
	for _, p := range []string{b.Geth, b.BeaconChain, b.Prysmctl, b.Validator} {
		if err := checkExecutable(p); err != nil {
			return Binaries{}, fmt.Errorf("%w: %v; build them with %s (or set %s)", ErrBinariesNotFound, err, BuildCommand, BinDirEnv)
		}
	}
	return b, nil
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func (b Binaries) validate() error {
	for _, bin := range []struct{ name, path string }{
		{"Geth", b.Geth}, {"BeaconChain", b.BeaconChain}, {"Prysmctl", b.Prysmctl},
	} {
		if bin.path == "" {
			return fmt.Errorf("devnet config: Binaries.%s is empty (use FindBinaries)", bin.name)
		}
		if err := checkExecutable(bin.path); err != nil {
			return fmt.Errorf("%w: %v; build them with %s", ErrBinariesNotFound, err, BuildCommand)
		}
	}
	return nil
}
