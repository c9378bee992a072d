package slashprotect

import (
	"context"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// PruneOptions configures Prune and PruneOnline.
type PruneOptions struct {
	// KeepEpochs is how much history to keep per validator, counted back from
	// its latest record.
	KeepEpochs uint64
	// SlotsPerEpoch converts KeepEpochs for blocks; 0 means the database's
	// recorded timing, or 32 (mainnet) when it has none.
	SlotsPerEpoch uint64
}

// PruneReport summarises a prune.
type PruneReport struct {
	// Validators counts validators that lost records.
	Validators   int
	Blocks       int64
	Attestations int64
}

// pruneChunk is how many validators one PruneOnline transaction locks: few
// enough that a signer's batch waiting for one of them waits milliseconds.
const pruneChunk = 128

// Prune deletes history older than opts.KeepEpochs before each validator's
// latest record, raising its watermarks past everything deleted so that no
// rule weakens: targets at or below the largest deleted target, sources below
// the largest deleted source and slots at or below the largest deleted slot
// are refused from then on. It runs as one transaction that excludes every
// writer (administrative use, vigil slashing prune); PruneOnline prunes while
// signers run.
func (db *DB) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var report PruneReport
	done, err := db.use()
	if err != nil {
		return report, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeExclusive)
	if err != nil {
		return report, err
	}
	defer tx.rollback()
	spe, err := db.pruneSlotsPerEpoch(ctx, tx, opts)
	if err != nil {
		return report, err
	}
	vs, err := tx.listValidators(ctx, nil)
	if err != nil {
		return report, err
	}
	var dirty []*validatorState
	for _, v := range vs {
		if err := pruneValidator(ctx, tx, v, opts.KeepEpochs, spe, &report); err != nil {
			return report, err
		}
		if v.wmDirty {
			dirty = append(dirty, v)
		}
	}
	if err := tx.saveWatermarks(ctx, dirty); err != nil {
		return report, err
	}
	if err := tx.commit(ctx); err != nil {
		return report, fmt.Errorf("prune %s: %w", db.where, err)
	}
	return report, nil
}

// PruneOnline prunes like Prune while signers use the database, so that it
// stays small without stopping vigil; a validator client calls it
// periodically (every epoch is plenty). It works through the validators a few
// at a time, each chunk in a transaction holding the same per-validator locks
// (taken in the same order) as CheckAndRecord*, so a pruning step and a batch
// for the same validator run one after the other, never interleaved. A step
// only deletes records below a validator's latest target (and slot) by more
// than the horizon, and raises, never lowers, its watermarks past everything
// it deletes in the same transaction: every deleted record stays covered by a
// watermark, and no verdict a batch gets for a message above the horizon
// changes.
func (db *DB) PruneOnline(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	var report PruneReport
	pubkeys, spe, err := db.pruneTargets(ctx, opts)
	if err != nil || len(pubkeys) == 0 {
		return report, err
	}
	for len(pubkeys) > 0 {
		chunk := pubkeys[:min(pruneChunk, len(pubkeys))]
		pubkeys = pubkeys[len(chunk):]
		var step PruneReport
		err := db.checkAndRecord(ctx, chunk, func(tx storeTx, states map[phase0.BLSPubKey]*validatorState) error {
			for _, pk := range chunk {
				if err := pruneValidator(ctx, tx, states[pk], opts.KeepEpochs, spe, &step); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return report, fmt.Errorf("prune %s online: %w", db.where, err)
		}
		// Counted only once committed.
		report.Validators += step.Validators
		report.Attestations += step.Attestations
		report.Blocks += step.Blocks
	}
	return report, nil
}

// pruneTargets lists the validators to prune, in lock order, and the slots
// per epoch to prune blocks with.
func (db *DB) pruneTargets(ctx context.Context, opts PruneOptions) ([]phase0.BLSPubKey, uint64, error) {
	done, err := db.use()
	if err != nil {
		return nil, 0, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return nil, 0, err
	}
	defer tx.rollback()
	spe, err := db.pruneSlotsPerEpoch(ctx, tx, opts)
	if err != nil {
		return nil, 0, err
	}
	vs, err := tx.listValidators(ctx, nil)
	if err != nil {
		return nil, 0, err
	}
	// listValidators returns pubkey order: the lock order.
	pubkeys := make([]phase0.BLSPubKey, len(vs))
	for i, v := range vs {
		pubkeys[i] = v.pubkey
	}
	return pubkeys, spe, nil
}

// pruneSlotsPerEpoch is opts.SlotsPerEpoch, else the recorded timing's, else 32.
func (db *DB) pruneSlotsPerEpoch(ctx context.Context, tx storeTx, opts PruneOptions) (uint64, error) {
	if opts.SlotsPerEpoch > 0 {
		return opts.SlotsPerEpoch, nil
	}
	t, ok, err := readTiming(ctx, tx)
	if err != nil {
		return 0, err
	}
	if ok {
		return t.SlotsPerEpoch, nil
	}
	return 32, nil
}

// pruneValidator deletes v's records more than keepEpochs (keepEpochs × spe
// slots) below its latest ones, and raises v's watermarks to the largest
// deleted source, target and slot, marking v dirty when they moved. The latest
// record is always kept.
func pruneValidator(ctx context.Context, tx storeTx, v *validatorState, keepEpochs, spe uint64, report *PruneReport) error {
	target, slot, err := tx.latest(ctx, v.id)
	if err != nil {
		return err
	}
	pruned := false
	if target != nil && uint64(*target) > keepEpochs {
		res, err := tx.pruneAttestations(ctx, v.id, *target-phase0.Epoch(keepEpochs))
		if err != nil {
			return err
		}
		var c1, c2 bool
		v.wm.AttestationSource, c1 = maxPtr(v.wm.AttestationSource, res.maxSource)
		v.wm.AttestationTarget, c2 = maxPtr(v.wm.AttestationTarget, res.maxTarget)
		v.wmDirty = v.wmDirty || c1 || c2
		pruned = res.deleted > 0
		report.Attestations += res.deleted
	}
	keepSlots := keepEpochs * spe
	if slot != nil && keepEpochs < (1<<63)/spe && uint64(*slot) > keepSlots {
		res, err := tx.pruneBlocks(ctx, v.id, *slot-phase0.Slot(keepSlots))
		if err != nil {
			return err
		}
		var c bool
		v.wm.BlockSlot, c = maxPtr(v.wm.BlockSlot, res.maxSlot)
		v.wmDirty = v.wmDirty || c
		pruned = pruned || res.deleted > 0
		report.Blocks += res.deleted
	}
	if pruned {
		report.Validators++
	}
	return nil
}
