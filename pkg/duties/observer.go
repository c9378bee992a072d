package duties

import (
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Kind names a kind of duty, as a stable label for the monitor.
type Kind string

// Kinds of duties.
const (
	KindAttestation                 Kind = "attestation"
	KindAggregate                   Kind = "aggregate"
	KindProposal                    Kind = "proposal"
	KindSyncCommitteeMessage        Kind = "sync_committee_message"
	KindSyncCommitteeContribution   Kind = "sync_committee_contribution"
	KindBeaconCommitteeSubscription Kind = "beacon_committee_subscription"
	KindSyncCommitteeSubscription   Kind = "sync_committee_subscription"
	KindProposerPreparation         Kind = "proposer_preparation"
	KindValidatorRegistration       Kind = "validator_registration"
)

// Observer is told what the duties do, for the monitor. Methods must be cheap
// and safe for concurrent use; they are called from the duty goroutines.
type Observer interface {
	// Scheduled reports n duties of kind due at slot.
	Scheduled(kind Kind, slot phase0.Slot, n int)
	// Performed reports n duties of kind for slot submitted, intoSlot after
	// the slot began.
	Performed(kind Kind, slot phase0.Slot, n int, intoSlot time.Duration)
	// Failed reports n duties of kind for slot not done, and why.
	Failed(kind Kind, slot phase0.Slot, n int, err error)
}

type nopObserver struct{}

func (nopObserver) Scheduled(Kind, phase0.Slot, int)                {}
func (nopObserver) Performed(Kind, phase0.Slot, int, time.Duration) {}
func (nopObserver) Failed(Kind, phase0.Slot, int, error)            {}
