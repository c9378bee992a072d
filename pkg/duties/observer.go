package duties

import (
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// Observer is told what the duties do, for the monitor and the live log;
// each duty is named by the kind of message it produces (signer.Kind).
// Methods must be cheap and safe for concurrent use; they are called from the
// duty goroutines.
type Observer interface {
	// Scheduled reports n duties of kind due at slot.
	Scheduled(kind signer.Kind, slot phase0.Slot, n int)
	// Performed reports n duties of kind for slot submitted, intoSlot after
	// the slot began.
	Performed(kind signer.Kind, slot phase0.Slot, n int, intoSlot time.Duration)
	// Failed reports n duties of kind for slot not done, and why.
	Failed(kind signer.Kind, slot phase0.Slot, n int, err error)
}

type nopObserver struct{}

func (nopObserver) Scheduled(signer.Kind, phase0.Slot, int)                {}
func (nopObserver) Performed(signer.Kind, phase0.Slot, int, time.Duration) {}
func (nopObserver) Failed(signer.Kind, phase0.Slot, int, error)            {}
