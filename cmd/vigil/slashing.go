package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/atomicfile"
	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// openSlashingAdmin opens the database exclusively: the administrative
// commands refuse to run while a vigil instance holds it (EIP-3076: import and
// export only while the validator client is stopped).
func openSlashingAdmin(c *cli.Context, e *env) (*slashprotect.DB, error) {
	return slashprotect.Open(c.Context, slashingDBURL(c, e), slashprotect.WithExclusiveAccess(), slashprotect.WithLogger(e.Log))
}

func slashingCommand() *cli.Command {
	return &cli.Command{
		Name:  "slashing",
		Usage: "manage the slashing-protection database (EIP-3076 import and export, inspection, pruning)",
		Subcommands: []*cli.Command{
			{
				Name:      "import",
				Usage:     "merge an EIP-3076 interchange file into the database (all or nothing)",
				ArgsUsage: "FILE",
				Flags: []cli.Flag{
					slashingDBFlag(),
					cliutil.StringFlag(flagGenesisValidatorsRoot, "the network's genesis validators `ROOT` (0x...); required for a database that does not know its network yet", ""),
					cliutil.StringFlag(flagGenesisTime, "the network's genesis time in `UNIX_SECONDS` (genesis_time of the beacon node's /eth/v1/beacon/genesis), "+
						"so that records far beyond the current epoch can be refused; needed only when the database never ran and the network is not mainnet, hoodi, sepolia or holesky", ""),
					cliutil.Uint64Flag(flagSecondsPerSlot, "the network's SECONDS_PER_SLOT, with --"+flagGenesisTime, 12),
					cliutil.Uint64Flag(flagSlotsPerEpoch, "the network's SLOTS_PER_EPOCH, with --"+flagGenesisTime, 32),
					// Command line only, like --yes: a config file must not disable the check for every import.
					&cli.BoolFlag{Name: flagForce, Usage: fmt.Sprintf("import records more than %d epochs beyond the current epoch (they stop the validator "+
						"from signing until then), or import without knowing the current epoch", slashprotect.FarFutureEpochs)},
				},
				Action: slashingImport,
			},
			{
				Name:  "export",
				Usage: "write an EIP-3076 interchange file (0600, written atomically)",
				Flags: []cli.Flag{
					slashingDBFlag(),
					cliutil.StringFlag(flagOut, "output `FILE`", ""),
					cliutil.BoolFlag(flagMinimal, "write only the latest block and attestation per validator"),
					cliutil.StringSliceFlag(flagPubkey, "export only this validator's `PUBKEY` (repeatable)"),
					cliutil.StringFlag(flagGenesisValidatorsRoot, "the network's genesis validators `ROOT` (0x...), for a database that never ran: it then exports an empty file for that network", ""),
				},
				Action: slashingExport,
			},
			{
				Name:  "inspect",
				Usage: "show a validator's watermarks and most recent records",
				Flags: []cli.Flag{
					slashingDBFlag(),
					cliutil.StringFlag(flagPubkey, "validator `PUBKEY` (0x...)", ""),
					cliutil.StringFlag(flagFormat, "output format: table or json", "table"),
					cliutil.IntFlag(flagLimit, "show at most `N` recent records of each kind (0: all)", 10),
				},
				Action: slashingInspect,
			},
			{
				Name:  "prune",
				Usage: "delete history older than the horizon, raising watermarks so that no protection is lost",
				Flags: []cli.Flag{
					slashingDBFlag(),
					cliutil.Uint64Flag(flagHorizonEpochs, "keep `N` epochs of history before each validator's latest record", 4096),
					cliutil.Uint64Flag(flagSlotsPerEpoch, "slots per epoch of the network, for block history", 32),
				},
				Action: withEnv(slashingPrune),
			},
		},
	}
}

