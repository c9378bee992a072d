package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

// keysDeps is what the keys commands need from outside; tests swap in an
// in-memory store, cheap KDF parameters, a fixed clock and a fake stdin.
type keysDeps struct {
	openStore func(c *cli.Context, e *env, kind string) (keystore.Store, error)
	encrypt   keystore.EncryptParams
	now       func() time.Time
	stdin     io.Reader
	// isTTY reports whether a reader or writer is an interactive terminal.
	isTTY func(any) bool
}

func defaultKeysDeps() keysDeps {
	return keysDeps{openStore: openKeyStore, now: time.Now, stdin: os.Stdin, isTTY: isInteractive}
}

const (
	storeNone = "none"
	storeDir  = "dir"
	// minPasswordLen follows staking-deposit-cli's minimum keystore password.
	minPasswordLen = 8
)

func keysCommand() *cli.Command { return keysCommandWith(defaultKeysDeps()) }

func keysCommandWith(d keysDeps) *cli.Command {
	storeFlag := func(usage string) cli.Flag { return stringFlag("store", usage, storeDir) }
	withStore := func(usage string, flags ...cli.Flag) []cli.Flag {
		return append(append(flags, storeFlag(usage)), keyStoreFlags()...)
	}
	return &cli.Command{
		Name:  "keys",
		Usage: "derive, import, list, export and delete validator keys",
		Subcommands: []*cli.Command{
			{
				Name:  "generate",
				Usage: "derive validator keys from a mnemonic, store them and write deposit data",
				Flags: withStore("key store: vault, dir or none",
					stringFlag("mnemonic-file", "`FILE` holding the mnemonic", ""),
					stringFlag("mnemonic-passphrase-file", "`FILE` holding the optional BIP-39 passphrase", ""),
					uint64Flag("start-index", "first validator index `I` (EIP-2334 m/12381/3600/I/0/0)", 0),
					intFlag("count", "number of validators `N`", 1),
					stringFlag("network", "network: "+strings.Join(deposit.NetworkNames(), ", ")+", or a custom name with --fork-version", ""),
					stringFlag("fork-version", "genesis fork version `0x........` of a custom network", ""),
					stringFlag("withdrawal-address", "execution `ADDRESS` to withdraw to (0x01/0x02 credentials); default: 0x00 from the BLS withdrawal key", ""),
					stringFlag("withdrawal-type", "0x01 or 0x02 (compounding) with --withdrawal-address", "0x01"),
					uint64Flag("amount", "deposit amount in `GWEI` (0x02: 32–2048 ETH)", uint64(deposit.DefaultAmount)),
					stringFlag("deposit-dir", "`DIR` for deposit_data-<unix>.json", "."),
					stringFlag("keystore-dir", "also write EIP-2335 keystore backups to `DIR`", ""),
					stringFlag("keystore-password-file", "`FILE` holding the password for the keystore backups", ""),
				),
				Action: func(c *cli.Context) error { return d.generate(c) },
			},
			{
				Name:  "import",
				Usage: "import EIP-2335 keystores into the key store",
				Flags: withStore("key store: vault or dir",
					stringSliceFlag("keystores", "keystore `FILE`s or DIRs of *.json keystores (repeatable)"),
					stringFlag("password-file", "`FILE` holding the keystores' password", ""),
				),
				Action: func(c *cli.Context) error { return d.importKeys(c) },
			},
			{
				Name:  "list",
				Usage: "list the keys in the key store",
				Flags: withStore("key store: vault or dir",
					stringFlag("format", "table or json", "table"),
				),
				Action: func(c *cli.Context) error { return d.list(c) },
			},
			{
				Name:  "export",
				Usage: "write a key as an EIP-2335 keystore",
				Flags: withStore("key store: vault or dir",
					stringFlag("pubkey", "validator public `KEY`", ""),
					stringFlag("out", "`DIR` to write the keystore to", ""),
					stringFlag("password-file", "`FILE` holding the new keystore's password", ""),
				),
				Action: func(c *cli.Context) error { return d.export(c) },
			},
			{
				Name:  "delete",
				Usage: "delete a key from the key store",
				Flags: withStore("key store: vault or dir",
					stringFlag("pubkey", "validator public `KEY`", ""),
					// Command line only: a yes left in a config file or the
					// environment would confirm every deletion.
					&cli.BoolFlag{Name: flagYes, Usage: "do not ask for confirmation"},
				),
				Action: func(c *cli.Context) error { return d.delete(c) },
			},
		},
	}
}

