package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/dirstore"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/keystore/vaultstore"
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
	dir, err := cliutil.ExpandHome(c.String(flagDataDir))
	if err != nil {
		return nil, err
	}
	if err := cliutil.EnsurePrivateDir(dir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &env{DataDir: dir, Log: logger, Stdout: c.App.Writer, Stderr: c.App.ErrWriter}, nil
}

// withEnv is the action of a command that needs the global flags resolved
// first.
func withEnv(run func(c *cli.Context, e *env) error) cli.ActionFunc {
	return func(c *cli.Context) error {
		e, err := newEnv(c)
		if err != nil {
			return err
		}
		return run(c, e)
	}
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

// parsePubkeyFlag decodes a BLS public key given to flag.
func parsePubkeyFlag(flag, s string) (phase0.BLSPubKey, error) {
	var pk phase0.BLSPubKey
	if s == "" {
		return pk, fmt.Errorf("--%s is required", flag)
	}
	b, err := cliutil.ParseHexFlag(flag, s, len(pk))
	copy(pk[:], b)
	return pk, err
}

// parsePubkeysFlag decodes every value of a repeatable public key flag,
// dropping repeats.
func parsePubkeysFlag(c *cli.Context, flag string) ([]phase0.BLSPubKey, error) {
	var pubkeys []phase0.BLSPubKey
	for _, s := range uniqueValues(c, flag) {
		pk, err := parsePubkeyFlag(flag, s)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(pubkeys, pk) {
			pubkeys = append(pubkeys, pk)
		}
	}
	return pubkeys, nil
}

// uniqueValues are a repeatable flag's non-empty values, trimmed, first
// occurrence kept.
func uniqueValues(c *cli.Context, flag string) []string {
	var out []string
	for _, v := range c.StringSlice(flag) {
		if v = strings.TrimSpace(v); v != "" && !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	return out
}

// deps is what the commands take from outside; tests swap in in-memory
// stores, cheap KDF parameters, a fixed clock, stdin and terminal detection.
type deps struct {
	openStore openStoreFunc
	encrypt   keystore.EncryptParams
	now       func() time.Time
	stdin     io.Reader
	// isTTY reports whether a reader or writer is an interactive terminal.
	isTTY func(any) bool
}

func defaultDeps() deps {
	return deps{openStore: openKeyStore, now: time.Now, stdin: os.Stdin, isTTY: cliutil.IsTerminal}
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
		dir, err := cliutil.ExpandHome(dir)
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

// vaultConfig gathers the Vault settings: flags (or VIGIL_* variables and
// the config file) first, then Vault's own variables (vaultstore.ApplyEnv).
func vaultConfig(c *cli.Context) (vaultstore.Config, error) {
	cfg := vaultstore.Config{
		Address:             c.String(flagVaultAddress),
		Mount:               c.String(flagVaultMount),
		Prefix:              c.String(flagVaultPrefix),
		Namespace:           c.String(flagVaultNamespace),
		Token:               os.Getenv(envVigilVaultToken),
		TokenFile:           c.String(flagVaultTokenFile),
		AppRoleRoleID:       c.String(flagVaultAppRoleRoleID),
		AppRoleSecretIDFile: c.String(flagVaultAppRoleSecretFile),
		AppRoleMount:        c.String(flagVaultAppRoleMount),
		CAFile:              c.String(flagVaultCAFile),
		ClientCert:          c.String(flagVaultClientCert),
		ClientKey:           c.String(flagVaultClientKey),
		Parallelism:         c.Int(flagVaultParallelism),
		AllowInsecureHTTP:   c.Bool(flagVaultAllowInsecureHTTP),
	}
	cfg.ApplyEnv(os.Getenv)
	if cfg.Address == "" {
		return cfg, fmt.Errorf("--store vault needs Vault's address: set --%s or %s", flagVaultAddress, vaultstore.EnvAddr)
	}
	if cfg.Parallelism < 1 {
		return cfg, fmt.Errorf("--%s %d: want at least 1", flagVaultParallelism, cfg.Parallelism)
	}
	return cfg, nil
}

// keyStoresFlag reads --key-store: the kinds of store to merge, dir by default.
func keyStoresFlag(c *cli.Context) ([]string, error) {
	stores := uniqueValues(c, flagKeyStore)
	for _, s := range stores {
		if s != kindVault && s != kindDir {
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
	nodes := uniqueValues(c, flagBeaconNode)
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
