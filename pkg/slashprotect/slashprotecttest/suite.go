// Package slashprotecttest holds the conformance suite every slashprotect
// backend must pass, a brute-force reference model of the rules, and helpers
// for tests that drive a slashing-protection database.
package slashprotecttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// Network is the genesis validators root the suite's databases belong to.
var Network = Root(0xee)

// NetworkTiming is the clock of the suite's network: a genesis long enough ago
// (mainnet's) that every epoch the tests use lies in the past.
func NetworkTiming() slashprotect.Timing {
	return slashprotect.Timing{GenesisTime: time.Unix(1606824023, 0).UTC(), SlotDuration: 12 * time.Second, SlotsPerEpoch: 32}
}

// PK returns a distinct test public key for n.
func PK(n int) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	pk[0] = 0xa0
	pk[1], pk[2], pk[47] = byte(n>>8), byte(n), byte(n)
	return pk
}

// Root returns a distinct test signing root for n.
func Root(n int) phase0.Root {
	var r phase0.Root
	r[0], r[1], r[31] = 0x5a, byte(n>>8), byte(n)
	return r
}

// Att builds an attestation request.
func Att(pk phase0.BLSPubKey, source, target uint64, root int) slashprotect.AttestationRequest {
	return slashprotect.AttestationRequest{Pubkey: pk, SourceEpoch: phase0.Epoch(source), TargetEpoch: phase0.Epoch(target), SigningRoot: Root(root)}
}

// Block builds a block request.
func Block(pk phase0.BLSPubKey, slot uint64, root int) slashprotect.BlockRequest {
	return slashprotect.BlockRequest{Pubkey: pk, Slot: phase0.Slot(slot), SigningRoot: Root(root)}
}

// Config describes the backend under test.
type Config struct {
	// NewURL returns the URL of a new, empty database.
	NewURL func(t testing.TB) string
	// PropertySteps is how many random requests the property test sends.
	PropertySteps int
}

// Run runs the conformance suite.
func Run(t *testing.T, cfg Config) {
	s := &suite{cfg: cfg}
	t.Run("AttestationRules", s.testAttestationRules)
	t.Run("BlockRules", s.testBlockRules)
	t.Run("Batches", s.testBatches)
	t.Run("Network", s.testNetwork)
	t.Run("Interchange", s.testInterchange)
	t.Run("InterchangeErrors", s.testInterchangeErrors)
	t.Run("ExportRoundTrip", s.testExportRoundTrip)
	t.Run("ExportMinimal", s.testExportMinimal)
	t.Run("Prune", s.testPrune)
	t.Run("History", s.testHistory)
	t.Run("Persistence", s.testPersistence)
	t.Run("Property", s.testProperty)
	t.Run("ConcurrentGoroutines", s.testConcurrent)
	t.Run("IrregularRecords", s.testIrregular)
	t.Run("FarFuture", s.testFarFuture)
	t.Run("BindNetwork", s.testBindNetwork)
	t.Run("ExportFresh", s.testExportFresh)
	t.Run("LatestRecords", s.testLatestRecords)
	t.Run("PruneOnline", s.testPruneOnline)
	t.Run("PruneOnlineRace", s.testPruneOnlineRace)
	t.Run("Stats", s.testStats)
}

type suite struct{ cfg Config }

