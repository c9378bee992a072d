// Package keystoretest provides an in-memory keystore.Store for tests and a
// conformance suite every Store implementation runs.
package keystoretest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// Store is an in-memory keystore.Store. The zero value is ready to use.
type Store struct {
	mu   sync.Mutex
	keys map[phase0.BLSPubKey]keystore.Key
}

var _ keystore.Store = (*Store)(nil)

// List returns the keys' metadata sorted by public key.
func (s *Store) List(ctx context.Context) ([]keystore.Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	infos := make([]keystore.Info, 0, len(s.keys))
	for _, k := range s.keys {
		infos = append(infos, k.Info)
	}
	slices.SortFunc(infos, func(a, b keystore.Info) int { return bytes.Compare(a.Pubkey[:], b.Pubkey[:]) })
	return infos, nil
}

// Load returns copies of the keys, in order.
func (s *Store) Load(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*keystore.Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*keystore.Key, len(pubkeys))
	for i, pk := range pubkeys {
		k, ok := s.keys[pk]
		if !ok {
			return nil, fmt.Errorf("%#x: %w", pk[:], keystore.ErrNotFound)
		}
		sk := *k.Secret
		out[i] = &keystore.Key{Info: k.Info, Secret: &sk}
	}
	return out, nil
}

// Put stores a copy of the key.
func (s *Store) Put(ctx context.Context, key *keystore.Key) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.keys == nil {
		s.keys = make(map[phase0.BLSPubKey]keystore.Key)
	}
	if _, ok := s.keys[key.Pubkey]; ok {
		return fmt.Errorf("%#x: %w", key.Pubkey[:], keystore.ErrExists)
	}
	sk := *key.Secret
	s.keys[key.Pubkey] = keystore.Key{Info: key.Info, Secret: &sk}
	return nil
}

// Delete removes a key.
func (s *Store) Delete(ctx context.Context, pubkey phase0.BLSPubKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.keys[pubkey]; !ok {
		return fmt.Errorf("%#x: %w", pubkey[:], keystore.ErrNotFound)
	}
	delete(s.keys, pubkey)
	return nil
}

// Keys derives n distinct test keys (m/12381/3600/i/0/0 of a fixed test
// mnemonic) with metadata set. Never use these keys for anything real.
func Keys(t testing.TB, n int) []*keystore.Key {
	t.Helper()
	seed, err := keystore.Seed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "")
	require.NoError(t, err)
	keys := make([]*keystore.Key, n)
	for i := range keys {
		k, err := keystore.DeriveKey(seed, keystore.SigningKeyPath(uint32(i)), time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC))
		require.NoError(t, err)
		keys[i] = k
	}
	return keys
}

// RunConformance checks the keystore.Store contract against a fresh, empty
// store from newStore: put, list (sorted, metadata intact), load (same
// signatures), duplicates, missing keys and delete.
func RunConformance(t *testing.T, newStore func(t *testing.T) keystore.Store) {
	ctx := context.Background()
	keys := Keys(t, 4)
	keys[1].Origin = keystore.OriginImported
	keys[1].Path = ""
	msg := []byte("vigil conformance")

	t.Run("round trip", func(t *testing.T) {
		s := newStore(t)
		infos, err := s.List(ctx)
		require.NoError(t, err)
		require.Empty(t, infos)
		for _, k := range keys {
			require.NoError(t, s.Put(ctx, k))
		}
		infos, err = s.List(ctx)
		require.NoError(t, err)
		require.Len(t, infos, len(keys))
		require.True(t, slices.IsSortedFunc(infos, func(a, b keystore.Info) int { return bytes.Compare(a.Pubkey[:], b.Pubkey[:]) }))
		for _, k := range keys {
			i := slices.IndexFunc(infos, func(in keystore.Info) bool { return in.Pubkey == k.Pubkey })
			require.GreaterOrEqual(t, i, 0)
			require.Equal(t, k.Path, infos[i].Path)
			require.Equal(t, k.Origin, infos[i].Origin)
			require.True(t, k.CreatedAt.Equal(infos[i].CreatedAt), "created at %v, want %v", infos[i].CreatedAt, k.CreatedAt)
		}
		pubkeys := []phase0.BLSPubKey{keys[2].Pubkey, keys[0].Pubkey}
		loaded, err := s.Load(ctx, pubkeys)
		require.NoError(t, err)
		require.Len(t, loaded, 2)
		for i, want := range []*keystore.Key{keys[2], keys[0]} {
			require.Equal(t, want.Pubkey, loaded[i].Pubkey)
			require.Equal(t, sign(want.Secret, msg), sign(loaded[i].Secret, msg))
		}
		all, err := keystore.LoadAll(ctx, s)
		require.NoError(t, err)
		require.Len(t, all, len(keys))
	})
	t.Run("duplicate", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Put(ctx, keys[0]))
		require.ErrorIs(t, s.Put(ctx, keys[0]), keystore.ErrExists)
	})
	t.Run("missing", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Put(ctx, keys[0]))
		_, err := s.Load(ctx, []phase0.BLSPubKey{keys[0].Pubkey, keys[3].Pubkey})
		require.ErrorIs(t, err, keystore.ErrNotFound)
		require.ErrorIs(t, s.Delete(ctx, keys[3].Pubkey), keystore.ErrNotFound)
	})
	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		require.NoError(t, s.Put(ctx, keys[0]))
		require.NoError(t, s.Put(ctx, keys[1]))
		require.NoError(t, s.Delete(ctx, keys[0].Pubkey))
		infos, err := s.List(ctx)
		require.NoError(t, err)
		require.Len(t, infos, 1)
		require.Equal(t, keys[1].Pubkey, infos[0].Pubkey)
		_, err = s.Load(ctx, []phase0.BLSPubKey{keys[0].Pubkey})
		require.ErrorIs(t, err, keystore.ErrNotFound)
		// A deleted key can be put back.
		require.NoError(t, s.Put(ctx, keys[0]))
	})
}

func sign(sk *bls.SecretKey, msg []byte) []byte { return sk.SignByte(msg).Serialize() }
