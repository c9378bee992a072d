package slashprotect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// DB is a slashing-protection database. It is safe for concurrent use; every
// check-and-record call is one transaction with one durable commit.
type DB struct {
	b   backend
	log *slog.Logger
	// where names the database in errors and logs, without credentials.
	where string

	mu     sync.RWMutex
	closed bool
	// network is the recorded genesis validators root, nil until known.
	network atomic.Pointer[phase0.Root]

	stats counters
	// now is the wall clock, for Import's far-future check.
	now func() time.Time
	// importOnly marks a database opened WithImportBesideSigner: it never
	// decides a signature.
	importOnly bool
}

type options struct {
	log       *slog.Logger
	network   *phase0.Root
	exclusive bool
	beside    bool
	now       func() time.Time
}

// Option configures Open.
type Option func(*options)

// WithLogger sets the logger; refusals are logged at warn level.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithGenesisValidatorsRoot names the network the caller signs for. Open
// records it in a database that has none yet and fails with ErrWrongNetwork
// if the database belongs to another network.
func WithGenesisValidatorsRoot(root phase0.Root) Option {
	return func(o *options) { o.network = &root }
}

// WithClock sets the wall clock Import checks records against; time.Now by
// default.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithExclusiveAccess makes Open fail with ErrInUse unless no other process
// uses the database, and keeps others out until Close. Administrative tools
// (import, export, prune) use it. SQLite databases are always exclusive.
func WithExclusiveAccess() Option {
	return func(o *options) { o.exclusive = true }
}

// WithImportBesideSigner opens a database that a running validator client
// holds, for an import only: keys moved to a running vigil need their history
// first. SQLite is opened without vigil's exclusive file lock (SQLite's own
// locking orders the import's one write transaction with the signer's); on
// PostgreSQL the import's transaction locks the validators table against the
// signer's batches. The returned DB refuses every check-and-record: it is
// not a second signer.
func WithImportBesideSigner() Option {
	return func(o *options) { o.beside = true }
}

// ErrImportOnly refuses a check-and-record on a database opened
// WithImportBesideSigner.
var ErrImportOnly = errors.New("this slashing database handle is for an import beside a running vigil, not for signing")

// Open opens (creating and migrating if needed) the database at url:
// sqlite:///abs/path/file.db or postgres://user@host/db.
func Open(ctx context.Context, rawURL string, opts ...Option) (*DB, error) {
	o := options{log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if o.now == nil {
		return nil, errors.New("slashprotect.WithClock was given a nil clock")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse errors quote the input, which may hold a password.
		return nil, errors.New("slashing database URL is malformed: want sqlite:///abs/path/file.db or postgres://...")
	}
	if o.beside && o.exclusive {
		return nil, errors.New("slashprotect: WithImportBesideSigner and WithExclusiveAccess exclude each other")
	}
	db := &DB{log: o.log, now: o.now, importOnly: o.beside}
	switch u.Scheme {
	case "sqlite":
		if u.Host != "" {
			return nil, fmt.Errorf("slashing database URL sqlite://%s%s: want three slashes and an absolute path, sqlite:///abs/path/file.db", u.Host, u.Path)
		}
		db.where = u.Path
		if db.b, err = openSQLite(ctx, u.Path, !o.beside); err != nil {
			return nil, err
		}
	case "postgres", "postgresql":
		db.where = u.Redacted()
		if db.b, err = openPostgres(ctx, rawURL, db.where, o.exclusive); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("slashing database URL scheme %q: want sqlite or postgres", u.Scheme)
	}
	if err := db.loadNetwork(ctx, o.network); err != nil {
		_ = db.b.close()
		return nil, err
	}
	return db, nil
}

// Close releases the database and its locks.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	return db.b.close()
}

// String names the database without credentials.
func (db *DB) String() string { return db.where }

// use guards a call against Close; the returned func ends the use.
func (db *DB) use() (func(), error) {
	db.mu.RLock()
	if db.closed {
		db.mu.RUnlock()
		return nil, ErrClosed
	}
	return db.mu.RUnlock, nil
}

