package slashprotect

import (
	"context"
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Latest is a validator's watermarks and most recent records: what a signer
// needs at start (its long-gap guard) and before each proposal, without
// reading the validator's history.
type Latest struct {
	Watermarks Watermarks
	// AttestationSource and AttestationTarget are the recorded attestation with
	// the highest target (the highest source among several at that target);
	// nil when none is recorded.
	AttestationSource *phase0.Epoch
	AttestationTarget *phase0.Epoch
	// BlockSlot is the highest recorded block slot; nil when none is recorded.
	BlockSlot *phase0.Slot
}

// LatestRecords returns the Latest of every validator among pubkeys that the
// database knows, in one query whatever the number of keys and the length of
// their histories (each validator's newest entries are found by index, not by
// reading its records). Validators the database does not know are absent from
// the map.
func (db *DB) LatestRecords(ctx context.Context, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]Latest, error) {
	if len(pubkeys) == 0 {
		return map[phase0.BLSPubKey]Latest{}, nil
	}
	done, err := db.use()
	if err != nil {
		return nil, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return nil, err
	}
	defer tx.rollback()
	keys := sortedPubkeys(len(pubkeys), func(i int) phase0.BLSPubKey { return pubkeys[i] })
	out, err := tx.latestRecords(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("read latest records of %d validators from %s: %w", len(keys), db.where, err)
	}
	return out, nil
}
