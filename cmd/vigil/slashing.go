package main

import "github.com/urfave/cli/v2"

// slashingCommand is a placeholder replaced by the owner of this command group.
func slashingCommand() *cli.Command {
	return &cli.Command{Name: "slashing", Usage: "(not yet implemented)"}
}
