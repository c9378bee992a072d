package cliutil_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/vigil-eth/vigil/internal/cliutil"
)

func TestPositionalArgs(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantPos  []string
		wantNet  string
		wantBool bool
		wantErr  string
	}{
		{name: "flags first", args: []string{"--network", "hoodi", "f.json"}, wantPos: []string{"f.json"}, wantNet: "hoodi"},
		{name: "flags after", args: []string{"f.json", "--network", "hoodi"}, wantPos: []string{"f.json"}, wantNet: "hoodi"},
		{name: "equals form", args: []string{"f.json", "--network=sepolia"}, wantPos: []string{"f.json"}, wantNet: "sepolia"},
		{name: "bool flag takes no value", args: []string{"a", "--minimal", "b"}, wantPos: []string{"a", "b"}, wantBool: true},
		{name: "stdin and double dash", args: []string{"-", "--", "--not-a-flag"}, wantPos: []string{"-", "--not-a-flag"}},
		{name: "missing value", args: []string{"f.json", "--network"}, wantErr: "needs a value"},
		{name: "unknown flag", args: []string{"f.json", "--nope", "x"}, wantErr: "--nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var (
				pos []string
				err error
				net string
				b   bool
			)
			app := &cli.App{
				Name: "vigil",
				Commands: []*cli.Command{{
					Name:  "cmd",
					Flags: []cli.Flag{cliutil.StringFlag("network", "", ""), cliutil.BoolFlag("minimal", "")},
					Action: func(c *cli.Context) error {
						pos, err = cliutil.PositionalArgs(c)
						net, b = c.String("network"), c.Bool("minimal")
						return nil
					},
				}},
			}
			require.NoError(t, app.Run(append([]string{"vigil", "cmd"}, tt.args...)))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.wantPos, pos)
			require.Equal(t, tt.wantNet, net)
			require.Equal(t, tt.wantBool, b)
		})
	}
}

func TestConfirmPubkey(t *testing.T) {
	var pk phase0.BLSPubKey
	copy(pk[:], bytes.Repeat([]byte{0xab, 0xcd}, 24))
	tests := []struct {
		name    string
		tty     bool
		input   string
		wantErr string
	}{
		{name: "no terminal", tty: false, input: "abcdabcdabcd\n", wantErr: "not a terminal"},
		{name: "exact digits", tty: true, input: "abcdabcdabcd\n"},
		{name: "with 0x and capitals", tty: true, input: "  0xABCDABCDABCD \n"},
		{name: "without newline", tty: true, input: "abcdabcdabcd"},
		{name: "too few digits", tty: true, input: "abcdabcd\n", wantErr: "does not match"},
		{name: "yes is not enough", tty: true, input: "y\n", wantErr: "does not match"},
		{name: "empty input", tty: true, input: "", wantErr: "read confirmation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var prompt bytes.Buffer
			err := cliutil.ConfirmPubkey(strings.NewReader(tt.input), tt.tty, &prompt, pk, "exit", "nothing was signed", "yes")
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Contains(t, prompt.String(), "first 12 hex digits")
		})
	}
}

func TestWithConfigFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(file, []byte("name: from-file\n"), 0o600))
	tests := []struct {
		name    string
		args    []string
		want    string
		wantErr string
	}{
		{name: "no file", args: nil, want: "default"},
		{name: "local file", args: []string{"--config", file}, want: "from-file"},
		{name: "command line wins", args: []string{"--config", file, "--name", "cli"}, want: "cli"},
		{name: "http refused", args: []string{"--config", "http://127.0.0.1:1/vigil.yaml"}, wantErr: "read from this machine only"},
		{name: "https refused", args: []string{"--config", "https://example.invalid/vigil.yaml"}, wantErr: "read from this machine only"},
		{name: "missing file", args: []string{"--config", filepath.Join(dir, "absent.yaml")}, wantErr: "absent.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			app := &cli.App{
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "config"},
					cliutil.StringFlag("name", "", "default"),
				},
				Action: func(c *cli.Context) error {
					got = c.String("name")
					return nil
				},
			}
			cliutil.WithConfigFile(app, "config")
			err := app.Run(append([]string{"vigil"}, tt.args...))
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}
