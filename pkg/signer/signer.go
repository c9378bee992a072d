package signer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// ErrKeyMismatch refuses a key whose secret does not belong to its Pubkey
// field: signing with it would record slashing protection under the wrong key.
var ErrKeyMismatch = errors.New("secret key does not match its public key")

// ErrMissingOption names a mandatory option New was not given.
var ErrMissingOption = errors.New("mandatory option missing")

// Signer signs every message a validator client needs. It is safe for
// concurrent use.
type Signer struct {
	db           SlashingDB
	chain        chainModel
	now          func() time.Time
	log          *slog.Logger
	obs          Observer
	maxGapEpochs uint64
	allowLongGap bool
	workers      int
	// domains caches compute_domain per domain type and fork version; the
	// genesis validators root never changes for a signer, so entries stay
	// valid when the chain model gains a fork.
	domainsMu sync.RWMutex
	domains   map[domainKey]phase0.Domain

	mu     sync.RWMutex // guards keys and closed; held for reading while a secret is in use
	keys   map[phase0.BLSPubKey]*keystore.Key
	closed bool

	latestMu sync.Mutex
	// latest is each key's latest epoch with a block or attestation in the
	// slashing database, for the long-gap guard; absent means not loaded yet.
	latest map[phase0.BLSPubKey]latestEpoch
}

type latestEpoch struct {
	epoch phase0.Epoch
	known bool // false: the database has nothing for this key
}

type domainKey struct {
	domainType phase0.DomainType
	version    phase0.Version
}

// New checks the options, the chain spec and the slashing database's network
// and returns a Signer. WithSlashingDB and WithChainSpec are mandatory. The
// signer runs no goroutines between calls, so ctx only bounds the network
// check.
func New(ctx context.Context, opts ...Option) (*Signer, error) {
	o := options{clock: time.Now, maxGapEpochs: DefaultMaxGapEpochs}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case o.db == nil && !o.noDB:
		return nil, fmt.Errorf("%w: WithSlashingDB", ErrMissingOption)
	case o.db != nil && o.noDB:
		return nil, fmt.Errorf("%w: WithSlashingDB and WithoutSlashingDB exclude each other", ErrInvalidMessage)
	case o.chain == nil:
		return nil, fmt.Errorf("%w: WithChain", ErrMissingOption)
	case o.clock == nil:
		return nil, fmt.Errorf("%w: WithClock was given a nil clock", ErrMissingOption)
	}
	sp := o.chain.Spec()
	if err := sp.Validate(); err != nil {
		return nil, err
	}
	if err := blsinit.Init(); err != nil {
		return nil, err
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.observer == nil {
		o.observer = nopObserver{}
	}
	if o.workers <= 0 {
		o.workers = runtime.GOMAXPROCS(0)
	}
	if o.noDB {
		o.db = noSlashingDB{}
	}
	// The database records the root and the chain's timing on first use and
	// refuses any other from then on: a signer for another network must not
	// start, nor one whose beacon node shifts the genesis time (and with it the
	// far-future guard's "now", checkFuture). pkg/chain keeps the timing it
	// started with for the rest of the run.
	timing := slashprotect.Timing{GenesisTime: sp.GenesisTime, SlotDuration: sp.SlotDuration, SlotsPerEpoch: sp.SlotsPerEpoch}
	if err := o.db.BindNetwork(ctx, sp.GenesisValidatorsRoot, timing); err != nil {
		switch {
		case errors.Is(err, slashprotect.ErrWrongNetwork):
			return nil, fmt.Errorf("beacon node's genesis validators root %#x is not the slashing database's: "+
				"the node or the database belongs to another network: %w", sp.GenesisValidatorsRoot[:], err)
		case errors.Is(err, slashprotect.ErrWrongTiming):
			return nil, fmt.Errorf("beacon node's genesis time or slot timing is not the slashing database's: %w", err)
		}
		return nil, fmt.Errorf("record the network in the slashing database: %w", err)
	}
	s := &Signer{
		db:           o.db,
		chain:        o.chain,
		now:          o.clock,
		log:          o.log,
		obs:          o.observer,
		maxGapEpochs: o.maxGapEpochs,
		allowLongGap: o.allowLongGap,
		workers:      o.workers,
		domains:      make(map[domainKey]phase0.Domain),
		keys:         make(map[phase0.BLSPubKey]*keystore.Key),
		latest:       make(map[phase0.BLSPubKey]latestEpoch),
	}
	if err := s.AddKeys(o.keys...); err != nil {
		return nil, err
	}
	return s, nil
}

