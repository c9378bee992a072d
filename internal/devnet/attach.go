package devnet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// GenesisAttempts bounds how often StartAttached starts a chain: afresh after
// a beacon node died of Prysm's crash at genesis, or with twice the genesis
// delay after the nodes came up too late.
const GenesisAttempts = 3

// GenesisSettleSlots is how long after genesis a start counts as past the
// crash window: the crash happens on the chain's first blocks.
const GenesisSettleSlots = 4

// ErrCrashedAtGenesis means a beacon node died of Prysm's fork choice crash
// on the chain's first blocks in every one of GenesisAttempts starts.
var ErrCrashedAtGenesis = errors.New("prysm beacon node crashed at genesis in every attempt")

// Attach starts the validator clients of a fresh devnet before its genesis.
// The returned stop ends the clients the devnet does not own (its Prysm
// validator clients stop with it), for a start that is thrown away; it may be
// nil when there are none.
type Attach func(ctx context.Context, d *Devnet) (stop func(), err error)

// StartAttached starts a devnet, attaches its validator clients, and returns
// once the chain is GenesisSettleSlots slots old. When the nodes were up only
// after the genesis time (Start's ErrGenesisPassed: on a loaded machine a
// beacon node's KZG setup alone can take half a minute), nothing has been
// attached yet and it starts again with twice the genesis delay. Prysm's beacon-chain has
// died on a chain's first blocks (v5.3.0, about one start in twenty: the
// execution client refuses a forkchoiceUpdated naming the genesis block's
// zero payload hash, and fork choice then dereferences the genesis node's
// missing parent, prysm issue 14892; v7's setOptimisticToInvalid still reads
// node.parent.root without a nil check). Such a start is thrown away, loudly
// (cfg.Logger), its clients stopped, and the chain started afresh in a new
// directory (cfg.Dir, then cfg.Dir-2, cfg.Dir-3), at most GenesisAttempts
// times. Every other failure is returned at once.
//
// When the error comes after the devnet started (attaching or settling), the
// devnet is returned with it, still running, so that the caller can read its
// logs before stopping it; otherwise the devnet is nil.
func StartAttached(ctx context.Context, cfg Config, attach Attach) (*Devnet, error) {
	base := cfg.Dir
	if cfg.GenesisDelay == 0 {
		cfg.GenesisDelay = DefaultGenesisDelay
	}
	for attempt := 1; ; attempt++ {
		c := cfg
		if attempt > 1 {
			c.Dir = fmt.Sprintf("%s-%d", base, attempt)
		}
		d, err := Start(ctx, c)
		if errors.Is(err, ErrGenesisPassed) && attempt < GenesisAttempts {
			cfg.GenesisDelay *= 2
			if cfg.Logger != nil {
				cfg.Logger.Warn("DEVNET UP AFTER ITS GENESIS, starting afresh with a longer genesis delay",
					"attempt", attempt+1, "of", GenesisAttempts, "genesis_delay", cfg.GenesisDelay, "err", err)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		stop, err := attach(ctx, d)
		if err != nil {
			return d, fmt.Errorf("attach validator clients to the devnet: %w", err)
		}
		settled := d.GenesisTime.Add(GenesisSettleSlots * SecondsPerSlot * time.Second)
		timer := time.NewTimer(time.Until(settled))
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return d, ctx.Err()
		}
		err = d.CheckRunning()
		if err == nil {
			return d, nil
		}
		if !d.crashedAtGenesis() {
			return d, fmt.Errorf("devnet in its first %d slots: %w", GenesisSettleSlots, err)
		}
		if attempt == GenesisAttempts {
			return d, fmt.Errorf("%w (%d attempts); the last: %w", ErrCrashedAtGenesis, attempt, err)
		}
		d.log.Warn("PRYSM CRASHED AT GENESIS (prysm issue 14892), starting the chain afresh",
			"attempt", attempt+1, "of", GenesisAttempts, "dir", d.Dir, "err", err)
		if stop != nil {
			stop()
		}
		d.Stop()
	}
}

// crashedAtGenesis reports whether a beacon node died of the fork choice
// crash StartAttached retries: a nil dereference in fork choice's optimistic
// sync code.
func (d *Devnet) crashedAtGenesis() bool {
	for _, p := range d.Processes() {
		if strings.HasPrefix(p.Name, "beacon-") && !p.Running() {
			tail := p.Tail(60)
			if strings.Contains(tail, "panic: runtime error: invalid memory address or nil pointer dereference") &&
				strings.Contains(tail, "forkchoice/doubly-linked-tree/optimistic_sync.go") {
				return true
			}
		}
	}
	return false
}
