package slashprotect

import (
	"context"
	"fmt"
	"time"

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
	if err := pruneStep(ctx, tx, vs, opts.KeepEpochs, spe, &report); err != nil {
		return report, err
	}
	var dirty []*validatorState
	for _, v := range vs {
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
			vs := make([]*validatorState, len(chunk))
			for i, pk := range chunk {
				vs[i] = states[pk]
			}
			return pruneStep(ctx, tx, vs, opts.KeepEpochs, spe, &step)
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

// pruneCutFor is the pruning horizon of one validator: records more than
// keepEpochs below its latest target, and blocks more than keepEpochs × spe
// slots below its latest slot, go (nil: nothing of that kind). The latest
// record is always kept.
func pruneCutFor(id int64, l Latest, keepEpochs, spe uint64) pruneCut {
	c := pruneCut{validatorID: id}
	if t := l.AttestationTarget; t != nil && uint64(*t) > keepEpochs {
		below := *t - phase0.Epoch(keepEpochs)
		c.attBelow = &below
	}
	if s := l.BlockSlot; s != nil && keepEpochs < (1<<63)/spe && uint64(*s) > keepEpochs*spe {
		below := *s - phase0.Slot(keepEpochs*spe)
		c.blockBelow = &below
	}
	return c
}

// pruneStep prunes the validators vs (locked by the caller's transaction):
// it reads their latest records in one query, deletes below each one's
// horizon, and raises (never lowers) their watermarks to the largest deleted
// source, target and slot, marking them dirty when they moved.
func pruneStep(ctx context.Context, tx storeTx, vs []*validatorState, keepEpochs, spe uint64, report *PruneReport) error {
	if len(vs) == 0 {
		return nil
	}
	pubkeys := make([]phase0.BLSPubKey, len(vs))
	for i, v := range vs {
		pubkeys[i] = v.pubkey
	}
	latest, err := tx.latestRecords(ctx, pubkeys)
	if err != nil {
		return err
	}
	cuts := make([]pruneCut, 0, len(vs))
	todo := make([]*validatorState, 0, len(vs))
	for _, v := range vs {
		if c := pruneCutFor(v.id, latest[v.pubkey], keepEpochs, spe); c.attBelow != nil || c.blockBelow != nil {
			cuts = append(cuts, c)
			todo = append(todo, v)
		}
	}
	if len(cuts) == 0 {
		return nil
	}
	results, err := tx.prune(ctx, cuts)
	if err != nil {
		return err
	}
	for i, res := range results {
		v := todo[i]
		var c1, c2, c3 bool
		v.wm.AttestationSource, c1 = maxPtr(v.wm.AttestationSource, res.maxSource)
		v.wm.AttestationTarget, c2 = maxPtr(v.wm.AttestationTarget, res.maxTarget)
		v.wm.BlockSlot, c3 = maxPtr(v.wm.BlockSlot, res.maxSlot)
		v.wmDirty = v.wmDirty || c1 || c2 || c3
		report.Attestations += res.attestations
		report.Blocks += res.blocks
		if res.attestations+res.blocks > 0 {
			report.Validators++
		}
	}
	return nil
}

// EpochClock is what RunPruning needs of the slot clock.
type EpochClock interface {
	CurrentEpoch() phase0.Epoch
	FirstSlot(epoch phase0.Epoch) phase0.Slot
	SlotStart(slot phase0.Slot) time.Time
	SleepUntil(ctx context.Context, t time.Time) error
}

// RunPruning calls PruneOnline at the start of the next epoch and every
// `every` epochs after it until ctx ends. A failed pass is logged and tried
// again next time: pruning only keeps the database small, so it never stops
// the signer.
func (db *DB) RunPruning(ctx context.Context, clock EpochClock, opts PruneOptions, every uint64) {
	if opts.KeepEpochs == 0 || every == 0 {
		return
	}
	next := clock.CurrentEpoch() + 1
	for clock.SleepUntil(ctx, clock.SlotStart(clock.FirstSlot(next))) == nil {
		rep, err := db.PruneOnline(ctx, opts)
		switch {
		case err != nil && ctx.Err() == nil:
			db.log.Warn("Failed to prune the slashing history; trying again later", "error", err)
		case rep.Attestations+rep.Blocks > 0:
			db.log.Info("Pruned the slashing history", "validators", rep.Validators, "attestations", rep.Attestations, "blocks", rep.Blocks)
		}
		next += phase0.Epoch(every)
	}
}
