package slashprotect

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// ErrWrongTiming means a genesis time or slot timing differs from the one the
// database recorded for its network (or from a known network's): whoever
// supplied it (a beacon node, an operator's flag) is wrong or lying about the
// chain's clock.
var ErrWrongTiming = errors.New("chain timing differs from the slashing database's")

// Timing is a chain's clock: when slot 0 began and how long slots and epochs
// last (compute_time_at_slot, consensus specs). It tells the current slot, which
// the signer's far-future guard and Import's far-future check both need.
type Timing struct {
	GenesisTime   time.Time
	SlotDuration  time.Duration
	SlotsPerEpoch uint64
}

// Meta keys of the timing, recorded beside the genesis validators root the
// first time a caller binds the network with it.
const (
	metaGenesisTime   = "genesis_time"     // Unix seconds, decimal
	metaSlotDuration  = "slot_duration_ms" // milliseconds, decimal
	metaSlotsPerEpoch = "slots_per_epoch"  // decimal
)

func (t Timing) validate() error {
	switch {
	case t.GenesisTime.IsZero() || t.GenesisTime.Unix() <= 0:
		return errors.New("chain timing: genesis time is missing")
	case t.SlotDuration < time.Millisecond || t.SlotDuration%time.Millisecond != 0:
		return fmt.Errorf("chain timing: slot duration %s must be a positive whole number of milliseconds", t.SlotDuration)
	case t.SlotsPerEpoch == 0 || t.SlotsPerEpoch > math.MaxInt32:
		return fmt.Errorf("chain timing: slots per epoch %d must be between 1 and 2^31-1", t.SlotsPerEpoch)
	}
	return nil
}

// equal compares timings at the precision the chain and the database keep:
// whole seconds for the genesis time, milliseconds for the slot.
func (t Timing) equal(o Timing) bool {
	return t.GenesisTime.Unix() == o.GenesisTime.Unix() && t.SlotDuration == o.SlotDuration && t.SlotsPerEpoch == o.SlotsPerEpoch
}

// SlotAt returns the slot at wall-clock time now: 0 before genesis.
func (t Timing) SlotAt(now time.Time) phase0.Slot {
	if !now.After(t.GenesisTime) || t.SlotDuration <= 0 {
		return 0
	}
	return phase0.Slot(uint64(now.Sub(t.GenesisTime) / t.SlotDuration))
}

// EpochAt returns the epoch at wall-clock time now: 0 before genesis.
func (t Timing) EpochAt(now time.Time) phase0.Epoch {
	if t.SlotsPerEpoch == 0 {
		return 0
	}
	return phase0.Epoch(uint64(t.SlotAt(now)) / t.SlotsPerEpoch)
}

// String describes the timing for errors and logs.
func (t Timing) String() string {
	return fmt.Sprintf("genesis %s (%d), %s slots, %d slots per epoch",
		t.GenesisTime.UTC().Format(time.RFC3339), t.GenesisTime.Unix(), t.SlotDuration, t.SlotsPerEpoch)
}

// KnownNetwork returns the name and timing of a public network vigil knows by
// its genesis validators root, so that a database that never ran can still
// tell the current epoch (Import's far-future check) and a beacon node cannot
// shift a known chain's clock. The values are those each network published:
//   - mainnet: github.com/eth-clients/mainnet README "Genesis information"
//     (commit f6b7882): genesis_time 1606824023.
//   - sepolia: github.com/eth-clients/sepolia README "Meta-data: Bepolia"
//     (commit 0199c04): Genesis Time 1655733600.
//   - holesky: github.com/eth-clients/holesky README (commit 02fd5bf) for the
//     root; metadata/config.yaml MIN_GENESIS_TIME 1695902100 + GENESIS_DELAY 300.
//   - hoodi: github.com/eth-clients/hoodi README (commit 363c577): launch
//     1742213400 (eth1 genesis 1742212800 + GENESIS_DELAY 600).
//
// All four run SECONDS_PER_SLOT 12 and the mainnet preset's SLOTS_PER_EPOCH 32.
// Each matches the network's GET /eth/v1/beacon/genesis answer.
func KnownNetwork(root phase0.Root) (name string, timing Timing, ok bool) {
	for _, n := range []struct {
		name, root  string
		genesisTime int64
	}{
		{"mainnet", "4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95", 1606824023},
		{"sepolia", "d8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078", 1655733600},
		{"holesky", "9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1", 1695902400},
		{"hoodi", "212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f", 1742213400},
	} {
		b, err := hex.DecodeString(n.root)
		if err != nil || len(b) != len(root) {
			continue
		}
		if phase0.Root(b) == root {
			return n.name, Timing{GenesisTime: time.Unix(n.genesisTime, 0).UTC(), SlotDuration: 12 * time.Second, SlotsPerEpoch: 32}, true
		}
	}
	return "", Timing{}, false
}

