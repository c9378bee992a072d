package devnet

import (
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

// The chain is fixed: tests and operators compare against these constants, and
// the files are embedded so a devnet needs nothing from the checkout.
var (
	//go:embed config/config.yml
	chainConfigYAML []byte
	//go:embed config/genesis.json
	gethGenesisJSON []byte
)

// Chain parameters of the devnet, as written in config/config.yml.
const (
	// ChainID is the execution chain id and the deposit network id.
	ChainID = 32382
	// SecondsPerSlot is SECONDS_PER_SLOT.
	SecondsPerSlot = 3
	// SlotsPerEpoch is SLOTS_PER_EPOCH.
	SlotsPerEpoch = 8
	// FeeRecipient is the funded execution account the beacon nodes suggest as
	// fee recipient.
	FeeRecipient = "0x878705ba3f8bc32fcf7f4caa1a35e72af65cf766"
)

// GenesisForkVersion is GENESIS_FORK_VERSION; deposit data for the devnet is
// signed over it.
var GenesisForkVersion = [4]byte{0x20, 0x00, 0x00, 0x89}

// genesis is what prysmctl produced for one devnet.
type genesis struct {
	time            time.Time
	validatorsRoot  [32]byte
	statePath       string
	gethGenesisPath string
	chainConfigPath string
	jwtPath         string
}

// writeGenesis writes the chain config, geth genesis template and JWT secret
// into dir, then has prysmctl build the genesis state and rewrite the geth
// genesis with the genesis time.
func writeGenesis(ctx context.Context, cfg Config, dir string, genesisTime time.Time) (*genesis, error) {
	g := &genesis{
		statePath:       filepath.Join(dir, "genesis.ssz"),
		gethGenesisPath: filepath.Join(dir, "genesis.out.json"),
		chainConfigPath: filepath.Join(dir, "config.yml"),
		jwtPath:         filepath.Join(dir, "jwt.hex"),
	}
	gethIn := filepath.Join(dir, "genesis.json")
	if err := os.WriteFile(g.chainConfigPath, chainConfigYAML, 0o644); err != nil {
		return nil, fmt.Errorf("write chain config: %w", err)
	}
	if err := os.WriteFile(gethIn, gethGenesisJSON, 0o644); err != nil {
		return nil, fmt.Errorf("write geth genesis template: %w", err)
	}
	// The engine API secret only guards loopback ports of a throwaway chain,
	// but it is still random and 0600 so that no two devnets share one.
	var secret [32]byte
	if _, err := rand.Read(secret[:]); err != nil {
		return nil, fmt.Errorf("generate engine API secret: %w", err)
	}
	if err := os.WriteFile(g.jwtPath, []byte(hex.EncodeToString(secret[:])), 0o600); err != nil {
		return nil, fmt.Errorf("write engine API secret: %w", err)
	}

	args := []string{
		cfg.Binaries.Prysmctl, "testnet", "generate-genesis",
		"--fork=deneb",
		"--chain-config-file=" + g.chainConfigPath,
		"--geth-genesis-json-in=" + gethIn,
		"--geth-genesis-json-out=" + g.gethGenesisPath,
		"--output-ssz=" + g.statePath,
		"--genesis-time=" + strconv.FormatInt(genesisTime.Unix(), 10),
		"--genesis-time-delay=0",
	}
	if cfg.DepositDataFile != "" {
		// prysmctl still wants --num-validators with a deposit file; the
		// validators then come from the file alone.
		args = append(args, "--deposit-json-file="+cfg.DepositDataFile, "--num-validators=1")
	} else {
		args = append(args, "--num-validators="+strconv.Itoa(cfg.NumInteropValidators))
	}
	logPath := filepath.Join(dir, "prysmctl.log")
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if werr := os.WriteFile(logPath, out, 0o644); werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("prysmctl testnet generate-genesis: %w; last lines of %s:\n%s", err, logPath, tailFile(logPath, 20))
	}

	t, root, err := readGenesisState(g.statePath)
	if err != nil {
		return nil, err
	}
	if t != uint64(genesisTime.Unix()) {
		return nil, fmt.Errorf("genesis state %s has genesis time %d, asked for %d", g.statePath, t, genesisTime.Unix())
	}
	g.time = time.Unix(int64(t), 0)
	g.validatorsRoot = root
	return g, nil
}

// readGenesisState reads genesis_time and genesis_validators_root, the first
// two fields of every fork's BeaconState container, so they sit at fixed SSZ
// offsets 0 and 8.
func readGenesisState(path string) (uint64, [32]byte, error) {
	var root [32]byte
	f, err := os.Open(path)
	if err != nil {
		return 0, root, fmt.Errorf("read genesis state: %w", err)
	}
	defer f.Close()
	var head [40]byte
	if _, err := f.ReadAt(head[:], 0); err != nil {
		return 0, root, fmt.Errorf("read genesis state %s: %w", path, err)
	}
	copy(root[:], head[8:40])
	return binary.LittleEndian.Uint64(head[:8]), root, nil
}
