package slashprotecttest

import (
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
)

// Interchange scenarios written from the EIP-3076 text (Conditions, Advice
// for Complete and Minimal Databases) and the consensus specs' slashing
// conditions.

// IB is an interchange block: slot and signing root number (0 = absent).
type IB struct {
	Slot uint64
	Root int
}

// IA is an interchange attestation: epochs and signing root number (0 = absent).
type IA struct {
	Source, Target uint64
	Root           int
}

// IV is one data element.
type IV struct {
	PK     phase0.BLSPubKey
	Blocks []IB
	Atts   []IA
}

// Doc writes an interchange document by hand (not with the package's
// encoder, so the decoder is tested against independent text).
func Doc(root phase0.Root, vs ...IV) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"%s"},"data":[`, hexRoot(root))
	for i, v := range vs {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"pubkey":"%#x","signed_blocks":[`, v.PK[:])
		for j, blk := range v.Blocks {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"slot":"%d"`, blk.Slot)
			if blk.Root != 0 {
				fmt.Fprintf(&b, `,"signing_root":"%s"`, hexRoot(Root(blk.Root)))
			}
			b.WriteString("}")
		}
		b.WriteString(`],"signed_attestations":[`)
		for j, a := range v.Atts {
			if j > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `{"source_epoch":"%d","target_epoch":"%d"`, a.Source, a.Target)
			if a.Root != 0 {
				fmt.Fprintf(&b, `,"signing_root":"%s"`, hexRoot(Root(a.Root)))
			}
			b.WriteString("}")
		}
		b.WriteString("]}")
	}
	b.WriteString("]}")
	return b.String()
}

type importStep struct {
	doc           string
	wantConflicts int
	wantNewAtts   int
	wantNewBlocks int
}

func (s *suite) testInterchange(t *testing.T) {
	pk, pk2 := PK(1), PK(2)
	cases := []struct {
		name    string
		imports []importStep
		checks  []Step
	}{
		{
			name:    "EIP example",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{81952, 1}, {81951, 0}}, Atts: []IA{{2290, 3007, 2}, {2290, 3008, 0}}}), wantNewAtts: 2, wantNewBlocks: 2}},
			checks: []Step{
				Rep(B(Block(pk, 81952, 1), nil)),
				B(Block(pk, 81952, 3), slashprotect.ErrDoubleBlock),
				B(Block(pk, 81951, 3), slashprotect.ErrDoubleBlock), // no signing root: any block there conflicts
				B(Block(pk, 81950, 3), slashprotect.ErrBelowWatermark),
				B(Block(pk, 81953, 3), nil),
				Rep(A(Att(pk, 2290, 3007, 2), nil)),
				A(Att(pk, 2290, 3007, 3), slashprotect.ErrDoubleVote),
				A(Att(pk, 2290, 3008, 3), slashprotect.ErrDoubleVote),
				A(Att(pk, 2289, 3009, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 2290, 3006, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 2291, 3009, 3), nil),
			},
		},
		{
			name:    "genesis attestation",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Atts: []IA{{0, 0, 1}}}), wantNewAtts: 1}},
			checks: []Step{
				Rep(A(Att(pk, 0, 0, 1), nil)),
				A(Att(pk, 0, 0, 2), slashprotect.ErrDoubleVote),
				A(Att(pk, 0, 1, 2), nil),
			},
		},
		{
			name:    "genesis attestation without signing root",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Atts: []IA{{0, 0, 0}}}), wantNewAtts: 1}},
			checks:  []Step{A(Att(pk, 0, 0, 1), slashprotect.ErrDoubleVote), A(Att(pk, 0, 1, 1), nil)},
		},
		{
			name: "double vote in the file is reported and all of it kept",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Atts: []IA{{1, 5, 1}, {2, 5, 2}, {0, 3, 3}}}),
				wantConflicts: 1, wantNewAtts: 3}},
			checks: []Step{
				A(Att(pk, 1, 5, 1), slashprotect.ErrDoubleVote),
				A(Att(pk, 2, 5, 2), slashprotect.ErrDoubleVote),
				// Surrounds the (2, 5) record even though (1, 5) would not be surrounded.
				A(Att(pk, 1, 6, 4), slashprotect.ErrSurroundVote),
				A(Att(pk, 2, 6, 4), nil),
			},
		},
		{
			name: "surround in the file (outer first) is reported",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Atts: []IA{{1, 10, 1}, {3, 5, 2}}}),
				wantConflicts: 1, wantNewAtts: 2}},
			checks: []Step{
				A(Att(pk, 2, 11, 3), slashprotect.ErrSurroundVote),
				A(Att(pk, 4, 9, 3), slashprotect.ErrSurroundedVote),
				A(Att(pk, 10, 11, 3), nil),
			},
		},
		{
			name: "surround in the file (inner first) is reported",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Atts: []IA{{3, 5, 2}, {1, 10, 1}}}),
				wantConflicts: 1, wantNewAtts: 2}},
			checks: []Step{A(Att(pk, 2, 11, 3), slashprotect.ErrSurroundVote)},
		},
		{
			name: "file surrounds the database's history",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Atts: []IA{{3, 5, 2}}}), wantNewAtts: 1},
				{doc: Doc(Network, IV{PK: pk, Atts: []IA{{2, 6, 3}}}), wantConflicts: 1, wantNewAtts: 1},
				{doc: Doc(Network, IV{PK: pk, Atts: []IA{{4, 4, 4}}}), wantConflicts: 1, wantNewAtts: 1},
			},
			checks: []Step{A(Att(pk, 6, 7, 5), nil)},
		},
		{
			name: "double block in the file and against the database",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{10, 1}, {10, 2}}}), wantConflicts: 1, wantNewBlocks: 2},
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{12, 1}}}), wantNewBlocks: 1},
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{12, 0}}}), wantConflicts: 1, wantNewBlocks: 1},
			},
			checks: []Step{B(Block(pk, 10, 1), slashprotect.ErrDoubleBlock), B(Block(pk, 12, 1), slashprotect.ErrDoubleBlock), B(Block(pk, 13, 1), nil)},
		},
		{
			name: "repeated identical import is idempotent",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{5, 1}, {6, 0}}, Atts: []IA{{1, 2, 1}, {2, 3, 0}}}), wantNewAtts: 2, wantNewBlocks: 2},
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{5, 1}, {6, 0}}, Atts: []IA{{1, 2, 1}, {2, 3, 0}}})},
			},
			checks: []Step{Rep(A(Att(pk, 1, 2, 1), nil)), Rep(B(Block(pk, 5, 1), nil)), B(Block(pk, 6, 1), slashprotect.ErrDoubleBlock)},
		},
		{
			name:    "repeated identical records in one file",
			imports: []importStep{{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{5, 1}, {5, 1}}, Atts: []IA{{1, 2, 1}, {1, 2, 1}}}), wantNewAtts: 1, wantNewBlocks: 1}},
			checks:  []Step{Rep(A(Att(pk, 1, 2, 1), nil)), Rep(B(Block(pk, 5, 1), nil))},
		},
		{
			name: "duplicate pubkey entries are merged with the minimum over both",
			imports: []importStep{{doc: Doc(Network,
				IV{PK: pk, Blocks: []IB{{20, 1}}, Atts: []IA{{10, 11, 1}}},
				IV{PK: pk, Blocks: []IB{{10, 2}}, Atts: []IA{{5, 6, 2}, {10, 11, 1}}},
			), wantNewAtts: 2, wantNewBlocks: 2}},
			checks: []Step{
				B(Block(pk, 20, 3), slashprotect.ErrDoubleBlock),
				B(Block(pk, 10, 3), slashprotect.ErrDoubleBlock),
				B(Block(pk, 9, 3), slashprotect.ErrBelowWatermark),
				B(Block(pk, 15, 3), nil),
				A(Att(pk, 4, 12, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 5, 6, 3), slashprotect.ErrDoubleVote),
				A(Att(pk, 6, 8, 3), nil),
			},
		},
		{
			name: "duplicate pubkey entries with slashable data between them",
			imports: []importStep{{doc: Doc(Network,
				IV{PK: pk, Atts: []IA{{10, 11, 1}}},
				IV{PK: pk, Atts: []IA{{10, 11, 2}}},
			), wantConflicts: 1, wantNewAtts: 2}},
			checks: []Step{A(Att(pk, 10, 11, 1), slashprotect.ErrDoubleVote), A(Att(pk, 11, 12, 3), nil)},
		},
		{
			name: "gap between two imports is unsignable",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{10, 1}}, Atts: []IA{{1, 2, 1}}}), wantNewAtts: 1, wantNewBlocks: 1},
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{1000, 2}}, Atts: []IA{{100, 101, 2}}}), wantNewAtts: 1, wantNewBlocks: 1},
			},
			checks: []Step{
				B(Block(pk, 500, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 50, 51, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 100, 102, 3), nil),
				B(Block(pk, 1001, 3), nil),
			},
		},
		{
			name: "out-of-order imports keep the higher watermark",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{1000, 2}}, Atts: []IA{{100, 101, 2}}}), wantNewAtts: 1, wantNewBlocks: 1},
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{10, 1}}, Atts: []IA{{1, 2, 1}}}), wantNewAtts: 1, wantNewBlocks: 1},
			},
			checks: []Step{
				B(Block(pk, 500, 3), slashprotect.ErrBelowWatermark),
				A(Att(pk, 50, 51, 3), slashprotect.ErrBelowWatermark),
				// Identical to an imported record: a repeat, allowed (EIP-3076 condition 5).
				Rep(A(Att(pk, 1, 2, 1), nil)),
				A(Att(pk, 1, 2, 3), slashprotect.ErrDoubleVote),
				A(Att(pk, 100, 102, 3), nil),
			},
		},
		{
			name: "import after own signing raises the watermark over the gap",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk2, Atts: []IA{{200, 201, 5}}}), wantNewAtts: 1},
			},
			checks: []Step{A(Att(pk2, 150, 151, 1), slashprotect.ErrBelowWatermark), A(Att(pk2, 201, 202, 1), nil)},
		},
		{
			name: "minimal import raises watermarks",
			imports: []importStep{
				{doc: Doc(Network, IV{PK: pk, Blocks: []IB{{100, 0}}, Atts: []IA{{50, 60, 0}}}), wantNewAtts: 1, wantNewBlocks: 1},
			},
			checks: []Step{
				B(Block(pk, 100, 1), slashprotect.ErrDoubleBlock),
				B(Block(pk, 99, 1), slashprotect.ErrBelowWatermark),
				B(Block(pk, 101, 1), nil),
				A(Att(pk, 49, 61, 1), slashprotect.ErrBelowWatermark),
				A(Att(pk, 50, 60, 1), slashprotect.ErrDoubleVote),
				A(Att(pk, 51, 59, 1), slashprotect.ErrBelowWatermark),
				A(Att(pk, 55, 61, 1), nil),
			},
		},
		{
			name: "several validators and empty histories",
			imports: []importStep{{doc: Doc(Network,
				IV{PK: pk, Atts: []IA{{1, 2, 1}}},
				IV{PK: pk2, Blocks: []IB{{7, 1}}},
				IV{PK: PK(3)},
			), wantNewAtts: 1, wantNewBlocks: 1}},
			checks: []Step{
				A(Att(pk, 1, 2, 2), slashprotect.ErrDoubleVote), B(Block(pk, 1, 1), nil),
				B(Block(pk2, 7, 2), slashprotect.ErrDoubleBlock), A(Att(pk2, 0, 1, 1), nil),
				A(Att(PK(3), 0, 0, 1), nil), B(Block(PK(3), 0, 1), nil),
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			if c.name == "import after own signing raises the watermark over the gap" {
				CheckSteps(t, db, []Step{A(Att(pk2, 1, 2, 1), nil)})
			}
			for i, imp := range c.imports {
				rep, err := importString(db, imp.doc, nil)
				require.NoError(t, err, "import %d", i)
				require.Equal(t, imp.wantConflicts, rep.ConflictCount, "import %d conflicts: %+v", i, rep.Conflicts)
				require.Equal(t, imp.wantNewAtts, rep.NewAttestations, "import %d new attestations", i)
				require.Equal(t, imp.wantNewBlocks, rep.NewBlocks, "import %d new blocks", i)
			}
			CheckSteps(t, db, c.checks)
		})
	}

	t.Run("large entries", func(t *testing.T) {
		db, _ := s.open(t)
		v := IV{PK: pk}
		for e := uint64(0); e < 300; e++ {
			v.Atts = append(v.Atts, IA{e, e + 1, int(e) + 1})
			v.Blocks = append(v.Blocks, IB{e * 3, int(e%2) * int(e)})
		}
		rep, err := importString(db, Doc(Network, v, IV{PK: pk2, Atts: v.Atts}), nil)
		require.NoError(t, err)
		require.Equal(t, 600, rep.NewAttestations)
		require.Equal(t, 300, rep.NewBlocks)
		require.Zero(t, rep.ConflictCount)
		h, err := db.History(context.Background(), pk, 0)
		require.NoError(t, err)
		require.Equal(t, 300, h.TotalAttestations)
		require.Equal(t, phase0.Epoch(300), h.Attestations[0].TargetEpoch)
		require.Equal(t, Root(300), *h.Attestations[0].SigningRoot)
		rep, err = importString(db, exportString(t, db, slashprotect.ExportOptions{}), nil)
		require.NoError(t, err)
		require.Zero(t, rep.NewAttestations+rep.NewBlocks)
		CheckSteps(t, db, []Step{Rep(A(Att(pk, 150, 151, 151), nil)), A(Att(pk, 150, 151, 1), slashprotect.ErrDoubleVote), B(Block(pk, 3, 9), slashprotect.ErrDoubleBlock)})
	})

	t.Run("first import needs the network", func(t *testing.T) {
		ctx := context.Background()
		db, err := slashprotect.Open(ctx, s.cfg.NewURL(t))
		require.NoError(t, err)
		defer db.Close()
		doc := Doc(Network, IV{PK: pk, Atts: []IA{{1, 2, 1}}})
		_, err = importString(db, doc, nil)
		require.ErrorIs(t, err, slashprotect.ErrNetworkUnknown)
		other := Root(1)
		_, err = importString(db, doc, &other)
		require.ErrorIs(t, err, slashprotect.ErrWrongNetwork)
		_, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.False(t, ok, "a refused import records nothing")
		net := Network
		_, err = importString(db, doc, &net)
		require.NoError(t, err)
		root, ok, err := db.GenesisValidatorsRoot(ctx)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, Network, root)
		CheckSteps(t, db, []Step{A(Att(pk, 1, 2, 2), slashprotect.ErrDoubleVote)})
		_, err = importString(db, doc, &other)
		require.ErrorIs(t, err, slashprotect.ErrWrongNetwork)
	})
}

// testInterchangeErrors feeds bad documents and checks each is refused with
// a clear error and leaves the database exactly as it was.
func (s *suite) testInterchangeErrors(t *testing.T) {
	pk := PK(1)
	good := Doc(Network, IV{PK: pk, Blocks: []IB{{5, 1}}, Atts: []IA{{1, 2, 1}}})
	cases := []struct {
		name    string
		doc     string
		want    error
		message string
	}{
		{"wrong network", Doc(Root(9), IV{PK: pk, Atts: []IA{{3, 4, 1}}}), slashprotect.ErrWrongNetwork, "genesis validators root"},
		{"wrong network after data", `{"data":[{"pubkey":"` + fmt.Sprintf("%#x", pk[:]) + `","signed_blocks":[],"signed_attestations":[{"source_epoch":"3","target_epoch":"4"}]}],` +
			`"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + hexRoot(Root(9)) + `"}}`, slashprotect.ErrWrongNetwork, "genesis validators root"},
		{"unknown version", strings.Replace(Doc(Network), `"5"`, `"4"`, 1), slashprotect.ErrInterchange, "interchange_format_version"},
		{"version as number", strings.Replace(Doc(Network), `"5"`, `5`, 1), slashprotect.ErrInterchange, "interchange_format_version"},
		{"slot as JSON number", strings.Replace(Doc(Network, IV{PK: pk, Blocks: []IB{{7, 1}}}), `"slot":"7"`, `"slot":7`, 1), slashprotect.ErrInterchange, "data[0].signed_blocks[0].slot"},
		{"epoch as JSON number", strings.Replace(Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}), `"target_epoch":"4"`, `"target_epoch":4`, 1), slashprotect.ErrInterchange, "data[0].signed_attestations[0].target_epoch"},
		{"negative epoch", strings.Replace(Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}), `"source_epoch":"3"`, `"source_epoch":"-3"`, 1), slashprotect.ErrInterchange, "source_epoch"},
		{"epoch too large", strings.Replace(Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}), `"target_epoch":"4"`, `"target_epoch":"18446744073709551615"`, 1), slashprotect.ErrInterchange, "out of range"},
		{"bad pubkey hex", strings.Replace(Doc(Network, IV{PK: pk}), "0xa0", "0xzz", 1), slashprotect.ErrInterchange, "data[0].pubkey"},
		{"short pubkey", strings.Replace(Doc(Network, IV{PK: pk}), "0xa0", "0x", 1), slashprotect.ErrInterchange, "data[0].pubkey"},
		{"bad signing root", strings.Replace(Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}), `"signing_root":"0x5a`, `"signing_root":"0x5g`, 1), slashprotect.ErrInterchange, "signing_root"},
		{"bad genesis root", strings.Replace(Doc(Network), hexRoot(Network), "0x1234", 1), slashprotect.ErrInterchange, "genesis_validators_root"},
		{"missing metadata", `{"data":[]}`, slashprotect.ErrInterchange, "metadata is missing"},
		{"missing data", `{"metadata":{"interchange_format_version":"5","genesis_validators_root":"` + hexRoot(Network) + `"}}`, slashprotect.ErrInterchange, "data is missing"},
		{"missing signed_blocks", strings.Replace(Doc(Network, IV{PK: pk}), `"signed_blocks":[],`, ``, 1), slashprotect.ErrInterchange, "signed_blocks is missing"},
		{"missing target", strings.Replace(Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}), `"target_epoch":"4",`, ``, 1), slashprotect.ErrInterchange, "target_epoch is missing"},
		{"malformed JSON", strings.Replace(Doc(Network, IV{PK: pk}), `"signed_blocks":[]`, `"signed_blocks":[}`, 1), slashprotect.ErrInterchange, "malformed JSON"},
		{"truncated", Doc(Network, IV{PK: pk, Atts: []IA{{3, 4, 1}}}, IV{PK: PK(2)})[:200], slashprotect.ErrInterchange, ""},
		{"trailing garbage", Doc(Network) + "{}", slashprotect.ErrInterchange, "after the document"},
		{"not an object", `[]`, slashprotect.ErrInterchange, "JSON object"},
		{"empty", ``, slashprotect.ErrInterchange, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			db, _ := s.open(t)
			_, err := importString(db, good, nil)
			require.NoError(t, err)
			before := exportString(t, db, slashprotect.ExportOptions{})
			_, err = importString(db, c.doc, nil)
			require.ErrorIs(t, err, c.want)
			require.Contains(t, err.Error(), c.message)
			require.Equal(t, before, exportString(t, db, slashprotect.ExportOptions{}), "database changed by a refused import")
		})
	}
}

