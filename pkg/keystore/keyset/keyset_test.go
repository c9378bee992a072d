package keyset_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/keystore/keyset"
	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
)

func storeWith(t *testing.T, keys ...*keystore.Key) *keystoretest.Store {
	t.Helper()
	s := &keystoretest.Store{}
	for _, k := range keys {
		cp := *k
		require.NoError(t, s.Put(t.Context(), &cp))
	}
	return s
}

func pubkeysOf(keys []*keystore.Key) []phase0.BLSPubKey {
	out := make([]phase0.BLSPubKey, len(keys))
	for i, k := range keys {
		out[i] = k.Pubkey
	}
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

var quiet = slog.New(slog.DiscardHandler)

// TestMerge checks that keys from several stores are merged, a key held by
// two stores is loaded once (from the first), and a store with the LIST-only
// fast path is listed through it.
func TestMerge(t *testing.T) {
	keys := keystoretest.Keys(t, 5)
	vault := storeWith(t, keys[0], keys[1], keys[2])
	calls := 0
	fast := func(ctx context.Context) ([]phase0.BLSPubKey, error) {
		calls++
		infos, err := vault.List(ctx)
		pks := make([]phase0.BLSPubKey, len(infos))
		for i, in := range infos {
			pks[i] = in.Pubkey
		}
		return pks, err
	}
	dir := storeWith(t, keys[2], keys[3], keys[4])
	set := keyset.New(quiet, keyset.Source{Name: "vault", Store: vault, Pubkeys: fast}, keyset.Source{Name: "dir", Store: dir})

	l, err := set.List(t.Context())
	require.NoError(t, err)
	require.Equal(t, 1, calls)
	require.Len(t, l.Owner, 5)
	require.Equal(t, 0, l.Owner[keys[2].Pubkey], "a key in two stores belongs to the first")
	require.Equal(t, []int{3, 3}, l.Counts)

	loaded, err := set.Load(t.Context(), l, nil)
	require.NoError(t, err)
	require.Equal(t, pubkeysOf(keys), pubkeysOf(loaded))
	require.Equal(t, "vault", set.Origin(keys[2].Pubkey))
	require.Equal(t, "dir", set.Origin(keys[3].Pubkey))

	have := func(pk phase0.BLSPubKey) bool { return pk == keys[0].Pubkey || pk == keys[4].Pubkey }
	loaded, err = set.Load(t.Context(), l, have)
	require.NoError(t, err)
	require.Equal(t, pubkeysOf(keys[1:4]), pubkeysOf(loaded))

	one, err := set.LoadOne(t.Context(), keys[4].Pubkey)
	require.NoError(t, err)
	require.Equal(t, keys[4].Pubkey, one.Pubkey)
	_, err = set.LoadOne(t.Context(), phase0.BLSPubKey{9})
	require.ErrorIs(t, err, keystore.ErrNotFound)
}

// failingStore fails List, as an unreachable Vault does.
type failingStore struct{ keystore.Store }

func (failingStore) List(context.Context) ([]keystore.Info, error) {
	return nil, errors.New("vault unreachable")
}

// fakeHolder stands in for the signer and the duties in key reloads.
type fakeHolder struct {
	mu   sync.Mutex
	keys map[phase0.BLSPubKey]bool
	// duties mirrors what the duties service was told.
	duties map[phase0.BLSPubKey]bool
}

func newFakeHolder(pks ...phase0.BLSPubKey) *fakeHolder {
	h := &fakeHolder{keys: map[phase0.BLSPubKey]bool{}, duties: map[phase0.BLSPubKey]bool{}}
	for _, pk := range pks {
		h.keys[pk], h.duties[pk] = true, true
	}
	return h
}

func (h *fakeHolder) HasKey(pk phase0.BLSPubKey) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.keys[pk]
}

func (h *fakeHolder) Pubkeys() []phase0.BLSPubKey {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []phase0.BLSPubKey
	for pk := range h.keys {
		out = append(out, pk)
	}
	return out
}

func (h *fakeHolder) AddKeys(keys ...*keystore.Key) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, k := range keys {
		h.keys[k.Pubkey] = true
	}
	return nil
}

func (h *fakeHolder) RemoveKeys(pks ...phase0.BLSPubKey) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, pk := range pks {
		if h.duties[pk] {
			panic("a key must leave the duties before the signer")
		}
		delete(h.keys, pk)
	}
	return len(pks)
}

func (h *fakeHolder) AddPubkeys(pks ...phase0.BLSPubKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, pk := range pks {
		h.duties[pk] = true
	}
}

func (h *fakeHolder) RemovePubkeys(pks ...phase0.BLSPubKey) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, pk := range pks {
		delete(h.duties, pk)
	}
}

