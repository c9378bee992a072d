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
	// Rule is the slashing-protection rule that refused the message, or
	// slashprotect.RuleNone when one of the signer's own guards did.
	Rule slashprotect.Rule
	// Reason is RuleReason(Rule) for slashing refusals, the guard's otherwise.
	Reason Reason
	Err    error
}

// Error implements error.
func (e *RefusalError) Error() string {
	return fmt.Sprintf("refused to sign %s for %s: %v", e.Kind, pubkey.Short(e.Pubkey), e.Err)
}

// DoubleSigned reports whether the slashing database refused the message
// because it already holds a different one for the same target epoch (a double
// vote) or slot (a double block): what another signer, or an earlier run,
// leaves behind. It spares callers the slashprotect vocabulary.
func (e *RefusalError) DoubleSigned() bool {
	return e.Rule == slashprotect.RuleDoubleVote || e.Rule == slashprotect.RuleDoubleBlock
}

// Unwrap returns ErrRefused and the reason's error.
func (e *RefusalError) Unwrap() []error { return []error{ErrRefused, e.Err} }
