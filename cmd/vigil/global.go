package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
)

const (
	flagConfig    = "config"
	flagLogLevel  = "log-level"
	flagLogFormat = "log-format"
	flagDataDir   = "data-dir"
)

func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    flagConfig,
			Usage:   "YAML `FILE` whose top-level keys are flag names (e.g. `data-dir: /var/lib/vigil`)",
			EnvVars: envVars(flagConfig),
		},
		stringFlag(flagLogLevel, "log level: debug, info, warn or error", "info"),
		stringFlag(flagLogFormat, "log format: text or json", "text"),
		stringFlag(flagDataDir, "`DIR` for vigil's state (created 0700)", "~/.vigil"),
	}
}

// envVars gives the environment variable that may set a flag: VIGIL_ and the
// flag's name in upper case with dashes as underscores.
func envVars(flag string) []string {
	return []string{"VIGIL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// stringFlag, boolFlag, intFlag, uint64Flag and stringSliceFlag declare flags
// that can also be set from the config file and the environment.
func stringFlag(name, usage, value string) cli.Flag {
	return altsrc.NewStringFlag(&cli.StringFlag{Name: name, Usage: usage, Value: value, EnvVars: envVars(name)})
}

func boolFlag(name, usage string) cli.Flag {
	return altsrc.NewBoolFlag(&cli.BoolFlag{Name: name, Usage: usage, EnvVars: envVars(name)})
}

func intFlag(name, usage string, value int) cli.Flag {
	return altsrc.NewIntFlag(&cli.IntFlag{Name: name, Usage: usage, Value: value, EnvVars: envVars(name)})
}

func uint64Flag(name, usage string, value uint64) cli.Flag {
	return altsrc.NewUint64Flag(&cli.Uint64Flag{Name: name, Usage: usage, Value: value, EnvVars: envVars(name)})
}

func stringSliceFlag(name, usage string) cli.Flag {
	return altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: name, Usage: usage, EnvVars: envVars(name)})
}

// withConfigFile makes every command read its flags from the --config file,
// after the command line and the environment (which take precedence).
func withConfigFile(app *cli.App) {
	source := altsrc.NewYamlSourceFromFlagFunc(flagConfig)
	app.Before = altsrc.InitInputSourceWithContext(app.Flags, source)
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if len(cmd.Flags) > 0 && cmd.Before == nil {
				cmd.Before = altsrc.InitInputSourceWithContext(cmd.Flags, source)
			}
			walk(cmd.Subcommands)
		}
	}
	walk(app.Commands)
}

// env is what every command gets from the global flags.
type env struct {
	// DataDir is the absolute, existing (0700) state directory.
	DataDir string
	Log     *slog.Logger
	Stdout  io.Writer
	Stderr  io.Writer
}

// newEnv resolves the global flags: it creates the data directory 0700 and
// builds the logger. It refuses a data directory that others can read.
func newEnv(c *cli.Context) (*env, error) {
	logger, err := newLogger(c.App.ErrWriter, c.String(flagLogLevel), c.String(flagLogFormat))
	if err != nil {
		return nil, err
	}
	dir, err := expandHome(c.String(flagDataDir))
	if err != nil {
		return nil, err
	}
	if err := ensurePrivateDir(dir); err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	return &env{DataDir: dir, Log: logger, Stdout: c.App.Writer, Stderr: c.App.ErrWriter}, nil
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	if w == nil {
		w = os.Stderr
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--%s %q: want debug, info, warn or error", flagLogLevel, level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--%s %q: want text or json", flagLogFormat, format)
	}
}

// expandHome turns a leading ~ into the user's home directory and makes the
// path absolute.
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}

// ensurePrivateDir creates dir 0700 if missing and refuses one that group or
// others can access, because it holds keys and the slashing database.
func ensurePrivateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("stat %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %o; it holds secrets, so run `chmod 700 %s`", dir, fi.Mode().Perm(), dir)
	}
	return nil
}