func (d keysDeps) open(c *cli.Context, e *env) (keystore.Store, error) {
	kind := c.String("store")
	switch kind {
	case "vault", storeDir:
		return d.openStore(c, e, kind)
	case storeNone:
		return nil, errors.New("--store none keeps no keys; choose vault or dir")
	}
	return nil, fmt.Errorf("--store %q: want vault or dir", kind)
}

// generateOptions are the validated inputs of keys generate.
type generateOptions struct {
	start, count   uint32
	network        deposit.Network
	withdrawalType deposit.WithdrawalType
	address        *deposit.ExecutionAddress
	amount         phase0.Gwei
	backupPassword string
}

func parseGenerateOptions(c *cli.Context) (*generateOptions, error) {
	o := &generateOptions{amount: phase0.Gwei(c.Uint64("amount"))}
	start := c.Uint64("start-index")
	count := c.Int("count")
	if count < 1 || start+uint64(count) > 1<<32 {
		return nil, fmt.Errorf("--start-index %d --count %d: want count ≥ 1 and indices below 2^32", start, count)
	}
	o.start, o.count = uint32(start), uint32(count)
	if c.String("network") == "" && c.String("fork-version") == "" {
		return nil, fmt.Errorf("--network is required: one of %s, or a custom name with --fork-version", strings.Join(deposit.NetworkNames(), ", "))
	}
	network, err := deposit.LookupNetwork(c.String("network"), c.String("fork-version"))
	if err != nil {
		return nil, err
	}
	o.network = network
	o.withdrawalType = deposit.WithdrawalBLS
	if addr := c.String("withdrawal-address"); addr != "" {
		a, err := deposit.ParseExecutionAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("--withdrawal-address: %w", err)
		}
		o.address = &a
		if o.withdrawalType, err = deposit.ParseWithdrawalType(c.String("withdrawal-type")); err != nil {
			return nil, err
		}
		if o.withdrawalType == deposit.WithdrawalBLS {
			return nil, errors.New("--withdrawal-type 0x00 uses the BLS withdrawal key; drop --withdrawal-address or use 0x01/0x02")
		}
	} else if c.IsSet("withdrawal-type") {
		return nil, errors.New("--withdrawal-type needs --withdrawal-address")
	}
	if err := deposit.CheckAmount(o.withdrawalType, o.amount); err != nil {
		return nil, fmt.Errorf("--amount: %w", err)
	}
	if (c.String("keystore-dir") == "") != (c.String("keystore-password-file") == "") {
		return nil, errors.New("--keystore-dir and --keystore-password-file go together")
	}
	if c.String("keystore-dir") != "" {
		pw, err := readSecretFlagFile("keystore-password-file", c.String("keystore-password-file"))
		if err != nil {
			return nil, err
		}
		if len([]rune(pw)) < minPasswordLen {
			return nil, fmt.Errorf("--keystore-password-file: the password must have at least %d characters", minPasswordLen)
		}
		o.backupPassword = pw
	}
	return o, nil
}

func (d keysDeps) generate(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	o, err := parseGenerateOptions(c)
	if err != nil {
		return err
	}
	mnemonic, err := readSecretFlagFile("mnemonic-file", c.String("mnemonic-file"))
	if err != nil {
		return err
	}
	var passphrase string
	if f := c.String("mnemonic-passphrase-file"); f != "" {
		if passphrase, err = readSecretFlagFile("mnemonic-passphrase-file", f); err != nil {
			return err
		}
	}
	seed, err := keystore.Seed(mnemonic, passphrase)
	if err != nil {
		return fmt.Errorf("--mnemonic-file: %w", err)
	}
	defer clear(seed)

	now := d.now()
	keys := make([]*keystore.Key, 0, o.count)
	defer func() {
		for _, k := range keys {
			k.Zero()
		}
	}()
	deposits := make([]*deposit.Data, 0, o.count)
	for i := o.start; i-o.start < o.count; i++ {
		key, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(i), now)
		if err != nil {
			return err
		}
		keys = append(keys, key)
		wc, err := withdrawalCredentials(seed, i, o)
		if err != nil {
			return err
		}
		dep, err := deposit.New(key, wc, o.amount, o.network)
		if err != nil {
			return fmt.Errorf("deposit for validator %d: %w", i, err)
		}
		deposits = append(deposits, dep)
	}

	// Backups first, then the store, then the deposit data: a deposit file
	// appears only once its keys are safely kept.
	if dir := c.String("keystore-dir"); dir != "" {
		if err := d.writeBackups(c.Context, e, dir, keys, o.backupPassword, now); err != nil {
			return err
		}
	}
	if kind := c.String("store"); kind != storeNone {
		store, err := d.open(c, e)
		if err != nil {
			return err
		}
		for _, k := range keys {
			err := store.Put(c.Context, k)
			switch {
			case errors.Is(err, keystore.ErrExists):
				fmt.Fprintf(e.Stderr, "%s (%s) is already in the %s store; kept as is\n", pubkeyHex(k.Pubkey), k.Path, kind)
			case err != nil:
				return fmt.Errorf("store %s: %w", pubkeyHex(k.Pubkey), err)
			}
		}
		e.Log.Info("keys stored", "store", kind, "count", len(keys))
	}
	path, err := deposit.WriteFile(c.String("deposit-dir"), deposits, o.network, now)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Derived %d validator keys (indices %d–%d) for %s.\nDeposit data: %s\n",
		len(keys), o.start, o.start+o.count-1, o.network.Name, path)
	return nil
}

