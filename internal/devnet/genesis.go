package devnet

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"text/template"
	"time"
)

// The chain is fixed but for its fork schedule: tests and operators compare
// against these constants, and the files are embedded so a devnet needs
// nothing from the checkout.
var (
	//go:embed config/config.yml
	chainConfigTemplate string
	//go:embed config/genesis.json
	gethGenesisJSON []byte
)

// Chain parameters of the devnet, as written into its config.yml.
const (
	// ChainID is the execution chain id and the deposit network id.
	ChainID = 32382
	// SecondsPerSlot is SECONDS_PER_SLOT (and SLOT_DURATION_MS / 1000).
	SecondsPerSlot = 3
	// SlotsPerEpoch is SLOTS_PER_EPOCH: mainnet's, because Prysm's go-built
	// beacon node sizes Fulu's proposer lookahead for it.
	SlotsPerEpoch = 32
	// ElectraForkEpoch is ELECTRA_FORK_EPOCH of a chain that starts at Deneb.
	ElectraForkEpoch = 1
	// FuluForkEpoch is FULU_FORK_EPOCH of a chain that starts at Deneb.
	FuluForkEpoch = 2
	// ShardCommitteePeriod is SHARD_COMMITTEE_PERIOD: a genesis validator
	// may exit from this epoch on, which is the first Fulu epoch of a chain
	// that starts at Deneb.
	ShardCommitteePeriod = FuluForkEpoch
	// FeeRecipient is the funded execution account the beacon nodes suggest as
	// fee recipient.
	FeeRecipient = "0x878705ba3f8bc32fcf7f4caa1a35e72af65cf766"
	// DepositContractAddress is DEPOSIT_CONTRACT_ADDRESS and geth's
	// depositContractAddress, where geth's genesis holds the deposit
	// contract with an empty deposit tree (the code and storage Prysm's
	// interop genesis uses). The genesis validators do not come from it;
	// it is there because Prysm's deposit follower reports the execution
	// client offline (el_offline) when the address has no code.
	DepositContractAddress = "0x4242424242424242424242424242424242424242"
)

// Fork versions of the devnet. Deposit data for it is signed over
// GenesisForkVersion.
var (
	// GenesisForkVersion is GENESIS_FORK_VERSION.
	GenesisForkVersion = [4]byte{0x20, 0x00, 0x00, 0x89}
	// DenebForkVersion is DENEB_FORK_VERSION, the fork at genesis unless
	// Config.FuluAtGenesis.
	DenebForkVersion = [4]byte{0x20, 0x00, 0x00, 0x93}
	// ElectraForkVersion is ELECTRA_FORK_VERSION.
	ElectraForkVersion = [4]byte{0x20, 0x00, 0x00, 0x94}
	// FuluForkVersion is FULU_FORK_VERSION.
	FuluForkVersion = [4]byte{0x20, 0x00, 0x00, 0x95}
)

// Fork names a consensus fork the devnet runs, as the Beacon API spells it
// (Eth-Consensus-Version).
type Fork string

// The forks a devnet can be on.
const (
	ForkDeneb   Fork = "deneb"
	ForkElectra Fork = "electra"
	ForkFulu    Fork = "fulu"
)

// Schedule is when a devnet's chain enters Electra and Fulu.
type Schedule struct {
	// ElectraEpoch is ELECTRA_FORK_EPOCH.
	ElectraEpoch uint64
	// FuluEpoch is FULU_FORK_EPOCH.
	FuluEpoch uint64
}

// CrossingForks is the default schedule: genesis at Deneb, Electra and Fulu
// reached while the chain runs.
var CrossingForks = Schedule{ElectraEpoch: ElectraForkEpoch, FuluEpoch: FuluForkEpoch}

// FuluFromGenesis has every fork at epoch 0: the chain is on Fulu from its
// first slot, the fork a staker meets on mainnet.
var FuluFromGenesis = Schedule{}

// ForkAt returns the fork the chain is on in epoch.
func (s Schedule) ForkAt(epoch uint64) Fork {
	switch {
	case epoch >= s.FuluEpoch:
		return ForkFulu
	case epoch >= s.ElectraEpoch:
		return ForkElectra
	}
	return ForkDeneb
}

// ForkVersionAt returns the fork version in force in epoch, the one signing
// domains of that epoch's messages are computed with.
func (s Schedule) ForkVersionAt(epoch uint64) [4]byte {
	switch s.ForkAt(epoch) {
	case ForkFulu:
		return FuluForkVersion
	case ForkElectra:
		return ElectraForkVersion
	}
	return DenebForkVersion
}

// genesisFork is prysmctl's --fork: the fork of the genesis state.
func (s Schedule) genesisFork() Fork { return s.ForkAt(0) }

