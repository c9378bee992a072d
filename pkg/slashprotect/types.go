package slashprotect

import (
	"errors"
	"fmt"
	"math"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Refusal rules. Each is a sentinel that a refused Verdict's error wraps, so
// callers branch with errors.Is; Rule names the same rules as values.
var (
	// ErrSourceAfterTarget refuses an attestation whose source epoch exceeds its
	// target epoch: process_attestation never includes one, yet it would stand as
	// slashing evidence (is_valid_indexed_attestation does not order the epochs).
	ErrSourceAfterTarget = errors.New("source epoch after target epoch")
	// ErrSourceEqualsTarget refuses an attestation whose source epoch equals its
	// target epoch after genesis: only epoch 0 is its own justified checkpoint.
	ErrSourceEqualsTarget = errors.New("source epoch equals target epoch after genesis")
	// ErrDoubleVote refuses an attestation for a target epoch already signed with
	// a different (or unknown) signing root (consensus specs, is_slashable_attestation_data).
	ErrDoubleVote = errors.New("double vote")
	// ErrSurroundVote refuses an attestation that would surround a recorded one.
	ErrSurroundVote = errors.New("surround vote: new attestation surrounds a recorded one")
	// ErrSurroundedVote refuses an attestation that a recorded one would surround.
	ErrSurroundedVote = errors.New("surrounded vote: a recorded attestation surrounds the new one")
	// ErrDoubleBlock refuses a block at a slot already signed with a different
	// (or unknown) signing root (consensus specs, process_proposer_slashing).
	ErrDoubleBlock = errors.New("double block proposal")
	// ErrBelowWatermark refuses a message at or below the validator's low
	// watermark (EIP-3076 conditions 2, 4 and 5).
	ErrBelowWatermark = errors.New("below the low watermark")
	// ErrInvalidRequest refuses a request that cannot be stored faithfully, such
	// as a slot or epoch above 2^63-1.
	ErrInvalidRequest = errors.New("invalid request")
)

// Rule is a slashing-protection rule, carried by every refusal. Its String is
// a stable snake_case name for logs and metric labels; its Err is the
// sentinel that errors.Is matches. The zero Rule is RuleNone.
type Rule uint8

// The rules. Attestations are checked in the order listed (rules.go,
// evaluateAttestation); blocks by RuleInvalidRequest, RuleDoubleBlock and
// RuleBelowWatermark.
const (
	// RuleNone is no rule: the zero value, for allowed messages and for
	// refusals made outside slashing protection.
	RuleNone Rule = iota
	// RuleInvalidRequest refuses what cannot be stored (ErrInvalidRequest).
	RuleInvalidRequest
	// RuleSourceAfterTarget refuses source > target (ErrSourceAfterTarget).
	RuleSourceAfterTarget
	// RuleSourceEqualsTarget refuses source == target > 0 (ErrSourceEqualsTarget).
	RuleSourceEqualsTarget
	// RuleDoubleVote refuses a second vote for a target (ErrDoubleVote).
	RuleDoubleVote
	// RuleBelowWatermark refuses a message at or below a watermark (ErrBelowWatermark).
	RuleBelowWatermark
	// RuleSurroundedVote refuses a vote a recorded one surrounds (ErrSurroundedVote).
	RuleSurroundedVote
	// RuleSurroundVote refuses a vote that surrounds a recorded one (ErrSurroundVote).
	RuleSurroundVote
	// RuleDoubleBlock refuses a second block at a slot (ErrDoubleBlock).
	RuleDoubleBlock
)

// Rules lists every rule except RuleNone, for metrics that declare their
// label values up front.
func Rules() []Rule {
	return []Rule{RuleInvalidRequest, RuleSourceAfterTarget, RuleSourceEqualsTarget, RuleDoubleVote,
		RuleBelowWatermark, RuleSurroundedVote, RuleSurroundVote, RuleDoubleBlock}
}

// String returns the rule's stable name, such as "double_vote".
func (r Rule) String() string {
	switch r {
	case RuleNone:
		return "none"
	case RuleInvalidRequest:
		return "invalid_request"
	case RuleSourceAfterTarget:
		return "source_after_target"
	case RuleSourceEqualsTarget:
		return "source_equals_target"
	case RuleDoubleVote:
		return "double_vote"
	case RuleBelowWatermark:
		return "below_watermark"
	case RuleSurroundedVote:
		return "surrounded_vote"
	case RuleSurroundVote:
		return "surround_vote"
	case RuleDoubleBlock:
		return "double_block"
	default:
		return fmt.Sprintf("rule_%d", uint8(r))
	}
}

// Err returns the rule's sentinel error; nil for RuleNone.
func (r Rule) Err() error {
	switch r {
	case RuleInvalidRequest:
		return ErrInvalidRequest
	case RuleSourceAfterTarget:
		return ErrSourceAfterTarget
	case RuleSourceEqualsTarget:
		return ErrSourceEqualsTarget
	case RuleDoubleVote:
		return ErrDoubleVote
	case RuleBelowWatermark:
		return ErrBelowWatermark
	case RuleSurroundedVote:
		return ErrSurroundedVote
	case RuleSurroundVote:
		return ErrSurroundVote
	case RuleDoubleBlock:
		return ErrDoubleBlock
	default:
		return nil
	}
}

// Infrastructure and configuration errors.
var (
	// ErrWrongNetwork means a genesis validators root differs from the one the
	// database recorded: it belongs to another network.
	ErrWrongNetwork = errors.New("genesis validators root belongs to another network")
	// ErrNetworkUnknown means the database has not recorded its genesis validators
	// root yet and the caller did not supply one.
	ErrNetworkUnknown = errors.New("slashing database does not know its network (genesis validators root) yet")
	// ErrInUse means another process holds the database.
	ErrInUse = errors.New("slashing database is in use by another vigil process")
	// ErrInterchange marks an interchange file that is malformed or inconsistent.
	ErrInterchange = errors.New("invalid interchange file")
	// ErrClosed is returned by methods called after Close.
	ErrClosed = errors.New("slashing database is closed")
)

// maxStored is the largest slot or epoch the backends store (signed 64-bit
// integer columns). Real chains are many orders of magnitude below it.
const maxStored = math.MaxInt64

// AttestationRequest asks to sign one attestation.
type AttestationRequest struct {
	Pubkey      phase0.BLSPubKey
	SourceEpoch phase0.Epoch
	TargetEpoch phase0.Epoch
	// SigningRoot is compute_signing_root(attestation_data, domain).
	SigningRoot phase0.Root
}

// BlockRequest asks to sign one block proposal.
type BlockRequest struct {
	Pubkey phase0.BLSPubKey
	Slot   phase0.Slot
	// SigningRoot is compute_signing_root(block, domain).
	SigningRoot phase0.Root
}

// SignedAttestation is a recorded attestation. SigningRoot is nil when the
// record came from an interchange file without one.
type SignedAttestation struct {
	SourceEpoch phase0.Epoch
	TargetEpoch phase0.Epoch
	SigningRoot *phase0.Root
}

// SignedBlock is a recorded block proposal. SigningRoot is nil when the record
// came from an interchange file without one.
type SignedBlock struct {
	Slot        phase0.Slot
	SigningRoot *phase0.Root
}

// Watermarks are a validator's low watermarks; nil means none yet. A block at
// or below BlockSlot, an attestation with source below AttestationSource, or
// with target at or below AttestationTarget is refused unless it repeats a
// recorded message.
type Watermarks struct {
	BlockSlot         *phase0.Slot
	AttestationSource *phase0.Epoch
	AttestationTarget *phase0.Epoch
}

// Verdict is the answer to one request. The zero Verdict is a refusal without
// a reason and is never returned.
type Verdict struct {
	// Allowed means the record is durably committed and the message may be signed.
	Allowed bool
	// Repeat means the identical message (same signing root) was already
	// recorded, so nothing new was written.
	Repeat bool
	// Refusal is set when Allowed is false.
	Refusal *Refusal
}

// Err is nil for an allowed verdict and the *Refusal otherwise.
func (v Verdict) Err() error {
	if v.Allowed {
		return nil
	}
	if v.Refusal == nil {
		return &Refusal{Rule: RuleInvalidRequest}
	}
	return v.Refusal
}

// Refusal says which rule refused a message and what it conflicts with.
// errors.Is(refusal, ErrDoubleVote) and so on match its Rule.
type Refusal struct {
	// Rule is the rule that refused the message.
	Rule Rule
	// Attestation is the conflicting recorded attestation, for attestation rules.
	Attestation *SignedAttestation
	// Block is the conflicting recorded block, for ErrDoubleBlock.
	Block *SignedBlock
	// Watermark is the watermark value crossed, for ErrBelowWatermark.
	Watermark *uint64
	// Detail describes the refused message and conflict for logs and operators.
	Detail string
}

// Error implements error.
func (r *Refusal) Error() string {
	what := any(r.Rule)
	if err := r.Rule.Err(); err != nil {
		what = err
	}
	if r.Detail == "" {
		return fmt.Sprintf("refused: %v", what)
	}
	return fmt.Sprintf("refused: %v: %s", what, r.Detail)
}

// Unwrap returns the rule's sentinel.
func (r *Refusal) Unwrap() error { return r.Rule.Err() }

func rootString(r *phase0.Root) string {
	if r == nil {
		return "(no signing root)"
	}
	return fmt.Sprintf("%#x", r[:])
}
