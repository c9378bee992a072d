package slashprotecttest

import (
	"errors"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// Model is a brute-force reference for the slashing rules, written from the
// consensus specs' is_slashable_attestation_data, process_attestation and
// process_proposer_slashing and EIP-3076 conditions 2, 4 and 5. It keeps every
// recorded message in a list and checks each new one against all of them,
// literally, whatever their epochs (imported records may have source after
// target). The low watermarks are the minima of the validator's first records
// (every later allowed message is above them), raised by each import to the
// file's minima, never lowered (EIP-3076 "Advice for Complete Databases").
type Model struct {
	vals map[phase0.BLSPubKey]*modelValidator
}

type modelValidator struct {
	atts   []slashprotect.SignedAttestation
	blocks []slashprotect.SignedBlock
	wmSlot *phase0.Slot
	wmSrc  *phase0.Epoch
	wmTgt  *phase0.Epoch
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{vals: make(map[phase0.BLSPubKey]*modelValidator)}
}

func (m *Model) validator(pk phase0.BLSPubKey) *modelValidator {
	v := m.vals[pk]
	if v == nil {
		v = &modelValidator{}
		m.vals[pk] = v
	}
	return v
}

// ModelVerdict is the model's answer: Rule is RuleNone when allowed.
type ModelVerdict struct {
	Rule   slashprotect.Rule
	Repeat bool
}

func sameData(rec *phase0.Root, root phase0.Root) bool { return rec != nil && *rec == root }

// Attest decides and (if allowed and new) records one attestation.
func (m *Model) Attest(req slashprotect.AttestationRequest) ModelVerdict {
	switch {
	case req.SourceEpoch > req.TargetEpoch:
		return ModelVerdict{Rule: slashprotect.RuleSourceAfterTarget}
	case req.SourceEpoch == req.TargetEpoch && req.TargetEpoch > 0:
		return ModelVerdict{Rule: slashprotect.RuleSourceEqualsTarget}
	}
	v := m.validator(req.Pubkey)
	repeat := false
	for _, p := range v.atts {
		if p.TargetEpoch == req.TargetEpoch {
			if !sameData(p.SigningRoot, req.SigningRoot) {
				return ModelVerdict{Rule: slashprotect.RuleDoubleVote}
			}
			repeat = true
		}
	}
	if repeat {
		return ModelVerdict{Repeat: true}
	}
	if (v.wmSrc != nil && req.SourceEpoch < *v.wmSrc) || (v.wmTgt != nil && req.TargetEpoch <= *v.wmTgt) {
		return ModelVerdict{Rule: slashprotect.RuleBelowWatermark}
	}
	for _, p := range v.atts {
		if p.SourceEpoch < req.SourceEpoch && req.TargetEpoch < p.TargetEpoch {
			return ModelVerdict{Rule: slashprotect.RuleSurroundedVote}
		}
	}
	for _, p := range v.atts {
		if req.SourceEpoch < p.SourceEpoch && p.TargetEpoch < req.TargetEpoch {
			return ModelVerdict{Rule: slashprotect.RuleSurroundVote}
		}
	}
	root := req.SigningRoot
	v.atts = append(v.atts, slashprotect.SignedAttestation{SourceEpoch: req.SourceEpoch, TargetEpoch: req.TargetEpoch, SigningRoot: &root})
	if v.wmSrc == nil {
		s, t := req.SourceEpoch, req.TargetEpoch
		v.wmSrc, v.wmTgt = &s, &t
	}
	return ModelVerdict{}
}

// Propose decides and (if allowed and new) records one block.
func (m *Model) Propose(req slashprotect.BlockRequest) ModelVerdict {
	v := m.validator(req.Pubkey)
	repeat := false
	for _, p := range v.blocks {
		if p.Slot == req.Slot {
			if !sameData(p.SigningRoot, req.SigningRoot) {
				return ModelVerdict{Rule: slashprotect.RuleDoubleBlock}
			}
			repeat = true
		}
	}
	if repeat {
		return ModelVerdict{Repeat: true}
	}
	if v.wmSlot != nil && req.Slot <= *v.wmSlot {
		return ModelVerdict{Rule: slashprotect.RuleBelowWatermark}
	}
	root := req.SigningRoot
	v.blocks = append(v.blocks, slashprotect.SignedBlock{Slot: req.Slot, SigningRoot: &root})
	if v.wmSlot == nil {
		s := req.Slot
		v.wmSlot = &s
	}
	return ModelVerdict{}
}

// Import records one data element of an interchange file as EIP-3076
// prescribes: every record is kept, whatever it conflicts with, and the
// watermarks rise to the minima of the element's records.
func (m *Model) Import(pk phase0.BLSPubKey, blocks []slashprotect.SignedBlock, atts []slashprotect.SignedAttestation) {
	v := m.validator(pk)
	raise := func(cur *phase0.Epoch, x phase0.Epoch) *phase0.Epoch {
		if cur == nil || x > *cur {
			return &x
		}
		return cur
	}
	if len(atts) > 0 {
		minS, minT := atts[0].SourceEpoch, atts[0].TargetEpoch
		for _, a := range atts {
			minS, minT = min(minS, a.SourceEpoch), min(minT, a.TargetEpoch)
		}
		v.wmSrc, v.wmTgt = raise(v.wmSrc, minS), raise(v.wmTgt, minT)
		v.atts = append(v.atts, atts...)
	}
	if len(blocks) > 0 {
		minSlot := blocks[0].Slot
		for _, b := range blocks {
			minSlot = min(minSlot, b.Slot)
		}
		if v.wmSlot == nil || minSlot > *v.wmSlot {
			v.wmSlot = &minSlot
		}
		v.blocks = append(v.blocks, blocks...)
	}
}

// Matches reports whether a database verdict equals the model's.
func (v ModelVerdict) Matches(got slashprotect.Verdict) bool {
	if v.Rule == slashprotect.RuleNone {
		return got.Allowed && got.Repeat == v.Repeat
	}
	var r *slashprotect.Refusal
	return !got.Allowed && errors.As(got.Err(), &r) && r.Rule == v.Rule && errors.Is(got.Err(), v.Rule.Err())
}

// SlashableAttestations reports whether two attestations by one validator
// are slashable together (is_slashable_attestation_data); roots stand for
// the data, nil for unknown data.
func SlashableAttestations(a, b slashprotect.SignedAttestation) bool {
	if a.TargetEpoch == b.TargetEpoch {
		return a.SigningRoot == nil || b.SigningRoot == nil || *a.SigningRoot != *b.SigningRoot
	}
	return (a.SourceEpoch < b.SourceEpoch && b.TargetEpoch < a.TargetEpoch) ||
		(b.SourceEpoch < a.SourceEpoch && a.TargetEpoch < b.TargetEpoch)
}

// SlashableBlocks reports whether two blocks by one proposer are slashable
// together (process_proposer_slashing).
func SlashableBlocks(a, b slashprotect.SignedBlock) bool {
	return a.Slot == b.Slot && (a.SigningRoot == nil || b.SigningRoot == nil || *a.SigningRoot != *b.SigningRoot)
}
