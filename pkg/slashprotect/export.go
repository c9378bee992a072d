package slashprotect

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/slashprotect/interchange"
)

// ErrUnknownValidator means a requested pubkey has no row in the database.
var ErrUnknownValidator = errors.New("validator is not in the slashing database")

// ExportOptions configures Export.
type ExportOptions struct {
	// Minimal writes one block and one attestation per validator (the
	// maxima), as EIP-3076's "minimal" strategy; otherwise the full history.
	Minimal bool
	// Pubkeys limits the export to these validators; empty means all.
	Pubkeys []phase0.BLSPubKey
	// GenesisValidatorsRoot names the network of a database that has not
	// recorded one (it never ran and nothing was imported, so it holds no
	// records): the export is then a valid, empty document for that network,
	// so that a backup of a fresh install succeeds. It must match the
	// database's root when the database has one.
	GenesisValidatorsRoot *phase0.Root
}

// ExportReport summarises an export.
type ExportReport struct {
	Validators, Blocks, Attestations int
}

// Export writes an EIP-3076 interchange document for the database's network,
// one validator at a time, from one consistent snapshot.
func (db *DB) Export(ctx context.Context, w io.Writer, opts ExportOptions) (ExportReport, error) {
	var report ExportReport
	done, err := db.use()
	if err != nil {
		return report, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return report, err
	}
	defer tx.rollback()
	network, err := db.exportNetwork(ctx, tx, opts.GenesisValidatorsRoot)
	if err != nil {
		return report, err
	}
	vs, err := tx.listValidators(ctx, opts.Pubkeys)
	if err != nil {
		return report, err
	}
	if err := requireAll(opts.Pubkeys, vs); err != nil {
		return report, err
	}
	enc := interchange.NewEncoder(w, network)
	for _, v := range vs {
		blocks, err := tx.blocks(ctx, v.id)
		if err != nil {
			return report, err
		}
		atts, err := tx.attestations(ctx, v.id)
		if err != nil {
			return report, err
		}
		iv := exportView(v.pubkey, v.wm, blocks, atts, opts.Minimal)
		if err := enc.Write(iv); err != nil {
			return report, fmt.Errorf("write interchange: %w", err)
		}
		report.Validators++
		report.Blocks += len(iv.SignedBlocks)
		report.Attestations += len(iv.SignedAttestations)
	}
	if err := enc.Close(); err != nil {
		return report, fmt.Errorf("write interchange: %w", err)
	}
	return report, nil
}

// exportNetwork decides the network an export is for: the database's, or the
// caller's for a database that has none.
func (db *DB) exportNetwork(ctx context.Context, tx storeTx, given *phase0.Root) (phase0.Root, error) {
	var network phase0.Root
	root, ok, err := tx.getMeta(ctx, metaGenesisRoot)
	if err != nil {
		return network, err
	}
	switch {
	case ok && given != nil && !bytes.Equal(root, given[:]):
		return network, fmt.Errorf("genesis validators root %#x given, but slashing database %s records %#x: %w", given[:], db.where, root, ErrWrongNetwork)
	case ok:
		copy(network[:], root)
	case given != nil:
		network = *given
	default:
		return network, fmt.Errorf("export %s: %w: it never ran and holds no records; name the network to export an empty "+
			"interchange file for it with --genesis-validators-root 0x… (mainnet: 0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95)",
			db.where, ErrNetworkUnknown)
	}
	return network, nil
}

func requireAll(want []phase0.BLSPubKey, got []*validatorState) error {
	have := make(map[phase0.BLSPubKey]bool, len(got))
	for _, v := range got {
		have[v.pubkey] = true
	}
	for _, pk := range want {
		if !have[pk] {
			return fmt.Errorf("%#x: %w", pk[:], ErrUnknownValidator)
		}
	}
	return nil
}

