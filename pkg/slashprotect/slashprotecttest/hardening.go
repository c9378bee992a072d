package slashprotecttest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
)

// MainnetRoot is mainnet's genesis validators root (github.com/eth-clients/mainnet).
var MainnetRoot = phase0.Root{0x4b, 0x36, 0x3d, 0xb9, 0x4e, 0x28, 0x61, 0x20, 0xd7, 0x6e, 0xb9, 0x05, 0x34, 0x0f, 0xdd, 0x4e,
	0x54, 0xbf, 0xe9, 0xf0, 0x6b, 0xf3, 0x3f, 0xf6, 0xcf, 0x5a, 0xd2, 0x7f, 0x51, 0x1b, 0xfe, 0x95}

// epochStart is the wall-clock start of epoch e under timing.
func epochStart(timing slashprotect.Timing, e uint64) time.Time {
	return timing.GenesisTime.Add(time.Duration(e*timing.SlotsPerEpoch) * timing.SlotDuration)
}

// fixedClock returns a clock stopped at t.
func fixedClock(t time.Time) slashprotect.Option {
	return slashprotect.WithClock(func() time.Time { return t })
}

// testIrregular imports records no beacon node includes (source after target,
// source equal to target after genesis), as other clients export them: they
// are imported, reported, and constrain later votes through the double,
// surround and watermark rules. The first four cases are the source > target
// cases of the EIP-3076 interchange tests
// (github.com/eth-clients/slashing-protection-interchange-tests,
// tests/generated/single_validator_source_greater_than_target*.json).
func (s *suite) testIrregular(t *testing.T) {
	pk := PK(1)
	irregular := func(rule slashprotect.Rule, source, target uint64) slashprotect.IrregularAttestation {
		return slashprotect.IrregularAttestation{Pubkey: pk, Rule: rule, SourceEpoch: phase0.Epoch(source), TargetEpoch: phase0.Epoch(target)}
	}
	cases := []struct {
		name          string
		doc           string
		wantIrregular []slashprotect.IrregularAttestation
		checks        []Step
	}{
		{
			name:          "single_validator_source_greater_than_target",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{8, 7, 0}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 8, 7)},
			checks: []Step{
				// (7, 8) surrounds (8, 7); the source watermark refuses it first.
				A(Att(pk, 7, 8, 1), slashprotect.ErrBelowWatermark),
				A(Att(pk, 6, 7, 1), slashprotect.ErrDoubleVote),
				A(Att(pk, 8, 9, 1), nil),
			},
		},
		{
			name:          "single_validator_source_greater_than_target_surrounding",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{5, 2, 0}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 5, 2)},
			checks:        []Step{A(Att(pk, 3, 4, 1), slashprotect.ErrBelowWatermark)},
		},
		{
			name:          "single_validator_source_greater_than_target_surrounded",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{5, 2, 0}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 5, 2)},
			checks:        []Step{A(Att(pk, 6, 1, 1), slashprotect.ErrSourceAfterTarget)},
		},
		{
			name:          "single_validator_source_greater_than_target_sensible_iff_minified",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{5, 2, 0}, {6, 7, 0}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 5, 2)},
			checks:        []Step{A(Att(pk, 5, 8, 1), slashprotect.ErrSurroundVote), A(Att(pk, 6, 8, 1), nil)},
		},
		{
			name:          "a later vote surrounding an inverted record above the watermark is refused",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}, {8, 7, 2}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 8, 7)},
			checks: []Step{
				A(Att(pk, 5, 9, 3), slashprotect.ErrSurroundVote),
				A(Att(pk, 7, 8, 3), slashprotect.ErrSurroundVote),
				// Not slashable with (8, 7): it neither surrounds it nor shares its target.
				A(Att(pk, 3, 6, 3), nil),
				A(Att(pk, 8, 9, 4), nil),
			},
		},
		{
			name:          "a double vote on an inverted record's target is refused",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}, {8, 7, 2}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 8, 7)},
			checks:        []Step{A(Att(pk, 6, 7, 3), slashprotect.ErrDoubleVote), Rep(A(Att(pk, 1, 2, 1), nil))},
		},
		{
			name:          "source equal to target after genesis",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}, {4, 4, 2}, {0, 0, 3}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceEqualsTarget, 4, 4)},
			checks: []Step{
				A(Att(pk, 3, 5, 4), slashprotect.ErrSurroundVote),
				A(Att(pk, 2, 4, 4), slashprotect.ErrDoubleVote),
				A(Att(pk, 4, 5, 4), nil),
			},
		},
		{
			// Refused whole before: "signed_attestations[0] has source_epoch 5 after target_epoch 4".
			name:          "a file of only an inverted record with a signing root",
			doc:           Doc(Network, IV{PK: pk, Atts: []IA{{5, 4, 1}}}),
			wantIrregular: []slashprotect.IrregularAttestation{irregular(slashprotect.RuleSourceAfterTarget, 5, 4)},
			checks:        []Step{A(Att(pk, 4, 5, 2), slashprotect.ErrBelowWatermark), A(Att(pk, 5, 6, 2), nil)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			rep, err := importString(db, c.doc, nil)
			require.NoError(t, err)
			require.Equal(t, len(c.wantIrregular), rep.IrregularCount)
			require.Equal(t, c.wantIrregular, rep.Irregular)
			require.Zero(t, rep.ConflictCount, "%+v", rep.Conflicts)
			CheckSteps(t, db, c.checks)
		})
	}

	t.Run("irregular records survive export and import", func(t *testing.T) {
		a, _ := s.open(t)
		_, err := importString(a, Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}, {8, 7, 2}, {9, 9, 3}}}), nil)
		require.NoError(t, err)
		for _, minimal := range []bool{false, true} {
			b, _ := s.open(t)
			rep, err := importString(b, exportString(t, a, slashprotect.ExportOptions{Minimal: minimal}), nil)
			require.NoError(t, err, "minimal=%v", minimal)
			if !minimal {
				require.Equal(t, 2, rep.IrregularCount)
			}
			// Everything the original refuses, the copy refuses.
			for _, req := range []slashprotect.AttestationRequest{Att(pk, 5, 9, 4), Att(pk, 7, 8, 4), Att(pk, 8, 10, 4), Att(pk, 9, 10, 4)} {
				va, err := a.CheckAndRecordAttestations(context.Background(), []slashprotect.AttestationRequest{req})
				require.NoError(t, err)
				if va[0].Allowed {
					continue
				}
				vb, err := b.CheckAndRecordAttestations(context.Background(), []slashprotect.AttestationRequest{req})
				require.NoError(t, err)
				require.False(t, vb[0].Allowed, "minimal=%v: copy allows %+v, which the original refuses (%v)", minimal, req, va[0].Err())
			}
		}
	})
}

