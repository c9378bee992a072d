// Package deposit builds, verifies and writes deposit data in the format of
// staking-deposit-cli and the staking launchpad.
package deposit

import (
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Network is what a deposit is bound to: its name as written in deposit data
// and its genesis fork version, which the deposit domain is computed from.
type Network struct {
	Name               string
	GenesisForkVersion phase0.Version
}

// CustomNetworkName is the network_name for a custom genesis fork version
// when the caller gives none.
const CustomNetworkName = "custom"

// ErrUnknownNetwork is returned for a network name vigil does not know.
var ErrUnknownNetwork = errors.New("unknown network")

// networks are the genesis fork versions from each network's config
// (consensus-specs configs/mainnet.yaml for mainnet; the same values as
// ethstaker-deposit-cli's settings.py for the testnets).
var networks = []Network{
	{Name: "mainnet", GenesisForkVersion: phase0.Version{0x00, 0x00, 0x00, 0x00}},
	{Name: "hoodi", GenesisForkVersion: phase0.Version{0x10, 0x00, 0x09, 0x10}},
	{Name: "sepolia", GenesisForkVersion: phase0.Version{0x90, 0x00, 0x00, 0x69}},
	{Name: "holesky", GenesisForkVersion: phase0.Version{0x01, 0x01, 0x70, 0x00}},
}

// NetworkNames lists the networks vigil knows, for help texts.
func NetworkNames() []string {
	names := make([]string, len(networks))
	for i, n := range networks {
		names[i] = n.Name
	}
	return names
}

// LookupNetwork resolves a network name and an optional genesis fork version
// ("0x" and 8 hex digits). With a known name the version, if given, must
// match. An unknown name with a version is a custom network; an empty name
// with a version is named CustomNetworkName.
func LookupNetwork(name, forkVersion string) (Network, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	var fork *phase0.Version
	if forkVersion != "" {
		v, err := ParseForkVersion(forkVersion)
		if err != nil {
			return Network{}, err
		}
		fork = &v
	}
	i := slices.IndexFunc(networks, func(n Network) bool { return n.Name == name })
	switch {
	case i >= 0 && fork != nil && *fork != networks[i].GenesisForkVersion:
		return Network{}, fmt.Errorf("network %s has genesis fork version %#x, not %#x; drop the fork version or pick another name",
			name, networks[i].GenesisForkVersion[:], fork[:])
	case i >= 0:
		return networks[i], nil
	case fork != nil:
		if name == "" {
			name = CustomNetworkName
		}
		return Network{Name: name, GenesisForkVersion: *fork}, nil
	default:
		return Network{}, fmt.Errorf("%w %q: want one of %s, or give a genesis fork version for a custom network",
			ErrUnknownNetwork, name, strings.Join(NetworkNames(), ", "))
	}
}

// ParseForkVersion parses a 4-byte fork version written as hex, with or
// without 0x.
func ParseForkVersion(s string) (phase0.Version, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X"))
	if err != nil || len(b) != 4 {
		return phase0.Version{}, fmt.Errorf("fork version %q: want 0x and 8 hex digits", s)
	}
	return phase0.Version(b), nil
}
