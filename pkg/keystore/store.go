package keystore

import (
	"context"
	"errors"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
)

// Origin says how a key came to be in a store.
type Origin string

// Origins of a stored key.
const (
	OriginGenerated Origin = "generated" // derived by vigil from a mnemonic
	OriginImported  Origin = "imported"  // imported from an EIP-2335 keystore
)

// Info is what a store knows about a key without decrypting it.
type Info struct {
	Pubkey phase0.BLSPubKey
	// Path is the EIP-2334 derivation path, empty when unknown.
	Path      string
	CreatedAt time.Time
	Origin    Origin
}

// Key is a validator's signing-ready BLS secret key with its metadata. Callers
// call Zero when they no longer need the secret.
type Key struct {
	Info
	Secret *bls.SecretKey
}

// Zero overwrites the secret key in memory.
func (k *Key) Zero() {
	if k != nil && k.Secret != nil {
		*k.Secret = bls.SecretKey{}
		k.Secret = nil
	}
}

// Store is where validator keys live: a Vault KV v2 mount or a local
// directory of EIP-2335 keystores.
type Store interface {
	// List returns every key's metadata, sorted by public key.
	List(ctx context.Context) ([]Info, error)
	// Load returns the keys with the given public keys, in that order, ready to
	// sign. It fails with ErrNotFound naming the first missing key.
	Load(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*Key, error)
	// Put stores a key; it fails with ErrExists if the public key is present.
	Put(ctx context.Context, key *Key) error
	// Delete removes a key; it fails with ErrNotFound if it is absent.
	Delete(ctx context.Context, pubkey phase0.BLSPubKey) error
}

// Errors that callers branch on.
var (
	ErrNotFound = errors.New("key not found")
	ErrExists   = errors.New("key already exists")
	// ErrNoListing means a store got no listing at all, which it cannot
	// tell from an empty store: Vault's KV v2 answers 404 both for a prefix
	// without keys and for one this node or namespace cannot see. Only
	// stores asked to (vaultstore.WithStrictListing) return it.
	ErrNoListing = errors.New("key store returned no listing")
)

// LoadAll lists a store and loads every key in it.
func LoadAll(ctx context.Context, s Store) ([]*Key, error) {
	infos, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	pubkeys := make([]phase0.BLSPubKey, len(infos))
	for i, info := range infos {
		pubkeys[i] = info.Pubkey
	}
	return s.Load(ctx, pubkeys)
}
