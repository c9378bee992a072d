package duties

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// roster is the set of validators the duties serve: every loaded key, its
// index and status once the beacon node knows it, and its progress through
// doppelganger protection. Every duty reads it; only key changes, the epoch
// refresh and doppelganger protection write it. It has its own lock, held
// only for map reads and writes, never across a request.
type roster struct {
	dgEpochs uint64

	mu sync.Mutex
	// validators holds every loaded key; byIndex those the beacon node knows.
	validators  map[phase0.BLSPubKey]*validator
	byIndex     map[phase0.ValidatorIndex]*validator
	keysChanged bool
}

type validator struct {
	pubkey phase0.BLSPubKey
	index  phase0.ValidatorIndex
	known  bool
	state  *apiv1.Validator
	dg     doppelgangerState
}

// activeAt reports whether the validator is active in epoch (is_active_validator).
func (v *validator) activeAt(epoch phase0.Epoch) bool {
	if !v.known || v.state == nil {
		return false
	}
	if v.state.Validator == nil {
		return v.state.Status.IsActive()
	}
	return v.state.Validator.ActivationEpoch <= epoch && epoch < v.state.Validator.ExitEpoch
}

func newRoster(dgEpochs uint64) *roster {
	return &roster{
		dgEpochs:   dgEpochs,
		validators: map[phase0.BLSPubKey]*validator{},
		byIndex:    map[phase0.ValidatorIndex]*validator{},
	}
}

// add adds keys not held yet and reports whether any was new.
func (r *roster) add(pubkeys ...phase0.BLSPubKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	added := false
	for _, pk := range pubkeys {
		if _, ok := r.validators[pk]; !ok {
			r.validators[pk] = &validator{pubkey: pk}
			r.keysChanged, added = true, true
		}
	}
	return added
}

// remove forgets keys; nothing is signed for them afterwards.
func (r *roster) remove(pubkeys ...phase0.BLSPubKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, pk := range pubkeys {
		if v, ok := r.validators[pk]; ok {
			delete(r.validators, pk)
			if v.known && r.byIndex[v.index] == v {
				delete(r.byIndex, v.index)
			}
			r.keysChanged = true
		}
	}
}

// has reports whether pk is loaded.
func (r *roster) has(pk phase0.BLSPubKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.validators[pk]
	return ok
}

// takeKeysChanged reports whether keys were added or removed since the last
// call, and resets the flag.
func (r *roster) takeKeysChanged() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.keysChanged
	r.keysChanged = false
	return c
}

// markKeysChanged sets the flag again after a refresh that failed.
func (r *roster) markKeysChanged() {
	r.mu.Lock()
	r.keysChanged = true
	r.mu.Unlock()
}

// statuses lists the loaded keys and their status.
func (r *roster) statuses() []ValidatorStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]ValidatorStatus, 0, len(r.validators))
	for _, v := range r.validators {
		st := ValidatorStatus{Pubkey: v.pubkey, Index: v.index, Known: v.known, Signing: v.known && v.dg.done}
		if v.state != nil {
			st.Status = v.state.Status
		}
		out = append(out, st)
	}
	return out
}

// signer returns the public key of the validator with index if it is loaded
// and cleared by doppelganger protection: the only validators any duty may
// ask the signer for.
func (r *roster) signer(index phase0.ValidatorIndex) (phase0.BLSPubKey, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.byIndex[index]
	if !ok || !v.dg.done {
		return phase0.BLSPubKey{}, false
	}
	return v.pubkey, true
}

// owns reports whether index is one of our known validators with pubkey: a
// duty the node returns for anything else is ignored.
func (r *roster) owns(index phase0.ValidatorIndex, pk phase0.BLSPubKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.byIndex[index]
	return ok && v.pubkey == pk
}

// activeIndices lists our known validators active in epoch.
func (r *roster) activeIndices(epoch phase0.Epoch) []phase0.ValidatorIndex {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]phase0.ValidatorIndex, 0, len(r.byIndex))
	for idx, v := range r.byIndex {
		if v.activeAt(epoch) {
			out = append(out, idx)
		}
	}
	return out
}

// indexedKey is a known validator's pubkey and index.
type indexedKey struct {
	pubkey phase0.BLSPubKey
	index  phase0.ValidatorIndex
}

// notExited lists the known validators that have not exited, for proposer
// preparations and registrations.
func (r *roster) notExited() []indexedKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []indexedKey
	for idx, v := range r.byIndex {
		if v.state != nil && !v.state.Status.HasExited() {
			out = append(out, indexedKey{v.pubkey, idx})
		}
	}
	return out
}

// refresh resolves the loaded keys to indices and reads their status at
// head; a key seen for the first time enters doppelganger protection from
// epoch.
func (r *roster) refresh(ctx context.Context, node validatorsClient, epoch phase0.Epoch, log *slog.Logger) error {
	r.mu.Lock()
	pubkeys := make([]phase0.BLSPubKey, 0, len(r.validators))
	for pk := range r.validators {
		pubkeys = append(pubkeys, pk)
	}
	r.mu.Unlock()
	if len(pubkeys) == 0 {
		return nil
	}
	resp, err := node.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: pubkeys})
	if err != nil {
		return err
	}
	if resp == nil {
		return errors.New("empty validators response")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	newlyKnown := 0
	for index, st := range resp.Data {
		if st == nil || st.Validator == nil {
			continue
		}
		v, ok := r.validators[st.Validator.PublicKey]
		if !ok {
			continue // removed meanwhile, or not ours
		}
		if !v.known {
			newlyKnown++
			v.known, v.index = true, index
			r.byIndex[index] = v
			v.dg = newDoppelgangerState(epoch, r.dgEpochs)
		}
		v.state = st
	}
	unknown := len(r.validators) - len(r.byIndex)
	if newlyKnown > 0 || unknown > 0 {
		log.Info("Validators resolved", slog.Int("known", len(r.byIndex)), slog.Int("new", newlyKnown),
			slog.Int("unknown_to_beacon_node", unknown), slog.Uint64("epoch", uint64(epoch)))
	}
	return nil
}

// watched lists, for epoch-1 and epoch, the validators doppelganger
// protection still watches in that epoch.
func (r *roster) watched(epoch phase0.Epoch) map[phase0.Epoch][]phase0.ValidatorIndex {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[phase0.Epoch][]phase0.ValidatorIndex{}
	for idx, v := range r.byIndex {
		if v.dg.done {
			continue
		}
		for _, e := range []phase0.Epoch{epoch - 1, epoch} {
			if e <= epoch && e >= v.dg.watchFrom {
				out[e] = append(out[e], idx)
			}
		}
	}
	return out
}

// clearEpoch counts epoch as clear for the validators and returns how many
// have now been watched long enough to sign.
func (r *roster) clearEpoch(epoch phase0.Epoch, indices []phase0.ValidatorIndex) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	enabled := 0
	for _, idx := range indices {
		v, ok := r.byIndex[idx]
		if !ok || v.dg.done || (v.dg.anyCleared && epoch <= v.dg.lastCleared) {
			continue
		}
		v.dg.cleared++
		v.dg.lastCleared, v.dg.anyCleared = epoch, true
		if v.dg.cleared >= r.dgEpochs {
			v.dg.done = true
			enabled++
		}
	}
	return enabled
}