// open opens a fresh database bound to the network and its timing, as a
// signer leaves it.
func (s *suite) open(t *testing.T, opts ...slashprotect.Option) (*slashprotect.DB, string) {
	t.Helper()
	url := s.cfg.NewURL(t)
	db, err := slashprotect.Open(context.Background(), url, append([]slashprotect.Option{slashprotect.WithGenesisValidatorsRoot(Network)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, db.BindNetwork(context.Background(), Network, NetworkTiming()))
	return db, url
}

// Step is one request and the verdict it must get: Want nil means allowed.
type Step struct {
	Att    *slashprotect.AttestationRequest
	Block  *slashprotect.BlockRequest
	Want   error
	Repeat bool
}

// A and B make attestation and block steps.
func A(req slashprotect.AttestationRequest, want error) Step { return Step{Att: &req, Want: want} }

// B makes a block step.
func B(req slashprotect.BlockRequest, want error) Step { return Step{Block: &req, Want: want} }

// Rep marks a step as an allowed repeat.
func Rep(s Step) Step { s.Repeat = true; return s }

// CheckSteps sends each step on its own and checks its verdict.
func CheckSteps(t *testing.T, db *slashprotect.DB, steps []Step) {
	t.Helper()
	ctx := context.Background()
	for i, st := range steps {
		var v slashprotect.Verdict
		var err error
		if st.Att != nil {
			var vs []slashprotect.Verdict
			vs, err = db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{*st.Att})
			if err == nil {
				require.Len(t, vs, 1)
				v = vs[0]
			}
		} else {
			v, err = db.CheckAndRecordBlock(ctx, *st.Block)
		}
		require.NoError(t, err, "step %d", i)
		checkVerdict(t, fmt.Sprintf("step %d", i), v, st.Want, st.Repeat)
	}
}

func checkVerdict(t *testing.T, what string, v slashprotect.Verdict, want error, repeat bool) {
	t.Helper()
	if want == nil {
		require.True(t, v.Allowed, "%s: want allowed, got %v", what, v.Err())
		require.Equal(t, repeat, v.Repeat, "%s: repeat", what)
		return
	}
	require.False(t, v.Allowed, "%s: want %v, got allowed", what, want)
	require.ErrorIs(t, v.Err(), want, "%s", what)
	require.NotNil(t, v.Refusal)
}

func (s *suite) testAttestationRules(t *testing.T) {
	pk := PK(1)
	cases := []struct {
		name  string
		steps []Step
	}{
		{"first attestation", []Step{A(Att(pk, 1, 2, 1), nil)}},
		{"genesis attestation", []Step{
			A(Att(pk, 0, 0, 1), nil), Rep(A(Att(pk, 0, 0, 1), nil)), A(Att(pk, 0, 0, 2), slashprotect.ErrDoubleVote), A(Att(pk, 0, 1, 3), nil),
		}},
		{"repeat is idempotent", []Step{A(Att(pk, 1, 2, 1), nil), Rep(A(Att(pk, 1, 2, 1), nil)), Rep(A(Att(pk, 1, 2, 1), nil))}},
		{"double vote", []Step{A(Att(pk, 1, 2, 1), nil), A(Att(pk, 1, 2, 2), slashprotect.ErrDoubleVote)}},
		{"double vote with other source", []Step{A(Att(pk, 0, 1, 1), nil), A(Att(pk, 1, 3, 2), nil), A(Att(pk, 2, 3, 3), slashprotect.ErrDoubleVote)}},
		{"source after target", []Step{A(Att(pk, 3, 2, 1), slashprotect.ErrSourceAfterTarget)}},
		{"source equals target after genesis", []Step{
			A(Att(pk, 5, 5, 1), slashprotect.ErrSourceEqualsTarget), A(Att(pk, 1, 1, 1), slashprotect.ErrSourceEqualsTarget),
			// Nothing was recorded: the honest votes it would have blocked as surrounds pass.
			A(Att(pk, 4, 6, 2), nil), A(Att(pk, 6, 7, 3), nil),
		}},
		{"new surrounds recorded", []Step{A(Att(pk, 0, 1, 0), nil), A(Att(pk, 2, 3, 1), nil), A(Att(pk, 1, 4, 2), slashprotect.ErrSurroundVote)}},
		{"recorded surrounds new", []Step{A(Att(pk, 0, 1, 0), nil), A(Att(pk, 1, 6, 1), nil), A(Att(pk, 2, 5, 2), slashprotect.ErrSurroundedVote)}},
		{"target at watermark", []Step{A(Att(pk, 5, 10, 1), nil), A(Att(pk, 6, 10, 2), slashprotect.ErrDoubleVote), A(Att(pk, 6, 9, 3), slashprotect.ErrBelowWatermark)}},
		{"source below watermark", []Step{A(Att(pk, 5, 10, 1), nil), A(Att(pk, 4, 11, 2), slashprotect.ErrBelowWatermark)}},
		{"lower target not slashable is still refused", []Step{A(Att(pk, 5, 10, 1), nil), A(Att(pk, 5, 9, 2), slashprotect.ErrBelowWatermark)}},
		{"adjacent votes", []Step{A(Att(pk, 0, 1, 1), nil), A(Att(pk, 1, 2, 2), nil), A(Att(pk, 2, 3, 3), nil), A(Att(pk, 3, 4, 4), nil)}},
		{"equal sources do not surround", []Step{A(Att(pk, 0, 1, 1), nil), A(Att(pk, 2, 5, 2), nil), A(Att(pk, 2, 6, 3), nil), A(Att(pk, 2, 4, 4), nil)}},
		{"equal targets only double vote", []Step{A(Att(pk, 0, 1, 1), nil), A(Att(pk, 3, 5, 2), nil), A(Att(pk, 1, 5, 3), slashprotect.ErrDoubleVote)}},
		{"skipped epochs", []Step{A(Att(pk, 10, 20, 1), nil), A(Att(pk, 20, 30, 2), nil), A(Att(pk, 15, 25, 3), nil), A(Att(pk, 21, 29, 4), slashprotect.ErrSurroundedVote)}},
		{"epoch beyond storage", []Step{A(Att(pk, 1, math.MaxInt64+1, 1), slashprotect.ErrInvalidRequest)}},
		{"largest storable epoch", []Step{A(Att(pk, 1, math.MaxInt64, 1), nil)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			CheckSteps(t, db, c.steps)
		})
	}
}

func (s *suite) testBlockRules(t *testing.T) {
	pk := PK(2)
	cases := []struct {
		name  string
		steps []Step
	}{
		{"first block", []Step{B(Block(pk, 10, 1), nil)}},
		{"genesis slot", []Step{B(Block(pk, 0, 1), nil), B(Block(pk, 0, 2), slashprotect.ErrDoubleBlock), B(Block(pk, 1, 3), nil)}},
		{"repeat is idempotent", []Step{B(Block(pk, 10, 1), nil), Rep(B(Block(pk, 10, 1), nil))}},
		{"double block", []Step{B(Block(pk, 10, 1), nil), B(Block(pk, 10, 2), slashprotect.ErrDoubleBlock)}},
		{"below first block", []Step{B(Block(pk, 10, 1), nil), B(Block(pk, 9, 2), slashprotect.ErrBelowWatermark)}},
		{"between blocks", []Step{B(Block(pk, 10, 1), nil), B(Block(pk, 20, 2), nil), B(Block(pk, 15, 3), nil)}},
		{"slot beyond storage", []Step{B(Block(pk, math.MaxInt64+1, 1), slashprotect.ErrInvalidRequest)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			CheckSteps(t, db, c.steps)
		})
	}
}

func (s *suite) testBatches(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		before  []slashprotect.AttestationRequest
		batch   []slashprotect.AttestationRequest
		want    []error
		repeats []bool
	}{
		{
			name:  "one refusal does not block others",
			batch: []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1), Att(PK(2), 3, 2, 1), Att(PK(3), 1, 2, 1)},
			want:  []error{nil, slashprotect.ErrSourceAfterTarget, nil},
		},
		{
			name:   "conflicts with earlier records",
			before: []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1), Att(PK(2), 1, 2, 1)},
			batch:  []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 2), Att(PK(2), 2, 3, 2), Att(PK(1), 1, 2, 1)},
			want:   []error{slashprotect.ErrDoubleVote, nil, nil}, repeats: []bool{false, false, true},
		},
		{
			name:  "double vote within the batch",
			batch: []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1), Att(PK(1), 1, 2, 2)},
			want:  []error{nil, slashprotect.ErrDoubleVote},
		},
		{
			name:  "repeat within the batch",
			batch: []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1), Att(PK(1), 1, 2, 1)},
			want:  []error{nil, nil}, repeats: []bool{false, true},
		},
		{
			name:  "surrounds within the batch",
			batch: []slashprotect.AttestationRequest{Att(PK(1), 0, 1, 0), Att(PK(1), 2, 3, 1), Att(PK(1), 1, 4, 2), Att(PK(1), 3, 8, 3), Att(PK(1), 4, 7, 4)},
			want:  []error{nil, nil, slashprotect.ErrSurroundVote, nil, slashprotect.ErrSurroundedVote},
		},
		{
			name:  "watermark set within the batch",
			batch: []slashprotect.AttestationRequest{Att(PK(1), 5, 6, 1), Att(PK(1), 4, 7, 2), Att(PK(1), 5, 7, 3)},
			want:  []error{nil, slashprotect.ErrBelowWatermark, nil},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			if len(c.before) > 0 {
				_, err := db.CheckAndRecordAttestations(ctx, c.before)
				require.NoError(t, err)
			}
			vs, err := db.CheckAndRecordAttestations(ctx, c.batch)
			require.NoError(t, err)
			require.Len(t, vs, len(c.batch))
			for i, v := range vs {
				checkVerdict(t, fmt.Sprintf("request %d", i), v, c.want[i], c.repeats != nil && c.repeats[i])
			}
		})
	}
	t.Run("empty batch", func(t *testing.T) {
		db, _ := s.open(t)
		vs, err := db.CheckAndRecordAttestations(ctx, nil)
		require.NoError(t, err)
		require.Empty(t, vs)
	})
	t.Run("refusals in a mixed batch name the recorded witness", func(t *testing.T) {
		db, _ := s.open(t)
		_, err := db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{
			Att(PK(1), 0, 1, 1), Att(PK(1), 1, 6, 2), Att(PK(2), 0, 1, 3), Att(PK(2), 2, 3, 4), Att(PK(4), 1, 2, 5),
		})
		require.NoError(t, err)
		batch := []slashprotect.AttestationRequest{
			Att(PK(3), 0, 1, 6), // new validator
			Att(PK(1), 2, 5, 7), // surrounded by (1, 6)
			Att(PK(2), 1, 4, 8), // surrounds (2, 3)
			Att(PK(4), 1, 2, 9), // double vote with (1, 2)
			Att(PK(4), 2, 3, 10),
		}
		vs, err := db.CheckAndRecordAttestations(ctx, batch)
		require.NoError(t, err)
		want := []struct {
			rule    error
			witness *slashprotect.SignedAttestation
		}{
			{nil, nil},
			{slashprotect.ErrSurroundedVote, signed(1, 6, 2)},
			{slashprotect.ErrSurroundVote, signed(2, 3, 4)},
			{slashprotect.ErrDoubleVote, signed(1, 2, 5)},
			{nil, nil},
		}
		for i, w := range want {
			checkVerdict(t, fmt.Sprintf("request %d", i), vs[i], w.rule, false)
			if w.rule != nil {
				require.Equal(t, w.witness, vs[i].Refusal.Attestation, "request %d", i)
			}
		}
	})
	t.Run("refusal names the conflicting record", func(t *testing.T) {
		db, _ := s.open(t)
		CheckSteps(t, db, []Step{A(Att(PK(1), 1, 2, 1), nil)})
		vs, err := db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 9)})
		require.NoError(t, err)
		var r *slashprotect.Refusal
		require.ErrorAs(t, vs[0].Err(), &r)
		require.NotNil(t, r.Attestation)
		require.Equal(t, phase0.Epoch(2), r.Attestation.TargetEpoch)
		require.Equal(t, Root(1), *r.Attestation.SigningRoot)
		require.Contains(t, r.Error(), "double vote")
	})
}

