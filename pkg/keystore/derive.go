package keystore

import (
	"errors"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	e2util "github.com/wealdtech/go-eth2-util"

	"github.com/vigil-eth/vigil/internal/blsinit"
)

// SigningKeyPath is the EIP-2334 path of validator index's signing key.
func SigningKeyPath(index uint32) string {
	return fmt.Sprintf("m/12381/3600/%d/0/0", index)
}

// WithdrawalKeyPath is the EIP-2334 path of validator index's BLS withdrawal
// key, the parent of its signing key.
func WithdrawalKeyPath(index uint32) string {
	return fmt.Sprintf("m/12381/3600/%d/0", index)
}

// DeriveKey derives the EIP-2333 key at an EIP-2334 path from a BIP-39 seed.
// The key's origin is OriginGenerated and its creation time createdAt.
// Derivation is go-eth2-util's: a maintained implementation of the standard
// is preferred to vigil's own, at the cost that its intermediate values
// (ancestor keys, Lamport chunks) stay in the heap until the garbage collector
// reuses the memory; the caller still owns (and clears) the seed.
func DeriveKey(seed []byte, path string, createdAt time.Time) (*Key, error) {
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	e2key, err := e2util.PrivateKeyFromSeedAndPath(seed, path)
	if err != nil {
		return nil, fmt.Errorf("derive key at %s: %w", path, err)
	}
	raw := e2key.Marshal()
	defer clear(raw)
	sk, err := SecretKeyFromBytes(raw)
	if err != nil {
		return nil, fmt.Errorf("derive key at %s: %w", path, err)
	}
	return &Key{
		Info: Info{
			Pubkey:    PublicKey(sk),
			Path:      path,
			CreatedAt: createdAt,
			Origin:    OriginGenerated,
		},
		Secret: sk,
	}, nil
}

// SecretKeyFromBytes parses a 32-byte big-endian BLS secret key. It refuses
// zero and out-of-range values, and never echoes the bytes in its error.
func SecretKeyFromBytes(b []byte) (*bls.SecretKey, error) {
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	if len(b) != 32 {
		return nil, fmt.Errorf("secret key is %d bytes, want 32", len(b))
	}
	var sk bls.SecretKey
	if err := sk.Deserialize(b); err != nil {
		// herumi's error quotes the bytes; it is dropped, and whatever the
		// failed parse left in sk is cleared.
		sk = bls.SecretKey{}
		return nil, errors.New("secret key is not a valid BLS12-381 scalar")
	}
	if sk.IsZero() {
		return nil, errors.New("secret key is zero")
	}
	return &sk, nil
}

// PublicKey returns the compressed BLS public key of a secret key.
func PublicKey(sk *bls.SecretKey) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	copy(pk[:], sk.GetPublicKey().Serialize())
	return pk
}
