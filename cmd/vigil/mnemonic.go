package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/atomicfile"
	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

const mnemonicWarning = `WARNING: this mnemonic is the master secret of every validator key and BLS
withdrawal key derived from it. Anyone who has it controls the funds.
Write it down on paper, offline; never store it on a networked computer,
never type it into a website, never share it.`

func mnemonicCommand() *cli.Command {
	return &cli.Command{
		Name:  "mnemonic",
		Usage: "create BIP-39 mnemonics",
		Subcommands: []*cli.Command{{
			Name:  "new",
			Usage: "generate a fresh 24-word English mnemonic",
			Flags: []cli.Flag{
				cliutil.StringFlag(flagOut, "write the mnemonic to `FILE` (created 0600, never overwritten) instead of stdout", ""),
			},
			Action: withEnv(mnemonicNew),
		}},
	}
}

func mnemonicNew(c *cli.Context, e *env) error {
	m, err := keystore.NewMnemonic()
	if err != nil {
		return err
	}
	fmt.Fprintln(e.Stderr, mnemonicWarning)
	if out := c.String(flagOut); out != "" {
		if err := atomicfile.Create(out, []byte(m+"\n"), 0o600); err != nil {
			return err
		}
		fmt.Fprintf(e.Stderr, "Mnemonic written to %s (mode 0600).\n", out)
		return nil
	}
	fmt.Fprintln(e.Stdout, m)
	return nil
}
