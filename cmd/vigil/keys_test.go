package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

// cliHarness runs the mnemonic, keys and deposit commands against an
// in-memory key store with cheap KDF parameters and a fixed clock.
type cliHarness struct {
	t       *testing.T
	dir     string
	store   *keystoretest.Store
	deps    deps
	stdout  bytes.Buffer
	stderr  bytes.Buffer
	stdinTT bool
}

func newHarness(t *testing.T) *cliHarness {
	h := &cliHarness{t: t, dir: t.TempDir(), store: &keystoretest.Store{}}
	h.deps = deps{
		openStore: func(_ *cli.Context, _ *env, kind string) (keyset.Source, error) {
			require.Equal(t, "dir", kind)
			return keyset.Source{Name: kind, Store: h.store}, nil
		},
		encrypt: keystore.EncryptParams{KDF: keystore.KDFScrypt, Cost: 1 << 4},
		now:     func() time.Time { return time.Unix(1700000000, 0) },
		stdin:   strings.NewReader(""),
		isTTY:   func(v any) bool { return h.stdinTT && v == h.deps.stdin },
	}
	return h
}

func (h *cliHarness) run(args ...string) error {
	h.stdout.Reset()
	h.stderr.Reset()
	app := &cli.App{
		Name:           "vigil",
		Flags:          globalFlags(),
		ExitErrHandler: func(*cli.Context, error) {},
		Commands:       []*cli.Command{mnemonicCommand(), keysCommandWith(h.deps), depositCommand()},
		Writer:         &h.stdout,
		ErrWriter:      &h.stderr,
	}
	cliutil.WithConfigFile(app, flagConfig)
	return app.Run(append([]string{"vigil", "--data-dir", filepath.Join(h.dir, "data")}, args...))
}

