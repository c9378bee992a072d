// Package dutiestest provides an in-process fake beacon node implementing
// duties.BeaconNode, for tests and benchmarks of the duties service.
package dutiestest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	bitfield "github.com/OffchainLabs/go-bitfield"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
)

// Call names the beacon node methods the fake records.
type Call string

// Recorded calls.
const (
	CallValidators           Call = "validators"
	CallAttesterDuties       Call = "attester_duties"
	CallProposerDuties       Call = "proposer_duties"
	CallProposerDutiesV2     Call = "proposer_duties_v2"
	CallSyncDuties           Call = "sync_committee_duties"
	CallAttestationData      Call = "attestation_data"
	CallSubmitAttestations   Call = "submit_attestations"
	CallSubscriptions        Call = "beacon_committee_subscriptions"
	CallAggregateAttestation Call = "aggregate_attestation"
	CallSubmitAggregates     Call = "submit_aggregates"
	CallProposal             Call = "proposal"
	CallSubmitProposal       Call = "submit_proposal"
	CallSubmitBlinded        Call = "submit_blinded_proposal"
	CallPreparations         Call = "proposal_preparations"
	CallRegistrations        Call = "validator_registrations"
	CallSyncSubscriptions    Call = "sync_committee_subscriptions"
	CallSubmitSyncMessages   Call = "submit_sync_committee_messages"
	CallSyncContribution     Call = "sync_committee_contribution"
	CallSubmitContributions  Call = "submit_sync_committee_contributions"
	CallLiveness             Call = "validator_liveness"
	CallBeaconBlockRoot      Call = "beacon_block_root"
	CallEvents               Call = "events"
	CallSpec                 Call = "spec"
	CallGenesis              Call = "genesis"
)

// Record is one recorded call: when (on the node's clock) and its argument.
type Record struct {
	Call Call
	At   time.Time
	Arg  any
}

// Node is a fake beacon node. Configure its exported fields before use; they
// are read under the node's lock, so tests may also change them through Update.
type Node struct {
	mu      sync.Mutex
	spec    *chain.Spec
	now     func() time.Time
	records []Record
	head    func(context.Context, *apiv1.HeadEvent)
	reorg   func(context.Context, *apiv1.ChainReorgEvent)

	// Known maps the public keys the chain knows to their indices.
	Known map[phase0.BLSPubKey]phase0.ValidatorIndex
	// AttesterDuty returns a validator's attester duty in epoch (nil for none);
	// by default every validator attests in the epoch's first slot, in
	// committee index%Committees at position index/Committees.
	AttesterDuty func(epoch phase0.Epoch, index phase0.ValidatorIndex) *apiv1.AttesterDuty
	// Committees and CommitteeLength shape the default attester duties.
	Committees, CommitteeLength uint64
	// DependentRoots are returned as the attester duties' dependent_root.
	DependentRoots map[phase0.Epoch]phase0.Root
	// Proposers maps slots to our proposers.
	Proposers map[phase0.Slot]phase0.ValidatorIndex
	// Blinded makes Proposal return blinded blocks.
	Blinded bool
	// SyncCommittee maps validators to their sync committee indices.
	SyncCommittee map[phase0.ValidatorIndex][]phase0.CommitteeIndex
	// Live lists validators the liveness endpoint reports live.
	Live map[phase0.ValidatorIndex]bool
	// HeadRoot is the beacon block root of head.
	HeadRoot phase0.Root
	// FeeRecipients sets the fee recipient of the blocks the node builds for
	// a proposer (0xfe… otherwise).
	FeeRecipients map[phase0.ValidatorIndex]bellatrix.ExecutionAddress
	// ProposerDutiesV1Only makes the v2 proposer duties endpoint answer 404,
	// as nodes that predate it do.
	ProposerDutiesV1Only bool
	// ProposerDependentRoots are returned as the proposer duties'
	// dependent_root, by epoch (for both endpoints).
	ProposerDependentRoots map[phase0.Epoch]phase0.Root
	// SourceEqualsTarget makes attestation data vote with its own target
	// epoch as source, as no honest node after genesis does.
	SourceEqualsTarget bool
	// FailSubmitAttestations makes SubmitAttestations fail.
	FailSubmitAttestations error
}

