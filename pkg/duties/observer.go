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

// observerOf is one Observer reporting to several; none is the no-op one.
func observerOf(obs []Observer) Observer {
	switch len(obs) {
	case 0:
		return nopObserver{}
	case 1:
		return obs[0]
	}
	return observers(obs)
}

type observers []Observer

func (os observers) Scheduled(kind signer.Kind, slot phase0.Slot, n int) {
	for _, o := range os {
		o.Scheduled(kind, slot, n)
	}
}

func (os observers) Performed(kind signer.Kind, slot phase0.Slot, n int, intoSlot time.Duration) {
	for _, o := range os {
		o.Performed(kind, slot, n, intoSlot)
	}
}

func (os observers) Failed(kind signer.Kind, slot phase0.Slot, n int, err error) {
	for _, o := range os {
		o.Failed(kind, slot, n, err)
	}
}
