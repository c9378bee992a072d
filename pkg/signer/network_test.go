package signer_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// TestNetworkTimingBound: the first signer records its beacon node's genesis
// time and slot timing beside the genesis validators root; a later node that
// reports another genesis time (which would move the far-future guard's
// "now") is refused at start.
func TestNetworkTimingBound(t *testing.T) {
	ctx := context.Background()
	sp := *chaintest.Spec(genesis)
	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	start := func(spec chain.Spec) error {
		s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(spec)), signer.WithLogger(slog.New(slog.DiscardHandler)))
		if err == nil {
			require.NoError(t, s.Close())
		}
		return err
	}
	require.NoError(t, start(sp))
	timing, ok, err := db.Timing(ctx)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, genesis.Unix(), timing.GenesisTime.Unix())
	require.Equal(t, sp.SlotDuration, timing.SlotDuration)
	require.Equal(t, sp.SlotsPerEpoch, timing.SlotsPerEpoch)
	require.NoError(t, start(sp), "the same node again")

	shifted := sp
	shifted.GenesisTime = genesis.Add(-time.Duration(100*sp.SlotsPerEpoch) * sp.SlotDuration)
	err = start(shifted)
	require.ErrorIs(t, err, slashprotect.ErrWrongTiming)
	require.ErrorContains(t, err, "beacon node's genesis time or slot timing is not the slashing database's")
	require.ErrorContains(t, err, "check the beacon node")

	other := sp
	other.GenesisValidatorsRoot = phase0.Root{0x77}
	require.ErrorIs(t, start(other), slashprotect.ErrWrongNetwork)
}

// latestCounter counts LatestRecords calls and the keys asked for.
type latestCounter struct {
	signer.SlashingDB
	mu          sync.Mutex
	calls, keys int
}

func (c *latestCounter) LatestRecords(ctx context.Context, pks []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error) {
	c.mu.Lock()
	c.calls++
	c.keys += len(pks)
	c.mu.Unlock()
	return c.SlashingDB.LatestRecords(ctx, pks)
}

func (c *latestCounter) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls, c.keys
}

// TestLatestRecordsInOneQuery: the long-gap guard loads the latest records of
// every key a batch brings, in one query, once per key; LatestBlock asks for
// its key alone.
func TestLatestRecordsInOneQuery(t *testing.T) {
	ctx := context.Background()
	var counter *latestCounter
	e := newEnv(t, envConfig{keys: 4, wrap: func(db signer.SlashingDB) signer.SlashingDB {
		counter = &latestCounter{SlashingDB: db}
		return counter
	}})
	e.at(16)
	duties := make([]signer.AttestationDuty, len(e.pks))
	for i, pk := range e.pks {
		duties[i] = signer.AttestationDuty{Pubkey: pk, Data: att(e.spec, 16, 1, 1)}
	}
	res, err := e.s.SignAttestations(ctx, duties)
	require.NoError(t, err)
	for _, r := range res {
		require.NoError(t, r.Err)
	}
	calls, keys := counter.counts()
	require.Equal(t, 1, calls)
	require.Equal(t, 4, keys)

	e.at(24)
	for i := range duties {
		duties[i].Data = att(e.spec, 24, 2, 2)
	}
	_, err = e.s.SignAttestations(ctx, duties)
	require.NoError(t, err)
	calls, _ = counter.counts()
	require.Equal(t, 1, calls, "keys already loaded are not read again")

	_, err = e.s.SignBeaconBlock(ctx, e.pks[0], allForks()[3].full(26))
	require.NoError(t, err)
	latest, ok, err := e.s.LatestBlock(ctx, e.pks[0])
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, phase0.Slot(26), latest)
	_, ok, err = e.s.LatestBlock(ctx, e.pks[1])
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = e.s.LatestBlock(ctx, phase0.BLSPubKey{0x99})
	require.NoError(t, err)
	require.False(t, ok, "a key the database does not know has no block")
	calls, keys = counter.counts()
	require.Equal(t, 4, calls)
	require.Equal(t, 7, keys)
}

// TestGuardRefusalsCarryNoRule: a refusal by the signer's own guards names no
// slashing-protection rule and keeps its own reason.
func TestGuardRefusalsCarryNoRule(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{})
	e.at(16)
	_, err := e.s.SignAttestation(ctx, e.pks[0], att(e.spec, phase0.Slot(16+3*e.spec.SlotsPerEpoch), 1, 1))
	var refusal *signer.RefusalError
	require.ErrorAs(t, err, &refusal)
	require.Equal(t, slashprotect.RuleNone, refusal.Rule)
	require.Equal(t, signer.ReasonFuture, refusal.Reason)
	for _, r := range slashprotect.Rules() {
		for _, own := range []signer.Reason{signer.ReasonFuture, signer.ReasonLongGap, signer.ReasonUnknownKey, signer.ReasonInvalidMessage, signer.ReasonForkMismatch} {
			require.NotEqual(t, signer.RuleReason(r), own, "one name per reason")
		}
	}
}