func (s *suite) testExportRoundTrip(t *testing.T) {
	ctx := context.Background()
	a, _ := s.open(t)
	keys := []phase0.BLSPubKey{PK(1), PK(2)}
	CheckSteps(t, a, []Step{
		A(Att(keys[0], 1, 2, 1), nil), A(Att(keys[0], 2, 3, 2), nil), A(Att(keys[0], 2, 5, 3), nil),
		B(Block(keys[0], 40, 1), nil), B(Block(keys[0], 64, 2), nil),
		A(Att(keys[1], 0, 0, 1), nil),
	})
	doc := exportString(t, a, slashprotect.ExportOptions{})
	b, _ := s.open(t)
	rep, err := importString(b, doc, nil)
	require.NoError(t, err)
	require.Equal(t, 4, rep.NewAttestations)
	require.Equal(t, 2, rep.NewBlocks)
	require.Zero(t, rep.ConflictCount)
	require.Equal(t, doc, exportString(t, b, slashprotect.ExportOptions{}), "export of the import equals the export")

	// The copy decides every probe as the original does.
	probes := []Step{
		A(Att(keys[0], 1, 2, 1), nil), A(Att(keys[0], 1, 2, 9), nil), A(Att(keys[0], 3, 4, 9), nil), A(Att(keys[0], 1, 6, 9), nil),
		A(Att(keys[0], 0, 7, 9), nil), A(Att(keys[0], 5, 6, 9), nil), A(Att(keys[1], 0, 1, 9), nil), A(Att(keys[1], 0, 0, 9), nil),
		B(Block(keys[0], 40, 1), nil), B(Block(keys[0], 50, 9), nil), B(Block(keys[0], 39, 9), nil),
	}
	for i, p := range probes {
		var va, vb slashprotect.Verdict
		if p.Att != nil {
			vas, err := a.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{*p.Att})
			require.NoError(t, err)
			vbs, err := b.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{*p.Att})
			require.NoError(t, err)
			va, vb = vas[0], vbs[0]
		} else {
			va, err = a.CheckAndRecordBlock(ctx, *p.Block)
			require.NoError(t, err)
			vb, err = b.CheckAndRecordBlock(ctx, *p.Block)
			require.NoError(t, err)
		}
		require.Equal(t, va.Allowed, vb.Allowed, "probe %d: original %v, copy %v", i, va.Err(), vb.Err())
	}

	only := exportString(t, a, slashprotect.ExportOptions{Pubkeys: []phase0.BLSPubKey{keys[1]}})
	require.NotContains(t, only, fmt.Sprintf("%#x", keys[0][:]))
	require.Contains(t, only, fmt.Sprintf("%#x", keys[1][:]))
	var sink strings.Builder
	_, err = a.Export(ctx, &sink, slashprotect.ExportOptions{Pubkeys: []phase0.BLSPubKey{PK(77)}})
	require.ErrorIs(t, err, slashprotect.ErrUnknownValidator)
}

