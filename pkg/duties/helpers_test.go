package duties_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

var genesis = time.Unix(1_700_000_000, 0)

// Test chain (chaintest.Spec): 3 s slots, 8 slots per epoch, Deneb at epoch
// 4, Electra at epoch 5, with a 32-member sync committee so that every member
// aggregates.
const (
	denebEpoch   = phase0.Epoch(4)
	electraEpoch = phase0.Epoch(5)
)

// countingSigner is the real signer (SQLite slashing database) counting the
// batch calls the duties make.
type countingSigner struct {
	*signer.Signer
	attestationCalls atomic.Int64
	calls            atomic.Int64
}

func (c *countingSigner) SignAttestations(ctx context.Context, d []signer.AttestationDuty) ([]signer.AttestationResult, error) {
	c.attestationCalls.Add(1)
	c.calls.Add(1)
	return c.Signer.SignAttestations(ctx, d)
}

func (c *countingSigner) SignSelectionProof(ctx context.Context, pk phase0.BLSPubKey, slot phase0.Slot) (phase0.BLSSignature, error) {
	c.calls.Add(1)
	return c.Signer.SignSelectionProof(ctx, pk, slot)
}

func (c *countingSigner) SignRANDAOReveal(ctx context.Context, pk phase0.BLSPubKey, epoch phase0.Epoch) (phase0.BLSSignature, error) {
	c.calls.Add(1)
	return c.Signer.SignRANDAOReveal(ctx, pk, epoch)
}

type env struct {
	t      *testing.T
	clock  *slotclocktest.Fake
	node   *dutiestest.Node
	signer *countingSigner
	db     *slashprotect.DB
	svc    *duties.Service
	keys   []phase0.BLSPubKey
	cancel context.CancelFunc
	done   chan error
}

type envConfig struct {
	validators int
	startSlot  phase0.Slot
	opts       []duties.Option
	configure  func(n *dutiestest.Node)
	// wrapSigner, when set, puts a test signer in front of the real one.
	wrapSigner func(*countingSigner) duties.Signer
}

func newEnv(t *testing.T, cfg envConfig) *env {
	t.Helper()
	sp := testSpec()
	clock := slotclocktest.NewFake(genesis.Add(time.Duration(cfg.startSlot) * sp.SlotDuration))
	ch := chaintest.Chain(t, sp, clock)
	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	keys := signertest.Keys(t, cfg.validators)
	s, err := signer.New(context.Background(), signer.WithSlashingDB(db), signer.WithChain(ch),
		signer.WithKeys(keys...), signer.WithClock(clock.Now))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	node := dutiestest.New(sp, clock.Now)
	e := &env{t: t, clock: clock, node: node, signer: &countingSigner{Signer: s}, db: db, done: make(chan error, 1)}
	for i, k := range keys {
		e.keys = append(e.keys, k.Pubkey)
		node.Known[k.Pubkey] = phase0.ValidatorIndex(i)
	}
	if cfg.configure != nil {
		cfg.configure(node)
	}
	var sg duties.Signer = e.signer
	if cfg.wrapSigner != nil {
		sg = cfg.wrapSigner(e.signer)
	}
	opts := append([]duties.Option{
		duties.WithBeaconNode(node), duties.WithSigner(sg), duties.WithChain(ch),
		duties.WithFeeRecipient(bellatrix.ExecutionAddress{0xfe}), duties.WithPubkeys(e.keys...),
		duties.WithDoppelgangerEpochs(0), duties.WithLogger(testLogger()),
	}, cfg.opts...)
	e.svc, err = duties.New(opts...)
	require.NoError(t, err)
	return e
}

// testSpec is the tests' chain.
func testSpec() *chain.Spec {
	sp := chaintest.Spec(genesis)
	sp.SyncCommitteeSize = 32
	return sp
}

func (e *env) run() {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	go func() { e.done <- e.svc.Run(ctx) }()
	// Run has fixed its start slot once it subscribes to events.
	e.waitCalls(dutiestest.CallEvents, 1)
	e.t.Cleanup(func() {
		cancel()
		// Let in-flight slot work reach its deadline.
		e.clock.Advance(time.Minute)
		select {
		case <-e.done:
		case <-time.After(10 * time.Second):
			e.t.Error("Run did not return")
		}
	})
}

func (e *env) slotStart(slot phase0.Slot) time.Time {
	return genesis.Add(time.Duration(slot) * 3 * time.Second)
}

// at is the time num/den into slot.
func (e *env) at(slot phase0.Slot, num, den int64) time.Time {
	return e.slotStart(slot).Add(time.Duration(int64(3*time.Second) * num / den))
}

// waitTimer waits until the service sleeps until t.
func (e *env) waitTimer(t time.Time) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.True(e.t, e.clock.WaitForTimer(ctx, t), "service never waited for %s", t.Sub(genesis))
}

// waitKnown waits until the first slot's refresh has resolved every key, so
// that a clock jump that follows cannot race it: the epoch a key is first seen
// in decides which epochs doppelganger protection watches.
func (e *env) waitKnown() {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		for _, v := range e.svc.Validators() {
			if !v.Known {
				return false
			}
		}
		return true
	}, 10*time.Second, 2*time.Millisecond, "keys resolved by the first slot")
}

// waitCalls waits until the node saw n calls of c.
func (e *env) waitCalls(c dutiestest.Call, n int) []dutiestest.Record {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.node.Count(c) >= n }, 10*time.Second, 2*time.Millisecond, "waiting for %d %s", n, c)
	return e.node.Records(c)
}

// settle waits until the service is idle, sleeping until the next timer it set
// (at or after t), so that negative assertions are meaningful.
func (e *env) settle(t time.Time) { e.waitTimer(t) }

// testLogger discards logs unless VIGIL_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("VIGIL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
