package devnet

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/stretchr/testify/require"
)

func fakeBinaries(t *testing.T) Binaries {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"geth", "beacon-chain", "prysmctl", "validator"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755))
	}
	b, err := BinariesIn(dir)
	require.NoError(t, err)
	return b
}

func TestConfigNormalize(t *testing.T) {
	bins := fakeBinaries(t)
	deposits := filepath.Join(t.TempDir(), "deposit_data.json")
	require.NoError(t, os.WriteFile(deposits, []byte("[]"), 0o600))

	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "interop", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: 64}},
		{name: "deposit file", cfg: Config{Binaries: bins, Dir: "x", DepositDataFile: deposits}},
		{name: "two nodes", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: 8, BeaconNodes: 2}},
		{name: "no dir", cfg: Config{Binaries: bins, NumInteropValidators: 8}, wantErr: "Dir is required"},
		{name: "no validators", cfg: Config{Binaries: bins, Dir: "x"}, wantErr: "no validators"},
		{name: "both sources", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: 8, DepositDataFile: deposits}, wantErr: "not both"},
		{name: "negative validators", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: -1}, wantErr: "negative"},
		{name: "missing deposit file", cfg: Config{Binaries: bins, Dir: "x", DepositDataFile: deposits + ".missing"}, wantErr: "DepositDataFile"},
		{name: "too many nodes", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: 8, BeaconNodes: MaxBeaconNodes + 1}, wantErr: "BeaconNodes"},
		{name: "negative delay", cfg: Config{Binaries: bins, Dir: "x", NumInteropValidators: 8, GenesisDelay: -1}, wantErr: "GenesisDelay"},
		{name: "no binaries", cfg: Config{Dir: "x", NumInteropValidators: 8}, wantErr: "Binaries.Geth is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			err := cfg.normalize()
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			require.True(t, filepath.IsAbs(cfg.Dir))
			require.GreaterOrEqual(t, cfg.BeaconNodes, 1)
			require.Equal(t, DefaultGenesisDelay, cfg.GenesisDelay)
			require.NotNil(t, cfg.Logger)
		})
	}
}

func TestBinariesInMissing(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "geth"), nil, 0o755))
	_, err := BinariesIn(dir)
	require.True(t, errors.Is(err, ErrBinariesNotFound), "got %v", err)
	require.ErrorContains(t, err, BuildCommand)

	t.Setenv(BinDirEnv, dir)
	_, err = FindBinaries()
	require.ErrorIs(t, err, ErrBinariesNotFound)
}

func TestDefaultBinDir(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/cache")
	dir, err := DefaultBinDir()
	require.NoError(t, err)
	require.Equal(t, "/cache/vigil-tools/devnet-prysm-v7.1.2-geth-v1.17.10", dir)
}

func TestReadGenesisState(t *testing.T) {
	state := make([]byte, 200)
	binary.LittleEndian.PutUint64(state, 1_700_000_000)
	for i := range 32 {
		state[8+i] = byte(i + 1)
	}
	path := filepath.Join(t.TempDir(), "genesis.ssz")
	require.NoError(t, os.WriteFile(path, state, 0o600))
	gt, root, err := readGenesisState(path)
	require.NoError(t, err)
	require.Equal(t, uint64(1_700_000_000), gt)
	require.Equal(t, byte(1), root[0])
	require.Equal(t, byte(32), root[31])

	require.NoError(t, os.WriteFile(path, state[:20], 0o600))
	_, _, err = readGenesisState(path)
	require.Error(t, err)
}