// exportView turns a validator's records and watermarks into an interchange
// entry that makes an importer at least as strict as this database.
//
// An importer enforces EIP-3076 conditions 2, 4 and 5 with the minima of the
// file, so records below our watermarks (older history, or history before an
// import's gap) would open that gap at the importer. Such records are folded
// into one record at the watermark without a signing root: refusing targets
// at or below it, and (by the surround rule) sources below the largest folded
// source for every later target — exactly what the folded records and the
// watermarks refuse here.
func exportView(pk phase0.BLSPubKey, wm Watermarks, blocks []SignedBlock, atts []SignedAttestation, minimal bool) *interchange.Validator {
	v := &interchange.Validator{Pubkey: pk, SignedBlocks: []interchange.Block{}, SignedAttestations: []interchange.Attestation{}}
	if minimal {
		if b := minimalBlock(wm, blocks); b != nil {
			v.SignedBlocks = append(v.SignedBlocks, *b)
		}
		if a := minimalAttestation(wm, atts); a != nil {
			v.SignedAttestations = append(v.SignedAttestations, *a)
		}
		return v
	}

	if wm.BlockSlot == nil {
		for _, b := range blocks {
			v.SignedBlocks = append(v.SignedBlocks, interchange.Block{Slot: b.Slot, SigningRoot: b.SigningRoot})
		}
	} else {
		for _, b := range blocks {
			if b.Slot >= *wm.BlockSlot {
				v.SignedBlocks = append(v.SignedBlocks, interchange.Block{Slot: b.Slot, SigningRoot: b.SigningRoot})
			}
		}
		if len(v.SignedBlocks) == 0 {
			v.SignedBlocks = append(v.SignedBlocks, interchange.Block{Slot: *wm.BlockSlot})
		}
	}

	if wm.AttestationTarget == nil || wm.AttestationSource == nil {
		for _, a := range atts {
			v.SignedAttestations = append(v.SignedAttestations, interchange.Attestation{SourceEpoch: a.SourceEpoch, TargetEpoch: a.TargetEpoch, SigningRoot: a.SigningRoot})
		}
		return v
	}
	wmS, wmT := *wm.AttestationSource, *wm.AttestationTarget
	// Without records below the watermarks, the file's minima are at or above
	// them and the importer is at least as strict as we are.
	needFold := len(atts) == 0 || slices.ContainsFunc(atts, func(a SignedAttestation) bool {
		return a.TargetEpoch < wmT || a.SourceEpoch < wmS
	})
	if !needFold {
		for _, a := range atts {
			v.SignedAttestations = append(v.SignedAttestations, interchange.Attestation{SourceEpoch: a.SourceEpoch, TargetEpoch: a.TargetEpoch, SigningRoot: a.SigningRoot})
		}
		return v
	}
	foldSource := wmS
	for _, a := range atts {
		if a.TargetEpoch <= wmT && a.SourceEpoch > foldSource {
			foldSource = a.SourceEpoch
		}
	}
	// foldSource may exceed wmT when the watermarks or a folded record come
	// from an imported record with source > target; the folded record is then
	// irregular too, and refuses exactly what they refuse (Import accepts it).
	v.SignedAttestations = append(v.SignedAttestations, interchange.Attestation{SourceEpoch: foldSource, TargetEpoch: wmT})
	for _, a := range atts {
		if a.TargetEpoch > wmT {
			v.SignedAttestations = append(v.SignedAttestations, interchange.Attestation{SourceEpoch: a.SourceEpoch, TargetEpoch: a.TargetEpoch, SigningRoot: a.SigningRoot})
		}
	}
	return v
}

// minimalBlock is the highest block (its signing root kept when it is the
// only record at that slot), or the watermark if higher.
func minimalBlock(wm Watermarks, blocks []SignedBlock) *interchange.Block {
	var out *interchange.Block
	for _, b := range blocks {
		switch {
		case out == nil || b.Slot > out.Slot:
			out = &interchange.Block{Slot: b.Slot, SigningRoot: b.SigningRoot}
		case b.Slot == out.Slot:
			out.SigningRoot = nil
		}
	}
	if wm.BlockSlot != nil && (out == nil || *wm.BlockSlot > out.Slot) {
		out = &interchange.Block{Slot: *wm.BlockSlot}
	}
	return out
}

