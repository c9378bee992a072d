package signer

import (
	"errors"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrRefused matches every refusal (a *RefusalError), whatever its reason.
	ErrRefused = errors.New("refused to sign")
	// ErrFuture refuses a block or attestation more than one epoch ahead of
	// the wall clock.
	ErrFuture = errors.New("message is more than one epoch ahead of the wall clock")
	// ErrLongGap refuses a block or attestation too far beyond the validator's
	// latest recorded message, unless the long-gap override is set.
	ErrLongGap = errors.New("message is too far beyond the validator's latest signed message (long gap)")
	// ErrUnknownKey refuses a message for a public key the signer does not hold.
	ErrUnknownKey = errors.New("no signing key for this public key")
	// ErrInvalidMessage refuses a message that is nil, incomplete or
	// inconsistent (for example a registration for another pubkey).
	ErrInvalidMessage = errors.New("invalid message")
	// ErrForkMismatch refuses a versioned block whose version is not the fork
	// scheduled at its slot.
	ErrForkMismatch = errors.New("block version does not match the fork scheduled at its slot")
	// ErrNoSlashingDB refuses a block or attestation to a signer built
	// WithoutSlashingDB.
	ErrNoSlashingDB = errors.New("this signer has no slashing-protection database and signs no blocks or attestations")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("signer is closed")
)

// RefusalError is a refused message: Err is a slashprotect *Refusal (so
// errors.Is(err, slashprotect.ErrDoubleVote) works) or one of this package's
// sentinels. errors.Is(err, ErrRefused) matches every RefusalError.
type RefusalError struct {
	Kind   Kind
	Pubkey phase0.BLSPubKey
	Reason Reason
	Err    error
}

// Error implements error.
func (e *RefusalError) Error() string {
	return fmt.Sprintf("refused to sign %s for %s: %v", e.Kind, pubkey.Short(e.Pubkey), e.Err)
}

// Unwrap returns ErrRefused and the reason's error.
func (e *RefusalError) Unwrap() []error { return []error{ErrRefused, e.Err} }

// slashingReason maps a slashprotect rule to a Reason.
func slashingReason(err error) Reason {
	switch {
	case errors.Is(err, slashprotect.ErrDoubleVote):
		return ReasonDoubleVote
	case errors.Is(err, slashprotect.ErrSurroundVote):
		return ReasonSurroundVote
	case errors.Is(err, slashprotect.ErrSurroundedVote):
		return ReasonSurroundedVote
	case errors.Is(err, slashprotect.ErrSourceAfterTarget):
		return ReasonSourceAfterTarget
	case errors.Is(err, slashprotect.ErrDoubleBlock):
		return ReasonDoubleBlock
	case errors.Is(err, slashprotect.ErrBelowWatermark):
		return ReasonBelowWatermark
	case errors.Is(err, slashprotect.ErrInvalidRequest):
		return ReasonInvalidRequest
	default:
		return ReasonUnknownRule
	}
}
