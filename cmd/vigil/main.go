// Command vigil is a self-hosted Ethereum validator operator toolkit: key
// management, slashing protection and the validator client in one binary.
// This package only parses flags and the config file, builds typed
// configurations and wires the packages under pkg/ together.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes. A Go panic or a fatal runtime error exits 2, so "unsafe to
// restart" has a code of its own that no crash can produce: a crash is
// restarted by systemd like any other failure, an unsafe stop never is
// (RestartPreventExitStatus in configs/systemd).
const (
	// exitError is every failure that a restart may cure.
	exitError = 1
	// exitUnsafeToRestart tells systemd and operators not to restart vigil:
	// another signer may be using the keys (a doppelganger was seen, or
	// slashing protection refused a message only another signer explains).
	exitUnsafeToRestart = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp().RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "vigil: %v\n", err)
		var coder cli.ExitCoder
		if errors.As(err, &coder) {
			os.Exit(coder.ExitCode())
		}
		os.Exit(exitError)
	}
}

// newApp builds the command tree. Every command's flags can also come from the
// YAML file named by --config and from VIGIL_* environment variables.
func newApp() *cli.App {
	app := &cli.App{
		Name:                 "vigil",
		Usage:                "self-hosted Ethereum validator operator toolkit",
		Version:              version,
		Flags:                globalFlags(),
		EnableBashCompletion: true,
		// Errors are printed once by main, with the right exit code.
		ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{
			mnemonicCommand(),
			keysCommand(),
			depositCommand(),
			slashingCommand(),
			validatorCommand(),
			statusCommand(),
		},
	}
	cliutil.WithConfigFile(app, flagConfig)
	return app
}