func signed(source, target uint64, root int) *slashprotect.SignedAttestation {
	r := Root(root)
	return &slashprotect.SignedAttestation{SourceEpoch: phase0.Epoch(source), TargetEpoch: phase0.Epoch(target), SigningRoot: &r}
}

// requireWitness checks that a double or surround refusal names a record
// that really conflicts with the request under the rule it names.
func requireWitness(t *testing.T, req slashprotect.AttestationRequest, v slashprotect.Verdict) {
	t.Helper()
	var r *slashprotect.Refusal
	if !errors.As(v.Err(), &r) {
		return
	}
	rec := r.Attestation
	switch {
	case errors.Is(r, slashprotect.ErrDoubleVote):
		require.NotNil(t, rec, "%v", r)
		require.Equal(t, req.TargetEpoch, rec.TargetEpoch, "%v", r)
		require.False(t, rec.SigningRoot != nil && *rec.SigningRoot == req.SigningRoot, "%v", r)
	case errors.Is(r, slashprotect.ErrSurroundedVote):
		require.NotNil(t, rec, "%v", r)
		require.True(t, rec.SourceEpoch < req.SourceEpoch && req.TargetEpoch < rec.TargetEpoch, "%v", r)
	case errors.Is(r, slashprotect.ErrSurroundVote):
		require.NotNil(t, rec, "%v", r)
		require.True(t, req.SourceEpoch < rec.SourceEpoch && rec.TargetEpoch < req.TargetEpoch, "%v", r)
	}
}

