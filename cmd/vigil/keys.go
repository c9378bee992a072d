package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/deposit"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keygen"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

func keysCommand() *cli.Command { return keysCommandWith(defaultDeps()) }

func keysCommandWith(d deps) *cli.Command {
	storeFlag := func(usage string) cli.Flag { return cliutil.StringFlag(flagStore, usage, kindDir) }
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
					cliutil.StringFlag(flagMnemonicFile, "`FILE` holding the mnemonic", ""),
					cliutil.StringFlag(flagMnemonicPassphraseFile, "`FILE` holding the optional BIP-39 passphrase", ""),
					cliutil.Uint64Flag(flagStartIndex, "first validator index `I` (EIP-2334 m/12381/3600/I/0/0)", 0),
					cliutil.IntFlag(flagCount, "number of validators `N`", 1),
					cliutil.StringFlag(flagNetwork, "network: "+strings.Join(deposit.NetworkNames(), ", ")+", or a custom name with --fork-version", ""),
					cliutil.StringFlag(flagForkVersion, "genesis fork version `0x........` of a custom network", ""),
					cliutil.StringFlag(flagWithdrawalAddress, "execution `ADDRESS` to withdraw to (0x01/0x02 credentials); default: 0x00 from the BLS withdrawal key", ""),
					cliutil.StringFlag(flagWithdrawalType, "0x01 or 0x02 (compounding) with --withdrawal-address", "0x01"),
					cliutil.Uint64Flag(flagAmount, "deposit amount in `GWEI` (0x02: 32–2048 ETH)", uint64(deposit.DefaultAmount)),
					cliutil.StringFlag(flagDepositDir, "`DIR` for deposit_data-<unix>.json", "."),
					cliutil.StringFlag(flagKeystoreDir, "also write EIP-2335 keystore backups to `DIR`", ""),
					cliutil.StringFlag(flagKeystorePasswordFile, "`FILE` holding the password for the keystore backups", ""),
				),
				Action: withEnv(d.generate),
			},
			{
				Name:  "import",
				Usage: "import EIP-2335 keystores into the key store",
				Flags: withStore("key store: vault or dir",
					cliutil.StringSliceFlag(flagKeystores, "keystore `FILE`s or DIRs of *.json keystores (repeatable)"),
					cliutil.StringFlag(flagPasswordFile, "`FILE` holding the keystores' password", ""),
				),
				Action: withEnv(d.importKeys),
			},
			{
				Name:  "list",
				Usage: "list the keys in the key store",
				Flags: withStore("key store: vault or dir",
					cliutil.StringFlag(flagFormat, "table or json", "table"),
				),
				Action: withEnv(d.list),
			},
			{
				Name:  "export",
				Usage: "write a key as an EIP-2335 keystore",
				Flags: withStore("key store: vault or dir",
					cliutil.StringFlag(flagPubkey, "validator public `KEY`", ""),
					cliutil.StringFlag(flagOut, "`DIR` to write the keystore to", ""),
					cliutil.StringFlag(flagPasswordFile, "`FILE` holding the new keystore's password", ""),
				),
				Action: withEnv(d.export),
			},
			{
				Name:  "delete",
				Usage: "delete a key from the key store",
				Flags: withStore("key store: vault or dir",
					cliutil.StringFlag(flagPubkey, "validator public `KEY`", ""),
					yesFlag("do not ask for the typed confirmation (required without a terminal)"),
				),
				Action: withEnv(d.delete),
			},
		},
	}
}

func (d deps) open(c *cli.Context, e *env) (keystore.Store, error) {
	switch kind := c.String(flagStore); kind {
	case kindVault, kindDir:
		src, err := d.openStore(c, e, kind)
		return src.Store, err
	case kindNone:
		return nil, errors.New("--store none keeps no keys; choose vault or dir")
	default:
		return nil, fmt.Errorf("--store %q: want vault or dir", kind)
	}
}

// generateOptions are the validated inputs of keys generate.
type generateOptions struct {
	keygen.Request
	backupPassword string
}