func sortedKeys(m map[phase0.BLSPubKey]bool) []phase0.BLSPubKey {
	var out []phase0.BLSPubKey
	for pk := range m {
		out = append(out, pk)
	}
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// TestSync checks key reloading: added keys reach signer and duties, removed
// keys leave the duties before the signer, and a store that cannot be listed
// removes nothing.
func TestSync(t *testing.T) {
	keys := keystoretest.Keys(t, 4)
	tests := []struct {
		name    string
		held    []*keystore.Key
		sources func() []keyset.Source
		want    []*keystore.Key
		wantErr bool
	}{
		{
			name:    "keys added to a store are picked up",
			held:    keys[:1],
			sources: func() []keyset.Source { return []keyset.Source{{Name: "dir", Store: storeWith(t, keys[:3]...)}} },
			want:    keys[:3],
		},
		{
			name:    "a key deleted from every store stops signing",
			held:    keys[:2],
			sources: func() []keyset.Source { return []keyset.Source{{Name: "dir", Store: storeWith(t, keys[1])}} },
			want:    keys[1:2],
		},
		{
			name: "a key moved between stores keeps signing",
			held: keys[:2],
			sources: func() []keyset.Source {
				return []keyset.Source{{Name: "vault", Store: storeWith(t, keys[0])}, {Name: "dir", Store: storeWith(t, keys[1], keys[3])}}
			},
			want: []*keystore.Key{keys[0], keys[1], keys[3]},
		},
		{
			name: "an unreachable store removes nothing",
			held: keys[:2],
			sources: func() []keyset.Source {
				return []keyset.Source{{Name: "vault", Store: failingStore{storeWith(t)}}, {Name: "dir", Store: storeWith(t, keys[3])}}
			},
			want:    keys[:2],
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newFakeHolder(pubkeysOf(tt.held)...)
			err := keyset.NewReloader(keyset.New(quiet, tt.sources()...), h, h).Sync(t.Context(), false)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, pubkeysOf(tt.want), sortedKeys(h.keys))
			require.Equal(t, pubkeysOf(tt.want), sortedKeys(h.duties))
		})
	}
}

// TestEmptyListingRefused is a Vault LIST answering nothing (a remount, a
// lagging replica, a wrong namespace): the keys loaded from it keep signing
// until the operator confirms with an explicit reload.
func TestEmptyListingRefused(t *testing.T) {
	keys := keystoretest.Keys(t, 4)
	vault := storeWith(t, keys[:3]...)
	dir := storeWith(t, keys[3])
	set := keyset.New(quiet, keyset.Source{Name: "vault", Store: vault}, keyset.Source{Name: "dir", Store: dir})
	h := newFakeHolder()
	r := keyset.NewReloader(set, h, h)
	require.NoError(t, r.Sync(t.Context(), false))
	require.Len(t, h.keys, 4)

	for _, k := range keys[:3] {
		require.NoError(t, vault.Delete(t.Context(), k.Pubkey))
	}
	for range 5 {
		err := r.Sync(t.Context(), false)
		require.ErrorIs(t, err, keyset.ErrEmptyListing)
		require.ErrorContains(t, err, "the vault store listed 0 keys while 3 loaded keys came from it")
		require.Len(t, h.keys, 4, "polls never drop keys on an empty listing")
	}
	require.NoError(t, r.Sync(t.Context(), true), "SIGHUP confirms")
	require.Equal(t, pubkeysOf(keys[3:]), sortedKeys(h.keys))
	require.Equal(t, pubkeysOf(keys[3:]), sortedKeys(h.duties))
}

// TestMassRemovalNeedsConsecutivePolls removes many keys at once: they are
// dropped only once three polls in a row agree; a single key goes at once.
func TestMassRemovalNeedsConsecutivePolls(t *testing.T) {
	keys := keystoretest.Keys(t, 20)
	dir := storeWith(t, keys...)
	set := keyset.New(quiet, keyset.Source{Name: "dir", Store: dir})
	h := newFakeHolder()
	r := keyset.NewReloader(set, h, h)
	require.NoError(t, r.Sync(t.Context(), false))

	require.NoError(t, dir.Delete(t.Context(), keys[0].Pubkey))
	require.NoError(t, r.Sync(t.Context(), false), "one key of twenty is a small share")
	require.Len(t, h.keys, 19)

	for _, k := range keys[1:6] {
		require.NoError(t, dir.Delete(t.Context(), k.Pubkey))
	}
	for i := 1; i < keyset.DefaultRemovalPolls; i++ {
		err := r.Sync(t.Context(), false)
		require.ErrorIs(t, err, keyset.ErrMassRemoval)
		require.Len(t, h.keys, 19)
	}
	require.NoError(t, r.Sync(t.Context(), false))
	require.Equal(t, pubkeysOf(keys[6:]), sortedKeys(h.keys))

	// A mass removal that comes back before the polls agree starts over.
	for _, k := range keys[6:12] {
		require.NoError(t, dir.Delete(t.Context(), k.Pubkey))
	}
	require.ErrorIs(t, r.Sync(t.Context(), false), keyset.ErrMassRemoval)
	for _, k := range keys[6:12] {
		cp := *k
		require.NoError(t, dir.Put(t.Context(), &cp))
	}
	require.NoError(t, r.Sync(t.Context(), false))
	for _, k := range keys[6:12] {
		require.NoError(t, dir.Delete(t.Context(), k.Pubkey))
	}
	require.ErrorIs(t, r.Sync(t.Context(), false), keyset.ErrMassRemoval)
	require.NoError(t, r.Sync(t.Context(), true), "an explicit reload does not wait")
	require.Equal(t, pubkeysOf(keys[12:]), sortedKeys(h.keys))
}