func (s *suite) testNetwork(t *testing.T) {
	ctx := context.Background()
	t.Run("unknown network refuses to decide", func(t *testing.T) {
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t))
		require.NoError(t, err)
		defer db.Close()
		_, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.False(t, ok)
		_, err = db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1)})
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		_, err = db.CheckAndRecordBlock(ctx, Block(PK(1), 1, 1))
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		require.NoError(t, db.SetGenesisValidatorsRoot(ctx, Network))
		_, err = db.CheckAndRecordBlock(ctx, Block(PK(1), 1, 1))
		require.NoError(t, err)
	})
	t.Run("recorded on first use and checked after", func(t *testing.T) {
		url := s.cfg.NewURL(t)
		db, err := slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(Network))
		require.NoError(t, err)
		root, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, Network, root)
		require.ErrorIs(t, db.SetGenesisValidatorsRoot(ctx, Root(1)), slashprotect.ErrWrongNetwork)
		require.NoError(t, db.SetGenesisValidatorsRoot(ctx, Network))
		require.NoError(t, db.Close())

		_, err = slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(Root(1)))
		require.ErrorIs(t, err, slashprotect.ErrWrongNetwork)
		db, err = slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(Network))
		require.NoError(t, err)
		require.NoError(t, db.Close())
	})
	t.Run("closed", func(t *testing.T) {
		db, _ := s.open(t)
		require.NoError(t, db.Close())
		_, err := db.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{Att(PK(1), 1, 2, 1)})
		require.ErrorIs(t, err, slashprotect.ErrClosed)
		require.NoError(t, db.Close())
	})
}

