// Package pubkey is the one way vigil prints and parses a validator's BLS
// public key: in full as 0x-prefixed hex (files, APIs, confirmations) and in
// short as 0x + the first 4 bytes + "…" + the last 2 (logs and errors), the
// form operators' tools (Lighthouse, Vouch) use, long enough to tell keys
// apart at a glance.
package pubkey

import (
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Hex is the full public key as 0x-prefixed lower-case hex.
func Hex(pk phase0.BLSPubKey) string { return "0x" + hex.EncodeToString(pk[:]) }

// Short abbreviates the public key for logs and errors, e.g. 0xa1b2c3d4…e5f6.
func Short(pk phase0.BLSPubKey) string {
	return fmt.Sprintf("0x%x…%x", pk[:4], pk[len(pk)-2:])
}

// Attr is the log attribute "pubkey" with the short form.
func Attr(pk phase0.BLSPubKey) slog.Attr { return slog.String("pubkey", Short(pk)) }

// Parse reads a full public key written as hex, with or without 0x; it checks
// the length only (not that the bytes are a point on the curve).
func Parse(s string) (phase0.BLSPubKey, error) {
	var pk phase0.BLSPubKey
	h := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
	b, err := hex.DecodeString(h)
	if err != nil {
		return pk, fmt.Errorf("public key %q is not hex: %w", s, err)
	}
	if len(b) != len(pk) {
		return pk, fmt.Errorf("public key %q has %d bytes, want %d", s, len(b), len(pk))
	}
	copy(pk[:], b)
	return pk, nil
}
