package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// env is what every command gets from the global flags.
type env struct {
	// DataDir is the absolute, existing (0700) state directory.
	DataDir string
	Log     *slog.Logger
	Stdout  io.Writer
	Stderr  io.Writer
}

// newEnv resolves the global flags: it creates the data directory 0700 and
// builds the logger. It refuses a data directory that others can read.
func newEnv(c *cli.Context) (*env, error) {
	logger, err := newLogger(c.App.ErrWriter, c.String(flagLogLevel), c.String(flagLogFormat))
	if err != nil {
		return nil, err
	}
	dir, err := expandHome(c.String(flagDataDir))
	if err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(dir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &env{DataDir: dir, Log: logger, Stdout: c.App.Writer, Stderr: c.App.ErrWriter}, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--%s %q: want debug, info, warn or error", flagLogLevel, level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--%s %q: want text or json", flagLogFormat, format)
	}
}

// expandHome turns a leading ~ into the user's home directory and makes the
// path absolute.
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}

// ensurePrivateDir creates dir 0700 if missing and refuses one that group or
// others can access, because it holds keys and the slashing database.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %o; it holds secrets, so run `chmod 700 %s`", dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// parseHexFlag decodes the value of a flag that holds exactly n bytes of hex,
// with or without 0x (deposit files and block explorers print them both ways).
func parseHexFlag(flag, s string, n int) ([]byte, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("--%s %q: want 0x followed by %d hex digits", flag, s, 2*n)
	}
	return b, nil
}

// parsePubkeyFlag decodes a BLS public key given to flag.
func parsePubkeyFlag(flag, s string) (phase0.BLSPubKey, error) {
	var pk phase0.BLSPubKey
	if s == "" {
		return pk, fmt.Errorf("--%s is required", flag)
	}
	b, err := parseHexFlag(flag, s, len(pk))
	copy(pk[:], b)
	return pk, err
}

// positionalArgs returns a command's positional arguments, applying any flags
// given after them: urfave/cli v2 stops parsing flags at the first argument,
// but operators write `vigil deposit verify FILE --network hoodi`.
func positionalArgs(c *cli.Context) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue {
			if takesValue(c, name) {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				value = args[i]
			} else {
				value = "true"
			}
		}
		if err := c.Set(name, value); err != nil {
			return nil, fmt.Errorf("flag %s: %w", a, err)
		}
	}
	return pos, nil
}

// takesValue reports whether the command's flag called name needs a value
// (false for boolean flags). Unknown names are left to c.Set to reject.
func takesValue(c *cli.Context, name string) bool {
	if c.Command == nil {
		return true
	}
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		if v, ok := f.(cli.DocGenerationFlag); ok {
			return v.TakesValue()
		}
	}
	return true
}

// readSecretFlagFile reads a password, passphrase or mnemonic file and trims one
// trailing newline. Its errors name the file, never the content.
func readSecretFlagFile(flag, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("--%s is required", flag)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

func isInteractive(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressBar returns a progress callback drawing a bar on w, or nothing when
// w is not a terminal (logs and pipes get no control characters).
func progressBar(w io.Writer, tty bool, total int, what string) func(done, total int) {
	if !tty || total == 0 {
		return nil
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, _ int) { _ = bar.Set(done) }
}

// confirmChars is how much of the public key an operator types to confirm an
// irreversible action: enough that it cannot be typed by habit.
const confirmChars = 12

// confirmPubkey asks the operator to type the first confirmChars hex digits
// of the public key (0x and case optional), which cannot be done by reflex the
// way "y" can. what names the action; nothingDone is said when it is not
// confirmed.
func confirmPubkey(in io.Reader, tty bool, w io.Writer, pk phase0.BLSPubKey, what, nothingDone string) error {
	if !tty {
		return fmt.Errorf("standard input is not a terminal, so the %s cannot be confirmed: run it interactively, or pass --%s", what, flagYes)
	}
	want := strings.TrimPrefix(pubkey.Hex(pk), "0x")[:confirmChars]
	fmt.Fprintf(w, "Type the first %d hex digits of the public key (after 0x) to confirm the %s: ", confirmChars, what)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read confirmation: %w", err)
	}
	got := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(line), "0x"), "0X"))
	if got != want {
		return fmt.Errorf("confirmation does not match the public key; %s", nothingDone)
	}
	return nil
}

// openStoreFunc opens the key store of a kind; tests swap in fakes.
type openStoreFunc func(c *cli.Context, e *env, kind string) (keyset.Source, error)

// openKeyStore opens the store named by kind ("vault" or "dir") with the
// settings from keyStoreFlags. A Vault store renews its token for as long as
// the command runs.
func openKeyStore(c *cli.Context, e *env, kind string) (keyset.Source, error) {
	switch kind {
	case kindDir:
		dir := c.String(flagKeysDir)
		if dir == "" {
			dir = filepath.Join(e.DataDir, "keys")
		}
		dir, err := expandHome(dir)
		if err != nil {
			return keyset.Source{}, fmt.Errorf("--%s: %w", flagKeysDir, err)
		}
		s, err := dirstore.New(dir)
		if err != nil {
			return keyset.Source{}, fmt.Errorf("open key directory: %w", err)
		}
		return keyset.Source{Name: kind, Store: s}, nil
	case kindVault:
		cfg, err := vaultConfig(c)
		if err != nil {
			return keyset.Source{}, err
		}
		s, err := vaultstore.New(c.Context, cfg, vaultstore.WithLogger(e.Log))
		if err != nil {
			return keyset.Source{}, fmt.Errorf("open Vault key store: %w", err)
		}
		return keyset.Source{Name: kind, Store: s, Pubkeys: s.Pubkeys, TokenTTL: s.TokenTTL}, nil
	default:
		return keyset.Source{}, fmt.Errorf("unknown key store %q: want %s or %s", kind, kindVault, kindDir)
	}
}

