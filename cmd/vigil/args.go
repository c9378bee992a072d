package main

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/urfave/cli/v2"
)

// parseHexFlag decodes the value of a flag that holds exactly n bytes of hex,
// with or without 0x (deposit files and block explorers print them both ways).
func parseHexFlag(flag, s string, n int) ([]byte, error) {
	h := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != n {
		return nil, fmt.Errorf("--%s %q: want 0x followed by %d hex digits", flag, s, 2*n)
	}
	return b, nil
}

// parsePubkeyFlag decodes a BLS public key given to flag.
func parsePubkeyFlag(flag, s string) (phase0.BLSPubKey, error) {
	var pk phase0.BLSPubKey
	if s == "" {
		return pk, fmt.Errorf("--%s is required", flag)
	}
	b, err := parseHexFlag(flag, s, len(pk))
	copy(pk[:], b)
	return pk, err
}

// positionalArgs returns a command's positional arguments, applying any flags
// given after them: urfave/cli v2 stops parsing flags at the first argument,
// but operators write `vigil deposit verify FILE --network hoodi`.
func positionalArgs(c *cli.Context) ([]string, error) {
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