// New returns a fake node for the chain, with its clock.
func New(sp *chain.Spec, now func() time.Time) *Node {
	return &Node{
		spec: sp, now: now,
		Known:      map[phase0.BLSPubKey]phase0.ValidatorIndex{},
		Committees: 2, CommitteeLength: 8,
		DependentRoots:         map[phase0.Epoch]phase0.Root{},
		FeeRecipients:          map[phase0.ValidatorIndex]bellatrix.ExecutionAddress{},
		ProposerDependentRoots: map[phase0.Epoch]phase0.Root{},
		Proposers:              map[phase0.Slot]phase0.ValidatorIndex{},
		SyncCommittee:          map[phase0.ValidatorIndex][]phase0.CommitteeIndex{},
		Live:                   map[phase0.ValidatorIndex]bool{},
		HeadRoot:               phase0.Root{0x4e, 0xad},
	}
}

// Update runs f with the node locked, to change its configuration safely.
func (n *Node) Update(f func(n *Node)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	f(n)
}

func (n *Node) record(c Call, arg any) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.records = append(n.records, Record{Call: c, At: n.now(), Arg: arg})
}

// Records returns the recorded calls of kind c, in order.
func (n *Node) Records(c Call) []Record {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []Record
	for _, r := range n.records {
		if r.Call == c {
			out = append(out, r)
		}
	}
	return out
}

// Count returns how many calls of kind c were made.
func (n *Node) Count(c Call) int { return len(n.Records(c)) }

// EmitHead delivers a head event to the subscriber, as the events stream would.
func (n *Node) EmitHead(ev *apiv1.HeadEvent) {
	n.mu.Lock()
	h := n.head
	n.mu.Unlock()
	if h != nil {
		h(context.Background(), ev)
	}
}

// EmitReorg delivers a chain_reorg event to the subscriber.
func (n *Node) EmitReorg(ev *apiv1.ChainReorgEvent) {
	n.mu.Lock()
	h := n.reorg
	n.mu.Unlock()
	if h != nil {
		h(context.Background(), ev)
	}
}

func (n *Node) epochOf(slot phase0.Slot) phase0.Epoch {
	return phase0.Epoch(uint64(slot) / n.spec.SlotsPerEpoch)
}

func (n *Node) versionAt(epoch phase0.Epoch) spec.DataVersion { return n.spec.ForkAt(epoch).Name }

// Spec implements eth2client.SpecProvider with the value types go-eth2-client's
// http client produces.
func (n *Node) Spec(context.Context, *api.SpecOpts) (*api.Response[map[string]any], error) {
	n.record(CallSpec, nil)
	n.mu.Lock()
	defer n.mu.Unlock()
	m := chaintest.BeaconSpec(n.spec)
	return &api.Response[map[string]any]{Data: m}, nil
}

// Genesis implements eth2client.GenesisProvider.
func (n *Node) Genesis(context.Context, *api.GenesisOpts) (*api.Response[*apiv1.Genesis], error) {
	n.record(CallGenesis, nil)
	return &api.Response[*apiv1.Genesis]{Data: &apiv1.Genesis{
		GenesisTime: n.spec.GenesisTime, GenesisValidatorsRoot: n.spec.GenesisValidatorsRoot, GenesisForkVersion: n.spec.GenesisForkVersion,
	}}, nil
}

// Events implements eth2client.EventsProvider: it keeps the handlers for
// EmitHead and EmitReorg and returns at once, like go-eth2-client's client.
func (n *Node) Events(_ context.Context, opts *api.EventsOpts) error {
	n.record(CallEvents, opts.Topics)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.head, n.reorg = opts.HeadHandler, opts.ChainReorgHandler
	return nil
}