// spec is the chain model now; read it once per message so that a message
// is computed against one consistent spec.
func (s *Signer) spec() *chain.Spec { return s.chain.Spec() }

// domain is get_domain for a domain type at an epoch, using the fork
// schedule. It refuses an epoch at or after a fork vigil cannot name.
func (s *Signer) domain(sp *chain.Spec, dt phase0.DomainType, epoch phase0.Epoch) (phase0.Domain, error) {
	if err := sp.Signable(epoch); err != nil {
		return phase0.Domain{}, err
	}
	return s.domainWithVersion(sp, dt, sp.ForkAt(epoch).Version)
}

func (s *Signer) domainWithVersion(sp *chain.Spec, dt phase0.DomainType, v phase0.Version) (phase0.Domain, error) {
	key := domainKey{dt, v}
	s.domainsMu.RLock()
	dom, ok := s.domains[key]
	s.domainsMu.RUnlock()
	if ok {
		return dom, nil
	}
	dom, err := ComputeDomain(dt, v, sp.GenesisValidatorsRoot)
	if err != nil {
		return phase0.Domain{}, err
	}
	s.domainsMu.Lock()
	s.domains[key] = dom
	s.domainsMu.Unlock()
	return dom, nil
}

// AddKeys hands keys to the signer, which then owns them (it zeroes them on
// removal or Close). A key already held is kept and the duplicate zeroed.
// It fails with ErrKeyMismatch, adding nothing, if any secret does not match
// its pubkey.
func (s *Signer) AddKeys(keys ...*keystore.Key) error {
	for _, k := range keys {
		if k == nil || k.Secret == nil {
			return fmt.Errorf("add keys: %w: nil key", ErrInvalidMessage)
		}
		if keystore.PublicKey(k.Secret) != k.Pubkey {
			return fmt.Errorf("add key %s: %w", pubkey.Short(k.Pubkey), ErrKeyMismatch)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	for _, k := range keys {
		if held, ok := s.keys[k.Pubkey]; ok {
			if held != k {
				k.Zero()
			}
			continue
		}
		s.keys[k.Pubkey] = k
	}
	return nil
}

// RemoveKeys forgets and zeroes the keys with these public keys and returns
// how many were held. It waits for signatures in progress with those keys.
func (s *Signer) RemoveKeys(pubkeys ...phase0.BLSPubKey) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, pk := range pubkeys {
		if k, ok := s.keys[pk]; ok {
			k.Zero()
			delete(s.keys, pk)
			n++
		}
	}
	return n
}

// Pubkeys lists the held public keys in byte order.
func (s *Signer) Pubkeys() []phase0.BLSPubKey {
	s.mu.RLock()
	out := make([]phase0.BLSPubKey, 0, len(s.keys))
	for pk := range s.keys {
		out = append(out, pk)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return out
}

// HasKey reports whether the signer holds the key for pubkey.
func (s *Signer) HasKey(pubkey phase0.BLSPubKey) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	_, ok := s.keys[pubkey]
	return ok
}

// Close zeroes and forgets every key; later calls fail with ErrClosed. It does
// not close the slashing database, which the caller owns.
func (s *Signer) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pk, k := range s.keys {
		k.Zero()
		delete(s.keys, pk)
	}
	s.closed = true
	return nil
}

// refuse builds, logs and counts a refusal by one of the signer's own guards.
func (s *Signer) refuse(kind Kind, pk phase0.BLSPubKey, reason Reason, err error, attrs ...any) *RefusalError {
	return s.refusal(&RefusalError{Kind: kind, Pubkey: pk, Reason: reason, Err: err}, attrs...)
}

func (s *Signer) refusal(r *RefusalError, attrs ...any) *RefusalError {
	s.obs.Refused(r.Kind, r.Reason)
	s.log.Warn("refused to sign", append([]any{"kind", r.Kind, "pubkey", pubkey.Short(r.Pubkey), "reason", r.Reason, "err", r.Err}, attrs...)...)
	return r
}