// testFarFuture imports files whose records lie beyond the current epoch: more
// than FarFutureEpochs ahead they are refused whole unless forced.
func (s *suite) testFarFuture(t *testing.T) {
	pk := PK(1)
	const now = 1000
	clock := fixedClock(epochStart(NetworkTiming(), now).Add(time.Minute))
	limit := uint64(now + slashprotect.FarFutureEpochs)
	cases := []struct {
		name    string
		doc     string
		message string
	}{
		{"target 2^40", Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}, {3, 1 << 40, 2}}}), "signed_attestations[1] has source_epoch 3, target_epoch 1099511627776"},
		{"target one past the horizon", Doc(Network, IV{PK: pk, Atts: []IA{{limit, limit + 1, 1}}}), fmt.Sprintf("target_epoch %d, %d epochs after the current epoch %d", limit+1, slashprotect.FarFutureEpochs+1, now)},
		{"inverted record with a far source", Doc(Network, IV{PK: pk, Atts: []IA{{1 << 40, 5, 1}}}), "source_epoch 1099511627776, target_epoch 5"},
		{"block in the epoch past the horizon", Doc(Network, IV{PK: pk, Blocks: []IB{{(limit + 1) * 32, 1}}}), fmt.Sprintf("signed_blocks[0] has slot %d", (limit+1)*32)},
		{"second validator", Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}}}, IV{PK: PK(2), Blocks: []IB{{math.MaxInt64, 1}}}), "data[1] (validator " + fmt.Sprintf("%#x", PK(2)) + ") signed_blocks[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t, clock)
			_, err := importString(db, Doc(Network, IV{PK: pk, Atts: []IA{{0, 1, 1}}}), nil)
			require.NoError(t, err)
			before := exportString(t, db, slashprotect.ExportOptions{})
			_, err = importString(db, c.doc, nil)
			require.ErrorIs(t, err, slashprotect.ErrFarFuture)
			require.ErrorContains(t, err, c.message)
			require.ErrorContains(t, err, "--force")
			require.Equal(t, before, exportString(t, db, slashprotect.ExportOptions{}), "a refused import changes nothing")

			timing := NetworkTiming()
			rep, err := db.Import(context.Background(), strings.NewReader(c.doc), slashprotect.ImportOptions{Timing: &timing, Force: true})
			require.NoError(t, err)
			require.Equal(t, 1, rep.FarFuture)
			require.Equal(t, phase0.Epoch(now), *rep.CurrentEpoch)
		})
	}

	t.Run("records up to the horizon are imported", func(t *testing.T) {
		db, _ := s.open(t, clock)
		rep, err := importString(db, Doc(Network, IV{PK: pk, Blocks: []IB{{(limit+1)*32 - 1, 1}}, Atts: []IA{{limit - 1, limit, 1}}}), nil)
		require.NoError(t, err)
		require.Zero(t, rep.FarFuture)
		require.Contains(t, rep.ClockSource, "the slashing database's recorded genesis time")
	})

	t.Run("forced records constrain later votes", func(t *testing.T) {
		db, _ := s.open(t, clock)
		timing := NetworkTiming()
		_, err := db.Import(context.Background(), strings.NewReader(Doc(Network, IV{PK: pk, Atts: []IA{{5000, 5001, 1}}})),
			slashprotect.ImportOptions{Timing: &timing, Force: true})
		require.NoError(t, err)
		CheckSteps(t, db, []Step{A(Att(pk, now-1, now, 2), slashprotect.ErrBelowWatermark)})
	})

	t.Run("a database that never ran needs a clock", func(t *testing.T) {
		ctx := context.Background()
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t), clock)
		require.NoError(t, err)
		defer db.Close()
		net := Network
		doc := Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}}})
		_, err = db.Import(ctx, strings.NewReader(doc), slashprotect.ImportOptions{GenesisValidatorsRoot: &net})
		require.ErrorIs(t, err, slashprotect.ErrNoClock)
		require.ErrorContains(t, err, "--genesis-time")
		require.ErrorContains(t, err, "--force")
		_, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.False(t, ok, "a refused import records nothing")
		// Empty histories cannot lie in the future: no clock needed.
		rep, err := db.Import(ctx, strings.NewReader(Doc(Network, IV{PK: pk})), slashprotect.ImportOptions{GenesisValidatorsRoot: &net})
		require.NoError(t, err)
		require.Equal(t, 1, rep.Validators)

		rep, err = db.Import(ctx, strings.NewReader(doc), slashprotect.ImportOptions{Force: true})
		require.NoError(t, err)
		require.Nil(t, rep.CurrentEpoch)
		require.Equal(t, 1, rep.NewAttestations)
		_, ok, err = db.Timing(ctx)
		require.NoError(t, err)
		require.False(t, ok, "an import never records a timing")
	})

	t.Run("a known network supplies the clock", func(t *testing.T) {
		ctx := context.Background()
		_, mainnet, ok := slashprotect.KnownNetwork(MainnetRoot)
		require.True(t, ok)
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t), fixedClock(epochStart(mainnet, 500)))
		require.NoError(t, err)
		defer db.Close()
		root := MainnetRoot
		_, err = db.Import(ctx, strings.NewReader(Doc(root, IV{PK: pk, Atts: []IA{{599, 600, 1}}})), slashprotect.ImportOptions{GenesisValidatorsRoot: &root})
		require.ErrorIs(t, err, slashprotect.ErrFarFuture)
		require.ErrorContains(t, err, "mainnet's published genesis time")
		rep, err := db.Import(ctx, strings.NewReader(Doc(root, IV{PK: pk, Atts: []IA{{504, 505, 1}}})), slashprotect.ImportOptions{GenesisValidatorsRoot: &root})
		require.NoError(t, err)
		require.Equal(t, phase0.Epoch(500), *rep.CurrentEpoch)

		wrong := mainnet
		wrong.GenesisTime = wrong.GenesisTime.Add(time.Hour)
		_, err = db.Import(ctx, strings.NewReader(Doc(root)), slashprotect.ImportOptions{Timing: &wrong})
		require.ErrorIs(t, err, slashprotect.ErrWrongTiming)
	})

	t.Run("a given timing must match the recorded one", func(t *testing.T) {
		db, _ := s.open(t, clock)
		wrong := NetworkTiming()
		wrong.GenesisTime = wrong.GenesisTime.Add(-24 * time.Hour)
		_, err := db.Import(context.Background(), strings.NewReader(Doc(Network)), slashprotect.ImportOptions{Timing: &wrong})
		require.ErrorIs(t, err, slashprotect.ErrWrongTiming)
	})
}

