package main

import "github.com/urfave/cli/v2"

// mnemonicCommand is a placeholder replaced by the owner of this command group.
func mnemonicCommand() *cli.Command {
	return &cli.Command{Name: "mnemonic", Usage: "(not yet implemented)"}
}
