package pubkey_test

import (
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/pubkey"
)

func TestFormats(t *testing.T) {
	var pk phase0.BLSPubKey
	for i := range pk {
		pk[i] = byte(i)
	}
	require.Equal(t, "0x00010203…2e2f", pubkey.Short(pk))
	full := pubkey.Hex(pk)
	require.Len(t, full, 2+96)
	require.Equal(t, "pubkey", pubkey.Attr(pk).Key)

	for _, in := range []string{full, strings.TrimPrefix(full, "0x"), " " + strings.ToUpper(full[2:]) + "\n"} {
		got, err := pubkey.Parse(in)
		require.NoError(t, err, in)
		require.Equal(t, pk, got)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"0xzz", "not hex"},
		{"0x0102", "has 2 bytes, want 48"},
		{"", "has 0 bytes"},
	} {
		_, err := pubkey.Parse(tc.in)
		require.ErrorContains(t, err, tc.want, tc.in)
	}
}
