package duties

import (
	"errors"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/signer"
)

var (
	// ErrDoppelganger stops the service: the beacon node saw one of our
	// validators live while doppelganger protection was watching, so another
	// client is signing with the key. Restarting would risk a slashing.
	ErrDoppelganger = errors.New("doppelganger detected: a validator key is live elsewhere on the network")
	// ErrConcurrentSigner stops the service: slashing protection refused a
	// message the beacon node asked for in a way only another instance
	// writing to the same database (or signing with the same keys) explains.
	ErrConcurrentSigner = errors.New("slashing protection refused a requested message: another instance appears to be signing with these keys")
	// ErrMissingOption names a mandatory option New was not given.
	ErrMissingOption = errors.New("mandatory option missing")
	// ErrInvalidOption names an option New was given an unusable value for.
	ErrInvalidOption = errors.New("invalid option")
	// ErrAlreadyRunning is returned by a second concurrent Run.
	ErrAlreadyRunning = errors.New("duties service is already running")
)

// UnsafeToRestart reports whether err means the validator client must not be
// restarted automatically (exit code 2): a doppelganger or a concurrent signer.
func UnsafeToRestart(err error) bool {
	return errors.Is(err, ErrDoppelganger) || errors.Is(err, ErrConcurrentSigner)
}

// concurrentSignerRefusal decides whether a signer refusal betrays another
// instance. The beacon node asked for the message because it is due now; a
// double vote or double block against it means the slashing database already
// holds a different message for the same target epoch or slot. This service
// signs each target epoch and slot at most once (it remembers them), so such a
// record was written by someone else, unless it predates this run: a restart
// within an epoch can meet its own predecessor's records for that epoch. Only
// refusals after the epoch (attestations) or slot (blocks) in which this run
// started therefore count.
func concurrentSignerRefusal(err error, kind signer.Kind, slot phase0.Slot, targetEpoch phase0.Epoch, start runStart, pk phase0.BLSPubKey) error {
	var refusal *signer.RefusalError
	if !errors.As(err, &refusal) {
		return nil
	}
	switch {
	case kind == signer.KindAttestation && refusal.DoubleSigned() && targetEpoch > start.epoch:
	case kind == signer.KindBlock && refusal.DoubleSigned() && slot > start.slot:
	default:
		return nil
	}
	return fmt.Errorf("%w: %s refused at slot %d for validator %s: %w", ErrConcurrentSigner, kind, slot, pubkey.Short(pk), err)
}

// restartedDoubleVote reports whether err is a double-vote refusal for a
// target epoch this run did not start after: its predecessor's record.
func restartedDoubleVote(err error, targetEpoch, startEpoch phase0.Epoch) bool {
	var refusal *signer.RefusalError
	return errors.As(err, &refusal) && refusal.DoubleSigned() && targetEpoch <= startEpoch
}