func parseGenerateOptions(c *cli.Context) (*generateOptions, error) {
	o := &generateOptions{Request: keygen.Request{Amount: phase0.Gwei(c.Uint64(flagAmount))}}
	start := c.Uint64(flagStartIndex)
	count := c.Int(flagCount)
	if count < 1 || start+uint64(count) > 1<<32 {
		return nil, fmt.Errorf("--start-index %d --count %d: want count ≥ 1 and indices below 2^32", start, count)
	}
	o.Start, o.Count = uint32(start), uint32(count)
	if c.String(flagNetwork) == "" && c.String(flagForkVersion) == "" {
		return nil, fmt.Errorf("--network is required: one of %s, or a custom name with --fork-version", strings.Join(deposit.NetworkNames(), ", "))
	}
	network, err := deposit.LookupNetwork(c.String(flagNetwork), c.String(flagForkVersion))
	if err != nil {
		return nil, err
	}
	o.Network = network
	o.Withdrawal = deposit.WithdrawalBLS
	if addr := c.String(flagWithdrawalAddress); addr != "" {
		a, err := deposit.ParseExecutionAddress(addr)
		if err != nil {
			return nil, fmt.Errorf("--withdrawal-address: %w", err)
		}
		o.Address = &a
		if o.Withdrawal, err = deposit.ParseWithdrawalType(c.String(flagWithdrawalType)); err != nil {
			return nil, err
		}
		if o.Withdrawal == deposit.WithdrawalBLS {
			return nil, errors.New("--withdrawal-type 0x00 uses the BLS withdrawal key; drop --withdrawal-address or use 0x01/0x02")
		}
	} else if c.IsSet(flagWithdrawalType) {
		return nil, errors.New("--withdrawal-type needs --withdrawal-address")
	}
	if err := deposit.CheckAmount(o.Withdrawal, o.Amount); err != nil {
		return nil, fmt.Errorf("--amount: %w", err)
	}
	if (c.String(flagKeystoreDir) == "") != (c.String(flagKeystorePasswordFile) == "") {
		return nil, errors.New("--keystore-dir and --keystore-password-file go together")
	}
	if c.String(flagKeystoreDir) != "" {
		pw, err := cliutil.ReadSecretFile(flagKeystorePasswordFile, c.String(flagKeystorePasswordFile))
		if err != nil {
			return nil, err
		}
		if err := keystore.CheckNewPassword(pw); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagKeystorePasswordFile, err)
		}
		o.backupPassword = pw
	}
	return o, nil
}

func (d deps) generate(c *cli.Context, e *env) error {
	o, err := parseGenerateOptions(c)
	if err != nil {
		return err
	}
	mnemonic, err := cliutil.ReadSecretFile(flagMnemonicFile, c.String(flagMnemonicFile))
	if err != nil {
		return err
	}
	passphrase, err := cliutil.ReadOptionalSecretFile(flagMnemonicPassphraseFile, c.String(flagMnemonicPassphraseFile))
	if err != nil {
		return err
	}
	seed, err := keystore.Seed(mnemonic, passphrase)
	if err != nil {
		return fmt.Errorf("--%s: %w", flagMnemonicFile, err)
	}
	defer clear(seed)
	o.Now = d.now()
	keys, deposits, err := keygen.Generate(seed, o.Request)
	if err != nil {
		return err
	}
	defer keyset.Zero(keys)
	// Backups first, then the store, then the deposit data: a deposit file
	// appears only once its keys are safely kept.
	if dir := c.String(flagKeystoreDir); dir != "" {
		paths, err := keygen.WriteBackups(c.Context, dir, keys, o.backupPassword, d.encrypt, o.Now,
			cliutil.ProgressBar(e.Stderr, d.isTTY(e.Stderr), len(keys), "encrypting keystores"))
		if err != nil {
			return fmt.Errorf("--%s: %w", flagKeystoreDir, err)
		}
		fmt.Fprintf(e.Stdout, "Wrote %d keystore backups to %s.\n", len(paths), dir)
	}
	if err := d.storeKeys(c, e, keys); err != nil {
		return err
	}
	path, err := deposit.WriteFile(c.String(flagDepositDir), deposits, o.Network, o.Now)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Derived %d validator keys (indices %d–%d) for %s.\nDeposit data: %s\n",
		len(keys), o.Start, o.Start+o.Count-1, o.Network.Name, path)
	return nil
}

