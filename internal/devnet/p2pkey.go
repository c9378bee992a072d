package devnet

import (
	"encoding/hex"
	"fmt"
	"os"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/mr-tron/base58"
)

// writeP2PKey gives a beacon node a fresh libp2p identity through
// --p2p-priv-key and returns its peer id. The id must be known up front:
// with --no-discovery the node has no ENR and /eth/v1/node/identity fails
// (Prysm v5.3.0 answers 500 "could not serialize nil record"), yet a static
// --peer multiaddr needs the id.
func writeP2PKey(path string) (string, error) {
	key, err := secp256k1.GeneratePrivateKey()
	if err != nil {
		return "", fmt.Errorf("generate libp2p key: %w", err)
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(key.Serialize())), 0o600); err != nil {
		return "", fmt.Errorf("write libp2p key: %w", err)
	}
	return peerID(key.PubKey()), nil
}

// peerID is libp2p's peer id of a secp256k1 key (libp2p specs, peer-ids.md):
// the identity multihash (code 0x00, length 37) of the protobuf PublicKey
// message {Type: Secp256k1 (field 1 = 2), Data: compressed key (field 2,
// 33 bytes)}, in base58btc.
func peerID(pub *secp256k1.PublicKey) string {
	msg := append([]byte{0x08, 0x02, 0x12, 33}, pub.SerializeCompressed()...)
	mh := append([]byte{0x00, byte(len(msg))}, msg...)
	return base58.Encode(mh)
}
