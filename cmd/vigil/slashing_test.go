package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

// runVigil runs the CLI in-process with a temporary data dir.
func runVigil(t *testing.T, dataDir string, args ...string) (string, string, error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"vigil", "--data-dir", dataDir}, args...))
	return out.String(), errOut.String(), err
}

func TestSlashingCLI(t *testing.T) {
	network := fmt.Sprintf("%#x", slashprotecttest.Network[:])
	// The test network's genesis time (mainnet's: long past, so the files'
	// epochs are not in the future).
	genesisTime := strconv.FormatInt(slashprotecttest.NetworkTiming().GenesisTime.Unix(), 10)
	pk := slashprotecttest.PK(1)
	pkHex := fmt.Sprintf("%#x", pk[:])
	doc := slashprotecttest.Doc(slashprotecttest.Network, slashprotecttest.IV{
		PK: pk, Blocks: []slashprotecttest.IB{{Slot: 64, Root: 1}}, Atts: []slashprotecttest.IA{{Source: 1, Target: 2, Root: 1}, {Source: 2, Target: 3}},
	})

	t.Run("import, inspect, export, prune", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		file := filepath.Join(t.TempDir(), "in.json")
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))

		_, _, err := runVigil(t, dir, "slashing", "import", file)
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		require.Contains(t, err.Error(), "--genesis-validators-root")

		out, _, err := runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network, "--genesis-time", genesisTime)
		require.NoError(t, err)
		require.Contains(t, out, "2 new attestations (of 2), 1 new blocks (of 1)")
		require.FileExists(t, filepath.Join(dir, "slashing.db"))

		out, _, err = runVigil(t, dir, "slashing", "inspect", "--pubkey", pkHex, "--format", "json")
		require.NoError(t, err)
		var h struct {
			Pubkey     string `json:"pubkey"`
			Watermarks struct {
				BlockSlot         *string `json:"block_slot"`
				AttestationSource *string `json:"attestation_source"`
				AttestationTarget *string `json:"attestation_target"`
			} `json:"watermarks"`
			TotalAttestations int `json:"total_attestations"`
			TotalBlocks       int `json:"total_blocks"`
			Attestations      []struct {
				TargetEpoch string `json:"target_epoch"`
				SigningRoot string `json:"signing_root"`
			} `json:"signed_attestations"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &h))
		require.Equal(t, pkHex, h.Pubkey)
		require.Equal(t, "1", *h.Watermarks.AttestationSource)
		require.Equal(t, "2", *h.Watermarks.AttestationTarget)
		require.Equal(t, "64", *h.Watermarks.BlockSlot)
		require.Len(t, h.Attestations, 2)
		require.Equal(t, "3", h.Attestations[0].TargetEpoch)
		require.Empty(t, h.Attestations[0].SigningRoot)

		out, _, err = runVigil(t, dir, "slashing", "inspect", "--pubkey", pkHex)
		require.NoError(t, err)
		require.Contains(t, out, "attestation target watermark  2")

		exported := filepath.Join(t.TempDir(), "out.json")
		out, _, err = runVigil(t, dir, "slashing", "export", "--out", exported, "--pubkey", pkHex)
		require.NoError(t, err)
		require.Contains(t, out, "exported 1 validators (2 attestations, 1 blocks)")
		fi, err := os.Stat(exported)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		entries, err := os.ReadDir(filepath.Dir(exported))
		require.NoError(t, err)
		require.Len(t, entries, 1, "no temporary file left behind")

		// The export imports into a fresh database and is the same document again.
		dir2 := filepath.Join(t.TempDir(), "data")
		_, _, err = runVigil(t, dir2, "slashing", "import", exported)
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		_, _, err = runVigil(t, dir2, "slashing", "import", exported, "--genesis-validators-root", network, "--genesis-time", genesisTime)
		require.NoError(t, err)
		again := filepath.Join(t.TempDir(), "again.json")
		_, _, err = runVigil(t, dir2, "slashing", "export", "--out", again)
		require.NoError(t, err)
		a, _ := os.ReadFile(exported)
		b, _ := os.ReadFile(again)
		require.Equal(t, string(a), string(b))

		minimal := filepath.Join(t.TempDir(), "min.json")
		_, _, err = runVigil(t, dir, "slashing", "export", "--out", minimal, "--minimal")
		require.NoError(t, err)
		m, _ := os.ReadFile(minimal)
		require.Contains(t, string(m), `{"source_epoch":"2","target_epoch":"3"}`)
		require.NotContains(t, string(m), `"target_epoch":"2"`)

		out, _, err = runVigil(t, dir, "slashing", "prune", "--horizon-epochs", "0")
		require.NoError(t, err)
		require.Contains(t, out, "1 attestations and 0 blocks deleted from 1 validators")
		out, _, err = runVigil(t, dir, "slashing", "inspect", "--pubkey", pkHex, "--format", "json")
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(out), &h))
		require.Equal(t, "2", *h.Watermarks.AttestationTarget)
		require.Equal(t, 1, h.TotalAttestations)
	})

	t.Run("refuses bad input and leaves the database alone", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		file := filepath.Join(t.TempDir(), "in.json")
		require.NoError(t, os.WriteFile(file, []byte(doc), 0o600))
		_, _, err := runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network, "--genesis-time", genesisTime)
		require.NoError(t, err)

		bad := filepath.Join(t.TempDir(), "bad.json")
		require.NoError(t, os.WriteFile(bad, bytes.Replace([]byte(doc), []byte(`"slot":"64"`), []byte(`"slot":64`), 1), 0o600))
		_, _, err = runVigil(t, dir, "slashing", "import", bad)
		require.ErrorIs(t, err, slashprotect.ErrInterchange)
		require.Contains(t, err.Error(), "data[0].signed_blocks[0].slot")
		require.Contains(t, err.Error(), "nothing was imported")

		_, _, err = runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", "0x1234")
		require.ErrorContains(t, err, "want 0x followed by 64 hex digits")
		otherRoot := slashprotecttest.Root(3)
		other := fmt.Sprintf("%#x", otherRoot[:])
		_, _, err = runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", other)
		require.ErrorIs(t, err, slashprotect.ErrWrongNetwork)

		_, _, err = runVigil(t, dir, "slashing", "inspect", "--pubkey", "0x12")
		require.ErrorContains(t, err, "want 0x followed by 96 hex digits")
		unknown := slashprotecttest.PK(9)
		_, _, err = runVigil(t, dir, "slashing", "inspect", "--pubkey", fmt.Sprintf("%#x", unknown[:]))
		require.ErrorIs(t, err, slashprotect.ErrUnknownValidator)
		_, _, err = runVigil(t, dir, "slashing", "export")
		require.ErrorContains(t, err, "--out FILE is required")
	})

	t.Run("refuses a database a running vigil holds", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		require.NoError(t, os.Mkdir(dir, 0o700))
		url := "sqlite://" + filepath.Join(dir, "slashing.db")
		running, err := slashprotect.Open(context.Background(), url, slashprotect.WithGenesisValidatorsRoot(slashprotecttest.Network))
		require.NoError(t, err)
		defer running.Close()
		for _, args := range [][]string{
			{"slashing", "export", "--out", filepath.Join(t.TempDir(), "x.json")},
			{"slashing", "inspect", "--pubkey", pkHex},
			{"slashing", "prune"},
		} {
			_, _, err := runVigil(t, dir, args...)
			require.ErrorIs(t, err, slashprotect.ErrInUse, "%v", args)
			require.ErrorContains(t, err, fmt.Sprintf("is in use by another vigil process (pid %d) — stop it first", os.Getpid()))
		}
		_, _, err = runVigil(t, dir, "slashing", "export", "--out", filepath.Join(t.TempDir(), "x.json"), "--slashing-db", "sqlite://"+filepath.Join(t.TempDir(), "other.db"))
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown, "another database is not locked")

		// An import goes in beside the running vigil: keys moved to it need
		// their history first, and the running signer then refuses to vote
		// against it.
		var pk phase0.BLSPubKey
		pk[0] = 0x77
		doc := filepath.Join(t.TempDir(), "moved.json")
		require.NoError(t, os.WriteFile(doc, []byte(slashprotecttest.Doc(slashprotecttest.Network,
			slashprotecttest.IV{PK: pk, Atts: []slashprotecttest.IA{{Source: 4, Target: 5, Root: 1}}})), 0o600))
		out, errOut, err := runVigil(t, dir, "slashing", "import", doc, "--force")
		require.NoError(t, err, errOut)
		require.Contains(t, errOut, "A running vigil holds the slashing database: importing beside it")
		require.NotContains(t, errOut, "stop it first")
		require.Contains(t, out, "1 new attestations")
		v, err := running.CheckAndRecordAttestations(context.Background(), []slashprotect.AttestationRequest{
			{Pubkey: pk, SourceEpoch: 4, TargetEpoch: 5, SigningRoot: phase0.Root{0xee}}})
		require.NoError(t, err)
		require.False(t, v[0].Allowed)
	})

	t.Run("a fresh install's backup and a migration from another client", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "data")
		backup := filepath.Join(t.TempDir(), "backup.json")
		_, _, err := runVigil(t, dir, "slashing", "export", "--out", backup)
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		require.ErrorContains(t, err, "--genesis-validators-root 0x…")
		require.NoFileExists(t, backup)
		out, _, err := runVigil(t, dir, "slashing", "export", "--out", backup, "--genesis-validators-root", network)
		require.NoError(t, err)
		require.Contains(t, out, "exported 0 validators")
		empty, err := os.ReadFile(backup)
		require.NoError(t, err)
		require.Contains(t, string(empty), `"genesis_validators_root":"`+network+`"`)

		// Another client's file: an inverted record, and one at epoch 2^40.
		other := slashprotecttest.Doc(slashprotecttest.Network, slashprotecttest.IV{
			PK: pk, Atts: []slashprotecttest.IA{{Source: 8, Target: 7}, {Source: 9, Target: 1 << 40}},
		})
		file := filepath.Join(t.TempDir(), "other.json")
		require.NoError(t, os.WriteFile(file, []byte(other), 0o600))
		_, _, err = runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network)
		require.ErrorIs(t, err, slashprotect.ErrNoClock)
		require.ErrorContains(t, err, "--genesis-time")
		_, _, err = runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network, "--genesis-time", "soon")
		require.ErrorContains(t, err, "want the genesis time in Unix seconds")
		_, _, err = runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network, "--genesis-time", genesisTime)
		require.ErrorIs(t, err, slashprotect.ErrFarFuture)
		require.ErrorContains(t, err, "signed_attestations[1] has source_epoch 9, target_epoch 1099511627776")
		require.ErrorContains(t, err, "nothing was imported")
		require.ErrorContains(t, err, "--force")
		out, errOut, err := runVigil(t, dir, "slashing", "import", file, "--genesis-validators-root", network, "--genesis-time", genesisTime, "--force")
		require.NoError(t, err)
		require.Contains(t, out, "2 new attestations (of 2)")
		require.Contains(t, errOut, fmt.Sprintf("warning: validator %s: attestation record with source_epoch 8 and target_epoch 7 (source_after_target)", pkHex))
		require.Contains(t, errOut, "--force imported 1 records more than 8 epochs beyond the current epoch")

		// Without any clock, --force alone imports, and says it did not check.
		dir2 := filepath.Join(t.TempDir(), "data")
		_, errOut, err = runVigil(t, dir2, "slashing", "import", file, "--genesis-validators-root", network, "--force")
		require.NoError(t, err)
		require.True(t, strings.Contains(errOut, "imported without checking for records beyond the current epoch"), errOut)
	})
}

// TestForceIsCommandLineOnly: --force left in a config file or the
// environment would disable the far-future check for every import.
func TestForceIsCommandLineOnly(t *testing.T) {
	for _, f := range slashingCommand().Subcommands[0].Flags {
		if f.Names()[0] != flagForce {
			continue
		}
		bf, ok := f.(*cli.BoolFlag)
		require.True(t, ok, "--force must be a plain flag, not one the config file can set")
		require.Empty(t, bf.EnvVars)
		return
	}
	t.Fatal("slashing import has no --force flag")
}
