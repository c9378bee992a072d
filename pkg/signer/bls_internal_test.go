package signer

import (
	"encoding/binary"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/keystore"
)

// TestSignHashedMatchesSignByte: the two-step signature (hash to G2 first,
// constant-time multiplication by the secret later) is bit-for-bit herumi's
// one-step Sign, for many keys and messages.
func TestSignHashedMatchesSignByte(t *testing.T) {
	require.NoError(t, blsinit.Init())
	for i := range 64 {
		var b [32]byte
		binary.BigEndian.PutUint64(b[24:], uint64(i)*0x9e3779b97f4a7c15+1)
		b[0] = byte(i) & 0x3f // stay below the group order
		sk, err := keystore.SecretKeyFromBytes(b[:])
		require.NoError(t, err)
		root := phase0.Root{byte(i), 0xee, byte(i * 7), 31: byte(i)}
		h, err := hashToG2(root)
		require.NoError(t, err)
		require.Equal(t, signRoot(sk, root), signHashed(sk, h), "key %d", i)
	}
}
