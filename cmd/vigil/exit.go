package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/exit"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// exit is `validator exit`: look the validator up, confirm, sign the exit
// with a signer that has no slashing database (an exit cannot be slashed, and
// a running validator client holds the database), submit it.
func (d deps) exit(c *cli.Context) error {
	if _, err := cliutil.PositionalArgs(c); err != nil {
		return err
	}
	e, err := newEnv(c)
	if err != nil {
		return err
	}
	pk, err := parsePubkeyFlag(flagPubkey, c.String(flagPubkey))
	if err != nil {
		return err
	}
	epoch, err := exitEpochFlag(c)
	if err != nil {
		return err
	}
	nodes, err := beaconNodesFlag(c)
	if err != nil {
		return err
	}
	kinds, err := keyStoresFlag(c)
	if err != nil {
		return err
	}
	ctx := c.Context
	pool, err := connectBeacon(ctx, e, nodes, nil)
	if err != nil {
		return err
	}
	spec, err := chain.Fetch(ctx, pool)
	if err != nil {
		return err
	}
	set, err := openKeySet(c, e, d.openStore, kinds)
	if err != nil {
		return err
	}
	confirm := func(plan *exit.Plan) error {
		fmt.Fprintln(e.Stderr, plan.Warning())
		if c.Bool(flagYes) {
			return nil
		}
		return cliutil.ConfirmPubkey(d.stdin, d.isTTY(d.stdin), e.Stderr, pk, "exit", "nothing was signed", flagYes)
	}
	plan, err := exit.Execute(ctx, pool, set, spec, time.Now(), pk, epoch, confirm, e.Log)
	if errors.Is(err, exit.ErrUnknownValidator) || errors.Is(err, exit.ErrNotActive) {
		return fmt.Errorf("%w: check --%s and --%s", err, flagPubkey, flagBeaconNode)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "submitted voluntary exit of validator %d (%s) at epoch %d\n", plan.Index, pubkey.Hex(pk), plan.Epoch)
	return nil
}

// exitEpochFlag reads --epoch; nil means the current epoch.
func exitEpochFlag(c *cli.Context) (*phase0.Epoch, error) {
	s := c.String(flagEpoch)
	if s == "" {
		return nil, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("--%s %q: want an epoch number", flagEpoch, s)
	}
	e := phase0.Epoch(v)
	return &e, nil
}
