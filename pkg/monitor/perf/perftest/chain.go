// Package perftest provides a fake chain for the performance monitor: an
// in-memory perf.Node, and the same data served as Beacon API routes on a
// beacontest.Node, with builders for Deneb and Electra blocks.
package perftest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/holiman/uint256"
)

// Chain is a fake beacon node's data. Its zero value is not usable; call
// NewChain. Fields may be set before use; the methods are safe for
// concurrent use.
type Chain struct {
	mu sync.Mutex
	// Rewards by epoch; an epoch without rewards answers 404.
	rewards    map[phase0.Epoch]*apiv1.AttestationRewards
	attesters  map[phase0.Epoch][]*apiv1.AttesterDuty
	proposers  map[phase0.Epoch][]*apiv1.ProposerDuty
	sync       map[phase0.Epoch][]*apiv1.SyncCommitteeDuty
	blocks     map[phase0.Slot]*spec.VersionedSignedBeaconBlock
	committees map[phase0.Epoch][]*apiv1.BeaconCommittee
	// validators by the slot of the state.
	validators map[phase0.Slot]map[phase0.ValidatorIndex]*apiv1.Validator
	fail       error
	calls      map[string]int
}

// NewChain returns an empty chain.
func NewChain() *Chain {
	return &Chain{
		rewards:    make(map[phase0.Epoch]*apiv1.AttestationRewards),
		attesters:  make(map[phase0.Epoch][]*apiv1.AttesterDuty),
		proposers:  make(map[phase0.Epoch][]*apiv1.ProposerDuty),
		sync:       make(map[phase0.Epoch][]*apiv1.SyncCommitteeDuty),
		blocks:     make(map[phase0.Slot]*spec.VersionedSignedBeaconBlock),
		committees: make(map[phase0.Epoch][]*apiv1.BeaconCommittee),
		validators: make(map[phase0.Slot]map[phase0.ValidatorIndex]*apiv1.Validator),
		calls:      make(map[string]int),
	}
}

// SetRewards sets an epoch's attestation rewards.
func (c *Chain) SetRewards(epoch phase0.Epoch, r *apiv1.AttestationRewards) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rewards[epoch] = r
}

// AddAttesterDuty adds an attester duty in epoch.
func (c *Chain) AddAttesterDuty(epoch phase0.Epoch, d *apiv1.AttesterDuty) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.attesters[epoch] = append(c.attesters[epoch], d)
}

// AddProposerDuty adds a proposer duty in epoch.
func (c *Chain) AddProposerDuty(epoch phase0.Epoch, d *apiv1.ProposerDuty) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.proposers[epoch] = append(c.proposers[epoch], d)
}

// AddSyncDuty adds a sync committee duty in epoch.
func (c *Chain) AddSyncDuty(epoch phase0.Epoch, d *apiv1.SyncCommitteeDuty) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sync[epoch] = append(c.sync[epoch], d)
}

// SetBlock puts a block at its slot.
func (c *Chain) SetBlock(b *spec.VersionedSignedBeaconBlock) {
	slot, err := b.Slot()
	if err != nil {
		panic(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.blocks[slot] = b
}

// SetCommittees sets an epoch's beacon committees.
func (c *Chain) SetCommittees(epoch phase0.Epoch, committees []*apiv1.BeaconCommittee) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.committees[epoch] = committees
}

// SetValidator sets a validator as the state at slot holds it.
func (c *Chain) SetValidator(slot phase0.Slot, v *apiv1.Validator) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.validators[slot] == nil {
		c.validators[slot] = make(map[phase0.ValidatorIndex]*apiv1.Validator)
	}
	c.validators[slot][v.Index] = v
}

// SetFailure makes every call fail with err (nil restores answers).
func (c *Chain) SetFailure(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fail = err
}

// Calls returns how many times the named method was called.
func (c *Chain) Calls(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[method]
}

func (c *Chain) enter(method string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls[method]++
	return c.fail
}

func notFound(what string) error {
	return &api.Error{Method: http.MethodGet, Endpoint: what, StatusCode: http.StatusNotFound, Data: []byte(`{"code":404,"message":"not found"}`)}
}

func filter[T any](items []T, indices []phase0.ValidatorIndex, index func(T) phase0.ValidatorIndex) []T {
	if len(indices) == 0 {
		return items
	}
	want := make(map[phase0.ValidatorIndex]bool, len(indices))
	for _, i := range indices {
		want[i] = true
	}
	var out []T
	for _, it := range items {
		if want[index(it)] {
			out = append(out, it)
		}
	}
	return out
}