// Validators implements eth2client.ValidatorsProvider: known keys are active
// since genesis.
func (n *Node) Validators(_ context.Context, opts *api.ValidatorsOpts) (*api.Response[map[phase0.ValidatorIndex]*apiv1.Validator], error) {
	n.record(CallValidators, opts)
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[phase0.ValidatorIndex]*apiv1.Validator{}
	for _, pk := range opts.PubKeys {
		idx, ok := n.Known[pk]
		if !ok {
			continue
		}
		out[idx] = &apiv1.Validator{Index: idx, Status: apiv1.ValidatorStateActiveOngoing, Validator: &phase0.Validator{
			PublicKey: pk, ActivationEpoch: 0, ExitEpoch: chain.FarFutureEpoch, WithdrawableEpoch: chain.FarFutureEpoch,
		}}
	}
	return &api.Response[map[phase0.ValidatorIndex]*apiv1.Validator]{Data: out}, nil
}

func (n *Node) pubkeyOf(idx phase0.ValidatorIndex) (phase0.BLSPubKey, bool) {
	for pk, i := range n.Known {
		if i == idx {
			return pk, true
		}
	}
	return phase0.BLSPubKey{}, false
}

// AttesterDuties implements eth2client.AttesterDutiesProvider.
func (n *Node) AttesterDuties(_ context.Context, opts *api.AttesterDutiesOpts) (*api.Response[[]*apiv1.AttesterDuty], error) {
	n.record(CallAttesterDuties, opts.Epoch)
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*apiv1.AttesterDuty
	for _, idx := range opts.Indices {
		pk, ok := n.pubkeyOf(idx)
		if !ok {
			continue
		}
		var d *apiv1.AttesterDuty
		if n.AttesterDuty != nil {
			d = n.AttesterDuty(opts.Epoch, idx)
		} else {
			d = &apiv1.AttesterDuty{
				Slot: phase0.Slot(uint64(opts.Epoch) * n.spec.SlotsPerEpoch), CommitteeIndex: phase0.CommitteeIndex(uint64(idx) % n.Committees),
				CommitteeLength: n.CommitteeLength, CommitteesAtSlot: n.Committees, ValidatorCommitteeIndex: uint64(idx) / n.Committees,
			}
		}
		if d == nil {
			continue
		}
		d.PubKey, d.ValidatorIndex = pk, idx
		out = append(out, d)
	}
	md := map[string]any{}
	if r, ok := n.DependentRoots[opts.Epoch]; ok {
		md["dependent_root"] = fmt.Sprintf("%#x", r[:])
	}
	return &api.Response[[]*apiv1.AttesterDuty]{Data: out, Metadata: md}, nil
}

// ProposerDuties implements eth2client.ProposerDutiesProvider.
func (n *Node) ProposerDuties(_ context.Context, opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	n.record(CallProposerDuties, opts.Epoch)
	return n.proposerDuties(opts)
}

// ProposerDutiesV2 implements eth2client.ProposerDutiesV2Provider; it
// answers 404 when ProposerDutiesV1Only is set.
func (n *Node) ProposerDutiesV2(_ context.Context, opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	n.record(CallProposerDutiesV2, opts.Epoch)
	n.mu.Lock()
	v1Only := n.ProposerDutiesV1Only
	n.mu.Unlock()
	if v1Only {
		return nil, &api.Error{Method: "GET", Endpoint: "/eth/v2/validator/duties/proposer", StatusCode: 404, Data: []byte(`{"code":404,"message":"not found"}`)}
	}
	return n.proposerDuties(opts)
}

func (n *Node) proposerDuties(opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*apiv1.ProposerDuty
	for slot, idx := range n.Proposers {
		if n.epochOf(slot) != opts.Epoch {
			continue
		}
		pk, _ := n.pubkeyOf(idx)
		out = append(out, &apiv1.ProposerDuty{PubKey: pk, Slot: slot, ValidatorIndex: idx})
	}
	md := map[string]any{}
	if r, ok := n.ProposerDependentRoots[opts.Epoch]; ok {
		md["dependent_root"] = fmt.Sprintf("%#x", r[:])
	}
	return &api.Response[[]*apiv1.ProposerDuty]{Data: out, Metadata: md}, nil
}