func slashingImport(c *cli.Context) error {
	args, err := cliutil.PositionalArgs(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return fmt.Errorf("want exactly one interchange FILE argument (use - for standard input)")
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	opts := slashprotect.ImportOptions{Force: c.Bool(flagForce)}
	if opts.GenesisValidatorsRoot, err = genesisValidatorsRootFlag(c); err != nil {
		return err
	}
	if opts.Timing, err = chainTimingFlags(c); err != nil {
		return err
	}
	name := args[0]
	in, err := cliutil.OpenInput(name)
	if err != nil {
		return fmt.Errorf("open interchange file: %w", err)
	}
	defer in.Close()
	db, err := openSlashingAdmin(c, e)
	if errors.Is(err, slashprotect.ErrInUse) {
		// Keys moved to a running vigil need their history first: import
		// beside it rather than make the operator stop it.
		fmt.Fprintln(e.Stderr, "A running vigil holds the slashing database: importing beside it (its signing waits while the import commits).")
		db, err = slashprotect.Open(c.Context, slashingDBURL(c, e), slashprotect.WithImportBesideSigner(), slashprotect.WithLogger(e.Log))
	}
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.Import(c.Context, in, opts)
	if err != nil {
		return fmt.Errorf("import %s (nothing was imported): %w", name, err)
	}
	for _, w := range rep.Warnings("--" + flagForce) {
		fmt.Fprintf(e.Stderr, "warning: %s\n", w)
	}
	fmt.Fprintf(e.Stdout, "imported %s into %s: %d validator entries, %d new attestations (of %d), %d new blocks (of %d)\n",
		name, db, rep.Validators, rep.NewAttestations, rep.Attestations, rep.NewBlocks, rep.Blocks)
	return nil
}

func slashingExport(c *cli.Context) error {
	out := c.String(flagOut)
	if out == "" {
		return fmt.Errorf("--%s FILE is required", flagOut)
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	var opts slashprotect.ExportOptions
	opts.Minimal = c.Bool(flagMinimal)
	if opts.GenesisValidatorsRoot, err = genesisValidatorsRootFlag(c); err != nil {
		return err
	}
	if opts.Pubkeys, err = parsePubkeysFlag(c, flagPubkey); err != nil {
		return err
	}
	db, err := openSlashingAdmin(c, e)
	if err != nil {
		return err
	}
	defer db.Close()
	var rep slashprotect.ExportReport
	if err := atomicfile.Replace(out, 0o600, func(w io.Writer) error {
		var err error
		rep, err = db.Export(c.Context, w, opts)
		return err
	}); err != nil {
		return fmt.Errorf("export to %s: %w", out, err)
	}
	fmt.Fprintf(e.Stdout, "exported %d validators (%d attestations, %d blocks) from %s to %s\n", rep.Validators, rep.Attestations, rep.Blocks, db, out)
	return nil
}

// genesisValidatorsRootFlag parses --genesis-validators-root, nil when absent.
func genesisValidatorsRootFlag(c *cli.Context) (*phase0.Root, error) {
	s := c.String(flagGenesisValidatorsRoot)
	if s == "" {
		return nil, nil
	}
	b, err := cliutil.ParseHexFlag(flagGenesisValidatorsRoot, s, len(phase0.Root{}))
	if err != nil {
		return nil, err
	}
	root := phase0.Root(b)
	return &root, nil
}

// chainTimingFlags builds the network's timing from --genesis-time and its
// companions, nil when --genesis-time is absent.
func chainTimingFlags(c *cli.Context) (*slashprotect.Timing, error) {
	s := c.String(flagGenesisTime)
	if s == "" {
		return nil, nil
	}
	secs, err := strconv.ParseInt(s, 10, 64)
	if err != nil || secs <= 0 {
		return nil, fmt.Errorf("--%s %q: want the genesis time in Unix seconds, like 1606824023 (genesis_time of /eth/v1/beacon/genesis)", flagGenesisTime, s)
	}
	return &slashprotect.Timing{
		GenesisTime:   time.Unix(secs, 0).UTC(),
		SlotDuration:  time.Duration(c.Uint64(flagSecondsPerSlot)) * time.Second,
		SlotsPerEpoch: c.Uint64(flagSlotsPerEpoch),
	}, nil
}

func slashingInspect(c *cli.Context) error {
	pk, err := parsePubkeyFlag(flagPubkey, c.String(flagPubkey))
	if err != nil {
		return err
	}
	format := c.String(flagFormat)
	if format != "table" && format != "json" {
		return fmt.Errorf("--%s %q: want table or json", flagFormat, format)
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	db, err := openSlashingAdmin(c, e)
	if err != nil {
		return err
	}
	defer db.Close()
	h, err := db.History(c.Context, pk, c.Int(flagLimit))
	if err != nil {
		return err
	}
	return h.Write(e.Stdout, format == formatJSON)
}

func slashingPrune(c *cli.Context, e *env) error {
	db, err := openSlashingAdmin(c, e)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := db.Prune(c.Context, slashprotect.PruneOptions{KeepEpochs: c.Uint64(flagHorizonEpochs), SlotsPerEpoch: c.Uint64(flagSlotsPerEpoch)})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "pruned %s: %d attestations and %d blocks deleted from %d validators; their watermarks were raised\n",
		db, rep.Attestations, rep.Blocks, rep.Validators)
	return nil
}