// chainConfig renders config.yml for the schedule.
func (s Schedule) chainConfig() ([]byte, error) {
	tmpl, err := template.New("config.yml").Option("missingkey=error").Parse(chainConfigTemplate)
	if err != nil {
		return nil, fmt.Errorf("parse the chain config template: %w", err)
	}
	var b bytes.Buffer
	err = tmpl.Execute(&b, map[string]any{
		"ElectraForkEpoch":     s.ElectraEpoch,
		"FuluForkEpoch":        s.FuluEpoch,
		"SecondsPerSlot":       SecondsPerSlot,
		"SlotDurationMS":       SecondsPerSlot * 1000,
		"SlotsPerEpoch":        SlotsPerEpoch,
		"ShardCommitteePeriod": ShardCommitteePeriod,
		"ChainID":              ChainID,
		"DepositContract":      DepositContractAddress,
	})
	if err != nil {
		return nil, fmt.Errorf("render the chain config: %w", err)
	}
	return b.Bytes(), nil
}

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
// genesis with the genesis and fork times, which it then checks.
func writeGenesis(ctx context.Context, cfg Config, dir string, genesisTime time.Time) (*genesis, error) {
	g := &genesis{
		statePath:       filepath.Join(dir, "genesis.ssz"),
		gethGenesisPath: filepath.Join(dir, "genesis.out.json"),
		chainConfigPath: filepath.Join(dir, "config.yml"),
		jwtPath:         filepath.Join(dir, "jwt.hex"),
	}
	gethIn := filepath.Join(dir, "genesis.json")
	chainConfig, err := cfg.schedule().chainConfig()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(g.chainConfigPath, chainConfig, 0o644); err != nil {
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
		"--fork=" + string(cfg.schedule().genesisFork()),
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
	if err := fixGethForkTimes(g.gethGenesisPath, genesisTime, cfg.schedule()); err != nil {
		return nil, err
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

// fixGethForkTimes makes the execution forks of geth's genesis start with
// their consensus forks: Shanghai and Cancun at genesis (Capella and Deneb),
// Prague at the first slot of the Electra epoch, Osaka at Fulu's. prysmctl
// v7.1 writes all four (v7.0 left Osaka out). A time that differs from the
// schedule is an error: geth and the beacon nodes would disagree about the
// fork of a payload and the chain would stop there. A missing time is added
// only where that leaves the genesis block, whose hash prysmctl put into the
// genesis state, as it is: after genesis, or for Osaka, which adds no header
// field.
func fixGethForkTimes(path string, genesisTime time.Time, s Schedule) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read geth genesis: %w", err)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("geth genesis %s: %w", path, err)
	}
	// Numbers stay json.Number so that re-encoding changes none of them.
	var config map[string]any
	dec := json.NewDecoder(bytes.NewReader(doc["config"]))
	dec.UseNumber()
	if err := dec.Decode(&config); err != nil {
		return fmt.Errorf("geth genesis %s: config: %w", path, err)
	}
	gt := uint64(genesisTime.Unix())
	for _, f := range []struct {
		key  string
		want uint64
		// headerField: the fork adds a field to the genesis block header
		// when it is active at genesis.
		headerField bool
	}{
		{"shanghaiTime", gt, true},
		{"cancunTime", gt, true},
		{"pragueTime", gt + s.ElectraEpoch*SlotsPerEpoch*SecondsPerSlot, true},
		{"osakaTime", gt + s.FuluEpoch*SlotsPerEpoch*SecondsPerSlot, false},
	} {
		v, ok := config[f.key]
		if !ok {
			if f.headerField && f.want == gt {
				return fmt.Errorf("geth genesis %s: prysmctl wrote no %s, so its genesis block hash lacks that fork's header fields", path, f.key)
			}
			config[f.key] = f.want
			continue
		}
		n, isNum := v.(json.Number)
		if got, err := strconv.ParseUint(n.String(), 10, 64); !isNum || err != nil || got != f.want {
			return fmt.Errorf("geth genesis %s: %s is %v, want %d (genesis %d, Electra epoch %d, Fulu epoch %d)",
				path, f.key, v, f.want, gt, s.ElectraEpoch, s.FuluEpoch)
		}
	}
	// geth refuses a fork with blobs that has no blobSchedule entry; Osaka
	// keeps Prague's (geth has no osaka entry).
	bs, _ := config["blobSchedule"].(map[string]any)
	for _, key := range []string{"cancun", "prague"} {
		if _, ok := bs[key]; !ok {
			return fmt.Errorf("geth genesis %s: blobSchedule has no %q entry", path, key)
		}
	}
	if doc["config"], err = json.Marshal(config); err != nil {
		return err
	}
	if b, err = json.MarshalIndent(doc, "", "  "); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
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