// SyncCommitteeDuties implements eth2client.SyncCommitteeDutiesProvider.
func (n *Node) SyncCommitteeDuties(_ context.Context, opts *api.SyncCommitteeDutiesOpts) (*api.Response[[]*apiv1.SyncCommitteeDuty], error) {
	n.record(CallSyncDuties, opts.Epoch)
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []*apiv1.SyncCommitteeDuty
	for _, idx := range opts.Indices {
		if ci, ok := n.SyncCommittee[idx]; ok {
			pk, _ := n.pubkeyOf(idx)
			out = append(out, &apiv1.SyncCommitteeDuty{PubKey: pk, ValidatorIndex: idx, ValidatorSyncCommitteeIndices: ci})
		}
	}
	return &api.Response[[]*apiv1.SyncCommitteeDuty]{Data: out}, nil
}

// Data returns the attestation data the node serves for slot and committee.
func (n *Node) Data(slot phase0.Slot, ci phase0.CommitteeIndex) *phase0.AttestationData {
	epoch := n.epochOf(slot)
	source := epoch
	if source > 0 {
		source--
	}
	n.mu.Lock()
	head := n.HeadRoot
	if n.SourceEqualsTarget {
		source = epoch
	}
	n.mu.Unlock()
	return &phase0.AttestationData{
		Slot: slot, Index: ci, BeaconBlockRoot: head,
		Source: &phase0.Checkpoint{Epoch: source, Root: phase0.Root{0x50}},
		Target: &phase0.Checkpoint{Epoch: epoch, Root: phase0.Root{0x7a, byte(epoch)}},
	}
}

// AttestationData implements eth2client.AttestationDataProvider.
func (n *Node) AttestationData(_ context.Context, opts *api.AttestationDataOpts) (*api.Response[*phase0.AttestationData], error) {
	n.record(CallAttestationData, *opts)
	return &api.Response[*phase0.AttestationData]{Data: n.Data(opts.Slot, opts.CommitteeIndex)}, nil
}

// SubmitAttestations implements eth2client.AttestationsSubmitter, converting
// Electra attestations to SingleAttestations exactly as go-eth2-client's http
// client does (the recorded argument is the []any it would send).
func (n *Node) SubmitAttestations(_ context.Context, opts *api.SubmitAttestationsOpts) error {
	n.mu.Lock()
	failErr := n.FailSubmitAttestations
	n.mu.Unlock()
	if failErr != nil {
		return failErr
	}
	wire := make([]any, 0, len(opts.Attestations))
	for _, a := range opts.Attestations {
		switch a.Version {
		case spec.DataVersionElectra, spec.DataVersionFulu:
			att := a.Electra
			if a.Version == spec.DataVersionFulu {
				att = a.Fulu
			}
			single, err := att.ToSingleAttestation(a.ValidatorIndex)
			if err != nil {
				return err
			}
			wire = append(wire, single)
		case spec.DataVersionPhase0:
			wire = append(wire, a.Phase0)
		case spec.DataVersionAltair:
			wire = append(wire, a.Altair)
		case spec.DataVersionBellatrix:
			wire = append(wire, a.Bellatrix)
		case spec.DataVersionCapella:
			wire = append(wire, a.Capella)
		case spec.DataVersionDeneb:
			wire = append(wire, a.Deneb)
		default:
			return errors.New("unknown attestation version")
		}
	}
	n.record(CallSubmitAttestations, wire)
	return nil
}

// SubmitBeaconCommitteeSubscriptions implements eth2client.BeaconCommitteeSubscriptionsSubmitter.
func (n *Node) SubmitBeaconCommitteeSubscriptions(_ context.Context, subs []*apiv1.BeaconCommitteeSubscription) error {
	n.record(CallSubscriptions, subs)
	return nil
}

