package slashprotect

import (
	"context"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// txMode says what a transaction will do, so a backend can pick its locks.
type txMode int

const (
	// modeCheck serialises per validator (check-and-record batches).
	modeCheck txMode = iota
	// modeExclusive serialises against every other writer (import, prune).
	modeExclusive
	// modeRead only reads.
	modeRead
)

// backend is one storage engine. Both engines implement exactly the same
// behaviour; the rules live in rules.go, never in SQL.
type backend interface {
	// ensureValidators creates missing validator rows outside any long
	// transaction (committed at once), so that lockValidators only ever locks
	// existing rows in pubkey order.
	ensureValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) error
	begin(ctx context.Context, mode txMode) (storeTx, error)
	close() error
}

// attQuery names one attestation request's validator and epochs.
type attQuery struct {
	validatorID int64
	source      phase0.Epoch
	target      phase0.Epoch
}

// blockQuery names one block request's validator and slot.
type blockQuery struct {
	validatorID int64
	slot        phase0.Slot
}

// attRow is an attestation record to insert.
type attRow struct {
	validatorID int64
	att         SignedAttestation
}

// blockRow is a block record to insert.
type blockRow struct {
	validatorID int64
	block       SignedBlock
}

// pruneCut names what one prune step deletes of one validator's history:
// attestations with a target below attBelow and blocks at a slot below
// blockBelow (nil: none).
type pruneCut struct {
	validatorID int64
	attBelow    *phase0.Epoch
	blockBelow  *phase0.Slot
}

// pruneResult describes what a prune step deleted of one validator's history.
type pruneResult struct {
	attestations, blocks int64
	// maxSource, maxTarget and maxSlot are the largest values deleted; nil if
	// nothing of that kind was deleted.
	maxSource *phase0.Epoch
	maxTarget *phase0.Epoch
	maxSlot   *phase0.Slot
}

// storeTx is one transaction. Nothing it writes is visible or durable before
// commit returns nil.
type storeTx interface {
	// lockValidators returns the rows for pubkeys (sorted, unique), creating any
	// missing ones, and locks them in that order until the transaction ends.
	lockValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error)
	// listValidators returns validators in pubkey order, all of them when
	// pubkeys is empty; it locks nothing.
	listValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error)
	attestationFacts(ctx context.Context, qs []attQuery) ([]attFacts, error)
	blockFacts(ctx context.Context, qs []blockQuery) ([]blockFacts, error)
	insertAttestations(ctx context.Context, rows []attRow) error
	insertBlocks(ctx context.Context, rows []blockRow) error
	saveWatermarks(ctx context.Context, vs []*validatorState) error
	// attestations and blocks return one validator's records, ordered.
	attestations(ctx context.Context, validatorID int64) ([]SignedAttestation, error)
	blocks(ctx context.Context, validatorID int64) ([]SignedBlock, error)
	// latestRecords returns the watermarks and latest records of every
	// validator among pubkeys (unique) that has a row, in one statement that
	// seeks each validator's newest entries by index.
	latestRecords(ctx context.Context, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]Latest, error)
	// prune deletes what the cuts name and returns one result per cut, in
	// order; PostgreSQL does it in one statement.
	prune(ctx context.Context, cuts []pruneCut) ([]pruneResult, error)
	getMeta(ctx context.Context, key string) ([]byte, bool, error)
	setMeta(ctx context.Context, key string, value []byte) error
	commit(ctx context.Context) error
	// rollback is a no-op after commit.
	rollback()
}

// metaGenesisRoot is the meta key holding the genesis validators root.
const metaGenesisRoot = "genesis_validators_root"

// rootBytes stores an absent signing root as an empty value: distinct from
// every 32-byte root (EIP-3076 "special null value") yet usable in keys.
func rootBytes(r *phase0.Root) []byte {
	if r == nil {
		return []byte{}
	}
	return r[:]
}

func rootFromBytes(b []byte) *phase0.Root {
	if len(b) != len(phase0.Root{}) {
		return nil
	}
	var r phase0.Root
	copy(r[:], b)
	return &r
}

// rowScanner is what both backends' result sets (database/sql and pgx) offer,
// so that one scanner decodes records for both.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanAttestationRows decodes (source, target, root) rows, or (source, root)
// rows for the given target when withTarget is false. The caller closes rows.
func scanAttestationRows(rows rowScanner, withTarget bool, target phase0.Epoch) ([]SignedAttestation, error) {
	var out []SignedAttestation
	for rows.Next() {
		var a SignedAttestation
		var root []byte
		var err error
		if withTarget {
			var s, tg int64
			err = rows.Scan(&s, &tg, &root)
			a.SourceEpoch, a.TargetEpoch = phase0.Epoch(s), phase0.Epoch(tg)
		} else {
			var s int64
			err = rows.Scan(&s, &root)
			a.SourceEpoch, a.TargetEpoch = phase0.Epoch(s), target
		}
		if err != nil {
			return nil, err
		}
		a.SigningRoot = rootFromBytes(root)
		out = append(out, a)
	}
	return out, rows.Err()
}

// scanBlockRows decodes (slot, root) rows. The caller closes rows.
func scanBlockRows(rows rowScanner) ([]SignedBlock, error) {
	var out []SignedBlock
	for rows.Next() {
		var slot int64
		var root []byte
		if err := rows.Scan(&slot, &root); err != nil {
			return nil, err
		}
		out = append(out, SignedBlock{Slot: phase0.Slot(slot), SigningRoot: rootFromBytes(root)})
	}
	return out, rows.Err()
}
