package e2e

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// secretSet is every secret of the run, by a name the failure message may
// show (never the value).
type secretSet map[string]string

// runSecrets gathers the run's secrets: the mnemonic, the Vault token, every
// validator's secret key and the keystore directory's password files.
func runSecrets(t *testing.T, vaultToken, keysDir string, n uint32) secretSet {
	t.Helper()
	s := secretSet{"mnemonic": testMnemonic, "vault token": vaultToken}
	seed, err := keystore.Seed(testMnemonic, "")
	require.NoError(t, err)
	for i := range n {
		k, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(i), time.Time{})
		require.NoError(t, err)
		s["secret key of validator "+k.Path] = hex.EncodeToString(k.Secret.Serialize())
		k.Zero()
	}
	files, err := filepath.Glob(filepath.Join(keysDir, "secrets", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "the keystore directory's password files")
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		s["keystore password "+filepath.Base(f)] = strings.TrimSpace(string(b))
	}
	return s
}

// requireNoSecrets fails if any secret appears in any source (logs, metrics,
// command output, exported files), in any case and with or without 0x.
func requireNoSecrets(t *testing.T, secrets secretSet, sources map[string]string) {
	t.Helper()
	var scanned int
	for src, text := range sources {
		lower := strings.ToLower(text)
		for name, secret := range secrets {
			require.NotEmpty(t, secret, name)
			require.NotContains(t, lower, strings.ToLower(secret), "%s appears in %s", name, src)
		}
		scanned += len(text)
	}
	// A mnemonic split over a line break or quoted word by word would hide
	// from the whole-phrase search; three words in a row would not.
	words := strings.Fields(testMnemonic)
	for src, text := range sources {
		require.NotContains(t, text, strings.Join(words[:3], " "), "mnemonic words appear in %s", src)
	}
	t.Logf("secret scan: %d secrets, %d sources, %d KiB: none found", len(secrets), len(sources), scanned>>10)
}