func withdrawalCredentials(seed []byte, index uint32, o *generateOptions) ([]byte, error) {
	if o.address != nil {
		return deposit.ExecutionWithdrawalCredentials(o.withdrawalType, *o.address)
	}
	wk, err := keystore.DeriveKey(seed, keystore.WithdrawalKeyPath(index), time.Time{})
	if err != nil {
		return nil, err
	}
	defer wk.Zero()
	return deposit.BLSWithdrawalCredentials(wk.Pubkey), nil
}

// writeBackups writes staking-deposit-cli-named keystores, encrypting on
// all cores.
func (d keysDeps) writeBackups(ctx context.Context, e *env, dir string, keys []*keystore.Key, password string, now time.Time) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("--keystore-dir: %w", err)
	}
	stores, errs := keystore.EncryptAll(ctx, keys, password, d.encrypt, 0,
		progressBar(e.Stderr, d.isTTY(e.Stderr), len(keys), "encrypting keystores"))
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("encrypt keystore for %s: %w", keys[i].Path, err)
		}
	}
	for i, ks := range stores {
		data, err := ks.Marshal()
		if err != nil {
			return err
		}
		name := fmt.Sprintf("keystore-%s-%d.json", strings.ReplaceAll(keys[i].Path, "/", "_"), now.Unix())
		if err := createNewFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.Stdout, "Wrote %d keystore backups to %s.\n", len(stores), dir)
	return nil
}

// importFailure is one file that could not be imported, with why.
type importFailure struct {
	file string
	err  error
}

func (d keysDeps) importKeys(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	files, err := keystoreFiles(c.StringSlice("keystores"))
	if err != nil {
		return err
	}
	password, err := readSecretFlagFile("password-file", c.String("password-file"))
	if err != nil {
		return err
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	existing, err := store.List(c.Context)
	if err != nil {
		return err
	}
	have := make(map[phase0.BLSPubKey]bool, len(existing))
	for _, in := range existing {
		have[in.Pubkey] = true
	}

	var (
		failures   []importFailure
		duplicates []string
		jobs       []keystore.DecryptJob
		jobFiles   []string
	)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err == nil {
			var ks *keystore.Keystore
			if ks, err = keystore.ParseKeystore(data); err == nil {
				if pk, _ := ks.PublicKey(); pk != nil && have[*pk] {
					duplicates = append(duplicates, fmt.Sprintf("%s: %s is already in the store", f, pubkeyHex(*pk)))
					continue
				}
				jobs = append(jobs, keystore.DecryptJob{Keystore: ks, Password: password})
				jobFiles = append(jobFiles, f)
				continue
			}
		}
		failures = append(failures, importFailure{file: f, err: err})
	}

	keys, errs := keystore.DecryptAll(c.Context, jobs, 0, progressBar(e.Stderr, d.isTTY(e.Stderr), len(jobs), "decrypting keystores"))
	imported := 0
	now := d.now()
	for i, key := range keys {
		if errs[i] != nil {
			failures = append(failures, importFailure{file: jobFiles[i], err: errs[i]})
			continue
		}
		key.Origin, key.CreatedAt = keystore.OriginImported, now
		err := store.Put(c.Context, key)
		key.Zero()
		switch {
		case errors.Is(err, keystore.ErrExists):
			duplicates = append(duplicates, fmt.Sprintf("%s: %s is already in the store", jobFiles[i], pubkeyHex(key.Pubkey)))
		case err != nil:
			failures = append(failures, importFailure{file: jobFiles[i], err: err})
		default:
			imported++
		}
	}

	fmt.Fprintf(e.Stdout, "Imported %d keys, skipped %d already present, %d failed.\n", imported, len(duplicates), len(failures))
	for _, dup := range duplicates {
		fmt.Fprintf(e.Stdout, "  skipped %s\n", dup)
	}
	for _, f := range failures {
		fmt.Fprintf(e.Stderr, "  failed  %s: %v\n", f.file, f.err)
	}
	if len(failures) > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d keystores failed to import", len(failures), len(files)), 1)
	}
	return nil
}

