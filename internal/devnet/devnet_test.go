package devnet

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
	require.Equal(t, "/cache/vigil-tools/devnet-prysm-v5.3.0", dir)
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

func TestEmbeddedChainConfig(t *testing.T) {
	cfg := string(chainConfigYAML)
	for _, want := range []string{
		"PRESET_BASE: 'interop'", "GENESIS_FORK_VERSION: 0x20000089", "SECONDS_PER_SLOT: 3", "SLOTS_PER_EPOCH: 8",
		"DENEB_FORK_EPOCH: 0", "ELECTRA_FORK_EPOCH: 18446744073709551615", "DEPOSIT_CHAIN_ID: 32382",
	} {
		require.Contains(t, cfg, want)
	}
	require.Contains(t, string(gethGenesisJSON), `"chainId": 32382`)
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
