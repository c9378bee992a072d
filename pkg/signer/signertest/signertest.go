// Package signertest provides deterministic keys, a settable
// clock and a fault-injecting slashing database for tests of the signer and
// of the packages that use it.
package signertest

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/blsinit"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// GenesisValidatorsRoot is the test chain's genesis validators root.
var GenesisValidatorsRoot = chaintest.GenesisValidatorsRoot

// Key returns the deterministic test key with secret n+1 (big-endian), fast
// to make and distinct for every n.
func Key(t testing.TB, n int) *keystore.Key {
	t.Helper()
	require.NoError(t, blsinit.Init())
	var b [32]byte
	binary.BigEndian.PutUint64(b[24:], uint64(n)+1)
	sk, err := keystore.SecretKeyFromBytes(b[:])
	require.NoError(t, err)
	return &keystore.Key{Info: keystore.Info{Pubkey: keystore.PublicKey(sk), Origin: keystore.OriginGenerated}, Secret: sk}
}

// Keys returns test keys 0 … n-1.
func Keys(t testing.TB, n int) []*keystore.Key {
	keys := make([]*keystore.Key, n)
	for i := range keys {
		keys[i] = Key(t, i)
	}
	return keys
}

// Clock is a settable wall clock for signer.WithClock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// OpenSQLite opens a fresh SQLite slashing database in a temporary directory,
// closed when the test ends.
func OpenSQLite(t testing.TB, root phase0.Root) *slashprotect.DB {
	t.Helper()
	db, err := slashprotect.Open(context.Background(), "sqlite://"+t.TempDir()+"/slashing.db",
		slashprotect.WithGenesisValidatorsRoot(root))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// FaultyDB wraps a slashing database and fails the calls whose error is set,
// without reaching the database.
type FaultyDB struct {
	signer.SlashingDB
	mu                          sync.Mutex
	attErr, blockErr, latestErr error
	attCalls, blockCalls        int
}

// NewFaultyDB wraps db.
func NewFaultyDB(db signer.SlashingDB) *FaultyDB { return &FaultyDB{SlashingDB: db} }

// FailAttestations makes CheckAndRecordAttestations fail with err (nil to stop).
func (f *FaultyDB) FailAttestations(err error) { f.mu.Lock(); f.attErr = err; f.mu.Unlock() }

// FailBlocks makes CheckAndRecordBlock fail with err (nil to stop).
func (f *FaultyDB) FailBlocks(err error) { f.mu.Lock(); f.blockErr = err; f.mu.Unlock() }

// FailLatestRecords makes LatestRecords fail with err (nil to stop).
func (f *FaultyDB) FailLatestRecords(err error) { f.mu.Lock(); f.latestErr = err; f.mu.Unlock() }

// AttestationCalls counts CheckAndRecordAttestations calls.
func (f *FaultyDB) AttestationCalls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.attCalls }

// BlockCalls counts CheckAndRecordBlock calls.
func (f *FaultyDB) BlockCalls() int { f.mu.Lock(); defer f.mu.Unlock(); return f.blockCalls }

// CheckAndRecordAttestations implements signer.SlashingDB.
func (f *FaultyDB) CheckAndRecordAttestations(ctx context.Context, reqs []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error) {
	f.mu.Lock()
	f.attCalls++
	err := f.attErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.SlashingDB.CheckAndRecordAttestations(ctx, reqs)
}

// CheckAndRecordBlock implements signer.SlashingDB.
func (f *FaultyDB) CheckAndRecordBlock(ctx context.Context, req slashprotect.BlockRequest) (slashprotect.Verdict, error) {
	f.mu.Lock()
	f.blockCalls++
	err := f.blockErr
	f.mu.Unlock()
	if err != nil {
		return slashprotect.Verdict{}, err
	}
	return f.SlashingDB.CheckAndRecordBlock(ctx, req)
}

// LatestRecords implements signer.SlashingDB.
func (f *FaultyDB) LatestRecords(ctx context.Context, pks []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error) {
	f.mu.Lock()
	err := f.latestErr
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.SlashingDB.LatestRecords(ctx, pks)
}

// Observer counts what a signer reports, for assertions.
type Observer struct {
	mu       sync.Mutex
	signed   map[signer.Kind]int
	refused  map[signer.Reason]int
	failed   map[signer.Kind]int
	dbCalls  map[signer.Kind]int
	dbErrors int
}

// NewObserver returns an empty Observer.
func NewObserver() *Observer {
	return &Observer{signed: map[signer.Kind]int{}, refused: map[signer.Reason]int{}, failed: map[signer.Kind]int{}, dbCalls: map[signer.Kind]int{}}
}

// Signed implements signer.Observer.
func (o *Observer) Signed(kind signer.Kind, n int, _ time.Duration) {
	o.mu.Lock()
	o.signed[kind] += n
	o.mu.Unlock()
}

// Refused implements signer.Observer.
func (o *Observer) Refused(_ signer.Kind, r signer.Reason) {
	o.mu.Lock()
	o.refused[r]++
	o.mu.Unlock()
}

// Failed implements signer.Observer.
func (o *Observer) Failed(kind signer.Kind, n int) { o.mu.Lock(); o.failed[kind] += n; o.mu.Unlock() }

// SlashingDB implements signer.Observer.
func (o *Observer) SlashingDB(kind signer.Kind, _ time.Duration, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		o.dbErrors++
		return
	}
	o.dbCalls[kind]++
}

// SlashingDBCalls returns how many successful database calls for kind were
// reported, and how many database errors of any kind.
func (o *Observer) SlashingDBCalls(kind signer.Kind) (ok, errs int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dbCalls[kind], o.dbErrors
}

// SignedCount returns how many signatures of kind were reported.
func (o *Observer) SignedCount(kind signer.Kind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.signed[kind]
}

// RefusedCount returns how many refusals for reason were reported.
func (o *Observer) RefusedCount(r signer.Reason) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refused[r]
}

// FailedCount returns how many failures of kind were reported.
func (o *Observer) FailedCount(kind signer.Kind) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.failed[kind]
}
