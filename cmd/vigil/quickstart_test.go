package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
)

// TestQuickstart walks the README's key lifecycle through the real binary's
// wiring, a real Vault dev server and a real keystore directory: a new
// mnemonic, keys generated into each store with deposit data and EIP-2335
// backups, listed, deposit data verified, one key exported and re-imported.
func TestQuickstart(t *testing.T) {
	v := testharness.StartVault(t)
	clearVaultEnv(t)
	t.Setenv(vaultstore.EnvAddr, v.Addr)
	t.Setenv(vaultstore.EnvToken, v.RootToken)

	work := t.TempDir()
	data := filepath.Join(work, "data")
	run := func(args ...string) string {
		t.Helper()
		out, errOut, err := runVigil(t, data, args...)
		require.NoError(t, err, "vigil %s\nstderr: %s", strings.Join(args, " "), errOut)
		require.NotContains(t, out+errOut, v.RootToken, "the Vault token must never be printed")
		return out
	}

	mnemonicFile := filepath.Join(work, "mnemonic.txt")
	run("mnemonic", "new", "--out", mnemonicFile)
	fi, err := os.Stat(mnemonicFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	mnemonic, err := os.ReadFile(mnemonicFile)
	require.NoError(t, err)

	vaultDeposits := filepath.Join(work, "deposits-vault")
	dirDeposits := filepath.Join(work, "deposits-dir")
	backups := filepath.Join(work, "backups")
	for _, d := range []string{vaultDeposits, dirDeposits, backups} {
		require.NoError(t, os.Mkdir(d, 0o700))
	}
	out := run("keys", "generate", "--mnemonic-file", mnemonicFile, "--start-index", "0", "--count", "3",
		"--network", "hoodi", "--store", "vault", "--deposit-dir", vaultDeposits)
	require.NotContains(t, out, strings.Fields(string(mnemonic))[0]+" "+strings.Fields(string(mnemonic))[1])
	password := filepath.Join(work, "password.txt")
	require.NoError(t, os.WriteFile(password, []byte("a backup password\n"), 0o600))
	run("keys", "generate", "--mnemonic-file", mnemonicFile, "--start-index", "3", "--count", "1",
		"--network", "hoodi", "--withdrawal-address", "0x000000000000000000000000000000000000dEaD",
		"--store", "dir", "--deposit-dir", dirDeposits, "--keystore-dir", backups, "--keystore-password-file", password)

	listed := func(store string) []keyJSON {
		t.Helper()
		var keys []keyJSON
		require.NoError(t, json.Unmarshal([]byte(run("keys", "list", "--store", store, "--format", "json")), &keys))
		return keys
	}
	inVault, inDir := listed("vault"), listed("dir")
	require.Len(t, inVault, 3)
	require.Len(t, inDir, 1)
	require.Equal(t, "m/12381/3600/3/0/0", inDir[0].Path)

	for _, dir := range []string{vaultDeposits, dirDeposits} {
		files, err := filepath.Glob(filepath.Join(dir, "deposit_data-*.json"))
		require.NoError(t, err)
		require.Len(t, files, 1)
		run("deposit", "verify", "--network", "hoodi", files[0])
	}
	backupFiles, err := filepath.Glob(filepath.Join(backups, "keystore-m_12381_3600_3_0_0-*.json"))
	require.NoError(t, err)
	require.Len(t, backupFiles, 1)

	// The backup made for the directory store imports into Vault too, and a
	// second import of the same file is a no-op.
	require.Contains(t, run("keys", "import", "--store", "vault", "--keystores", backups, "--password-file", password),
		"Imported 1 keys")
	require.Contains(t, run("keys", "import", "--store", "vault", "--keystores", backups, "--password-file", password),
		"skipped 1 already present")
	require.Len(t, listed("vault"), 4)

	run("keys", "delete", "--store", "vault", "--pubkey", inDir[0].Pubkey, "--yes")
	require.Len(t, listed("vault"), 3)
}