// testBindNetwork binds databases to a network and its timing, as a signer
// does at start, and checks that a disagreeing node is refused.
func (s *suite) testBindNetwork(t *testing.T) {
	ctx := context.Background()
	timing := NetworkTiming()
	t.Run("records the timing once and refuses another", func(t *testing.T) {
		url := s.cfg.NewURL(t)
		db, err := slashprotect.Open(ctx, url)
		require.NoError(t, err)
		require.NoError(t, db.BindNetwork(ctx, Network, timing))
		got, ok, err := db.Timing(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, timing.GenesisTime.Unix(), got.GenesisTime.Unix())
		require.Equal(t, timing.SlotDuration, got.SlotDuration)
		require.Equal(t, timing.SlotsPerEpoch, got.SlotsPerEpoch)
		root, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, Network, root)
		require.NoError(t, db.BindNetwork(ctx, Network, timing), "binding again to the same network")

		shifted := timing
		shifted.GenesisTime = shifted.GenesisTime.Add(time.Second)
		err = db.BindNetwork(ctx, Network, shifted)
		require.ErrorIs(t, err, slashprotect.ErrWrongTiming)
		require.ErrorContains(t, err, "(1606824023)")
		require.ErrorContains(t, err, "(1606824024)")
		require.ErrorContains(t, err, "check the beacon node")
		faster := timing
		faster.SlotDuration = time.Second
		require.ErrorIs(t, db.BindNetwork(ctx, Network, faster), slashprotect.ErrWrongTiming)
		require.ErrorIs(t, db.BindNetwork(ctx, Root(1), timing), slashprotect.ErrWrongNetwork)
		require.NoError(t, db.Close())

		db, err = slashprotect.Open(ctx, url)
		require.NoError(t, err)
		defer db.Close()
		require.ErrorIs(t, db.BindNetwork(ctx, Network, shifted), slashprotect.ErrWrongTiming, "the timing is durable")
		require.NoError(t, db.BindNetwork(ctx, Network, timing))
	})
	t.Run("a database with only the root learns its timing on the first bind", func(t *testing.T) {
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t), slashprotect.WithGenesisValidatorsRoot(Network))
		require.NoError(t, err)
		defer db.Close()
		CheckSteps(t, db, []Step{A(Att(PK(1), 1, 2, 1), nil)})
		_, ok, err := db.Timing(ctx)
		require.NoError(t, err)
		require.False(t, ok)
		require.NoError(t, db.BindNetwork(ctx, Network, timing))
		_, ok, err = db.Timing(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		CheckSteps(t, db, []Step{A(Att(PK(1), 1, 2, 2), slashprotect.ErrDoubleVote)})
	})
	t.Run("a known network's timing is its published one", func(t *testing.T) {
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t))
		require.NoError(t, err)
		defer db.Close()
		_, mainnet, ok := slashprotect.KnownNetwork(MainnetRoot)
		require.True(t, ok)
		require.Equal(t, int64(1606824023), mainnet.GenesisTime.Unix())
		lying := mainnet
		lying.GenesisTime = lying.GenesisTime.Add(-time.Hour)
		require.ErrorIs(t, db.BindNetwork(ctx, MainnetRoot, lying), slashprotect.ErrWrongTiming)
		_, ok, err = db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.False(t, ok, "nothing recorded")
		require.NoError(t, db.BindNetwork(ctx, MainnetRoot, mainnet))
	})
	t.Run("incomplete timing is refused", func(t *testing.T) {
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t))
		require.NoError(t, err)
		defer db.Close()
		for _, bad := range []slashprotect.Timing{{}, {GenesisTime: timing.GenesisTime, SlotsPerEpoch: 32}, {GenesisTime: timing.GenesisTime, SlotDuration: time.Second}} {
			require.Error(t, db.BindNetwork(ctx, Network, bad), "%+v", bad)
		}
	})
}