func TestChainConfig(t *testing.T) {
	tests := []struct {
		name     string
		schedule Schedule
		want     []string
	}{
		{name: "crossing forks", schedule: CrossingForks, want: []string{
			"ELECTRA_FORK_EPOCH: 1\n", "FULU_FORK_EPOCH: 2\n", "SHARD_COMMITTEE_PERIOD: 2\n",
		}},
		{name: "fulu from genesis", schedule: FuluFromGenesis, want: []string{
			"ELECTRA_FORK_EPOCH: 0\n", "FULU_FORK_EPOCH: 0\n",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.schedule.chainConfig()
			require.NoError(t, err)
			cfg := string(b)
			require.NotContains(t, cfg, "{{")
			for _, want := range append(tc.want,
				"PRESET_BASE: 'interop'", "GENESIS_FORK_VERSION: 0x20000089", "DENEB_FORK_EPOCH: 0\n",
				"DENEB_FORK_VERSION: 0x20000093", "ELECTRA_FORK_VERSION: 0x20000094", "FULU_FORK_VERSION: 0x20000095",
				"SECONDS_PER_SLOT: 3\n", "SLOT_DURATION_MS: 3000\n", "SLOTS_PER_EPOCH: 32\n",
				"DEPOSIT_CHAIN_ID: 32382\n", "DEPOSIT_CONTRACT_ADDRESS: 0x4242424242424242424242424242424242424242\n",
			) {
				require.Contains(t, cfg, want)
			}
		})
	}
	require.Contains(t, string(gethGenesisJSON), `"chainId": 32382`)
}

func TestForkVersions(t *testing.T) {
	// The versions the Go constants name must be the ones config.yml gives
	// Prysm.
	cfg, err := CrossingForks.chainConfig()
	require.NoError(t, err)
	for name, v := range map[string][4]byte{
		"GENESIS": GenesisForkVersion, "DENEB": DenebForkVersion, "ELECTRA": ElectraForkVersion, "FULU": FuluForkVersion,
	} {
		require.Contains(t, string(cfg), fmt.Sprintf("%s_FORK_VERSION: 0x%x\n", name, v[:]))
	}
}

func TestScheduleForkAt(t *testing.T) {
	tests := []struct {
		schedule Schedule
		epoch    uint64
		fork     Fork
		version  [4]byte
	}{
		{CrossingForks, 0, ForkDeneb, DenebForkVersion},
		{CrossingForks, ElectraForkEpoch, ForkElectra, ElectraForkVersion},
		{CrossingForks, FuluForkEpoch, ForkFulu, FuluForkVersion},
		{CrossingForks, FuluForkEpoch + 100, ForkFulu, FuluForkVersion},
		{FuluFromGenesis, 0, ForkFulu, FuluForkVersion},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%+v/%d", tc.schedule, tc.epoch), func(t *testing.T) {
			require.Equal(t, tc.fork, tc.schedule.ForkAt(tc.epoch))
			require.Equal(t, tc.version, tc.schedule.ForkVersionAt(tc.epoch))
		})
	}
	require.Less(t, uint64(ElectraForkEpoch), uint64(FuluForkEpoch))
	require.Greater(t, uint64(ElectraForkEpoch), uint64(0), "the e2e chain must start before Electra")
}