func (h *cliHarness) file(name, content string) string {
	p := filepath.Join(h.dir, name)
	require.NoError(h.t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestMnemonicNew(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, h.run("mnemonic", "new"))
	require.NoError(t, keystore.ValidateMnemonic(h.stdout.String()))
	require.Len(t, strings.Fields(h.stdout.String()), 24)
	require.Contains(t, h.stderr.String(), "WARNING")

	out := filepath.Join(h.dir, "mnemonic.txt")
	require.NoError(t, h.run("mnemonic", "new", "--out", out))
	require.Empty(t, h.stdout.String())
	fi, err := os.Stat(out)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	first, err := os.ReadFile(out)
	require.NoError(t, err)
	require.NoError(t, keystore.ValidateMnemonic(string(first)))

	require.ErrorContains(t, h.run("mnemonic", "new", "--out", out), "refusing to overwrite")
	again, err := os.ReadFile(out)
	require.NoError(t, err)
	require.Equal(t, first, again)
}

func TestKeysLifecycle(t *testing.T) {
	h := newHarness(t)
	mnemonicFile := h.file("mnemonic", testMnemonic+"\n")
	pwFile := h.file("password", "backup password\n")
	depDir := filepath.Join(h.dir, "deposits")
	require.NoError(t, os.Mkdir(depDir, 0o700))
	backups := filepath.Join(h.dir, "backups")

	require.NoError(t, h.run("keys", "generate", "--mnemonic-file", mnemonicFile, "--start-index", "5", "--count", "3",
		"--network", "hoodi", "--deposit-dir", depDir, "--keystore-dir", backups, "--keystore-password-file", pwFile))
	depFile := filepath.Join(depDir, "deposit_data-1700000000.json")
	require.Contains(t, h.stdout.String(), depFile)

	// Backups are named as staking-deposit-cli names them and open with the password.
	for i := 5; i < 8; i++ {
		p := filepath.Join(backups, "keystore-m_12381_3600_"+itoa(i)+"_0_0-1700000000.json")
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		fi, err := os.Stat(p)
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
		ks, err := keystore.ParseKeystore(data)
		require.NoError(t, err)
		_, err = ks.Decrypt("backup password")
		require.NoError(t, err)
	}

	require.NoError(t, h.run("deposit", "verify", depFile))
	require.Contains(t, h.stdout.String(), "all 3 deposits verified")
	require.NoError(t, h.run("deposit", "verify", "--network", "hoodi", depFile))
	require.Error(t, h.run("deposit", "verify", "--network", "mainnet", depFile))
	require.Contains(t, h.stdout.String(), "FAIL")

	require.NoError(t, h.run("keys", "list", "--format", "json"))
	var listed []keyJSON
	require.NoError(t, json.Unmarshal(h.stdout.Bytes(), &listed))
	require.Len(t, listed, 3)
	paths := map[string]bool{}
	for _, k := range listed {
		paths[k.Path] = true
		require.Equal(t, "generated", k.Origin)
	}
	require.True(t, paths["m/12381/3600/6/0/0"])
	require.NoError(t, h.run("keys", "list"))
	require.Contains(t, h.stdout.String(), "PUBKEY")
	require.Contains(t, h.stdout.String(), listed[0].Pubkey)

	// Generating again keeps the stored keys and refuses to overwrite the deposit file.
	err := h.run("keys", "generate", "--mnemonic-file", mnemonicFile, "--start-index", "5", "--count", "1", "--network", "hoodi", "--deposit-dir", depDir)
	require.ErrorIs(t, err, deposit.ErrFileExists)
	require.Contains(t, h.stderr.String(), "already in the dir store")

	t.Run("export", func(t *testing.T) {
		out := filepath.Join(h.dir, "export")
		require.NoError(t, h.run("keys", "export", "--pubkey", listed[0].Pubkey, "--out", out, "--password-file", pwFile))
		matches, err := filepath.Glob(filepath.Join(out, "keystore-*.json"))
		require.NoError(t, err)
		require.Len(t, matches, 1)
		data, err := os.ReadFile(matches[0])
		require.NoError(t, err)
		ks, err := keystore.ParseKeystore(data)
		require.NoError(t, err)
		key, err := ks.Decrypt("backup password")
		require.NoError(t, err)
		require.Equal(t, listed[0].Pubkey, pubkey.Hex(key.Pubkey))
	})

	t.Run("delete", func(t *testing.T) {
		pk := listed[1].Pubkey
		h.stdinTT = false
		require.ErrorContains(t, h.run("keys", "delete", "--pubkey", pk), "--yes")

		h.stdinTT = true
		h.deps.stdin = strings.NewReader("nope\n")
		require.ErrorContains(t, h.run("keys", "delete", "--pubkey", pk), "nothing deleted")

		h.deps.stdin = strings.NewReader(pk[:14] + "\n")
		require.NoError(t, h.run("keys", "delete", "--pubkey", pk))
		h.stdinTT = false

		require.NoError(t, h.run("keys", "delete", "--pubkey", listed[2].Pubkey, "--yes"))
		require.ErrorIs(t, h.run("keys", "delete", "--pubkey", listed[2].Pubkey, "--yes"), keystore.ErrNotFound)
		infos, err := h.store.List(t.Context())
		require.NoError(t, err)
		require.Len(t, infos, 1)
	})
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestKeysGenerateWithdrawalOptions(t *testing.T) {
	const addr = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct {
		name    string
		args    []string
		wantWC  string
		wantErr string
	}{
		{name: "0x01 default type", args: []string{"--withdrawal-address", addr}, wantWC: "010000000000000000000000" + "5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"},
		{name: "0x02 2048 ETH", args: []string{"--withdrawal-address", addr, "--withdrawal-type", "0x02", "--amount", "2048000000000"}, wantWC: "02"},
		{name: "0x01 with 64 ETH", args: []string{"--withdrawal-address", addr, "--amount", "64000000000"}, wantErr: "--amount"},
		{name: "0x02 over 2048 ETH", args: []string{"--withdrawal-address", addr, "--withdrawal-type", "0x02", "--amount", "2049000000000"}, wantErr: "--amount"},
		{name: "bad checksum", args: []string{"--withdrawal-address", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD"}, wantErr: "checksum"},
		{name: "type without address", args: []string{"--withdrawal-type", "0x02"}, wantErr: "needs --withdrawal-address"},
		{name: "custom network", args: []string{"--network", "devnet", "--fork-version", "0x10000007"}, wantWC: "00"},
		{name: "unknown network", args: []string{"--network", "goerli"}, wantErr: "unknown network"},
		{name: "backup without password", args: []string{"--keystore-dir", "x"}, wantErr: "go together"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			args := []string{"keys", "generate", "--mnemonic-file", h.file("m", testMnemonic), "--deposit-dir", h.dir, "--store", "none"}
			if !strings.Contains(strings.Join(tt.args, " "), "--network") {
				args = append(args, "--network", "mainnet")
			}
			err := h.run(append(args, tt.args...)...)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				matches, _ := filepath.Glob(filepath.Join(h.dir, "deposit_data-*.json"))
				require.Empty(t, matches, "nothing written on error")
				return
			}
			require.NoError(t, err)
			data, err := os.ReadFile(filepath.Join(h.dir, "deposit_data-1700000000.json"))
			require.NoError(t, err)
			ds, err := deposit.ParseFile(data)
			require.NoError(t, err)
			require.True(t, strings.HasPrefix(ds[0].WithdrawalCredentials, tt.wantWC), ds[0].WithdrawalCredentials)
			infos, err := h.store.List(t.Context())
			require.NoError(t, err)
			require.Empty(t, infos, "--store none stores nothing")
		})
	}
	t.Run("bad mnemonic names the word", func(t *testing.T) {
		h := newHarness(t)
		bad := strings.Replace(testMnemonic, "about", "abuot", 1)
		err := h.run("keys", "generate", "--mnemonic-file", h.file("m", bad), "--network", "mainnet", "--deposit-dir", h.dir)
		require.ErrorIs(t, err, keystore.ErrMnemonicWord)
		require.ErrorContains(t, err, "word 12")
	})
}

func TestKeysImport(t *testing.T) {
	h := newHarness(t)
	keys := keystoretest.Keys(t, 4)
	in := filepath.Join(h.dir, "in")
	require.NoError(t, os.Mkdir(in, 0o700))
	for i, k := range keys {
		pw := "import password"
		if i == 3 {
			pw = "another password"
		}
		ks, err := keystore.Encrypt(k, pw, keystore.EncryptParams{KDF: keystore.KDFPBKDF2, Cost: 8})
		require.NoError(t, err)
		data, err := ks.Marshal()
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(in, "keystore-"+itoa(i)+".json"), data, 0o600))
	}
	require.NoError(t, os.WriteFile(filepath.Join(in, "broken.json"), []byte("{not json"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(in, "deposit_data-1.json"), []byte("[]"), 0o644))
	require.NoError(t, h.store.Put(t.Context(), keys[0]))
	pwFile := h.file("pw", "import password\n")

	err := h.run("keys", "import", "--keystores", in, "--password-file", pwFile)
	var exit cli.ExitCoder
	require.ErrorAs(t, err, &exit)
	require.Equal(t, 1, exit.ExitCode())
	require.Contains(t, h.stdout.String(), "Imported 2 keys, skipped 1 already present, 2 failed.")
	require.Contains(t, h.stderr.String(), "broken.json: malformed EIP-2335 keystore")
	require.Contains(t, h.stderr.String(), "keystore-3.json: wrong password")
	require.NotContains(t, h.stderr.String()+h.stdout.String(), "import password")

	infos, err := h.store.List(t.Context())
	require.NoError(t, err)
	require.Len(t, infos, 3)
	for _, in := range infos {
		if in.Pubkey != keys[0].Pubkey {
			require.Equal(t, keystore.OriginImported, in.Origin)
		}
	}

	// Importing the good files again is a clean no-op.
	require.NoError(t, h.run("keys", "import", "--keystores", filepath.Join(in, "keystore-1.json"), "--keystores", filepath.Join(in, "keystore-2.json"), "--password-file", pwFile))
	require.Contains(t, h.stdout.String(), "Imported 0 keys, skipped 2 already present, 0 failed.")
}

func TestDepositVerifyTampered(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, h.run("keys", "generate", "--mnemonic-file", h.file("m", testMnemonic), "--count", "2",
		"--network", "sepolia", "--deposit-dir", h.dir, "--store", "none"))
	path := filepath.Join(h.dir, "deposit_data-1700000000.json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	ds, err := deposit.ParseFile(data)
	require.NoError(t, err)
	ds[1].Amount = 1
	tampered, err := json.Marshal(ds)
	require.NoError(t, err)
	bad := h.file("tampered.json", string(tampered))
	err = h.run("deposit", "verify", bad)
	var exit cli.ExitCoder
	require.ErrorAs(t, err, &exit)
	require.Contains(t, h.stdout.String(), "entry 0")
	require.Contains(t, h.stdout.String(), "entry 1")
	require.Contains(t, h.stdout.String(), "FAIL")
	require.Contains(t, exit.Error(), "1 of 2 deposits failed")
}

func TestKeysImportNestedLayouts(t *testing.T) {
	h := newHarness(t)
	keys := keystoretest.Keys(t, 3)
	in := filepath.Join(h.dir, "lighthouse")
	write := func(rel string, k *keystore.Key) {
		ks, err := keystore.Encrypt(k, "pw", keystore.EncryptParams{KDF: keystore.KDFPBKDF2, Cost: 8})
		require.NoError(t, err)
		data, err := ks.Marshal()
		require.NoError(t, err)
		p := filepath.Join(in, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o700))
		require.NoError(t, os.WriteFile(p, data, 0o600))
	}
	// Lighthouse's validators/0x…/voting-keystore.json, a flat Teku-style
	// file, and a hidden folder that must be ignored.
	write(filepath.Join("validators", pubkey.Hex(keys[0].Pubkey), "voting-keystore.json"), keys[0])
	write("keys/teku-key.json", keys[1])
	write(".trash/old.json", keys[2])
	require.NoError(t, os.WriteFile(filepath.Join(in, "validators", pubkey.Hex(keys[0].Pubkey), "vigil.json"), []byte("{}"), 0o600))

	require.NoError(t, h.run("keys", "import", "--keystores", in, "--password-file", h.file("pw", "pw\n")))
	require.Contains(t, h.stdout.String(), "Imported 2 keys, skipped 0 already present, 0 failed.")
	infos, err := h.store.List(t.Context())
	require.NoError(t, err)
	require.Len(t, infos, 2)
}

// keyJSON is one entry of `keys list --format json`.
type keyJSON struct {
	Pubkey string `json:"pubkey"`
	Path   string `json:"path"`
	Origin string `json:"origin"`
}
