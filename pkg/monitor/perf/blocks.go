package perf

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// block is what the monitor keeps of a canonical block.
type block struct {
	slot       phase0.Slot
	proposer   phase0.ValidatorIndex
	parentRoot phase0.Root
	atts       []attestation
	// syncBits are the sync aggregate's participation bits; nil before Altair.
	syncBits bitfield.Bitvector512
}

// attestation is one attestation carried by a block.
type attestation struct {
	data *phase0.AttestationData
	bits bitfield.Bitlist
	// committees are Electra's committee_bits; nil before Electra, when
	// data.Index names the single committee.
	committees bitfield.Bitvector64
}

// blockSource returns the canonical block at a slot, or nil for an empty slot.
type blockSource func(ctx context.Context, slot phase0.Slot) (*block, error)

// fetchBlock reads and summarises the block at slot.
func fetchBlock(ctx context.Context, node Node, slot phase0.Slot) (*block, error) {
	resp, err := node.SignedBeaconBlock(ctx, &api.SignedBeaconBlockOpts{Block: strconv.FormatUint(uint64(slot), 10)})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("block at slot %d: %w", slot, err)
	}
	if resp == nil || resp.Data == nil {
		return nil, fmt.Errorf("block at slot %d: empty answer", slot)
	}
	v := resp.Data
	b := &block{}
	if b.slot, err = v.Slot(); err != nil {
		return nil, fmt.Errorf("block at slot %d: %w", slot, err)
	}
	if b.slot != slot {
		// A node that answers a slot query with an earlier block (some do
		// for skipped slots) has no block at slot.
		return nil, nil
	}
	if b.proposer, err = v.ProposerIndex(); err != nil {
		return nil, fmt.Errorf("block at slot %d: %w", slot, err)
	}
	if b.parentRoot, err = v.ParentRoot(); err != nil {
		return nil, fmt.Errorf("block at slot %d: %w", slot, err)
	}
	if sa, err := v.SyncAggregate(); err == nil && sa != nil {
		b.syncBits = sa.SyncCommitteeBits
	}
	atts, err := v.Attestations()
	if err != nil {
		return nil, fmt.Errorf("attestations of block at slot %d: %w", slot, err)
	}
	for _, a := range atts {
		data, err := a.Data()
		if err != nil {
			return nil, fmt.Errorf("attestation in block at slot %d: %w", slot, err)
		}
		bits, err := a.AggregationBits()
		if err != nil {
			return nil, fmt.Errorf("attestation in block at slot %d: %w", slot, err)
		}
		att := attestation{data: data, bits: bits}
		if a.Version >= spec.DataVersionElectra {
			if att.committees, err = a.CommitteeBits(); err != nil {
				return nil, fmt.Errorf("attestation in block at slot %d: %w", slot, err)
			}
		}
		b.atts = append(b.atts, att)
	}
	return b, nil
}

// blockCache keeps the blocks of recent slots so that consecutive epochs,
// which share the blocks of one epoch, read each block once.
type blockCache struct {
	node Node

	mu     sync.Mutex
	blocks map[phase0.Slot]*block
}

func newBlockCache(node Node) *blockCache {
	return &blockCache{node: node, blocks: make(map[phase0.Slot]*block)}
}

func (c *blockCache) get(ctx context.Context, slot phase0.Slot) (*block, error) {
	c.mu.Lock()
	b, ok := c.blocks[slot]
	c.mu.Unlock()
	if ok {
		return b, nil
	}
	b, err := fetchBlock(ctx, c.node, slot)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.blocks[slot] = b
	c.mu.Unlock()
	return b, nil
}

// forget drops the blocks before slot.
func (c *blockCache) forget(before phase0.Slot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.blocks {
		if s < before {
			delete(c.blocks, s)
		}
	}
}