// AttestationRewards implements perf.Node.
func (c *Chain) AttestationRewards(_ context.Context, opts *api.AttestationRewardsOpts) (*api.Response[*apiv1.AttestationRewards], error) {
	if err := c.enter("AttestationRewards"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.rewards[opts.Epoch]
	if !ok {
		return nil, notFound(fmt.Sprintf("/eth/v1/beacon/rewards/attestations/%d", opts.Epoch))
	}
	out := &apiv1.AttestationRewards{
		IdealRewards: r.IdealRewards,
		TotalRewards: filter(r.TotalRewards, opts.Indices, func(v apiv1.ValidatorAttestationRewards) phase0.ValidatorIndex { return v.ValidatorIndex }),
	}
	return &api.Response[*apiv1.AttestationRewards]{Data: out, Metadata: map[string]any{}}, nil
}

// AttesterDuties implements perf.Node.
func (c *Chain) AttesterDuties(_ context.Context, opts *api.AttesterDutiesOpts) (*api.Response[[]*apiv1.AttesterDuty], error) {
	if err := c.enter("AttesterDuties"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := filter(c.attesters[opts.Epoch], opts.Indices, func(d *apiv1.AttesterDuty) phase0.ValidatorIndex { return d.ValidatorIndex })
	return &api.Response[[]*apiv1.AttesterDuty]{Data: out, Metadata: map[string]any{}}, nil
}

// ProposerDuties implements perf.Node.
func (c *Chain) ProposerDuties(_ context.Context, opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	if err := c.enter("ProposerDuties"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := filter(c.proposers[opts.Epoch], opts.Indices, func(d *apiv1.ProposerDuty) phase0.ValidatorIndex { return d.ValidatorIndex })
	return &api.Response[[]*apiv1.ProposerDuty]{Data: out, Metadata: map[string]any{}}, nil
}

// SyncCommitteeDuties implements perf.Node.
func (c *Chain) SyncCommitteeDuties(_ context.Context, opts *api.SyncCommitteeDutiesOpts) (*api.Response[[]*apiv1.SyncCommitteeDuty], error) {
	if err := c.enter("SyncCommitteeDuties"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	out := filter(c.sync[opts.Epoch], opts.Indices, func(d *apiv1.SyncCommitteeDuty) phase0.ValidatorIndex { return d.ValidatorIndex })
	return &api.Response[[]*apiv1.SyncCommitteeDuty]{Data: out, Metadata: map[string]any{}}, nil
}

// SignedBeaconBlock implements perf.Node; only slot block IDs are served.
func (c *Chain) SignedBeaconBlock(_ context.Context, opts *api.SignedBeaconBlockOpts) (*api.Response[*spec.VersionedSignedBeaconBlock], error) {
	if err := c.enter("SignedBeaconBlock"); err != nil {
		return nil, err
	}
	slot, err := strconv.ParseUint(opts.Block, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("perftest serves blocks by slot only, not %q", opts.Block)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.blocks[phase0.Slot(slot)]
	if !ok {
		return nil, notFound("/eth/v2/beacon/blocks/" + opts.Block)
	}
	return &api.Response[*spec.VersionedSignedBeaconBlock]{Data: b, Metadata: map[string]any{}}, nil
}

// BeaconCommittees implements perf.Node; the state is ignored.
func (c *Chain) BeaconCommittees(_ context.Context, opts *api.BeaconCommitteesOpts) (*api.Response[[]*apiv1.BeaconCommittee], error) {
	if err := c.enter("BeaconCommittees"); err != nil {
		return nil, err
	}
	if opts.Epoch == nil {
		return nil, errors.New("perftest needs the committees' epoch")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &api.Response[[]*apiv1.BeaconCommittee]{Data: c.committees[*opts.Epoch], Metadata: map[string]any{}}, nil
}

// Validators implements perf.Node for states named by slot or "head" (the
// latest slot set).
func (c *Chain) Validators(_ context.Context, opts *api.ValidatorsOpts) (*api.Response[map[phase0.ValidatorIndex]*apiv1.Validator], error) {
	if err := c.enter("Validators"); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var state map[phase0.ValidatorIndex]*apiv1.Validator
	if opts.State == "head" {
		var latest phase0.Slot
		for s, vs := range c.validators {
			if state == nil || s > latest {
				latest, state = s, vs
			}
		}
	} else {
		slot, err := strconv.ParseUint(opts.State, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("perftest serves states by slot only, not %q", opts.State)
		}
		var ok bool
		if state, ok = c.validators[phase0.Slot(slot)]; !ok {
			return nil, notFound("/eth/v1/beacon/states/" + opts.State + "/validators")
		}
	}
	out := make(map[phase0.ValidatorIndex]*apiv1.Validator)
	for idx, v := range state {
		if len(opts.Indices) == 0 || contains(opts.Indices, idx) {
			out[idx] = v
		}
	}
	return &api.Response[map[phase0.ValidatorIndex]*apiv1.Validator]{Data: out, Metadata: map[string]any{}}, nil
}

func contains(s []phase0.ValidatorIndex, v phase0.ValidatorIndex) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// Vote is an attestation to put in a block.
type Vote struct {
	Slot      phase0.Slot
	Committee phase0.CommitteeIndex
	Head      phase0.Root
	Target    phase0.Root
	// Bits is the aggregation bitlist's length and the positions set.
	Length uint64
	Set    []uint64
	// Committees, for Electra, are the committee_bits set; Committee is
	// then ignored and data.index is 0.
	Committees []uint64
}

func (v Vote) data(spe uint64) *phase0.AttestationData {
	e := phase0.Epoch(uint64(v.Slot) / spe)
	return &phase0.AttestationData{
		Slot:            v.Slot,
		Index:           v.Committee,
		BeaconBlockRoot: v.Head,
		Source:          &phase0.Checkpoint{Epoch: max(e, 1) - 1, Root: phase0.Root{0x01}},
		Target:          &phase0.Checkpoint{Epoch: e, Root: v.Target},
	}
}

func (v Vote) bits() bitfield.Bitlist {
	b := bitfield.NewBitlist(v.Length)
	for _, p := range v.Set {
		b.SetBitAt(p, true)
	}
	return b
}

// BlockSpec describes a block to build.
type BlockSpec struct {
	Slot          phase0.Slot
	Proposer      phase0.ValidatorIndex
	Parent        phase0.Root
	Votes         []Vote
	SyncSet       []uint64
	SlotsPerEpoch uint64
}

func (b BlockSpec) syncAggregate() *altair.SyncAggregate {
	bits := bitfield.NewBitvector512()
	for _, p := range b.SyncSet {
		bits.SetBitAt(p, true)
	}
	return &altair.SyncAggregate{SyncCommitteeBits: bits}
}

func payload() *deneb.ExecutionPayload {
	return &deneb.ExecutionPayload{BaseFeePerGas: uint256.NewInt(7), ExtraData: []byte{}, Transactions: []bellatrix.Transaction{}, Withdrawals: []*capella.Withdrawal{}}
}

// Deneb builds a Deneb block.
func Deneb(b BlockSpec) *spec.VersionedSignedBeaconBlock {
	body := &deneb.BeaconBlockBody{
		ETH1Data:         &phase0.ETH1Data{BlockHash: make([]byte, 32)},
		SyncAggregate:    b.syncAggregate(),
		ExecutionPayload: payload(),
	}
	for _, v := range b.Votes {
		body.Attestations = append(body.Attestations, &phase0.Attestation{AggregationBits: v.bits(), Data: v.data(b.SlotsPerEpoch)})
	}
	return &spec.VersionedSignedBeaconBlock{Version: spec.DataVersionDeneb, Deneb: &deneb.SignedBeaconBlock{
		Message: &deneb.BeaconBlock{Slot: b.Slot, ProposerIndex: b.Proposer, ParentRoot: b.Parent, Body: body},
	}}
}

// Electra builds an Electra block.
func Electra(b BlockSpec) *spec.VersionedSignedBeaconBlock {
	body := &electra.BeaconBlockBody{
		ETH1Data:          &phase0.ETH1Data{BlockHash: make([]byte, 32)},
		SyncAggregate:     b.syncAggregate(),
		ExecutionPayload:  payload(),
		ExecutionRequests: &electra.ExecutionRequests{},
	}
	for _, v := range b.Votes {
		cb := bitfield.NewBitvector64()
		for _, c := range v.Committees {
			cb.SetBitAt(c, true)
		}
		d := v.data(b.SlotsPerEpoch)
		d.Index = 0
		body.Attestations = append(body.Attestations, &electra.Attestation{AggregationBits: v.bits(), Data: d, CommitteeBits: cb})
	}
	return &spec.VersionedSignedBeaconBlock{Version: spec.DataVersionElectra, Electra: &electra.SignedBeaconBlock{
		Message: &electra.BeaconBlock{Slot: b.Slot, ProposerIndex: b.Proposer, ParentRoot: b.Parent, Body: body},
	}}
}

// BlockJSON is a block as GET /eth/v2/beacon/blocks/{block_id} answers it.
func BlockJSON(b *spec.VersionedSignedBeaconBlock) ([]byte, error) {
	var data any
	switch b.Version {
	case spec.DataVersionDeneb:
		data = b.Deneb
	case spec.DataVersionElectra:
		data = b.Electra
	default:
		return nil, fmt.Errorf("perftest cannot encode %s blocks", b.Version)
	}
	return json.Marshal(map[string]any{
		"version":              b.Version.String(),
		"execution_optimistic": false,
		"finalized":            false,
		"data":                 data,
	})
}