// AggregateAttestation implements eth2client.AggregateAttestationProvider,
// answering with an aggregate of the data it served.
func (n *Node) AggregateAttestation(_ context.Context, opts *api.AggregateAttestationOpts) (*api.Response[*spec.VersionedAttestation], error) {
	n.record(CallAggregateAttestation, *opts)
	version := n.versionAt(n.epochOf(opts.Slot))
	ci := opts.CommitteeIndex
	if version >= spec.DataVersionElectra {
		ci = 0
	}
	data := n.Data(opts.Slot, ci)
	root, err := data.HashTreeRoot()
	if err != nil || root != opts.AttestationDataRoot {
		return nil, errors.New("no aggregate for that attestation data root")
	}
	n.mu.Lock()
	length := n.CommitteeLength
	n.mu.Unlock()
	bits := bitfield.NewBitlist(length)
	bits.SetBitAt(0, true)
	va := &spec.VersionedAttestation{Version: version}
	switch version {
	case spec.DataVersionElectra, spec.DataVersionFulu:
		cb := bitfield.NewBitvector64()
		cb.SetBitAt(uint64(opts.CommitteeIndex), true)
		att := &electra.Attestation{AggregationBits: bits, Data: data, CommitteeBits: cb}
		if version == spec.DataVersionElectra {
			va.Electra = att
		} else {
			va.Fulu = att
		}
	default:
		att := &phase0.Attestation{AggregationBits: bits, Data: data}
		va.Phase0, va.Altair, va.Bellatrix, va.Capella, va.Deneb = att, att, att, att, att
	}
	return &api.Response[*spec.VersionedAttestation]{Data: va}, nil
}

// SubmitAggregateAttestations implements eth2client.AggregateAttestationsSubmitter.
func (n *Node) SubmitAggregateAttestations(_ context.Context, opts *api.SubmitAggregateAttestationsOpts) error {
	n.record(CallSubmitAggregates, opts.SignedAggregateAndProofs)
	return nil
}

// Proposal implements eth2client.ProposalProvider for Deneb, Electra and Fulu
// blocks, full or blinded (see Blinded).
func (n *Node) Proposal(_ context.Context, opts *api.ProposalOpts) (*api.Response[*api.VersionedProposal], error) {
	n.record(CallProposal, *opts)
	n.mu.Lock()
	idx, ok := n.Proposers[opts.Slot]
	blinded := n.Blinded
	fee, set := n.FeeRecipients[idx]
	n.mu.Unlock()
	if !ok {
		return nil, errors.New("no proposer for slot")
	}
	version := n.versionAt(n.epochOf(opts.Slot))
	if !set {
		fee = bellatrix.ExecutionAddress{0xfe}
	}
	p := &api.VersionedProposal{Version: version, Blinded: blinded}
	switch {
	case version == spec.DataVersionDeneb && !blinded:
		p.Deneb = &apiv1deneb.BlockContents{Block: &deneb.BeaconBlock{Slot: opts.Slot, ProposerIndex: idx,
			Body: &deneb.BeaconBlockBody{RANDAOReveal: opts.RandaoReveal, Graffiti: opts.Graffiti, ExecutionPayload: &deneb.ExecutionPayload{FeeRecipient: fee}}}}
	case version == spec.DataVersionDeneb:
		p.DenebBlinded = &apiv1deneb.BlindedBeaconBlock{Slot: opts.Slot, ProposerIndex: idx,
			Body: &apiv1deneb.BlindedBeaconBlockBody{RANDAOReveal: opts.RandaoReveal, Graffiti: opts.Graffiti, ExecutionPayloadHeader: &deneb.ExecutionPayloadHeader{FeeRecipient: fee}}}
	case version >= spec.DataVersionElectra && !blinded:
		b := &electra.BeaconBlock{Slot: opts.Slot, ProposerIndex: idx,
			Body: &electra.BeaconBlockBody{RANDAOReveal: opts.RandaoReveal, Graffiti: opts.Graffiti, ExecutionPayload: &deneb.ExecutionPayload{FeeRecipient: fee}}}
		if version == spec.DataVersionElectra {
			p.Electra = &apiv1electra.BlockContents{Block: b}
		} else {
			p.Fulu = &apiv1fulu.BlockContents{Block: b}
		}
	case version >= spec.DataVersionElectra:
		b := &apiv1electra.BlindedBeaconBlock{Slot: opts.Slot, ProposerIndex: idx,
			Body: &apiv1electra.BlindedBeaconBlockBody{RANDAOReveal: opts.RandaoReveal, Graffiti: opts.Graffiti, ExecutionPayloadHeader: &deneb.ExecutionPayloadHeader{FeeRecipient: fee}}}
		if version == spec.DataVersionElectra {
			p.ElectraBlinded = b
		} else {
			p.FuluBlinded = b
		}
	default:
		return nil, fmt.Errorf("fake node produces no %s blocks", version)
	}
	return &api.Response[*api.VersionedProposal]{Data: p}, nil
}

