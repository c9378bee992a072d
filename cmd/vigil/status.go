package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

const (
	defaultInstance = "http://127.0.0.1:9465"
	formatTable     = "table"
	formatJSON      = "json"
	// statusTimeout bounds the whole command: a status query that hangs
	// helps nobody.
	statusTimeout = 2 * time.Minute
)

func statusCommand() *cli.Command {
	flags := []cli.Flag{
		cliutil.StringFlag(flagInstance, "monitor `URL` of a running `vigil validator run` (its --metrics-address)", defaultInstance),
		beaconNodeFlag("compute from this Beacon API `URL` instead of asking a running vigil (repeatable)"),
		keyStoreKindFlag("with --beacon-node: `KIND` of key store whose keys to show: vault or dir (repeatable, default dir)"),
		cliutil.StringSliceFlag(flagPubkey, "with --beacon-node: validator public `KEY` (0x...) to show instead of a key store's keys (repeatable)"),
		cliutil.IntFlag(flagEpochs, "effectiveness over the last `N` evaluated epochs", perf.DefaultEffectivenessEpochs),
		cliutil.StringFlag(flagFormat, "output `FORMAT`: table or json", formatTable),
	}
	return &cli.Command{
		Name:  "status",
		Usage: "show each validator's status, balance, last attestation, effectiveness and next duties",
		Description: "Asks the running vigil (--instance) by default. With --beacon-node it computes the same table from the\n" +
			"beacon node for the keys of the key stores or the given --pubkey values; no key is decrypted.",
		Flags:  append(flags, keyStoreFlags()...),
		Action: withEnv(runStatus),
	}
}

func runStatus(c *cli.Context, e *env) error {
	format := c.String(flagFormat)
	if format != formatTable && format != formatJSON {
		return fmt.Errorf("--%s %q: want %s or %s", flagFormat, format, formatTable, formatJSON)
	}
	epochs := c.Int(flagEpochs)
	if epochs < 1 {
		return fmt.Errorf("--%s %d: want at least 1", flagEpochs, epochs)
	}
	ctx, cancel := context.WithTimeout(c.Context, statusTimeout)
	defer cancel()

	var st *perf.StatusReport
	var err error
	if len(c.StringSlice(flagBeaconNode)) > 0 {
		st, err = statusFromBeacon(ctx, c, e, epochs)
	} else {
		st, err = statusFromInstance(ctx, c.String(flagInstance), epochs)
	}
	if err != nil {
		return err
	}
	if format == formatJSON {
		return perf.WriteJSON(e.Stdout, st)
	}
	return perf.WriteTable(e.Stdout, st)
}

// statusFromInstance asks a running vigil's monitor listener.
func statusFromInstance(ctx context.Context, instance string, epochs int) (*perf.StatusReport, error) {
	st, err := perf.FetchStatus(ctx, instance, epochs)
	switch {
	case errors.Is(err, perf.ErrInstanceURL):
		return nil, fmt.Errorf("--%s %q: want a URL such as %s", flagInstance, instance, defaultInstance)
	case errors.Is(err, perf.ErrInstanceUnreachable):
		return nil, fmt.Errorf("%w: is `vigil validator run` running with --%s there? To compute the status from a beacon node instead, use --%s URL",
			err, flagMetricsAddress, flagBeaconNode)
	}
	return st, err
}

// statusFromBeacon computes the table from the beacon nodes for the keys of
// the key stores (listed, never loaded) or the --pubkey values.
func statusFromBeacon(ctx context.Context, c *cli.Context, e *env, epochs int) (*perf.StatusReport, error) {
	nodes, err := beaconNodesFlag(c)
	if err != nil {
		return nil, err
	}
	pubkeys, err := statusPubkeys(ctx, c, e)
	if err != nil {
		return nil, err
	}
	pool, err := connectBeacon(ctx, e, nodes, nil)
	if err != nil {
		return nil, err
	}
	spec, err := chain.Fetch(ctx, pool)
	if err != nil {
		return nil, err
	}
	st, unknown, err := perf.EvaluateKeys(ctx, pool, spec, time.Now(), pubkeys, epochs)
	for _, pk := range unknown {
		fmt.Fprintf(e.Stderr, "%s: not known to the beacon node (no deposit processed yet)\n", pubkey.Short(pk))
	}
	if err != nil {
		return nil, fmt.Errorf("compute the status from the beacon node: %w", err)
	}
	return st, nil
}

// statusPubkeys are the --pubkey values, or else the keys the key stores
// list.
func statusPubkeys(ctx context.Context, c *cli.Context, e *env) ([]phase0.BLSPubKey, error) {
	pubkeys, err := parsePubkeysFlag(c, flagPubkey)
	if err != nil || len(pubkeys) > 0 {
		return pubkeys, err
	}
	kinds, err := keyStoresFlag(c)
	if err != nil {
		return nil, err
	}
	set, err := openKeySet(c, e, openKeyStore, kinds)
	if err != nil {
		return nil, err
	}
	l, err := set.List(ctx)
	if err != nil {
		return nil, err
	}
	if len(l.Owner) == 0 {
		return nil, fmt.Errorf("no keys in the key stores (%s): give --%s KEY, or the key store flags", strings.Join(kinds, ", "), flagPubkey)
	}
	return l.Pubkeys(), nil
}
