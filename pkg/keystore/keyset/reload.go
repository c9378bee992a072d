package keyset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

// The signer and the duties as key reloading changes them; *signer.Signer
// and *duties.Service satisfy these.
type (
	signerKeys interface {
		HasKey(phase0.BLSPubKey) bool
		Pubkeys() []phase0.BLSPubKey
		AddKeys(keys ...*keystore.Key) error
		RemoveKeys(pubkeys ...phase0.BLSPubKey) int
	}
	dutyKeys interface {
		AddPubkeys(pubkeys ...phase0.BLSPubKey)
		RemovePubkeys(pubkeys ...phase0.BLSPubKey)
	}
)

// Removal guard defaults: a poll that would remove more than
// DefaultMaxRemovalShare of the loaded keys (and more than one key) takes
// effect only once DefaultRemovalPolls polls in a row agree, or on an
// explicit reload (SIGHUP).
const (
	DefaultMaxRemovalShare = 0.1
	DefaultRemovalPolls    = 3
)

// ErrEmptyListing refuses a poll in which a store that loaded keys lists
// none: a Vault remount, a lagging replica, a wrong namespace or an
// unmounted disk look exactly like that, and dropping every key would stop
// every validator (an operator who really emptied a store confirms with
// SIGHUP).
var ErrEmptyListing = errors.New("a key store listed no keys while keys from it are loaded")

// ErrMassRemoval defers a poll that would remove many keys at once until
// enough polls in a row agree or the operator reloads explicitly.
var ErrMassRemoval = errors.New("too many keys would be removed at once")

// Reloader keeps a signer and its duties holding exactly the set's keys.
type Reloader struct {
	set    *Set
	signer signerKeys
	duties dutyKeys
	log    *slog.Logger
	share  float64
	polls  int

	// pending counts how many polls in a row proposed the same mass removal.
	pending     map[phase0.BLSPubKey]bool
	pendingSeen int
}

// NewReloader returns a Reloader of set into sgn and svc with the default
// removal guard.
func NewReloader(set *Set, sgn signerKeys, svc dutyKeys) *Reloader {
	return &Reloader{set: set, signer: sgn, duties: svc, log: set.log,
		share: DefaultMaxRemovalShare, polls: DefaultRemovalPolls}
}

// Run reloads every interval (if not 0) and whenever explicit delivers (the
// operator's SIGHUP), until ctx ends. A failed reload changes nothing and is
// logged.
func (r *Reloader) Run(ctx context.Context, interval time.Duration, explicit <-chan os.Signal) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		confirmed := false
		select {
		case <-ctx.Done():
			return
		case <-explicit:
			r.log.Info("SIGHUP: reloading the key stores")
			confirmed = true
		case <-tick:
		}
		if err := r.Sync(ctx, confirmed); err != nil {
			r.log.Warn("Failed to reload the key stores; keeping the keys already loaded", slog.Any("error", err))
		}
	}
}

// Sync makes the signer and the duties hold exactly the stores' keys. A
// removed key stops signing first in the duties, then in the signer: the
// operator may be moving it to another machine. confirmed is an explicit
// reload by the operator, which lifts the guards against store faults.
func (r *Reloader) Sync(ctx context.Context, confirmed bool) error {
	l, err := r.set.List(ctx)
	if err != nil {
		return err
	}
	loaded := r.signer.Pubkeys()
	var gone []phase0.BLSPubKey
	for _, pk := range loaded {
		if _, ok := l.Owner[pk]; !ok {
			gone = append(gone, pk)
		}
	}
	if err := r.guardRemoval(l, loaded, gone, confirmed); err != nil {
		return err
	}
	if len(gone) > 0 {
		r.duties.RemovePubkeys(gone...)
		r.signer.RemoveKeys(gone...)
		r.log.Info("Validator keys removed from the key stores; no longer signing for them", slog.Int("keys", len(gone)))
	}
	keys, err := r.set.Load(ctx, l, r.signer.HasKey)
	if err != nil || len(keys) == 0 {
		return err
	}
	if err := r.signer.AddKeys(keys...); err != nil {
		Zero(keys)
		return fmt.Errorf("add keys to the signer: %w", err)
	}
	added := make([]phase0.BLSPubKey, len(keys))
	for i, k := range keys {
		added[i] = k.Pubkey
	}
	r.duties.AddPubkeys(added...)
	r.log.Info("New validator keys picked up", slog.Int("keys", len(added)))
	return nil
}

// guardRemoval refuses removals that look like a store fault rather than an
// operator's decision, unless confirmed.
func (r *Reloader) guardRemoval(l Listing, loaded, gone []phase0.BLSPubKey, confirmed bool) error {
	if len(gone) == 0 {
		r.pending, r.pendingSeen = nil, 0
		return nil
	}
	if confirmed {
		r.pending, r.pendingSeen = nil, 0
		if len(gone) > 1 {
			r.log.Warn("Removing keys on an explicit reload", slog.Int("keys", len(gone)), slog.Int("loaded", len(loaded)))
		}
		return nil
	}
	for i, src := range r.set.sources {
		if l.Counts[i] > 0 {
			continue
		}
		held := 0
		for _, pk := range gone {
			if r.set.Origin(pk) == src.Name {
				held++
			}
		}
		if held > 0 {
			return fmt.Errorf("%w: the %s store listed 0 keys while %d loaded keys came from it; "+
				"check the store (mount, namespace, disk) -- if it really is empty on purpose, send SIGHUP to confirm", ErrEmptyListing, src.Name, held)
		}
	}
	if len(gone) <= 1 || float64(len(gone)) <= r.share*float64(len(loaded)) {
		r.pending, r.pendingSeen = nil, 0
		return nil
	}
	if !sameKeys(r.pending, gone) {
		r.pending, r.pendingSeen = map[phase0.BLSPubKey]bool{}, 0
		for _, pk := range gone {
			r.pending[pk] = true
		}
	}
	r.pendingSeen++
	if r.pendingSeen >= r.polls {
		r.log.Warn("Removing many keys after consecutive polls agreed", slog.Int("keys", len(gone)), slog.Int("polls", r.pendingSeen))
		r.pending, r.pendingSeen = nil, 0
		return nil
	}
	return fmt.Errorf("%w: %d of %d loaded keys are gone from the stores; they keep signing until %d polls in a row agree "+
		"(%d so far) or SIGHUP confirms", ErrMassRemoval, len(gone), len(loaded), r.polls, r.pendingSeen)
}

func sameKeys(set map[phase0.BLSPubKey]bool, keys []phase0.BLSPubKey) bool {
	if len(set) != len(keys) {
		return false
	}
	for _, pk := range keys {
		if !set[pk] {
			return false
		}
	}
	return true
}