func (s *suite) testHistory(t *testing.T) {
	ctx := context.Background()
	db, _ := s.open(t)
	pk := PK(7)
	CheckSteps(t, db, []Step{A(Att(pk, 1, 2, 1), nil), A(Att(pk, 2, 3, 2), nil), A(Att(pk, 3, 4, 3), nil), B(Block(pk, 70, 1), nil), B(Block(pk, 80, 2), nil)})
	h, err := db.History(ctx, pk, 2)
	require.NoError(t, err)
	require.Equal(t, 3, h.TotalAttestations)
	require.Equal(t, 2, h.TotalBlocks)
	require.Len(t, h.Attestations, 2)
	require.Equal(t, phase0.Epoch(4), h.Attestations[0].TargetEpoch)
	require.Equal(t, phase0.Slot(80), h.Blocks[0].Slot)
	require.Equal(t, phase0.Epoch(1), *h.Watermarks.AttestationSource)
	require.Equal(t, phase0.Epoch(2), *h.Watermarks.AttestationTarget)
	require.Equal(t, phase0.Slot(70), *h.Watermarks.BlockSlot)
	_, err = db.History(ctx, PK(99), 0)
	require.ErrorIs(t, err, slashprotect.ErrUnknownValidator)
	keys, err := db.Validators(ctx)
	require.NoError(t, err)
	require.Equal(t, []phase0.BLSPubKey{pk}, keys)
}

func (s *suite) testPersistence(t *testing.T) {
	ctx := context.Background()
	url := s.cfg.NewURL(t)
	db, err := slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(Network))
	require.NoError(t, err)
	CheckSteps(t, db, []Step{A(Att(PK(1), 1, 2, 1), nil), B(Block(PK(1), 5, 1), nil)})
	require.NoError(t, db.Close())
	db, err = slashprotect.Open(ctx, url)
	require.NoError(t, err)
	defer db.Close()
	CheckSteps(t, db, []Step{
		A(Att(PK(1), 1, 2, 2), slashprotect.ErrDoubleVote), Rep(A(Att(PK(1), 1, 2, 1), nil)),
		B(Block(PK(1), 5, 2), slashprotect.ErrDoubleBlock),
	})
}

