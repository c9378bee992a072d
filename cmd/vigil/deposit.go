package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
	"github.com/vigil-eth/vigil/pkg/deposit"
)

func depositCommand() *cli.Command {
	return &cli.Command{
		Name:  "deposit",
		Usage: "work with deposit data files",
		Subcommands: []*cli.Command{{
			Name:      "verify",
			Usage:     "check every deposit in a deposit data file (signature, roots, fork version, amount)",
			ArgsUsage: "FILE",
			Flags: []cli.Flag{
				cliutil.StringFlag(flagNetwork, "expected network; default: each entry's own network_name, checked against its fork_version", ""),
				cliutil.StringFlag(flagForkVersion, "expected genesis fork version `0x........` of a custom network", ""),
			},
			Action: withEnv(depositVerify),
		}},
	}
}

func depositVerify(c *cli.Context, e *env) error {
	args, err := cliutil.PositionalArgs(c)
	if err != nil {
		return err
	}
	if len(args) != 1 {
		return errors.New("want exactly one deposit data FILE")
	}
	file := args[0]
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	entries, err := deposit.ParseFile(data)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var expected *deposit.Network
	if c.String(flagNetwork) != "" || c.String(flagForkVersion) != "" {
		n, err := deposit.LookupNetwork(c.String(flagNetwork), c.String(flagForkVersion))
		if err != nil {
			return err
		}
		expected = &n
	}
	failed := deposit.WriteVerification(e.Stdout, entries, deposit.VerifyEntries(entries, expected))
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("%s: %d of %d deposits failed verification", file, failed, len(entries)), exitError)
	}
	fmt.Fprintf(e.Stdout, "%s: all %d deposits verified\n", file, len(entries))
	return nil
}
