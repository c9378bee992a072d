package main

import "github.com/urfave/cli/v2"

// depositCommand is a placeholder replaced by the owner of this command group.
func depositCommand() *cli.Command {
	return &cli.Command{Name: "deposit", Usage: "(not yet implemented)"}
}