// minimalAttestation is (max source, max target), as EIP-3076 advises for
// minimal databases; the signing root is kept when one record is both maxima.
func minimalAttestation(wm Watermarks, atts []SignedAttestation) *interchange.Attestation {
	if len(atts) == 0 && wm.AttestationTarget == nil {
		return nil
	}
	var maxS, maxT phase0.Epoch
	if wm.AttestationSource != nil {
		maxS = *wm.AttestationSource
	}
	if wm.AttestationTarget != nil {
		maxT = *wm.AttestationTarget
	}
	for _, a := range atts {
		maxS, maxT = max(maxS, a.SourceEpoch), max(maxT, a.TargetEpoch)
	}
	out := &interchange.Attestation{SourceEpoch: maxS, TargetEpoch: maxT}
	var match []SignedAttestation
	for _, a := range atts {
		if a.SourceEpoch == maxS && a.TargetEpoch == maxT {
			match = append(match, a)
		}
	}
	// Another record at the same target (a double vote already recorded) makes
	// the root ambiguous; leave it out so the importer refuses every message there.
	sameTarget := 0
	for _, a := range atts {
		if a.TargetEpoch == maxT {
			sameTarget++
		}
	}
	if len(match) == 1 && sameTarget == 1 {
		out.SigningRoot = match[0].SigningRoot
	}
	return out
}

// History is one validator's protection state, for inspection.
type History struct {
	Pubkey     phase0.BLSPubKey
	Watermarks Watermarks
	// Blocks and Attestations are the most recent records, newest first.
	Blocks       []SignedBlock
	Attestations []SignedAttestation
	// TotalBlocks and TotalAttestations count all records kept.
	TotalBlocks       int
	TotalAttestations int
}

// History returns a validator's watermarks and its latest limit records of
// each kind (all when limit <= 0).
func (db *DB) History(ctx context.Context, pubkey phase0.BLSPubKey, limit int) (History, error) {
	h := History{Pubkey: pubkey}
	done, err := db.use()
	if err != nil {
		return h, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return h, err
	}
	defer tx.rollback()
	vs, err := tx.listValidators(ctx, []phase0.BLSPubKey{pubkey})
	if err != nil {
		return h, err
	}
	if len(vs) == 0 {
		return h, fmt.Errorf("%#x: %w", pubkey[:], ErrUnknownValidator)
	}
	h.Watermarks = vs[0].wm
	blocks, err := tx.blocks(ctx, vs[0].id)
	if err != nil {
		return h, err
	}
	atts, err := tx.attestations(ctx, vs[0].id)
	if err != nil {
		return h, err
	}
	h.TotalBlocks, h.TotalAttestations = len(blocks), len(atts)
	slices.SortStableFunc(blocks, func(a, b SignedBlock) int { return cmp.Compare(b.Slot, a.Slot) })
	slices.SortStableFunc(atts, func(a, b SignedAttestation) int {
		return cmp.Or(cmp.Compare(b.TargetEpoch, a.TargetEpoch), cmp.Compare(b.SourceEpoch, a.SourceEpoch))
	})
	if limit > 0 {
		blocks = blocks[:min(limit, len(blocks))]
		atts = atts[:min(limit, len(atts))]
	}
	h.Blocks, h.Attestations = nonNil(blocks), nonNil(atts)
	return h, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Validators lists the public keys the database knows, in byte order.
func (db *DB) Validators(ctx context.Context) ([]phase0.BLSPubKey, error) {
	done, err := db.use()
	if err != nil {
		return nil, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return nil, err
	}
	defer tx.rollback()
	vs, err := tx.listValidators(ctx, nil)
	if err != nil {
		return nil, err
	}
	out := make([]phase0.BLSPubKey, len(vs))
	for i, v := range vs {
		out[i] = v.pubkey
	}
	slices.SortFunc(out, func(a, b phase0.BLSPubKey) int { return bytes.Compare(a[:], b[:]) })
	return out, nil
}
