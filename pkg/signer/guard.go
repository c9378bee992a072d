package signer

import (
	"context"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// checkFuture refuses a block or attestation more than one epoch ahead of the
// wall clock: its slot more than SLOTS_PER_EPOCH slots after the current slot,
// or its epoch more than one after the current epoch. A beacon node (or the local clock it was compared with) that
// runs ahead would otherwise make the validator sign far-future messages
// whose records then block every honest message until the chain catches up
// (the Medalla clock incident); one epoch of slack covers next-epoch duties
// and ordinary clock skew.
func (s *Signer) checkFuture(now time.Time, slot phase0.Slot, epoch phase0.Epoch) error {
	cur := s.spec().SlotAt(now)
	curEpoch := s.spec().EpochAtSlot(cur)
	if uint64(slot) > uint64(cur)+s.spec().SlotsPerEpoch || epoch > curEpoch+1 {
		return fmt.Errorf("%w: slot %d (epoch %d) while the wall clock is at slot %d (epoch %d)",
			ErrFuture, slot, epoch, cur, curEpoch)
	}
	return nil
}

// gapGuarded reports whether the long-gap guard is active.
func (s *Signer) gapGuarded() bool { return s.maxGapEpochs > 0 && !s.allowLongGap }

// loadLatest reads, for every key not seen yet, its latest recorded block or
// attestation epoch from the slashing database: one query for all of them,
// once per key per process.
func (s *Signer) loadLatest(ctx context.Context, pks []phase0.BLSPubKey) error {
	if !s.gapGuarded() {
		return nil
	}
	var missing []phase0.BLSPubKey
	s.latestMu.Lock()
	for _, pk := range pks {
		if _, ok := s.latest[pk]; !ok {
			missing = append(missing, pk)
		}
	}
	s.latestMu.Unlock()
	if len(missing) == 0 {
		return nil
	}
	found, err := s.db.LatestRecords(ctx, missing)
	if err != nil {
		return fmt.Errorf("read slashing history of %d keys: %w", len(missing), err)
	}
	for _, pk := range missing {
		// A key the database does not know has no history: latestEpoch{}.
		s.noteLatest(pk, s.latestEpochOf(found[pk]))
	}
	return nil
}

// latestEpochOf is the latest epoch a key's records and watermarks reach.
func (s *Signer) latestEpochOf(l slashprotect.Latest) latestEpoch {
	var out latestEpoch
	see := func(e phase0.Epoch) {
		if !out.known || e > out.epoch {
			out = latestEpoch{epoch: e, known: true}
		}
	}
	for _, e := range []*phase0.Epoch{l.AttestationTarget, l.Watermarks.AttestationTarget} {
		if e != nil {
			see(*e)
		}
	}
	for _, slot := range []*phase0.Slot{l.BlockSlot, l.Watermarks.BlockSlot} {
		if slot != nil {
			see(s.spec().EpochAtSlot(*slot))
		}
	}
	return out
}

// noteLatest raises a key's latest epoch; it never lowers it.
func (s *Signer) noteLatest(pk phase0.BLSPubKey, l latestEpoch) {
	s.latestMu.Lock()
	defer s.latestMu.Unlock()
	cur, ok := s.latest[pk]
	if !ok || (l.known && (!cur.known || l.epoch > cur.epoch)) {
		s.latest[pk] = l
	}
}

// checkGap refuses a block or attestation at epoch more than maxGapEpochs
// after the key's latest recorded one. A validator that signed at epoch E and
// is asked for epoch E+N with N large is either back from a long outage or is
// being fed a wrong clock or a beacon node on a runaway chain; the second
// would raise its watermarks into the future and stop it from attesting for
// N epochs, so the operator must confirm the first with the override.
// Keys without history are not checked: the future guard covers them.
func (s *Signer) checkGap(pk phase0.BLSPubKey, epoch phase0.Epoch) error {
	if !s.gapGuarded() {
		return nil
	}
	s.latestMu.Lock()
	l := s.latest[pk]
	s.latestMu.Unlock()
	if l.known && epoch > l.epoch && uint64(epoch-l.epoch) > s.maxGapEpochs {
		return fmt.Errorf("%w: epoch %d is %d epochs after the latest signed epoch %d (limit %d); "+
			"if the validator really was offline that long, restart with the long-gap override",
			ErrLongGap, epoch, epoch-l.epoch, l.epoch, s.maxGapEpochs)
	}
	return nil
}