func (s *suite) testPrune(t *testing.T) {
	ctx := context.Background()
	db, _ := s.open(t)
	pk := PK(3)
	var steps []Step
	for e := uint64(0); e < 100; e++ {
		steps = append(steps, A(Att(pk, e, e+1, int(e)), nil))
	}
	for e := uint64(0); e < 20; e++ {
		steps = append(steps, B(Block(pk, e*32, int(e)), nil))
	}
	CheckSteps(t, db, steps)
	rep, err := db.Prune(ctx, slashprotect.PruneOptions{KeepEpochs: 10})
	require.NoError(t, err)
	// Latest target 100, keep targets >= 90; latest slot 608, keep slots >= 288.
	require.Equal(t, int64(89), rep.Attestations)
	require.Equal(t, int64(9), rep.Blocks)
	h, err := db.History(ctx, pk, 0)
	require.NoError(t, err)
	require.Equal(t, 11, h.TotalAttestations)
	require.Equal(t, 11, h.TotalBlocks)
	require.Equal(t, phase0.Epoch(89), *h.Watermarks.AttestationTarget)
	require.Equal(t, phase0.Epoch(88), *h.Watermarks.AttestationSource)
	require.Equal(t, phase0.Slot(256), *h.Watermarks.BlockSlot)
	CheckSteps(t, db, []Step{
		// Pruned messages, even identical ones, are refused: the watermark took their place.
		A(Att(pk, 50, 51, 50), slashprotect.ErrBelowWatermark),
		A(Att(pk, 88, 89, 999), slashprotect.ErrBelowWatermark),
		// A vote surrounding a pruned one (source 88) is refused by the source watermark.
		A(Att(pk, 87, 105, 999), slashprotect.ErrBelowWatermark),
		Rep(A(Att(pk, 95, 96, 95), nil)),
		A(Att(pk, 95, 96, 999), slashprotect.ErrDoubleVote),
		A(Att(pk, 100, 101, 100), nil),
		B(Block(pk, 256, 8), slashprotect.ErrBelowWatermark),
		B(Block(pk, 100, 1), slashprotect.ErrBelowWatermark),
		Rep(B(Block(pk, 288, 9), nil)),
		B(Block(pk, 609, 1), nil),
	})
	// Pruning again with the same horizon removes only what the new records pushed out.
	rep, err = db.Prune(ctx, slashprotect.PruneOptions{KeepEpochs: 10})
	require.NoError(t, err)
	require.Equal(t, int64(1), rep.Attestations)
}

// testProperty sends random requests and, now and then, imports random
// interchange data (records with source after target or equal to it among
// them, with and without signing roots), compares every verdict with the
// reference model, and checks that no allowed message is slashable with any
// recorded one.
func (s *suite) testProperty(t *testing.T) {
	steps := s.cfg.PropertySteps
	if steps == 0 {
		steps = 300
	}
	for _, seed := range []uint64{1, 2, 3, 4} {
		t.Run(fmt.Sprintf("seed %d", seed), func(t *testing.T) {
			ctx := context.Background()
			db, _ := s.open(t)
			rng := rand.New(rand.NewPCG(seed, 0x5eed))
			model := NewModel()
			keys := []phase0.BLSPubKey{PK(1), PK(2), PK(3)}
			// history is every attestation recorded, in order: imported or allowed.
			type entry struct {
				att     slashprotect.SignedAttestation
				allowed bool
			}
			history := map[phase0.BLSPubKey][]entry{}
			irregular := 0
			for sent := 0; sent < steps; {
				switch r := rng.IntN(20); {
				case r < 2:
					iv, blocks, atts := randomElement(rng, keys[rng.IntN(len(keys))])
					rep, err := importString(db, Doc(Network, iv), nil)
					require.NoError(t, err)
					irregular += rep.IrregularCount
					model.Import(iv.PK, blocks, atts)
					for _, a := range atts {
						history[iv.PK] = append(history[iv.PK], entry{att: a})
					}
					sent++
				case r < 6:
					req := Block(keys[rng.IntN(len(keys))], rng.Uint64N(12), 1+rng.IntN(3))
					v, err := db.CheckAndRecordBlock(ctx, req)
					require.NoError(t, err)
					want := model.Propose(req)
					require.True(t, want.Matches(v), "block %+v: model %+v, database %+v %v", req, want, v, v.Err())
					sent++
				default:
					batch := make([]slashprotect.AttestationRequest, 1+rng.IntN(6))
					for i := range batch {
						src := rng.Uint64N(10)
						tgt := src + rng.Uint64N(6)
						if rng.IntN(20) == 0 {
							tgt = src - min(src, 1)
						}
						batch[i] = Att(keys[rng.IntN(len(keys))], src, tgt, 1+rng.IntN(3))
					}
					vs, err := db.CheckAndRecordAttestations(ctx, batch)
					require.NoError(t, err)
					for i, req := range batch {
						want := model.Attest(req)
						require.True(t, want.Matches(vs[i]), "attestation %+v: model %+v, database %+v %v", req, want, vs[i], vs[i].Err())
						requireWitness(t, req, vs[i])
						if vs[i].Allowed && !vs[i].Repeat {
							root := req.SigningRoot
							history[req.Pubkey] = append(history[req.Pubkey], entry{att: slashprotect.SignedAttestation{SourceEpoch: req.SourceEpoch, TargetEpoch: req.TargetEpoch, SigningRoot: &root}, allowed: true})
						}
					}
					sent += len(batch)
				}
			}
			require.Positive(t, irregular, "the imports held irregular records")
			// No allowed vote is slashable with anything recorded before it (an
			// import may later bring records of messages signed elsewhere that
			// conflict with it: that is the other signer's doing).
			for pk, h := range history {
				for i, a := range h {
					if !a.allowed {
						continue
					}
					for _, b := range h[:i] {
						require.False(t, SlashableAttestations(a.att, b.att), "validator %x: allowed %+v is slashable with %+v recorded before it", pk[:3], a.att, b.att)
					}
				}
			}
		})
	}
}

