package slashprotecttest

import (
	"errors"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// Model is a brute-force reference for the slashing rules, written from the
// consensus specs' is_slashable_attestation_data and process_proposer_slashing
// and EIP-3076 conditions 2, 4 and 5 (minima over every recorded message). It
// keeps every allowed message in a list and checks each new one against all.
type Model struct {
	atts   map[phase0.BLSPubKey][]slashprotect.AttestationRequest
	blocks map[phase0.BLSPubKey][]slashprotect.BlockRequest
}

// NewModel returns an empty model.
func NewModel() *Model {
	return &Model{
		atts:   make(map[phase0.BLSPubKey][]slashprotect.AttestationRequest),
		blocks: make(map[phase0.BLSPubKey][]slashprotect.BlockRequest),
	}
}

// ModelVerdict is the model's answer: Rule is nil when allowed.
type ModelVerdict struct {
	Rule   error
	Repeat bool
}

// Attest decides and (if allowed and new) records one attestation.
func (m *Model) Attest(req slashprotect.AttestationRequest) ModelVerdict {
	if req.SourceEpoch > req.TargetEpoch {
		return ModelVerdict{Rule: slashprotect.ErrSourceAfterTarget}
	}
	prev := m.atts[req.Pubkey]
	repeat := false
	for _, p := range prev {
		if p.TargetEpoch == req.TargetEpoch {
			if p.SigningRoot != req.SigningRoot {
				return ModelVerdict{Rule: slashprotect.ErrDoubleVote}
			}
			repeat = true
		}
	}
	if repeat {
		return ModelVerdict{Repeat: true}
	}
	if len(prev) > 0 {
		minS, minT := prev[0].SourceEpoch, prev[0].TargetEpoch
		for _, p := range prev {
			minS, minT = min(minS, p.SourceEpoch), min(minT, p.TargetEpoch)
		}
		if req.SourceEpoch < minS || req.TargetEpoch <= minT {
			return ModelVerdict{Rule: slashprotect.ErrBelowWatermark}
		}
	}
	for _, p := range prev {
		if p.SourceEpoch < req.SourceEpoch && req.TargetEpoch < p.TargetEpoch {
			return ModelVerdict{Rule: slashprotect.ErrSurroundedVote}
		}
	}
	for _, p := range prev {
		if req.SourceEpoch < p.SourceEpoch && p.TargetEpoch < req.TargetEpoch {
			return ModelVerdict{Rule: slashprotect.ErrSurroundVote}
		}
	}
	m.atts[req.Pubkey] = append(prev, req)
	return ModelVerdict{}
}

// Propose decides and (if allowed and new) records one block.
func (m *Model) Propose(req slashprotect.BlockRequest) ModelVerdict {
	prev := m.blocks[req.Pubkey]
	repeat := false
	for _, p := range prev {
		if p.Slot == req.Slot {
			if p.SigningRoot != req.SigningRoot {
				return ModelVerdict{Rule: slashprotect.ErrDoubleBlock}
			}
			repeat = true
		}
	}
	if repeat {
		return ModelVerdict{Repeat: true}
	}
	if len(prev) > 0 {
		minSlot := prev[0].Slot
		for _, p := range prev {
			minSlot = min(minSlot, p.Slot)
		}
		if req.Slot <= minSlot {
			return ModelVerdict{Rule: slashprotect.ErrBelowWatermark}
		}
	}
	m.blocks[req.Pubkey] = append(prev, req)
	return ModelVerdict{}
}

// Matches reports whether a database verdict equals the model's.
func (v ModelVerdict) Matches(got slashprotect.Verdict) bool {
	if v.Rule == nil {
		return got.Allowed && got.Repeat == v.Repeat
	}
	return !got.Allowed && errors.Is(got.Err(), v.Rule)
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