func (db *DB) loadNetwork(ctx context.Context, want *phase0.Root) error {
	if want != nil {
		return db.SetGenesisValidatorsRoot(ctx, *want)
	}
	root, ok, err := db.GenesisValidatorsRoot(ctx)
	if err != nil {
		return err
	}
	if ok {
		db.network.Store(&root)
	}
	return nil
}

// GenesisValidatorsRoot returns the network the database belongs to; ok is
// false when none has been recorded yet.
func (db *DB) GenesisValidatorsRoot(ctx context.Context) (root phase0.Root, ok bool, err error) {
	done, err := db.use()
	if err != nil {
		return root, false, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return root, false, err
	}
	defer tx.rollback()
	v, ok, err := tx.getMeta(ctx, metaGenesisRoot)
	if err != nil || !ok {
		return root, false, err
	}
	copy(root[:], v)
	return root, true, nil
}

// SetGenesisValidatorsRoot records root as the database's network if it has
// none, and fails with ErrWrongNetwork if it has another.
func (db *DB) SetGenesisValidatorsRoot(ctx context.Context, root phase0.Root) error {
	done, err := db.use()
	if err != nil {
		return err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeExclusive)
	if err != nil {
		return err
	}
	defer tx.rollback()
	if err := checkOrSetNetwork(ctx, tx, root); err != nil {
		return err
	}
	if err := tx.commit(ctx); err != nil {
		return fmt.Errorf("record genesis validators root in %s: %w", db.where, err)
	}
	db.network.Store(&root)
	return nil
}

func checkOrSetNetwork(ctx context.Context, tx storeTx, root phase0.Root) error {
	v, ok, err := tx.getMeta(ctx, metaGenesisRoot)
	if err != nil {
		return err
	}
	if !ok {
		return tx.setMeta(ctx, metaGenesisRoot, root[:])
	}
	if !bytes.Equal(v, root[:]) {
		return fmt.Errorf("slashing database records genesis validators root %#x, not %#x: %w", v, root[:], ErrWrongNetwork)
	}
	return nil
}

func (db *DB) requireNetwork() error {
	if db.network.Load() == nil {
		return fmt.Errorf("%w: open it WithGenesisValidatorsRoot or import an interchange file first", ErrNetworkUnknown)
	}
	return nil
}

// sortedPubkeys returns the distinct keys in byte order: the lock order.
func sortedPubkeys(n int, key func(int) phase0.BLSPubKey) []phase0.BLSPubKey {
	out := make([]phase0.BLSPubKey, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, key(i))
	}
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// CheckAndRecordAttestations decides every request in order, records the
// allowed ones and commits durably before returning: one transaction, one
// commit, one verdict per request. A refusal does not affect other requests.
// An error means nothing was decided and nothing may be signed.
func (db *DB) CheckAndRecordAttestations(ctx context.Context, reqs []AttestationRequest) ([]Verdict, error) {
	if len(reqs) == 0 {
		return nil, nil
	}
	pubkeys := sortedPubkeys(len(reqs), func(i int) phase0.BLSPubKey { return reqs[i].Pubkey })
	verdicts := make([]Verdict, len(reqs))
	err := db.checkAndRecord(ctx, pubkeys, func(tx storeTx, states map[phase0.BLSPubKey]*validatorState) error {
		qs := make([]attQuery, len(reqs))
		for i, r := range reqs {
			qs[i] = attQuery{validatorID: states[r.Pubkey].id, source: r.SourceEpoch, target: r.TargetEpoch}
		}
		facts, err := tx.attestationFacts(ctx, qs)
		if err != nil {
			return err
		}
		var rows []attRow
		for i, r := range reqs {
			v := states[r.Pubkey]
			verdicts[i] = evaluateAttestation(r, facts[i], v)
			if verdicts[i].Allowed && !verdicts[i].Repeat {
				rows = append(rows, attRow{validatorID: v.id, att: v.batchAtts[len(v.batchAtts)-1]})
			}
		}
		return tx.insertAttestations(ctx, rows)
	})
	if err != nil {
		return nil, fmt.Errorf("check and record %d attestations in %s: %w", len(reqs), db.where, err)
	}
	for _, v := range verdicts {
		db.count(v)
	}
	return verdicts, nil
}