func (s *suite) testExportMinimal(t *testing.T) {
	ctx := context.Background()
	a, _ := s.open(t)
	pk := PK(1)
	CheckSteps(t, a, []Step{
		A(Att(pk, 1, 2, 1), nil), A(Att(pk, 2, 3, 2), nil), A(Att(pk, 3, 9, 3), nil),
		B(Block(pk, 40, 1), nil), B(Block(pk, 64, 2), nil),
	})
	doc := exportString(t, a, slashprotect.ExportOptions{Minimal: true})
	dec := interchange.NewDecoder(strings.NewReader(doc))
	v, err := dec.Next()
	require.NoError(t, err)
	r2, r3 := Root(2), Root(3)
	require.Equal(t, []interchange.Block{{Slot: 64, SigningRoot: &r2}}, v.SignedBlocks)
	require.Equal(t, []interchange.Attestation{{SourceEpoch: 3, TargetEpoch: 9, SigningRoot: &r3}}, v.SignedAttestations)
	_, err = dec.Next()
	require.ErrorIs(t, err, io.EOF)
	b, _ := s.open(t)
	_, err = importString(b, doc, nil)
	require.NoError(t, err)
	CheckSteps(t, b, []Step{
		Rep(A(Att(pk, 3, 9, 3), nil)), A(Att(pk, 2, 10, 4), slashprotect.ErrBelowWatermark), A(Att(pk, 4, 8, 4), slashprotect.ErrBelowWatermark),
		A(Att(pk, 3, 10, 4), nil), B(Block(pk, 63, 4), slashprotect.ErrBelowWatermark), Rep(B(Block(pk, 64, 2), nil)), B(Block(pk, 65, 4), nil),
	})

	// After pruning and after imports with gaps, an export still carries the
	// watermarks, so the importer is never laxer than the original.
	c, _ := s.open(t)
	_, err = importString(c, Doc(Network, IV{PK: pk, Blocks: []IB{{10, 1}}, Atts: []IA{{1, 2, 1}, {8, 9, 1}}}), nil)
	require.NoError(t, err)
	_, err = importString(c, Doc(Network, IV{PK: pk, Blocks: []IB{{1000, 2}}, Atts: []IA{{3, 101, 2}}}), nil)
	require.NoError(t, err)
	for _, minimal := range []bool{false, true} {
		d, _ := s.open(t)
		_, err := importString(d, exportString(t, c, slashprotect.ExportOptions{Minimal: minimal}), nil)
		require.NoError(t, err)
		CheckSteps(t, d, []Step{
			A(Att(pk, 50, 51, 3), slashprotect.ErrBelowWatermark),
			B(Block(pk, 500, 3), slashprotect.ErrBelowWatermark),
		})
		// (7, 102) surrounds the folded (8, 9); the original refuses it too.
		vs, err := d.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{Att(pk, 7, 102, 3)})
		require.NoError(t, err)
		require.False(t, vs[0].Allowed, "minimal=%v", minimal)
	}
	vs, err := c.CheckAndRecordAttestations(ctx, []slashprotect.AttestationRequest{Att(pk, 7, 102, 3)})
	require.NoError(t, err)
	require.False(t, vs[0].Allowed)
}