// vaultConfig gathers the Vault settings. VAULT_TOKEN is used only when no
// other credential is configured, so a token left in an operator's shell
// cannot silently win over the AppRole or token file in vigil's config.
func vaultConfig(c *cli.Context) (vaultstore.Config, error) {
	orEnv := func(flag, env string) string {
		if v := c.String(flag); v != "" {
			return v
		}
		return os.Getenv(env)
	}
	cfg := vaultstore.Config{
		Address:             orEnv(flagVaultAddress, envVaultAddr),
		Mount:               c.String(flagVaultMount),
		Prefix:              c.String(flagVaultPrefix),
		Namespace:           orEnv(flagVaultNamespace, envVaultNamespace),
		Token:               os.Getenv(envVigilVaultToken),
		TokenFile:           c.String(flagVaultTokenFile),
		AppRoleRoleID:       c.String(flagVaultAppRoleRoleID),
		AppRoleSecretIDFile: c.String(flagVaultAppRoleSecretFile),
		AppRoleMount:        c.String(flagVaultAppRoleMount),
		CAFile:              orEnv(flagVaultCAFile, envVaultCACert),
		ClientCert:          orEnv(flagVaultClientCert, envVaultClientCert),
		ClientKey:           orEnv(flagVaultClientKey, envVaultClientKey),
		Parallelism:         c.Int(flagVaultParallelism),
	}
	if cfg.Address == "" {
		return cfg, fmt.Errorf("--store vault needs Vault's address: set --%s or %s", flagVaultAddress, envVaultAddr)
	}
	if cfg.Token == "" && cfg.TokenFile == "" && cfg.AppRoleRoleID == "" && cfg.AppRoleSecretIDFile == "" {
		cfg.Token = os.Getenv(envVaultToken)
	}
	if cfg.Parallelism < 1 {
		return cfg, fmt.Errorf("--%s %d: want at least 1", flagVaultParallelism, cfg.Parallelism)
	}
	return cfg, nil
}

// keyStoresFlag reads --key-store: the kinds of store to merge, dir by default.
func keyStoresFlag(c *cli.Context) ([]string, error) {
	var stores []string
	for _, s := range c.StringSlice(flagKeyStore) {
		switch s = strings.TrimSpace(s); s {
		case kindVault, kindDir:
			if !slices.Contains(stores, s) {
				stores = append(stores, s)
			}
		default:
			return nil, fmt.Errorf("--%s %q: want %s or %s", flagKeyStore, s, kindVault, kindDir)
		}
	}
	if len(stores) == 0 {
		stores = []string{kindDir}
	}
	return stores, nil
}

// openKeySet opens the stores of kinds (--key-store) as one set, in the
// order given.
func openKeySet(c *cli.Context, e *env, open openStoreFunc, kinds []string) (*keyset.Set, error) {
	sources := make([]keyset.Source, 0, len(kinds))
	for _, kind := range kinds {
		src, err := open(c, e, kind)
		if err != nil {
			return nil, fmt.Errorf("--%s %s: %w", flagKeyStore, kind, err)
		}
		sources = append(sources, src)
	}
	return keyset.New(e.Log, sources...), nil
}

// beaconNodesFlag reads --beacon-node, in order of preference.
func beaconNodesFlag(c *cli.Context) ([]string, error) {
	var nodes []string
	for _, n := range c.StringSlice(flagBeaconNode) {
		if n = strings.TrimSpace(n); n != "" && !slices.Contains(nodes, n) {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("--%s is required: the Beacon API URL of at least one beacon node, e.g. http://127.0.0.1:5052", flagBeaconNode)
	}
	return nodes, nil
}

// connectBeacon builds the beacon node pool; root, when known, makes it
// refuse nodes of another network.
func connectBeacon(ctx context.Context, e *env, nodes []string, root *phase0.Root, extra ...beacon.Option) (*beacon.Pool, error) {
	opts := append([]beacon.Option{beacon.WithAddresses(nodes), beacon.WithLogger(e.Log)}, extra...)
	if root != nil {
		opts = append(opts, beacon.WithGenesisValidatorsRoot(*root))
	}
	pool, err := beacon.New(ctx, opts...)
	if errors.Is(err, beacon.ErrWrongChain) && root != nil {
		return nil, fmt.Errorf("every --%s serves another network than the slashing database's (genesis validators root %#x): "+
			"point --%s at this network's nodes, or --%s at this network's database: %w", flagBeaconNode, root[:], flagBeaconNode, flagSlashingDB, err)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to the beacon nodes: %w", err)
	}
	return pool, nil
}

// slashingDBURL resolves --slashing-db, defaulting to SQLite in the data dir.
func slashingDBURL(c *cli.Context, e *env) string {
	if u := c.String(flagSlashingDB); u != "" {
		return u
	}
	return "sqlite://" + filepath.Join(e.DataDir, "slashing.db")
}

// checkNetwork refuses a beacon node of another network than the slashing
// database's: its records would protect nothing on this chain.
func checkNetwork(db string, dbRoot phase0.Root, dbKnows bool, nodeRoot phase0.Root) error {
	if !dbKnows || dbRoot == nodeRoot {
		return nil
	}
	return fmt.Errorf("the slashing database %s belongs to the network with genesis validators root %#x, but the beacon node serves %#x: "+
		"point --%s at this network's nodes, or --%s at this network's database: %w",
		db, dbRoot[:], nodeRoot[:], flagBeaconNode, flagSlashingDB, slashprotect.ErrWrongNetwork)
}