// checkKnownTiming refuses timing for a known network's root that is not the
// network's published timing.
func checkKnownTiming(root phase0.Root, timing Timing) error {
	name, known, ok := KnownNetwork(root)
	if !ok || known.equal(timing) {
		return nil
	}
	return fmt.Errorf("genesis validators root %#x is %s's, whose timing is %s, but %s was given: "+
		"whoever supplied it (a beacon node, a flag) is misconfigured or lying about the chain's clock: %w",
		root[:], name, known, timing, ErrWrongTiming)
}

// Timing returns the chain timing the database recorded; ok is false while it
// has none (a database that never ran a signer).
func (db *DB) Timing(ctx context.Context) (timing Timing, ok bool, err error) {
	done, err := db.use()
	if err != nil {
		return timing, false, err
	}
	defer done()
	tx, err := db.b.begin(ctx, modeRead)
	if err != nil {
		return timing, false, err
	}
	defer tx.rollback()
	return readTiming(ctx, tx)
}

// BindNetwork binds the database to the network a signer is about to sign
// for: it records the genesis validators root and the chain timing the first
// time they are given (migrating a database that has only the root), and from
// then on refuses another root with ErrWrongNetwork and other timing with
// ErrWrongTiming. Timing for a known network's root (KnownNetwork) must be that
// network's. The signer calls it at start with what its beacon node reported,
// so a node that shifts the genesis time, and with it the far-future guard's
// "now", is refused.
func (db *DB) BindNetwork(ctx context.Context, root phase0.Root, timing Timing) error {
	if err := timing.validate(); err != nil {
		return err
	}
	if err := checkKnownTiming(root, timing); err != nil {
		return err
	}
	done, err := db.use()
	if err != nil {
		return err
	}
	defer done()
	// Read first, so that a bound database (every start but the first) does
	// not take the exclusive lock that would pause other instances' batches.
	bound, err := db.checkBinding(ctx, modeRead, root, timing, false)
	if err != nil || bound {
		return err
	}
	if _, err := db.checkBinding(ctx, modeExclusive, root, timing, true); err != nil {
		return err
	}
	return nil
}

// checkBinding compares root and timing with what the database recorded, and
// records what is missing when write is set (committing). It reports whether
// both were already recorded and equal.
func (db *DB) checkBinding(ctx context.Context, mode txMode, root phase0.Root, timing Timing, write bool) (bool, error) {
	tx, err := db.b.begin(ctx, mode)
	if err != nil {
		return false, err
	}
	defer tx.rollback()
	v, rootKnown, err := tx.getMeta(ctx, metaGenesisRoot)
	if err != nil {
		return false, err
	}
	if rootKnown && !bytes.Equal(v, root[:]) {
		return false, fmt.Errorf("slashing database %s records genesis validators root %#x, but the beacon node serves %#x: "+
			"use beacon nodes of the database's network, or this network's slashing database: %w", db.where, v, root[:], ErrWrongNetwork)
	}
	recorded, timingKnown, err := readTiming(ctx, tx)
	if err != nil {
		return false, err
	}
	if timingKnown && !recorded.equal(timing) {
		return false, fmt.Errorf("slashing database %s recorded this network's timing as %s, but %s was given: "+
			"a beacon node that shifts the genesis time or the slot length moves vigil's idea of the current slot, "+
			"and with it the far-future guard; check the beacon node, or use another node of this network: %w",
			db.where, recorded, timing, ErrWrongTiming)
	}
	if rootKnown && timingKnown {
		db.network.Store(&root)
		return true, nil
	}
	if !write {
		return false, nil
	}
	if !rootKnown {
		if err := tx.setMeta(ctx, metaGenesisRoot, root[:]); err != nil {
			return false, err
		}
	}
	if err := writeTiming(ctx, tx, timing); err != nil {
		return false, err
	}
	if err := tx.commit(ctx); err != nil {
		return false, fmt.Errorf("record the network in %s: %w", db.where, err)
	}
	db.network.Store(&root)
	return false, nil
}

// readTiming reads the recorded timing; ok is false when any part is missing.
func readTiming(ctx context.Context, tx storeTx) (Timing, bool, error) {
	var vals [3]int64
	for i, key := range []string{metaGenesisTime, metaSlotDuration, metaSlotsPerEpoch} {
		v, ok, err := tx.getMeta(ctx, key)
		if err != nil || !ok {
			return Timing{}, false, err
		}
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil || n <= 0 {
			return Timing{}, false, fmt.Errorf("slashing database meta %s holds %q, not a positive decimal number", key, v)
		}
		vals[i] = n
	}
	return Timing{GenesisTime: time.Unix(vals[0], 0).UTC(), SlotDuration: time.Duration(vals[1]) * time.Millisecond, SlotsPerEpoch: uint64(vals[2])}, true, nil
}

func writeTiming(ctx context.Context, tx storeTx, t Timing) error {
	for _, kv := range []struct {
		key string
		v   int64
	}{
		{metaGenesisTime, t.GenesisTime.Unix()},
		{metaSlotDuration, t.SlotDuration.Milliseconds()},
		{metaSlotsPerEpoch, int64(t.SlotsPerEpoch)},
	} {
		if err := tx.setMeta(ctx, kv.key, []byte(strconv.FormatInt(kv.v, 10))); err != nil {
			return err
		}
	}
	return nil
}