// testExportFresh exports databases that never ran: an empty document for a
// named network (a backup of a fresh install), a clear error otherwise.
func (s *suite) testExportFresh(t *testing.T) {
	ctx := context.Background()
	db, err := slashprotect.Open(ctx, s.cfg.NewURL(t))
	require.NoError(t, err)
	defer db.Close()
	var buf bytes.Buffer
	_, err = db.Export(ctx, &buf, slashprotect.ExportOptions{})
	require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
	require.ErrorContains(t, err, "--genesis-validators-root")

	net := Network
	buf.Reset()
	rep, err := db.Export(ctx, &buf, slashprotect.ExportOptions{GenesisValidatorsRoot: &net})
	require.NoError(t, err)
	require.Zero(t, rep.Validators)
	dec := interchange.NewDecoder(strings.NewReader(buf.String()))
	_, err = dec.Next()
	require.ErrorIs(t, err, io.EOF, "a complete, empty document")
	md, ok := dec.Metadata()
	require.True(t, ok)
	require.Equal(t, Network, md.GenesisValidatorsRoot)

	other, _ := s.open(t)
	imp, err := importString(other, buf.String(), nil)
	require.NoError(t, err)
	require.Zero(t, imp.Validators)
	wrong := Root(3)
	_, err = other.Export(ctx, io.Discard, slashprotect.ExportOptions{GenesisValidatorsRoot: &wrong})
	require.ErrorIs(t, err, slashprotect.ErrWrongNetwork)
}

