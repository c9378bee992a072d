package main

import "github.com/urfave/cli/v2"

// keysCommand is a placeholder replaced by the owner of this command group.
func keysCommand() *cli.Command {
	return &cli.Command{Name: "keys", Usage: "(not yet implemented)"}
}
