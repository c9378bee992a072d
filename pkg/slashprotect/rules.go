package slashprotect

import (
	"fmt"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// This file holds every slashing rule as a pure function over what the store
// found. The store queries run before any write of the batch, so records
// allowed earlier in the same batch are passed separately (batchAtts,
// batchBlocks) and checked by brute force: a batch rarely holds more than one
// message per validator.

// attFacts is what the store found for one attestation request: every record
// at the same target, and one witness (if any) for each surround direction.
type attFacts struct {
	sameTarget []SignedAttestation
	// surrounding is a record with source < new source and target > new target.
	surrounding *SignedAttestation
	// surrounded is a record with source > new source and target < new target.
	surrounded *SignedAttestation
}

// blockFacts is what the store found for one block request.
type blockFacts struct {
	sameSlot []SignedBlock
}

// validatorState is one locked validator during a transaction.
type validatorState struct {
	id          int64
	pubkey      phase0.BLSPubKey
	wm          Watermarks
	wmDirty     bool
	batchAtts   []SignedAttestation
	batchBlocks []SignedBlock
}

func sameRoot(r *phase0.Root, want phase0.Root) bool {
	return r != nil && *r == want
}

func refuseAtt(rule Rule, req AttestationRequest, conflict *SignedAttestation, wm *uint64, format string, args ...any) Verdict {
	detail := fmt.Sprintf("attestation source %d target %d for %s: %s",
		req.SourceEpoch, req.TargetEpoch, pubkey.Short(req.Pubkey), fmt.Sprintf(format, args...))
	return Verdict{Refusal: &Refusal{Rule: rule, Attestation: conflict, Watermark: wm, Detail: detail}}
}

func refuseBlock(rule Rule, req BlockRequest, conflict *SignedBlock, wm *uint64, format string, args ...any) Verdict {
	detail := fmt.Sprintf("block slot %d for %s: %s", req.Slot, pubkey.Short(req.Pubkey), fmt.Sprintf(format, args...))
	return Verdict{Refusal: &Refusal{Rule: rule, Block: conflict, Watermark: wm, Detail: detail}}
}

// isSourceAfterTarget is an attestation whose source epoch exceeds its
// target. process_attestation (consensus specs, phase0 beacon chain) only
// includes data whose source is a justified checkpoint no later than its
// target, so such a vote helps nobody; yet is_valid_indexed_attestation does
// not order the epochs, so once signed it stands as slashing evidence.
func isSourceAfterTarget(source, target phase0.Epoch) bool {
	return source > target
}

// isSourceEqualsTargetAfterGenesis is an attestation whose source epoch equals
// its target epoch after epoch 0. process_attestation requires the source to be
// the state's justified checkpoint, and process_justification_and_finalization
// justifies an epoch only during its last slot's epoch processing, when the
// state moves on to the next epoch: a justified checkpoint is always earlier
// than the current epoch, except GENESIS_EPOCH, which is its own (source ==
// target == 0). A signed (e, e) vote with e > 0 is never included, but makes
// every later honest vote with a source below e and a target above e a
// surround of it, refused for as long as the chain's justification lags.
func isSourceEqualsTargetAfterGenesis(source, target phase0.Epoch) bool {
	return source == target && target > 0
}

// isDoubleVote is the first clause of is_slashable_attestation_data
// (consensus specs, phase0 beacon chain): same target, different data. A
// record without a signing root may hold any data, so it conflicts.
func isDoubleVote(rec SignedAttestation, req AttestationRequest) bool {
	return rec.TargetEpoch == req.TargetEpoch && !sameRoot(rec.SigningRoot, req.SigningRoot)
}

// surroundsNew is the second clause of is_slashable_attestation_data with the
// recorded attestation as the outer one. The clause is applied literally to
// every record, including imported ones whose source is after their target
// (docs/slashprotect.md, "Irregular records"): such a record (s, t) never
// surrounds a valid vote (that would need new.source > s > t > new.target).
func surroundsNew(rec SignedAttestation, req AttestationRequest) bool {
	return rec.SourceEpoch < req.SourceEpoch && req.TargetEpoch < rec.TargetEpoch
}

// surroundedByNew is the second clause with the new attestation as the outer
// one. Against a record (s, t) with s > t it refuses every vote with a source
// below s and a target above t, which also covers every vote the record would
// conflict with if its two epochs had been swapped by the exporting client.
func surroundedByNew(rec SignedAttestation, req AttestationRequest) bool {
	return req.SourceEpoch < rec.SourceEpoch && rec.TargetEpoch < req.TargetEpoch
}

// evaluateAttestation decides one attestation and, when allowing it, records it
// in v (batch list and watermarks) for the requests after it.
func evaluateAttestation(req AttestationRequest, f attFacts, v *validatorState) Verdict {
	if uint64(req.SourceEpoch) > maxStored || uint64(req.TargetEpoch) > maxStored {
		return refuseAtt(RuleInvalidRequest, req, nil, nil, "epoch above 2^63-1")
	}
	// Data no beacon node can include is a bug or a lie; signing it could
	// only hurt (see the two rules).
	if isSourceAfterTarget(req.SourceEpoch, req.TargetEpoch) {
		return refuseAtt(RuleSourceAfterTarget, req, nil, nil, "source after target")
	}
	if isSourceEqualsTargetAfterGenesis(req.SourceEpoch, req.TargetEpoch) {
		return refuseAtt(RuleSourceEqualsTarget, req, nil, nil, "source equals target, which only epoch 0 may have")
	}

	// Same target: a different or unknown signing root is a double vote; the
	// same signing root is a repeat of a message already signed (EIP-3076
	// conditions 3 and 5, "repeat signing as determined by the signing_root").
	repeat := false
	for _, list := range [][]SignedAttestation{f.sameTarget, v.batchAtts} {
		for i := range list {
			rec := list[i]
			if rec.TargetEpoch != req.TargetEpoch {
				continue
			}
			if isDoubleVote(rec, req) {
				return refuseAtt(RuleDoubleVote, req, &rec, nil, "target %d already signed with signing root %s",
					rec.TargetEpoch, rootString(rec.SigningRoot))
			}
			repeat = true
		}
	}
	if repeat {
		return Verdict{Allowed: true, Repeat: true}
	}

	// EIP-3076 conditions 4 and 5, enforced at all times as the EIP advises.
	if wm := v.wm.AttestationSource; wm != nil && req.SourceEpoch < *wm {
		w := uint64(*wm)
		return refuseAtt(RuleBelowWatermark, req, nil, &w, "source below the source watermark %d", w)
	}
	if wm := v.wm.AttestationTarget; wm != nil && req.TargetEpoch <= *wm {
		w := uint64(*wm)
		return refuseAtt(RuleBelowWatermark, req, nil, &w, "target at or below the target watermark %d", w)
	}

	// Surrounded first, then surround, each against the store and the batch,
	// so the named rule does not depend on where the conflicting record lives.
	if rec := f.surrounding; rec != nil {
		return refuseAtt(RuleSurroundedVote, req, rec, nil, "recorded source %d target %d surrounds it", rec.SourceEpoch, rec.TargetEpoch)
	}
	for i := range v.batchAtts {
		if rec := v.batchAtts[i]; surroundsNew(rec, req) {
			return refuseAtt(RuleSurroundedVote, req, &rec, nil, "recorded source %d target %d surrounds it", rec.SourceEpoch, rec.TargetEpoch)
		}
	}
	if rec := f.surrounded; rec != nil {
		return refuseAtt(RuleSurroundVote, req, rec, nil, "it surrounds recorded source %d target %d", rec.SourceEpoch, rec.TargetEpoch)
	}
	for i := range v.batchAtts {
		if rec := v.batchAtts[i]; surroundedByNew(rec, req) {
			return refuseAtt(RuleSurroundVote, req, &rec, nil, "it surrounds recorded source %d target %d", rec.SourceEpoch, rec.TargetEpoch)
		}
	}

	root := req.SigningRoot
	v.batchAtts = append(v.batchAtts, SignedAttestation{SourceEpoch: req.SourceEpoch, TargetEpoch: req.TargetEpoch, SigningRoot: &root})
	// The first record sets the watermarks, so "minimum over the database" of
	// conditions 4 and 5 holds without scanning: later records are above it.
	if v.wm.AttestationSource == nil {
		s, t := req.SourceEpoch, req.TargetEpoch
		v.wm.AttestationSource, v.wm.AttestationTarget, v.wmDirty = &s, &t, true
	}
	return Verdict{Allowed: true}
}

// evaluateBlock decides one block proposal and, when allowing it, records it in v.
func evaluateBlock(req BlockRequest, f blockFacts, v *validatorState) Verdict {
	if uint64(req.Slot) > maxStored {
		return refuseBlock(RuleInvalidRequest, req, nil, nil, "slot above 2^63-1")
	}
	// process_proposer_slashing: two different headers at one slot. An
	// imported record without a signing root conflicts with any block (EIP-3076
	// condition 1).
	repeat := false
	for _, list := range [][]SignedBlock{f.sameSlot, v.batchBlocks} {
		for i := range list {
			rec := list[i]
			if rec.Slot != req.Slot {
				continue
			}
			if !sameRoot(rec.SigningRoot, req.SigningRoot) {
				return refuseBlock(RuleDoubleBlock, req, &rec, nil, "slot %d already signed with signing root %s",
					rec.Slot, rootString(rec.SigningRoot))
			}
			repeat = true
		}
	}
	if repeat {
		return Verdict{Allowed: true, Repeat: true}
	}
	// EIP-3076 condition 2, enforced at all times.
	if wm := v.wm.BlockSlot; wm != nil && req.Slot <= *wm {
		w := uint64(*wm)
		return refuseBlock(RuleBelowWatermark, req, nil, &w, "slot at or below the block watermark %d", w)
	}
	root := req.SigningRoot
	v.batchBlocks = append(v.batchBlocks, SignedBlock{Slot: req.Slot, SigningRoot: &root})
	if v.wm.BlockSlot == nil {
		s := req.Slot
		v.wm.BlockSlot, v.wmDirty = &s, true
	}
	return Verdict{Allowed: true}
}