// SubmitProposal implements eth2client.ProposalSubmitter.
func (n *Node) SubmitProposal(_ context.Context, opts *api.SubmitProposalOpts) error {
	n.record(CallSubmitProposal, opts.Proposal)
	return nil
}

// SubmitBlindedProposal implements eth2client.BlindedProposalSubmitter.
func (n *Node) SubmitBlindedProposal(_ context.Context, opts *api.SubmitBlindedProposalOpts) error {
	n.record(CallSubmitBlinded, opts.Proposal)
	return nil
}

// SubmitProposalPreparations implements eth2client.ProposalPreparationsSubmitter.
func (n *Node) SubmitProposalPreparations(_ context.Context, preps []*apiv1.ProposalPreparation) error {
	n.record(CallPreparations, preps)
	return nil
}

// SubmitValidatorRegistrations implements eth2client.ValidatorRegistrationsSubmitter.
func (n *Node) SubmitValidatorRegistrations(_ context.Context, regs []*api.VersionedSignedValidatorRegistration) error {
	n.record(CallRegistrations, regs)
	return nil
}

// SubmitSyncCommitteeSubscriptions implements eth2client.SyncCommitteeSubscriptionsSubmitter.
func (n *Node) SubmitSyncCommitteeSubscriptions(_ context.Context, subs []*apiv1.SyncCommitteeSubscription) error {
	n.record(CallSyncSubscriptions, subs)
	return nil
}

// SubmitSyncCommitteeMessages implements eth2client.SyncCommitteeMessagesSubmitter.
func (n *Node) SubmitSyncCommitteeMessages(_ context.Context, msgs []*altair.SyncCommitteeMessage) error {
	n.record(CallSubmitSyncMessages, msgs)
	return nil
}

// SyncCommitteeContribution implements eth2client.SyncCommitteeContributionProvider.
func (n *Node) SyncCommitteeContribution(_ context.Context, opts *api.SyncCommitteeContributionOpts) (*api.Response[*altair.SyncCommitteeContribution], error) {
	n.record(CallSyncContribution, *opts)
	bits := bitfield.NewBitvector128()
	bits.SetBitAt(0, true)
	return &api.Response[*altair.SyncCommitteeContribution]{Data: &altair.SyncCommitteeContribution{
		Slot: opts.Slot, BeaconBlockRoot: opts.BeaconBlockRoot, SubcommitteeIndex: opts.SubcommitteeIndex, AggregationBits: bits,
	}}, nil
}

// SubmitSyncCommitteeContributions implements eth2client.SyncCommitteeContributionsSubmitter.
func (n *Node) SubmitSyncCommitteeContributions(_ context.Context, cs []*altair.SignedContributionAndProof) error {
	n.record(CallSubmitContributions, cs)
	return nil
}

// ValidatorLiveness implements eth2client.ValidatorLivenessProvider.
func (n *Node) ValidatorLiveness(_ context.Context, opts *api.ValidatorLivenessOpts) (*api.Response[[]*apiv1.ValidatorLiveness], error) {
	n.record(CallLiveness, *opts)
	n.mu.Lock()
	live := maps.Clone(n.Live)
	n.mu.Unlock()
	out := make([]*apiv1.ValidatorLiveness, 0, len(opts.Indices))
	for _, idx := range opts.Indices {
		out = append(out, &apiv1.ValidatorLiveness{Index: idx, IsLive: live[idx]})
	}
	return &api.Response[[]*apiv1.ValidatorLiveness]{Data: out}, nil
}

// BeaconBlockRoot implements eth2client.BeaconBlockRootProvider.
func (n *Node) BeaconBlockRoot(_ context.Context, opts *api.BeaconBlockRootOpts) (*api.Response[*phase0.Root], error) {
	n.record(CallBeaconBlockRoot, opts.Block)
	n.mu.Lock()
	root := n.HeadRoot
	n.mu.Unlock()
	return &api.Response[*phase0.Root]{Data: &root}, nil
}