// randomElement is a random interchange element for pk: a few attestations
// with any epochs (source after, equal to or before target) and blocks, each
// without a signing root (0) or with Root(1..3), the roots the property test's
// requests use; it returns the records as the model takes them.
func randomElement(rng *rand.Rand, pk phase0.BLSPubKey) (IV, []slashprotect.SignedBlock, []slashprotect.SignedAttestation) {
	iv := IV{PK: pk}
	var blocks []slashprotect.SignedBlock
	var atts []slashprotect.SignedAttestation
	rootOf := func(n int) *phase0.Root {
		if n == 0 {
			return nil
		}
		r := Root(n)
		return &r
	}
	for range 1 + rng.IntN(3) {
		a := IA{Source: rng.Uint64N(12), Target: rng.Uint64N(14), Root: rng.IntN(4)}
		iv.Atts = append(iv.Atts, a)
		atts = append(atts, slashprotect.SignedAttestation{SourceEpoch: phase0.Epoch(a.Source), TargetEpoch: phase0.Epoch(a.Target), SigningRoot: rootOf(a.Root)})
	}
	for range rng.IntN(3) {
		b := IB{Slot: rng.Uint64N(12), Root: rng.IntN(4)}
		iv.Blocks = append(iv.Blocks, b)
		blocks = append(blocks, slashprotect.SignedBlock{Slot: phase0.Slot(b.Slot), SigningRoot: rootOf(b.Root)})
	}
	return iv, blocks, atts
}

// RequireAllowedSafe fails if any attestation a database allowed (and
// recorded) is slashable with any record it holds for the same validator:
// imported records may conflict with each other, never with what vigil signed.
func RequireAllowedSafe(t *testing.T, db *slashprotect.DB, allowed map[phase0.BLSPubKey][]slashprotect.SignedAttestation) {
	t.Helper()
	for pk, signed := range allowed {
		h, err := db.History(context.Background(), pk, 0)
		require.NoError(t, err)
		for _, a := range signed {
			for _, b := range h.Attestations {
				if a.SourceEpoch == b.SourceEpoch && a.TargetEpoch == b.TargetEpoch && b.SigningRoot != nil && *b.SigningRoot == *a.SigningRoot {
					continue
				}
				require.False(t, SlashableAttestations(a, b), "validator %x: allowed %+v is slashable with recorded %+v", pk[:3], a, b)
			}
		}
	}
}