// testLatestRecords compares LatestRecords with the full history.
func (s *suite) testLatestRecords(t *testing.T) {
	ctx := context.Background()
	db, _ := s.open(t)
	a, b, c, d := PK(1), PK(2), PK(3), PK(4)
	CheckSteps(t, db, []Step{
		A(Att(a, 1, 2, 1), nil), A(Att(a, 2, 3, 2), nil), A(Att(a, 3, 9, 3), nil), B(Block(a, 40, 1), nil), B(Block(a, 64, 2), nil),
		B(Block(b, 7, 1), nil),
	})
	_, err := importString(db, Doc(Network, IV{PK: c, Atts: []IA{{5, 10, 1}, {7, 10, 2}, {1, 3, 3}}}, IV{PK: d, Atts: []IA{{3, 4, 1}, {12, 11, 2}}}), nil)
	require.NoError(t, err)
	e := func(v uint64) *phase0.Epoch { x := phase0.Epoch(v); return &x }
	sl := func(v uint64) *phase0.Slot { x := phase0.Slot(v); return &x }
	want := map[phase0.BLSPubKey]slashprotect.Latest{
		a: {Watermarks: slashprotect.Watermarks{BlockSlot: sl(40), AttestationSource: e(1), AttestationTarget: e(2)}, AttestationSource: e(3), AttestationTarget: e(9), BlockSlot: sl(64)},
		b: {Watermarks: slashprotect.Watermarks{BlockSlot: sl(7)}, BlockSlot: sl(7)},
		c: {Watermarks: slashprotect.Watermarks{AttestationSource: e(1), AttestationTarget: e(3)}, AttestationSource: e(7), AttestationTarget: e(10)},
		d: {Watermarks: slashprotect.Watermarks{AttestationSource: e(3), AttestationTarget: e(4)}, AttestationSource: e(12), AttestationTarget: e(11)},
	}
	got, err := db.LatestRecords(ctx, []phase0.BLSPubKey{d, a, PK(99), b, c, a})
	require.NoError(t, err)
	require.Equal(t, want, got, "unknown keys are absent, duplicates are harmless")
	for pk, l := range got {
		h, err := db.History(ctx, pk, 1)
		require.NoError(t, err)
		require.Equal(t, h.Watermarks, l.Watermarks)
		if len(h.Attestations) > 0 {
			require.Equal(t, h.Attestations[0].TargetEpoch, *l.AttestationTarget)
		}
		if len(h.Blocks) > 0 {
			require.Equal(t, h.Blocks[0].Slot, *l.BlockSlot)
		}
	}
	empty, err := db.LatestRecords(ctx, nil)
	require.NoError(t, err)
	require.Empty(t, empty)

	_, err = db.Prune(ctx, slashprotect.PruneOptions{KeepEpochs: 0})
	require.NoError(t, err)
	got, err = db.LatestRecords(ctx, []phase0.BLSPubKey{a})
	require.NoError(t, err)
	require.Equal(t, e(9), got[a].AttestationTarget, "pruning keeps the latest record")
	require.Equal(t, e(3), got[a].Watermarks.AttestationTarget, "and raises the watermark past the rest")
}