// refuseVerdict turns a slashprotect refusal into a RefusalError carrying its
// rule. A refused Verdict's Err is always a *slashprotect.Refusal (a zero
// Verdict reads as RuleInvalidRequest): not allowed means not signed.
func (s *Signer) refuseVerdict(kind Kind, pk phase0.BLSPubKey, v slashprotect.Verdict, attrs ...any) *RefusalError {
	err := v.Err()
	rule := slashprotect.RuleInvalidRequest
	var r *slashprotect.Refusal
	if errors.As(err, &r) && r.Rule != slashprotect.RuleNone {
		rule = r.Rule
	}
	return s.refusal(&RefusalError{Kind: kind, Pubkey: pk, Rule: rule, Reason: RuleReason(rule), Err: err}, attrs...)
}

// holds reports whether the signer holds pubkey's key, checked before anything is
// recorded so that a key that is not held leaves no records behind.
func (s *Signer) holds(pk phase0.BLSPubKey) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return false, ErrClosed
	}
	_, ok := s.keys[pk]
	return ok, nil
}

// signRoots signs roots[i] with the key of pubkeys[i] for every i in idx, in
// parallel over the signer's workers, and stores the signature in out[i] or
// the error in errs[i]: ErrUnknownKey for a key removed since it was checked
// (the record stays, the signature is simply not made), ErrClosed. It counts
// nothing; callers decide what is released. The key lock is held for reading
// so no key is zeroed mid-signature.
func (s *Signer) signRoots(pubkeys []phase0.BLSPubKey, roots []phase0.Root, idx []int, out []phase0.BLSSignature, errs []error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.parallel(idx, func(i int) {
		if s.closed {
			errs[i] = ErrClosed
			return
		}
		k, ok := s.keys[pubkeys[i]]
		if !ok {
			errs[i] = ErrUnknownKey
			return
		}
		out[i] = signRoot(k.Secret, roots[i])
	})
}

// parallel runs fn(i) for every i in idx on up to s.workers goroutines.
func (s *Signer) parallel(idx []int, fn func(i int)) {
	workers := min(s.workers, len(idx))
	if workers <= 1 {
		for _, i := range idx {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				j := int(next.Add(1) - 1)
				if j >= len(idx) {
					return
				}
				fn(idx[j])
			}
		})
	}
	wg.Wait()
}

// signRoot is the one place a secret key is used: Sign(sk, signing_root).
func signRoot(sk *bls.SecretKey, root phase0.Root) phase0.BLSSignature {
	var sig phase0.BLSSignature
	copy(sig[:], sk.SignByte(root[:]).Serialize())
	return sig
}

// signSingle signs one root with pubkey's key, counting the outcome; start is
// when the request arrived.
func (s *Signer) signSingle(kind Kind, pk phase0.BLSPubKey, root phase0.Root, start time.Time) (phase0.BLSSignature, error) {
	out := make([]phase0.BLSSignature, 1)
	errs := make([]error, 1)
	s.signRoots([]phase0.BLSPubKey{pk}, []phase0.Root{root}, []int{0}, out, errs)
	if errors.Is(errs[0], ErrUnknownKey) {
		return phase0.BLSSignature{}, s.refuse(kind, pk, ReasonUnknownKey, ErrUnknownKey)
	}
	if errs[0] != nil {
		return phase0.BLSSignature{}, errs[0]
	}
	s.obs.Signed(kind, 1, time.Since(start))
	return out[0], nil
}

type nopObserver struct{}

func (nopObserver) Signed(Kind, int, time.Duration)       {}
func (nopObserver) Refused(Kind, Reason)                  {}
func (nopObserver) Failed(Kind, int)                      {}
func (nopObserver) SlashingDB(Kind, time.Duration, error) {}

// noSlashingDB stands in for the database of a signer built
// WithoutSlashingDB: it refuses every check-and-record, so no block or
// attestation can be signed, and records nothing.
type noSlashingDB struct{}

func (noSlashingDB) CheckAndRecordAttestations(context.Context, []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error) {
	return nil, ErrNoSlashingDB
}

func (noSlashingDB) CheckAndRecordBlock(context.Context, slashprotect.BlockRequest) (slashprotect.Verdict, error) {
	return slashprotect.Verdict{}, ErrNoSlashingDB
}

func (noSlashingDB) BindNetwork(context.Context, phase0.Root, slashprotect.Timing) error { return nil }

func (noSlashingDB) LatestRecords(context.Context, []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error) {
	return nil, ErrNoSlashingDB
}