// storeKeys puts generated keys into --store (none keeps them only in the
// backups); a key already there is kept as it is.
func (d deps) storeKeys(c *cli.Context, e *env, keys []*keystore.Key) error {
	kind := c.String(flagStore)
	if kind == kindNone {
		return nil
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	for _, k := range keys {
		err := store.Put(c.Context, k)
		switch {
		case errors.Is(err, keystore.ErrExists):
			fmt.Fprintf(e.Stderr, "%s (%s) is already in the %s store; kept as is\n", pubkey.Hex(k.Pubkey), k.Path, kind)
		case err != nil:
			return fmt.Errorf("store %s: %w", pubkey.Hex(k.Pubkey), err)
		}
	}
	e.Log.Info("keys stored", "store", kind, "count", len(keys))
	return nil
}

func (d deps) importKeys(c *cli.Context, e *env) error {
	if len(c.StringSlice(flagKeystores)) == 0 {
		return fmt.Errorf("--%s is required", flagKeystores)
	}
	files, err := keygen.KeystoreFiles(c.StringSlice(flagKeystores))
	if err != nil {
		return fmt.Errorf("--%s: %w", flagKeystores, err)
	}
	password, err := cliutil.ReadSecretFile(flagPasswordFile, c.String(flagPasswordFile))
	if err != nil {
		return err
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	rep, err := keygen.Import(c.Context, store, files, password, d.now(),
		cliutil.ProgressBar(e.Stderr, d.isTTY(e.Stderr), len(files), "decrypting keystores"))
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Imported %d keys, skipped %d already present, %d failed.\n", rep.Imported, len(rep.Duplicates), len(rep.Failures))
	for _, dup := range rep.Duplicates {
		fmt.Fprintf(e.Stdout, "  skipped %s\n", dup)
	}
	for _, f := range rep.Failures {
		fmt.Fprintf(e.Stderr, "  failed  %s: %v\n", f.File, f.Err)
	}
	if len(rep.Failures) > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d keystores failed to import", len(rep.Failures), len(files)), exitError)
	}
	return nil
}

func (d deps) list(c *cli.Context, e *env) error {
	format := c.String(flagFormat)
	if format != formatTable && format != formatJSON {
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
	if err := keygen.WriteList(e.Stdout, infos, format == formatJSON); err != nil {
		return err
	}
	fmt.Fprintf(e.Stderr, "%d keys\n", len(infos))
	return nil
}

func (d deps) export(c *cli.Context, e *env) error {
	pk, err := parsePubkeyFlag(flagPubkey, c.String(flagPubkey))
	if err != nil {
		return err
	}
	out := c.String(flagOut)
	if out == "" {
		return errors.New("--out is required")
	}
	password, err := cliutil.ReadSecretFile(flagPasswordFile, c.String(flagPasswordFile))
	if err != nil {
		return err
	}
	if err := keystore.CheckNewPassword(password); err != nil {
		return fmt.Errorf("--%s: %w", flagPasswordFile, err)
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	keys, err := store.Load(c.Context, []phase0.BLSPubKey{pk})
	if err != nil {
		return err
	}
	defer keys[0].Zero()
	path, err := keygen.Export(keys[0], password, d.encrypt, out, d.now())
	if err != nil {
		return fmt.Errorf("--%s: %w", flagOut, err)
	}
	fmt.Fprintf(e.Stdout, "Exported %s to %s\n", pubkey.Hex(pk), path)
	return nil
}

func (d deps) delete(c *cli.Context, e *env) error {
	pk, err := parsePubkeyFlag(flagPubkey, c.String(flagPubkey))
	if err != nil {
		return err
	}
	if !c.Bool(flagYes) {
		fmt.Fprintf(e.Stderr, "Deleting %s cannot be undone; keep a backup.\n", pubkey.Hex(pk))
		if err := cliutil.ConfirmPubkey(d.stdin, d.isTTY(d.stdin), e.Stderr, pk, "deletion", "nothing deleted", flagYes); err != nil {
			return err
		}
	}
	store, err := d.open(c, e)
	if err != nil {
		return err
	}
	if err := store.Delete(c.Context, pk); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "Deleted %s\n", pubkey.Hex(pk))
	return nil
}