// testPruneOnline prunes through the online path: the same result as Prune,
// chunk after chunk.
func (s *suite) testPruneOnline(t *testing.T) {
	ctx := context.Background()
	t.Run("same as Prune", func(t *testing.T) {
		dbs := make([]*slashprotect.DB, 2)
		reps := make([]slashprotect.PruneReport, 2)
		for i := range dbs {
			dbs[i], _ = s.open(t)
			pk := PK(3)
			var steps []Step
			for e := uint64(0); e < 100; e++ {
				steps = append(steps, A(Att(pk, e, e+1, int(e)), nil))
			}
			for e := uint64(0); e < 20; e++ {
				steps = append(steps, B(Block(pk, e*32, int(e)), nil))
			}
			CheckSteps(t, dbs[i], steps)
		}
		var err error
		reps[0], err = dbs[0].Prune(ctx, slashprotect.PruneOptions{KeepEpochs: 10})
		require.NoError(t, err)
		reps[1], err = dbs[1].PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: 10})
		require.NoError(t, err)
		require.Equal(t, reps[0], reps[1])
		require.Equal(t, exportString(t, dbs[0], slashprotect.ExportOptions{}), exportString(t, dbs[1], slashprotect.ExportOptions{}))
		h, err := dbs[1].History(ctx, PK(3), 0)
		require.NoError(t, err)
		require.Equal(t, phase0.Epoch(89), *h.Watermarks.AttestationTarget)
		require.Equal(t, phase0.Slot(256), *h.Watermarks.BlockSlot, "slots per epoch from the recorded timing")
	})
	t.Run("many validators, in chunks", func(t *testing.T) {
		db, _ := s.open(t)
		const n = 300
		for e := uint64(0); e < 20; e++ {
			batch := make([]slashprotect.AttestationRequest, n)
			for i := range batch {
				batch[i] = Att(PK(i), e, e+1, int(e))
			}
			vs, err := db.CheckAndRecordAttestations(ctx, batch)
			require.NoError(t, err)
			require.True(t, vs[n-1].Allowed)
		}
		rep, err := db.PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: 5})
		require.NoError(t, err)
		// Targets 1..20; those below 20 - 5 go.
		require.Equal(t, slashprotect.PruneReport{Validators: n, Attestations: n * 14}, rep)
		for _, i := range []int{0, 127, 128, 299} {
			h, err := db.History(ctx, PK(i), 0)
			require.NoError(t, err)
			require.Equal(t, 6, h.TotalAttestations)
			require.Equal(t, phase0.Epoch(14), *h.Watermarks.AttestationTarget)
		}
		rep, err = db.PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: 5})
		require.NoError(t, err)
		require.Zero(t, rep.Attestations, "nothing left to prune")
	})
}

