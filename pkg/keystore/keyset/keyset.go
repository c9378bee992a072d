// Package keyset merges the key stores a validator client loads its keys
// from (a directory, Vault, or both) into one set, and keeps a running
// signer and its duties holding exactly that set's keys as stores change:
// polled every interval and on demand (SIGHUP), with guards that keep a store
// fault from looking like the operator removing keys.
package keyset

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/pubkey"
)

// Source is one opened key store.
type Source struct {
	// Name is the store's kind as operators configure it ("vault", "dir"),
	// used in logs and as the key's origin in metrics.
	Name  string
	Store keystore.Store
	// Pubkeys, when set, names the store's keys without reading per-key
	// metadata (vaultstore: one LIST request); List is used otherwise.
	Pubkeys func(ctx context.Context) ([]phase0.BLSPubKey, error)
	// TokenTTL, when set, reports how long the store's credential (a Vault
	// token) stays valid, and false when it does not expire.
	TokenTTL func() (time.Duration, bool)
}

// Set is several key stores in order of preference: a key found in more than
// one is loaded from the first. It is safe for concurrent use.
type Set struct {
	sources []Source
	log     *slog.Logger

	mu      sync.Mutex
	origins map[phase0.BLSPubKey]string
}

// New returns the set of sources, in order of preference.
func New(log *slog.Logger, sources ...Source) *Set {
	if log == nil {
		log = slog.Default()
	}
	return &Set{sources: sources, log: log, origins: map[phase0.BLSPubKey]string{}}
}

// Listing is every key of a set, each assigned to the first store holding it,
// and how many keys each store listed.
type Listing struct {
	Owner map[phase0.BLSPubKey]int
	// Counts[i] is how many keys source i listed (duplicates included).
	Counts []int
}

// List names every key in every store. It fails if any store cannot be
// listed, so that a store that is briefly unreachable never looks like
// deleted keys.
func (s *Set) List(ctx context.Context) (Listing, error) {
	l := Listing{Owner: map[phase0.BLSPubKey]int{}, Counts: make([]int, len(s.sources))}
	for i, src := range s.sources {
		pks, err := src.list(ctx)
		if err != nil {
			return Listing{}, fmt.Errorf("list keys in the %s store: %w", src.Name, err)
		}
		l.Counts[i] = len(pks)
		for _, pk := range pks {
			if _, dup := l.Owner[pk]; !dup {
				l.Owner[pk] = i
			}
		}
	}
	return l, nil
}

func (src Source) list(ctx context.Context) ([]phase0.BLSPubKey, error) {
	if src.Pubkeys != nil {
		return src.Pubkeys(ctx)
	}
	infos, err := src.Store.List(ctx)
	if err != nil {
		return nil, err
	}
	pks := make([]phase0.BLSPubKey, len(infos))
	for i, in := range infos {
		pks[i] = in.Pubkey
	}
	return pks, nil
}

// Load loads every key of the listing for which have is false (every key
// when have is nil). Each store loads with its own bounded parallelism
// (Vault requests in flight, keystore decryption workers). On error no key
// is returned and those loaded are zeroed.
func (s *Set) Load(ctx context.Context, l Listing, have func(phase0.BLSPubKey) bool) ([]*keystore.Key, error) {
	want := make([][]phase0.BLSPubKey, len(s.sources))
	for pk, i := range l.Owner {
		if have == nil || !have(pk) {
			want[i] = append(want[i], pk)
		}
	}
	var keys []*keystore.Key
	for i, pks := range want {
		if len(pks) == 0 {
			continue
		}
		slices.SortFunc(pks, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
		start := time.Now()
		loaded, err := s.sources[i].Store.Load(ctx, pks)
		if err != nil {
			Zero(keys)
			return nil, fmt.Errorf("load %d keys from the %s store: %w", len(pks), s.sources[i].Name, err)
		}
		keys = append(keys, loaded...)
		s.mu.Lock()
		for _, k := range loaded {
			s.origins[k.Pubkey] = s.sources[i].Name
		}
		s.mu.Unlock()
		s.log.Info("Loaded validator keys", slog.String("key_store", s.sources[i].Name), slog.Int("keys", len(loaded)),
			slog.Duration("took", time.Since(start).Round(time.Millisecond)))
	}
	return keys, nil
}

// Pubkeys returns the listing's keys in byte order, for output that must not
// change from run to run.
func (l Listing) Pubkeys() []phase0.BLSPubKey {
	out := slices.Collect(maps.Keys(l.Owner))
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// LoadAll lists the stores and loads every key.
func (s *Set) LoadAll(ctx context.Context) ([]*keystore.Key, error) {
	l, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	return s.Load(ctx, l, nil)
}

// LoadOne loads the key of pk from the first store that holds it; it wraps
// keystore.ErrNotFound when none does.
func (s *Set) LoadOne(ctx context.Context, pk phase0.BLSPubKey) (*keystore.Key, error) {
	l, err := s.List(ctx)
	if err != nil {
		return nil, err
	}
	if _, ok := l.Owner[pk]; !ok {
		return nil, fmt.Errorf("no key store in %s holds %s: %w", s.names(), pubkey.Hex(pk), keystore.ErrNotFound)
	}
	keys, err := s.Load(ctx, Listing{Owner: map[phase0.BLSPubKey]int{pk: l.Owner[pk]}}, nil)
	if err != nil {
		return nil, err
	}
	return keys[0], nil
}

// Origin returns the name of the store pk was loaded from, or "" if it was
// not loaded by this set.
func (s *Set) Origin(pk phase0.BLSPubKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origins[pk]
}

func (s *Set) names() string {
	names := make([]string, len(s.sources))
	for i, src := range s.sources {
		names[i] = src.Name
	}
	return strings.Join(names, ",")
}

// TokenTTL reports the remaining lifetime of the first expiring store
// credential, and false when no store has one.
func (s *Set) TokenTTL() (time.Duration, bool) {
	for _, src := range s.sources {
		if src.TokenTTL != nil {
			return src.TokenTTL()
		}
	}
	return 0, false
}

// Zero zeroes every key.
func Zero(keys []*keystore.Key) {
	for _, k := range keys {
		k.Zero()
	}
}
