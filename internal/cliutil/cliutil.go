// Package cliutil is vigil's command-line plumbing on top of urfave/cli:
// flags that may also come from a YAML config file and VIGIL_* variables,
// positional arguments mixed with flags, secret files, private directories,
// terminal prompts and progress bars. It holds no command and no business
// logic; cmd/vigil does the wiring.
package cliutil

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/schollz/progressbar/v3"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"
	"golang.org/x/term"

	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// EnvVars gives the environment variable that may set a flag: VIGIL_ and the
// flag's name in upper case with dashes as underscores.
func EnvVars(flag string) []string {
	return []string{"VIGIL_" + strings.ToUpper(strings.ReplaceAll(flag, "-", "_"))}
}

// StringFlag, BoolFlag, IntFlag, Uint64Flag and StringSliceFlag declare flags
// that can also be set from the config file and the environment.
func StringFlag(name, usage, value string) cli.Flag {
	return altsrc.NewStringFlag(&cli.StringFlag{Name: name, Usage: usage, Value: value, EnvVars: EnvVars(name)})
}

func BoolFlag(name, usage string) cli.Flag {
	return altsrc.NewBoolFlag(&cli.BoolFlag{Name: name, Usage: usage, EnvVars: EnvVars(name)})
}

func IntFlag(name, usage string, value int) cli.Flag {
	return altsrc.NewIntFlag(&cli.IntFlag{Name: name, Usage: usage, Value: value, EnvVars: EnvVars(name)})
}

func Uint64Flag(name, usage string, value uint64) cli.Flag {
	return altsrc.NewUint64Flag(&cli.Uint64Flag{Name: name, Usage: usage, Value: value, EnvVars: EnvVars(name)})
}

func StringSliceFlag(name, usage string) cli.Flag {
	return altsrc.NewStringSliceFlag(&cli.StringSliceFlag{Name: name, Usage: usage, EnvVars: EnvVars(name)})
}

// WithConfigFile makes every command read its flags from the file named by the configFlag flag,
// after the command line and the environment (which take precedence).
// A remote address is refused: altsrc would download it, over plain HTTP too,
// and the file decides the fee recipient, key stores and secret file paths.
func WithConfigFile(app *cli.App, configFlag string) {
	source := func(c *cli.Context) (altsrc.InputSourceContext, error) {
		path := c.String(configFlag)
		if path == "" {
			return altsrc.NewMapInputSource("", map[any]any{}), nil
		}
		if err := localConfigPath(configFlag, path); err != nil {
			return nil, err
		}
		return altsrc.NewYamlSourceFromFile(path)
	}
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

// localConfigPath refuses a config file address with a URL scheme.
func localConfigPath(flag, path string) error {
	scheme, _, ok := strings.Cut(path, "://")
	if ok && !strings.ContainsAny(scheme, `/\`) {
		return fmt.Errorf("--%s %s: a config file is read from this machine only; copy the file here and name its path", flag, path)
	}
	return nil
}

// ExpandHome turns a leading ~ into the user's home directory and makes the
// path absolute.
func ExpandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %q: %w", p, err)
		}
		p = filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return filepath.Abs(p)
}

// EnsurePrivateDir creates dir 0700 if missing and refuses one that group or
// others can access, because it holds keys and the slashing database.
func EnsurePrivateDir(dir string) error {
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

// ParseHexFlag decodes the value of a flag that holds exactly n bytes of hex,
// with or without 0x (deposit files and block explorers print them both ways).
func ParseHexFlag(flag, s string, n int) ([]byte, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("--%s %q: want 0x followed by %d hex digits", flag, s, 2*n)
	}
	return b, nil
}

// PositionalArgs returns a command's positional arguments, applying any flags
// given after them: urfave/cli v2 stops parsing flags at the first argument,
// but operators write `vigil deposit verify FILE --network hoodi`.
func PositionalArgs(c *cli.Context) ([]string, error) {
	var pos []string
	args := c.Args().Slice()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-" || !strings.HasPrefix(a, "-") {
			pos = append(pos, a)
			continue
		}
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !hasValue {
			if takesValue(c, name) {
				if i+1 >= len(args) {
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				value = args[i]
			} else {
				value = "true"
			}
		}
		if err := c.Set(name, value); err != nil {
			return nil, fmt.Errorf("flag %s: %w", a, err)
		}
	}
	return pos, nil
}

// takesValue reports whether the command's flag called name needs a value
// (false for boolean flags). Unknown names are left to c.Set to reject.
func takesValue(c *cli.Context, name string) bool {
	if c.Command == nil {
		return true
	}
	for _, f := range c.Command.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		if v, ok := f.(cli.DocGenerationFlag); ok {
			return v.TakesValue()
		}
	}
	return true
}

// ReadSecretFile reads a password, passphrase or mnemonic file and trims one
// trailing newline. Its errors name the file, never the content.
func ReadSecretFile(flag, path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("--%s is required", flag)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--%s: %w", flag, err)
	}
	s := strings.TrimSuffix(string(data), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}

// ReadOptionalSecretFile is ReadSecretFile for a flag that may be left
// empty, which reads as the empty secret.
func ReadOptionalSecretFile(flag, path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return ReadSecretFile(flag, path)
}

// OpenInput opens a named input file, or standard input for "-".
func OpenInput(name string) (io.ReadCloser, error) {
	if name == "-" {
		return io.NopCloser(os.Stdin), nil
	}
	return os.Open(name)
}

// IsTerminal reports whether v is a terminal (an *os.File on one).
func IsTerminal(v any) bool {
	f, ok := v.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// ProgressBar returns a progress callback drawing a bar on w, or nothing when
// w is not a terminal (logs and pipes get no control characters).
func ProgressBar(w io.Writer, tty bool, total int, what string) func(done, total int) {
	if !tty || total == 0 {
		return nil
	}
	bar := progressbar.NewOptions(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionClearOnFinish(),
	)
	return func(done, _ int) { _ = bar.Set(done) }
}

// confirmChars is how much of the public key an operator types to confirm an
// irreversible action: enough that it cannot be typed by habit.
const confirmChars = 12

// ConfirmPubkey asks the operator to type the first confirmChars hex digits
// of the public key (0x and case optional), which cannot be done by reflex the
// way "y" can. what names the action; nothingDone is said when it is not
// confirmed.
func ConfirmPubkey(in io.Reader, tty bool, w io.Writer, pk phase0.BLSPubKey, what, nothingDone, yesFlag string) error {
	if !tty {
		return fmt.Errorf("standard input is not a terminal, so the %s cannot be confirmed: run it interactively, or pass --%s", what, yesFlag)
	}
	want := strings.TrimPrefix(pubkey.Hex(pk), "0x")[:confirmChars]
	fmt.Fprintf(w, "Type the first %d hex digits of the public key (after 0x) to confirm the %s: ", confirmChars, what)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("read confirmation: %w", err)
	}
	got := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(line), "0x"), "0X"))
	if got != want {
		return fmt.Errorf("confirmation does not match the public key; %s", nothingDone)
	}
	return nil
}