// CheckAndRecordBlock decides one block proposal and, if allowed, records it
// durably before returning. An error means nothing may be signed.
func (db *DB) CheckAndRecordBlock(ctx context.Context, req BlockRequest) (Verdict, error) {
	var verdict Verdict
	err := db.checkAndRecord(ctx, []phase0.BLSPubKey{req.Pubkey}, func(tx storeTx, states map[phase0.BLSPubKey]*validatorState) error {
		v := states[req.Pubkey]
		facts, err := tx.blockFacts(ctx, []blockQuery{{validatorID: v.id, slot: req.Slot}})
		if err != nil {
			return err
		}
		verdict = evaluateBlock(req, facts[0], v)
		if !verdict.Allowed || verdict.Repeat {
			return nil
		}
		return tx.insertBlocks(ctx, []blockRow{{validatorID: v.id, block: v.batchBlocks[0]}})
	})
	if err != nil {
		return Verdict{}, fmt.Errorf("check and record block in %s: %w", db.where, err)
	}
	db.count(verdict)
	return verdict, nil
}

// checkAndRecord runs decide inside a transaction holding the validators'
// locks (taken in pubkey order, so concurrent batches cannot deadlock), saves
// changed watermarks and commits. Only after commit returns may a caller sign.
func (db *DB) checkAndRecord(ctx context.Context, pubkeys []phase0.BLSPubKey, decide func(storeTx, map[phase0.BLSPubKey]*validatorState) error) error {
	if db.importOnly {
		return ErrImportOnly
	}
	done, err := db.use()
	if err != nil {
		return err
	}
	defer done()
	if err := db.requireNetwork(); err != nil {
		return err
	}
	if err := db.b.ensureValidators(ctx, pubkeys); err != nil {
		return err
	}
	tx, err := db.b.begin(ctx, modeCheck)
	if err != nil {
		return err
	}
	defer tx.rollback()
	locked, err := tx.lockValidators(ctx, pubkeys)
	if err != nil {
		return err
	}
	states := make(map[phase0.BLSPubKey]*validatorState, len(locked))
	for _, v := range locked {
		states[v.pubkey] = v
	}
	if err := decide(tx, states); err != nil {
		return err
	}
	var dirty []*validatorState
	for _, v := range locked {
		if v.wmDirty {
			dirty = append(dirty, v)
		}
	}
	if err := tx.saveWatermarks(ctx, dirty); err != nil {
		return err
	}
	return tx.commit(ctx)
}

// counters count verdicts by outcome, for metrics.
type counters struct {
	allowed, repeats atomic.Uint64
	// refused is indexed by Rule.
	refused [RuleDoubleBlock + 1]atomic.Uint64
}

// Stats counts the verdicts this DB has returned since Open.
type Stats struct {
	Allowed uint64
	Repeats uint64
	// Refused counts refusals by rule, every rule of Rules() present.
	Refused map[Rule]uint64
}

func (db *DB) count(v Verdict) {
	c := &db.stats
	if v.Allowed {
		c.allowed.Add(1)
		if v.Repeat {
			c.repeats.Add(1)
		}
		return
	}
	var r *Refusal
	if !errors.As(v.Err(), &r) || int(r.Rule) >= len(c.refused) {
		return
	}
	c.refused[r.Rule].Add(1)
	db.log.Warn("slashing protection refused a message", "rule", r.Rule.String(), "detail", r.Detail)
}

// Stats returns the verdict counters.
func (db *DB) Stats() Stats {
	c := &db.stats
	out := Stats{Allowed: c.allowed.Load(), Repeats: c.repeats.Load(), Refused: make(map[Rule]uint64)}
	for _, r := range Rules() {
		out.Refused[r] = c.refused[r].Load()
	}
	return out
}
