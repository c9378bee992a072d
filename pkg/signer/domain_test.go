package signer_test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// mainnetConfig reads consensus-specs configs/mainnet.yaml, copied into
// testdata (testdata/README.md names its source, version and licence).
func mainnetConfig(t *testing.T) map[string]string {
	t.Helper()
	path := filepath.Join("testdata", "consensus-specs", "configs", "mainnet.yaml")
	data, err := os.ReadFile(path)
	require.NoError(t, err, "read %s", path)
	// yaml.Node keeps the literal text: 0x00000000 must stay a hex string, not an int.
	var raw map[string]yaml.Node
	require.NoError(t, yaml.Unmarshal(data, &raw))
	out := make(map[string]string, len(raw))
	for k, v := range raw {
		out[k] = v.Value
	}
	return out
}

func version(t *testing.T, s string) phase0.Version {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	require.NoError(t, err)
	require.Len(t, b, 4)
	return phase0.Version(b)
}

func root32(t *testing.T, s string) [32]byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	require.NoError(t, err)
	require.Len(t, b, 32)
	return [32]byte(b)
}

// handDomain is compute_domain worked by hand from the phase0 spec text: the
// fork data root of the two-field container ForkData is the SHA-256 of its
// two 32-byte chunks (the version right-padded with zeros, then the root),
// and the domain is the domain type followed by its first 28 bytes.
func handDomain(dt phase0.DomainType, v phase0.Version, gvr phase0.Root) phase0.Domain {
	var chunk [32]byte
	copy(chunk[:], v[:])
	forkDataRoot := sha256.Sum256(append(chunk[:], gvr[:]...))
	var d phase0.Domain
	copy(d[:4], dt[:])
	copy(d[4:], forkDataRoot[:28])
	return d
}

// handSigningRoot is compute_signing_root by hand: SigningData has two
// 32-byte fields, so its root is SHA-256(object_root ‖ domain).
func handSigningRoot(obj phase0.Root, d phase0.Domain) phase0.Root {
	return sha256.Sum256(append(obj[:], d[:]...))
}

// mainnetGVR is mainnet's genesis validators root (from the mainnet genesis
// state, as every client's built-in network config carries it).
const mainnetGVR = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"

func TestComputeDomain(t *testing.T) {
	cfg := mainnetConfig(t)
	genesisVersion := version(t, cfg["GENESIS_FORK_VERSION"])
	capellaVersion := version(t, cfg["CAPELLA_FORK_VERSION"])
	denebVersion := version(t, cfg["DENEB_FORK_VERSION"])
	gvr := phase0.Root(root32(t, mainnetGVR))
	deposit := phase0.DomainType{0x03, 0, 0, 0}
	exit := phase0.DomainType{0x04, 0, 0, 0}
	builder := phase0.DomainType{0, 0, 0, 0x01}

	tests := []struct {
		name    string
		dt      phase0.DomainType
		version phase0.Version
		gvr     phase0.Root
		// known is a published value, empty when only the hand computation applies.
		known string
	}{
		{
			// The mainnet deposit domain every deposit tool uses
			// (compute_domain(DOMAIN_DEPOSIT) with GENESIS_FORK_VERSION and a zero root).
			name: "mainnet deposit", dt: deposit, version: genesisVersion,
			known: "0x03000000f5a5fd42d16a20302798ef6ed309979b43003d2320d9f0e8ea9831a9",
		},
		{name: "mainnet exit (EIP-7044, Capella version)", dt: exit, version: capellaVersion, gvr: gvr},
		{name: "mainnet exit at Deneb version (not used after EIP-7044)", dt: exit, version: denebVersion, gvr: gvr},
		{name: "mainnet builder", dt: builder, version: genesisVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signer.ComputeDomain(tc.dt, tc.version, tc.gvr)
			require.NoError(t, err)
			require.Equal(t, handDomain(tc.dt, tc.version, tc.gvr), got)
			if tc.known != "" {
				require.Equal(t, tc.known, "0x"+hex.EncodeToString(got[:]))
			}
		})
	}
	t.Run("exit domains differ by version", func(t *testing.T) {
		a, err := signer.ComputeDomain(exit, capellaVersion, gvr)
		require.NoError(t, err)
		b, err := signer.ComputeDomain(exit, denebVersion, gvr)
		require.NoError(t, err)
		require.NotEqual(t, a, b)
	})
}

func TestComputeSigningRoot(t *testing.T) {
	tests := []struct {
		name string
		obj  phase0.Root
		dom  phase0.Domain
	}{
		{name: "zeros"},
		{name: "pattern", obj: phase0.Root{1, 2, 3, 31: 0xff}, dom: phase0.Domain{0x01, 0, 0, 0, 0xaa, 31: 0x55}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := signer.ComputeSigningRoot(tc.obj, tc.dom)
			require.NoError(t, err)
			require.Equal(t, handSigningRoot(tc.obj, tc.dom), got)
		})
	}
}