// testPruneOnlineRace prunes in a loop while workers sign: each worker owns
// its validators and sends votes and blocks in a window that moves forward,
// above the prune horizon, so every verdict must equal the reference model's
// (which never prunes), and every record a prune deleted must stay covered by
// the watermarks.
func (s *suite) testPruneOnlineRace(t *testing.T) {
	ctx := context.Background()
	db, _ := s.open(t)
	const workers, rounds, window = 4, 40, 4
	const keep = window + 2
	var wg sync.WaitGroup
	errs := make(chan error, workers+1)
	stop := make(chan struct{})
	var pruned slashprotect.PruneReport
	var pruneWG sync.WaitGroup
	pruneWG.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			rep, err := db.PruneOnline(ctx, slashprotect.PruneOptions{KeepEpochs: keep})
			if err != nil {
				errs <- err
				return
			}
			pruned.Attestations += rep.Attestations
			pruned.Blocks += rep.Blocks
		}
	})
	allowed := make([]map[phase0.BLSPubKey][]slashprotect.SignedAttestation, workers)
	for w := range workers {
		allowed[w] = map[phase0.BLSPubKey][]slashprotect.SignedAttestation{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			model := NewModel()
			keys := []phase0.BLSPubKey{PK(10*w + 1), PK(10*w + 2)}
			for r := uint64(0); r < rounds; r++ {
				batch := make([]slashprotect.AttestationRequest, 1+rng.IntN(4))
				for i := range batch {
					src := r + rng.Uint64N(window)
					batch[i] = Att(keys[rng.IntN(2)], src, src+rng.Uint64N(r+window-src+1), 1+rng.IntN(3))
				}
				vs, err := db.CheckAndRecordAttestations(ctx, batch)
				if err != nil {
					errs <- err
					return
				}
				for i, req := range batch {
					if want := model.Attest(req); !want.Matches(vs[i]) {
						errs <- fmt.Errorf("attestation %+v: model %+v, database %v", req, want, vs[i].Err())
						return
					}
					if vs[i].Allowed && !vs[i].Repeat {
						root := req.SigningRoot
						allowed[w][req.Pubkey] = append(allowed[w][req.Pubkey], slashprotect.SignedAttestation{SourceEpoch: req.SourceEpoch, TargetEpoch: req.TargetEpoch, SigningRoot: &root})
					}
				}
				blk := Block(keys[rng.IntN(2)], r*32+rng.Uint64N(window*32), 1+rng.IntN(3))
				v, err := db.CheckAndRecordBlock(ctx, blk)
				if err != nil {
					errs <- err
					return
				}
				if want := model.Propose(blk); !want.Matches(v) {
					errs <- fmt.Errorf("block %+v: model %+v, database %v", blk, want, v.Err())
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	pruneWG.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Positive(t, pruned.Attestations, "the pruner deleted records while the workers signed")
	require.Positive(t, pruned.Blocks)
	for w := range workers {
		RequireAllowedSafe(t, db, allowed[w])
		for pk, signed := range allowed[w] {
			h, err := db.History(ctx, pk, 0)
			require.NoError(t, err)
			for _, a := range signed {
				kept := false
				for _, b := range h.Attestations {
					kept = kept || (b.SourceEpoch == a.SourceEpoch && b.TargetEpoch == a.TargetEpoch && *b.SigningRoot == *a.SigningRoot)
				}
				covered := *h.Watermarks.AttestationTarget >= a.TargetEpoch && *h.Watermarks.AttestationSource >= a.SourceEpoch
				require.True(t, kept || covered, "validator %x: %+v deleted but above the watermarks %+v", pk[:3], a, h.Watermarks)
			}
		}
	}
}

// testStats counts verdicts by rule.
func (s *suite) testStats(t *testing.T) {
	db, _ := s.open(t)
	pk := PK(1)
	CheckSteps(t, db, []Step{
		A(Att(pk, 1, 2, 1), nil), Rep(A(Att(pk, 1, 2, 1), nil)), A(Att(pk, 1, 2, 2), slashprotect.ErrDoubleVote),
		A(Att(pk, 3, 3, 1), slashprotect.ErrSourceEqualsTarget), B(Block(pk, 5, 1), nil), B(Block(pk, 5, 2), slashprotect.ErrDoubleBlock),
	})
	st := db.Stats()
	require.Equal(t, uint64(3), st.Allowed)
	require.Equal(t, uint64(1), st.Repeats)
	require.Len(t, st.Refused, len(slashprotect.Rules()))
	for _, r := range slashprotect.Rules() {
		want := uint64(0)
		if r == slashprotect.RuleDoubleVote || r == slashprotect.RuleSourceEqualsTarget || r == slashprotect.RuleDoubleBlock {
			want = 1
		}
		require.Equal(t, want, st.Refused[r], "%s", r)
	}
}