func TestFixGethForkTimes(t *testing.T) {
	const gt uint64 = 1_700_000_000
	genesis := time.Unix(int64(gt), 0)
	electra := gt + ElectraForkEpoch*SlotsPerEpoch*SecondsPerSlot
	fulu := gt + FuluForkEpoch*SlotsPerEpoch*SecondsPerSlot
	blobs := `"blobSchedule": {"cancun": {"target": 3, "max": 6, "baseFeeUpdateFraction": 3338477}, "prague": {"target": 6, "max": 9, "baseFeeUpdateFraction": 5007716}}`
	tests := []struct {
		name     string
		schedule Schedule
		config   string
		wantErr  string
		want     map[string]uint64
	}{
		{
			name: "all written", schedule: CrossingForks,
			config: fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, "pragueTime": %d, "osakaTime": %d, %s`, gt, gt, electra, fulu, blobs),
			want:   map[string]uint64{"pragueTime": electra, "osakaTime": fulu},
		},
		{
			name: "later forks added", schedule: CrossingForks,
			config: fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, %s`, gt, gt, blobs),
			want:   map[string]uint64{"pragueTime": electra, "osakaTime": fulu},
		},
		{
			name: "osaka at genesis added", schedule: FuluFromGenesis,
			config: fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, "pragueTime": %d, %s`, gt, gt, gt, blobs),
			want:   map[string]uint64{"pragueTime": gt, "osakaTime": gt},
		},
		{
			name: "prague at genesis missing", schedule: FuluFromGenesis,
			config:  fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, %s`, gt, gt, blobs),
			wantErr: "wrote no pragueTime",
		},
		{
			name: "prague at genesis on a crossing chain", schedule: CrossingForks,
			config:  fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, "pragueTime": %d, %s`, gt, gt, gt, blobs),
			wantErr: "pragueTime is 1700000000",
		},
		{
			name: "no prague blob schedule", schedule: CrossingForks,
			config:  fmt.Sprintf(`"shanghaiTime": %d, "cancunTime": %d, "blobSchedule": {"cancun": {}}`, gt, gt),
			wantErr: `no "prague" entry`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "genesis.out.json")
			doc := fmt.Sprintf(`{"config": {"chainId": 32382, "terminalTotalDifficulty": 0, %s}, "timestamp": "0x%x", "alloc": {}}`, tc.config, gt)
			require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
			err := fixGethForkTimes(path, genesis, tc.schedule)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				return
			}
			require.NoError(t, err)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			var out struct {
				Config    map[string]any `json:"config"`
				Timestamp string         `json:"timestamp"`
			}
			require.NoError(t, json.Unmarshal(b, &out))
			for k, v := range tc.want {
				require.Equal(t, float64(v), out.Config[k], k)
			}
			require.Equal(t, float64(ChainID), out.Config["chainId"])
			require.Equal(t, fmt.Sprintf("0x%x", gt), out.Timestamp)
		})
	}
}

// TestToolsVersion checks that the cache directory's version, the build
// script's and the tool modules' pins name the same releases.
func TestToolsVersion(t *testing.T) {
	script, err := os.ReadFile("../../scripts/build-devnet.sh")
	require.NoError(t, err)
	require.Contains(t, string(script), fmt.Sprintf("version=%q", ToolsVersion))
	for mod, want := range map[string]string{
		"../../tools/devnet/go.mod": "github.com/OffchainLabs/prysm/v7 " + strings.Split(strings.TrimPrefix(ToolsVersion, "prysm-"), "-geth-")[0],
		"../../tools/geth/go.mod":   "github.com/ethereum/go-ethereum " + strings.Split(ToolsVersion, "-geth-")[1],
	} {
		b, err := os.ReadFile(mod)
		require.NoError(t, err)
		require.Contains(t, string(b), want+"\n", mod)
	}
}

func TestPeerID(t *testing.T) {
	// Vector: the secp256k1 key with secret 1 (public key is the generator
	// point); its peer id as computed by go-libp2p v0.36.5 peer.IDFromPublicKey.
	var one [32]byte
	one[31] = 1
	key := secp256k1.PrivKeyFromBytes(one[:])
	require.Equal(t, "16Uiu2HAm3cuhhRL2msUuLF62KRSfneFDx94RsuouyW25Ho42cFMq", peerID(key.PubKey()))

	path := filepath.Join(t.TempDir(), "p2p.key")
	id, err := writeP2PKey(path)
	require.NoError(t, err)
	require.True(t, len(id) > 40 && id[:5] == "16Uiu", "peer id %q", id)
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestMergeDepositFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		path := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
		return path
	}
	a := write("a.json", `[{"pubkey": "aa", "amount": 32000000000}, {"pubkey": "0xBB", "amount": 64000000000}]`)
	b := write("b.json", `[{"pubkey": "cc", "withdrawal_credentials": "02"}]`)
	out := filepath.Join(dir, "out.json")
	pks, err := MergeDepositFiles(out, a, b)
	require.NoError(t, err)
	require.Equal(t, []string{"aa", "bb", "cc"}, pks)
	got, err := os.ReadFile(out)
	require.NoError(t, err)
	require.JSONEq(t, `[{"pubkey": "aa", "amount": 32000000000}, {"pubkey": "0xBB", "amount": 64000000000}, {"pubkey": "cc", "withdrawal_credentials": "02"}]`, string(got))

	dup := write("dup.json", `[{"pubkey": "0xaa"}]`)
	_, err = MergeDepositFiles(out, a, dup)
	require.ErrorContains(t, err, "public key aa is in")
	_, err = MergeDepositFiles(out, write("bad.json", `[{"amount": 1}]`))
	require.ErrorContains(t, err, "has no pubkey")
}

func TestCrashedAtGenesis(t *testing.T) {
	panicked := "panic: runtime error: invalid memory address or nil pointer dereference\n" +
		"github.com/OffchainLabs/prysm/v7/beacon-chain/forkchoice/doubly-linked-tree.(*Store).setOptimisticToInvalid(...)\n" +
		"\tbeacon-chain/forkchoice/doubly-linked-tree/optimistic_sync.go:25 +0x1c\n"
	tests := []struct {
		name string
		proc string
		log  string
		want bool
	}{
		{name: "fork choice crash", proc: "beacon-1", log: panicked, want: true},
		{name: "other panic", proc: "beacon-0", log: "panic: runtime error: index out of range\n"},
		{name: "not a beacon node", proc: "geth-0", log: panicked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			logFile := filepath.Join(dir, tc.proc+".log")
			p, err := startProcess(tc.proc, logFile, dir, []string{"/bin/sh", "-c", "printf '%s' \"$0\"; exit 2", tc.log}, nil)
			require.NoError(t, err)
			<-p.Exited()
			d := &Devnet{Nodes: []*BeaconNode{{}}}
			if strings.HasPrefix(tc.proc, "beacon-") {
				d.Nodes[0].Beacon = p
			} else {
				d.Nodes[0].Geth = p
			}
			require.Error(t, d.CheckRunning())
			require.Equal(t, tc.want, d.crashedAtGenesis())
		})
	}
}

func TestProcessProblems(t *testing.T) {
	log := strings.Join([]string{
		`INFO [12-03|02:41:11.371] Imported new potential chain segment     number=147`,
		`WARN [12-03|02:41:12.000] Beacon client online, but no consensus updates received`,
		`time="2026-12-03 02:38:40.11" level=info msg="Synced new block" prefix=blockchain`,
		`time="2026-12-03 02:38:41.02" level=warning msg="Could not process attestation" prefix=sync`,
		`ERROR[12-03|02:41:13.000] Failed to deliver payload`,
		`time="2026-12-03 02:38:42.50" level=error msg="Could not propose block" prefix=validator`,
		`time="2026-12-03 02:41:29.85" level=info msg="Unsubscribed from" prefix=sync`,
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "node.log")
	require.NoError(t, os.WriteFile(path, []byte(log), 0o600))
	p := &Process{Name: "node", LogFile: path}
	tests := []struct {
		n    int
		want []string
	}{
		{10, []string{"Beacon client online", "Could not process attestation", "Failed to deliver payload", "Could not propose block"}},
		{2, []string{"Failed to deliver payload", "Could not propose block"}},
	}
	for _, tc := range tests {
		got := p.Problems(tc.n)
		lines := strings.Split(got, "\n")
		require.Len(t, lines, len(tc.want), got)
		for i, w := range tc.want {
			require.Contains(t, lines[i], w)
		}
	}
	require.Equal(t, strings.Join(strings.Split(strings.TrimRight(log, "\n"), "\n")[5:], "\n"), p.Tail(2))
}
