package main

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
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
					Flags: []cli.Flag{stringFlag("network", "", ""), boolFlag("minimal", "")},
					Action: func(c *cli.Context) error {
						pos, err = positionalArgs(c)
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