// RequireNoSlashable fails if any two recorded messages of one validator are
// slashable together.
func RequireNoSlashable(t *testing.T, db *slashprotect.DB, keys []phase0.BLSPubKey) {
	t.Helper()
	for _, pk := range keys {
		h, err := db.History(context.Background(), pk, 0)
		if errors.Is(err, slashprotect.ErrUnknownValidator) {
			continue
		}
		require.NoError(t, err)
		for i, a := range h.Attestations {
			for _, b := range h.Attestations[i+1:] {
				require.False(t, SlashableAttestations(a, b), "validator %x: slashable attestations recorded: %+v and %+v", pk[:3], a, b)
			}
		}
		for i, a := range h.Blocks {
			for _, b := range h.Blocks[i+1:] {
				require.False(t, SlashableBlocks(a, b), "validator %x: slashable blocks recorded: %+v and %+v", pk[:3], a, b)
			}
		}
	}
}

// testConcurrent has many goroutines race conflicting messages for the same
// validators; no slashable pair may be allowed.
func (s *suite) testConcurrent(t *testing.T) {
	ctx := context.Background()
	db, _ := s.open(t)
	keys := []phase0.BLSPubKey{PK(1), PK(2), PK(3), PK(4)}
	const workers, rounds = 8, 25
	var mu sync.Mutex
	var allowedAtts = map[phase0.BLSPubKey][]slashprotect.SignedAttestation{}
	var allowedBlocks = map[phase0.BLSPubKey][]slashprotect.SignedBlock{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for r := 0; r < rounds; r++ {
				// Every worker signs its own roots, so any two workers' messages
				// at one target conflict.
				batch := make([]slashprotect.AttestationRequest, 0, len(keys))
				for _, i := range rng.Perm(len(keys)) {
					src := rng.Uint64N(20)
					batch = append(batch, Att(keys[i], src, src+1+rng.Uint64N(4), w*1000+r))
				}
				vs, err := db.CheckAndRecordAttestations(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				blk := Block(keys[rng.IntN(len(keys))], rng.Uint64N(30), w*1000+r)
				bv, err := db.CheckAndRecordBlock(ctx, blk)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for i, v := range vs {
					if v.Allowed && !v.Repeat {
						root := batch[i].SigningRoot
						allowedAtts[batch[i].Pubkey] = append(allowedAtts[batch[i].Pubkey], slashprotect.SignedAttestation{SourceEpoch: batch[i].SourceEpoch, TargetEpoch: batch[i].TargetEpoch, SigningRoot: &root})
					}
				}
				if bv.Allowed && !bv.Repeat {
					root := blk.SigningRoot
					allowedBlocks[blk.Pubkey] = append(allowedBlocks[blk.Pubkey], slashprotect.SignedBlock{Slot: blk.Slot, SigningRoot: &root})
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	total := 0
	for _, pk := range keys {
		atts := allowedAtts[pk]
		total += len(atts)
		for i, a := range atts {
			for _, b := range atts[i+1:] {
				require.False(t, SlashableAttestations(a, b), "slashable attestations both allowed: %+v %+v", a, b)
			}
		}
		blocks := allowedBlocks[pk]
		for i, a := range blocks {
			for _, b := range blocks[i+1:] {
				require.False(t, SlashableBlocks(a, b), "slashable blocks both allowed: %+v %+v", a, b)
			}
		}
		h, err := db.History(ctx, pk, 0)
		require.NoError(t, err)
		require.Len(t, h.Attestations, len(atts), "every allowed attestation is recorded, nothing else")
		require.Len(t, h.Blocks, len(blocks))
	}
	require.Positive(t, total)
	RequireNoSlashable(t, db, keys)
}

// hexRoot formats a root for interchange documents.
func hexRoot(r phase0.Root) string { return fmt.Sprintf("%#x", r[:]) }

// exportString exports the database as a string.
func exportString(t *testing.T, db *slashprotect.DB, opts slashprotect.ExportOptions) string {
	t.Helper()
	var buf bytes.Buffer
	_, err := db.Export(context.Background(), &buf, opts)
	require.NoError(t, err)
	return buf.String()
}

// importString imports doc, naming the suite network's timing so that a
// database that never ran can tell the current epoch.
func importString(db *slashprotect.DB, doc string, root *phase0.Root) (slashprotect.ImportReport, error) {
	timing := NetworkTiming()
	return db.Import(context.Background(), strings.NewReader(doc), slashprotect.ImportOptions{GenesisValidatorsRoot: root, Timing: &timing})
}