// keystoreFiles expands the --keystores arguments: files as given, and every
// *.json file under a directory, so that the layouts other clients use
// (Lighthouse's validators/0x…/voting-keystore.json, Teku's and the deposit
// CLIs' flat folders) import as they are. Deposit data files and vigil's own
// metadata sidecars are not keystores and are left out.
func keystoreFiles(args []string) ([]string, error) {
	if len(args) == 0 {
		return nil, errors.New("--keystores is required")
	}
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("--keystores: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != a && strings.HasPrefix(name, ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if filepath.Ext(name) == ".json" && !strings.HasPrefix(name, "deposit_data-") && name != "vigil.json" {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("--keystores: %w", err)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("--keystores: no *.json keystores in %s", strings.Join(args, ", "))
	}
	slices.Sort(files)
	return slices.Compact(files), nil
}

type keyJSON struct {
	Pubkey    string    `json:"pubkey"`
	Path      string    `json:"path"`
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
}

func (d keysDeps) list(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	format := c.String("format")
	if format != "table" && format != "json" {
		return fmt.Errorf("--format %q: want table or json", format)
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	infos, err := store.List(c.Context)
	if err != nil {
		return err
	}
	if format == "json" {
		out := make([]keyJSON, len(infos))
		for i, in := range infos {
			out[i] = keyJSON{Pubkey: pubkeyHex(in.Pubkey), Path: in.Path, Origin: string(in.Origin), CreatedAt: in.CreatedAt.UTC()}
		}
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PUBKEY\tPATH\tORIGIN\tCREATED")
	for _, in := range infos {
		path := in.Path
		if path == "" {
			path = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", pubkeyHex(in.Pubkey), path, in.Origin, in.CreatedAt.UTC().Format(time.RFC3339))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "%d keys\n", len(infos))
	return nil
}

func (d keysDeps) export(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	pk, err := parsePubkeyFlag("pubkey", c.String("pubkey"))
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "" {
		return errors.New("--out is required")
	}
	password, err := readSecretFlagFile("password-file", c.String("password-file"))
	if err != nil {
		return err
	}
	if len([]rune(password)) < minPasswordLen {
		return fmt.Errorf("--password-file: the password must have at least %d characters", minPasswordLen)
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	keys, err := store.Load(c.Context, []phase0.BLSPubKey{pk})
	if err != nil {
		return err
	}
	key := keys[0]
	defer key.Zero()
	ks, err := keystore.Encrypt(key, password, d.encrypt)
	if err != nil {
		return err
	}
	data, err := ks.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	id := pubkeyHex(pk)[:18]
	if key.Path != "" {
		id = strings.ReplaceAll(key.Path, "/", "_")
	}
	path := filepath.Join(out, fmt.Sprintf("keystore-%s-%d.json", id, d.now().Unix()))
	if err := createNewFile(path, data, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Exported %s to %s\n", pubkeyHex(pk), path)
	return nil
}

func (d keysDeps) delete(c *cli.Context) error {
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	pk, err := parsePubkeyFlag("pubkey", c.String("pubkey"))
	if err != nil {
		return err
	}
	if !c.Bool(flagYes) {
		if !d.isTTY(d.stdin) {
			return errors.New("refusing to delete without confirmation: stdin is not a terminal; pass --yes to delete non-interactively")
		}
		want := pubkeyHex(pk)[:12]
		fmt.Fprintf(e.Stderr, "Deleting %s cannot be undone; keep a backup.\nType %s to confirm: ", pubkeyHex(pk), want)
		line, err := bufio.NewReader(d.stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		if strings.TrimSpace(line) != want {
			return errors.New("confirmation did not match; nothing deleted")
		}
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	if err := store.Delete(c.Context, pk); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Deleted %s\n", pubkeyHex(pk))
	return nil
}

func pubkeyHex(pk phase0.BLSPubKey) string { return "0x" + hex.EncodeToString(pk[:]) }

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

// createNewFile writes path atomically (temporary file, sync, hard link) and
// refuses to replace an existing file.
func createNewFile(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(perm)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite it", path)
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	return d.Sync()
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
