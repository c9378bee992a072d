package beacon

import (
	"context"
	"time"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Reads go to the first usable node and fail over to the next one on error
// or timeout (see read).

// AggregateAttestation fetches the aggregate attestation for an attestation data root, failing over between nodes.
func (p *Pool) AggregateAttestation(ctx context.Context, opts *api.AggregateAttestationOpts) (*api.Response[*spec.VersionedAttestation], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpAggregateAttestation, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*spec.VersionedAttestation], error) {
			return c.AggregateAttestation(ctx, opts)
		})
}

// AttestationData fetches the attestation data to sign for a slot and committee, failing over between nodes.
func (p *Pool) AttestationData(ctx context.Context, opts *api.AttestationDataOpts) (*api.Response[*phase0.AttestationData], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpAttestationData, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*phase0.AttestationData], error) {
			return c.AttestationData(ctx, opts)
		})
}

// AttesterDuties fetches attester duties for an epoch, failing over between nodes.
func (p *Pool) AttesterDuties(ctx context.Context, opts *api.AttesterDutiesOpts) (*api.Response[[]*apiv1.AttesterDuty], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpAttesterDuties, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.AttesterDuty], error) {
			return c.AttesterDuties(ctx, opts)
		})
}

// BeaconBlockHeader fetches a block header, failing over between nodes.
func (p *Pool) BeaconBlockHeader(ctx context.Context, opts *api.BeaconBlockHeaderOpts) (*api.Response[*apiv1.BeaconBlockHeader], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpBeaconBlockHeader, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*apiv1.BeaconBlockHeader], error) {
			return c.BeaconBlockHeader(ctx, opts)
		})
}

// BeaconBlockRoot fetches a block root, failing over between nodes.
func (p *Pool) BeaconBlockRoot(ctx context.Context, opts *api.BeaconBlockRootOpts) (*api.Response[*phase0.Root], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpBeaconBlockRoot, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*phase0.Root], error) {
			return c.BeaconBlockRoot(ctx, opts)
		})
}

// Finality fetches the finality checkpoints of a state, failing over between nodes.
func (p *Pool) Finality(ctx context.Context, opts *api.FinalityOpts) (*api.Response[*apiv1.Finality], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpFinality, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*apiv1.Finality], error) {
			return c.Finality(ctx, opts)
		})
}

// Fork fetches the fork of a state, failing over between nodes.
func (p *Pool) Fork(ctx context.Context, opts *api.ForkOpts) (*api.Response[*phase0.Fork], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpFork, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*phase0.Fork], error) { return c.Fork(ctx, opts) })
}

// ForkSchedule fetches the chain's fork schedule, failing over between nodes.
func (p *Pool) ForkSchedule(ctx context.Context, opts *api.ForkScheduleOpts) (*api.Response[[]*phase0.Fork], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpForkSchedule, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*phase0.Fork], error) {
			return c.ForkSchedule(ctx, opts)
		})
}

// NodeSyncing fetches the sync state of the first usable node, failing over between nodes.
func (p *Pool) NodeSyncing(ctx context.Context, opts *api.NodeSyncingOpts) (*api.Response[*apiv1.SyncState], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpNodeSyncing, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*apiv1.SyncState], error) {
			return c.NodeSyncing(ctx, opts)
		})
}

// NodeVersion fetches the version string of the first usable node, failing over between nodes.
func (p *Pool) NodeVersion(ctx context.Context, opts *api.NodeVersionOpts) (*api.Response[string], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpNodeVersion, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[string], error) {
			return c.NodeVersion(ctx, opts)
		})
}

// Proposal asks for a block to sign (produce block v3); the answer may be blinded, failing over between nodes.
func (p *Pool) Proposal(ctx context.Context, opts *api.ProposalOpts) (*api.Response[*api.VersionedProposal], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpProposal, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*api.VersionedProposal], error) {
			return c.Proposal(ctx, opts)
		})
}

// ProposerDutiesV2 fetches proposer duties for an epoch from the v2 endpoint,
// whose dependent root follows Fulu's deterministic proposer lookahead,
// failing over between nodes. Nodes that predate it answer 404.
func (p *Pool) ProposerDutiesV2(ctx context.Context, opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpProposerDuties, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.ProposerDuty], error) {
			return c.ProposerDutiesV2(ctx, opts)
		})
}

// ProposerDuties fetches proposer duties for an epoch, failing over between nodes.
func (p *Pool) ProposerDuties(ctx context.Context, opts *api.ProposerDutiesOpts) (*api.Response[[]*apiv1.ProposerDuty], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpProposerDuties, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.ProposerDuty], error) {
			return c.ProposerDuties(ctx, opts)
		})
}

// Spec fetches the chain's configuration; the map is shared and must not be modified, failing over between nodes.
func (p *Pool) Spec(ctx context.Context, opts *api.SpecOpts) (*api.Response[map[string]any], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpSpec, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[map[string]any], error) {
			return c.Spec(ctx, opts)
		})
}

// SyncCommitteeContribution fetches a sync committee contribution to aggregate, failing over between nodes.
func (p *Pool) SyncCommitteeContribution(ctx context.Context, opts *api.SyncCommitteeContributionOpts) (*api.Response[*altair.SyncCommitteeContribution], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpSyncCommitteeContribution, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*altair.SyncCommitteeContribution], error) {
			return c.SyncCommitteeContribution(ctx, opts)
		})
}

// SyncCommitteeDuties fetches sync committee duties for an epoch, failing over between nodes.
func (p *Pool) SyncCommitteeDuties(ctx context.Context, opts *api.SyncCommitteeDutiesOpts) (*api.Response[[]*apiv1.SyncCommitteeDuty], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpSyncCommitteeDuties, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.SyncCommitteeDuty], error) {
			return c.SyncCommitteeDuties(ctx, opts)
		})
}

// Validators fetches validators by index or public key, failing over between nodes.
func (p *Pool) Validators(ctx context.Context, opts *api.ValidatorsOpts) (*api.Response[map[phase0.ValidatorIndex]*apiv1.Validator], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpValidators, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[map[phase0.ValidatorIndex]*apiv1.Validator], error) {
			return c.Validators(ctx, opts)
		})
}

// GenesisTime returns the chain's genesis time, failing over between nodes.
func (p *Pool) GenesisTime(ctx context.Context) (time.Time, error) {
	return read(ctx, p, opGenesisTime, 0, func(ctx context.Context, c nodeClient) (time.Time, error) { return c.GenesisTime(ctx) })
}

// SlotDuration returns the chain's SECONDS_PER_SLOT, failing over between nodes.
func (p *Pool) SlotDuration(ctx context.Context) (time.Duration, error) {
	return read(ctx, p, opSlotDuration, 0, func(ctx context.Context, c nodeClient) (time.Duration, error) { return c.SlotDuration(ctx) })
}

// SlotsPerEpoch returns the chain's SLOTS_PER_EPOCH, failing over between nodes.
func (p *Pool) SlotsPerEpoch(ctx context.Context) (uint64, error) {
	return read(ctx, p, opSlotsPerEpoch, 0, func(ctx context.Context, c nodeClient) (uint64, error) { return c.SlotsPerEpoch(ctx) })
}

// TargetAggregatorsPerCommittee returns the chain's TARGET_AGGREGATORS_PER_COMMITTEE, failing over between nodes.
func (p *Pool) TargetAggregatorsPerCommittee(ctx context.Context) (uint64, error) {
	return read(ctx, p, opTargetAggregatorsPerCommittee, 0, func(ctx context.Context, c nodeClient) (uint64, error) { return c.TargetAggregatorsPerCommittee(ctx) })
}

// Genesis returns the genesis every node in use shares; it is fetched and
// checked by the health loop, so it needs no request once known.
func (p *Pool) Genesis(ctx context.Context, opts *api.GenesisOpts) (*api.Response[*apiv1.Genesis], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	if g := p.ChainGenesis(); g != nil {
		return &api.Response[*apiv1.Genesis]{Data: g, Metadata: map[string]any{}}, nil
	}
	return read(ctx, p, OpGenesis, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*apiv1.Genesis], error) {
			return c.Genesis(ctx, opts)
		})
}

// ValidatorLiveness asks every usable node and reports a validator live if
// any node saw it live. Doppelganger protection rests on this answer, so a
// node that missed a message must not hide what another node saw.
func (p *Pool) ValidatorLiveness(ctx context.Context, opts *api.ValidatorLivenessOpts) (*api.Response[[]*apiv1.ValidatorLiveness], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	answers, err := fanOut(ctx, p, OpValidatorLiveness, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.ValidatorLiveness], error) {
			return c.ValidatorLiveness(ctx, opts)
		})
	if err != nil {
		return nil, err
	}
	return mergeLiveness(answers), nil
}

// mergeLiveness ORs is_live per validator index, keeping first-seen order.
func mergeLiveness(answers []*api.Response[[]*apiv1.ValidatorLiveness]) *api.Response[[]*apiv1.ValidatorLiveness] {
	byIndex := make(map[phase0.ValidatorIndex]*apiv1.ValidatorLiveness)
	var merged []*apiv1.ValidatorLiveness
	metadata := map[string]any{}
	for _, a := range answers {
		if a == nil {
			continue
		}
		if len(metadata) == 0 && a.Metadata != nil {
			metadata = a.Metadata
		}
		for _, l := range a.Data {
			if l == nil {
				continue
			}
			if seen, ok := byIndex[l.Index]; ok {
				seen.IsLive = seen.IsLive || l.IsLive
				continue
			}
			c := *l
			byIndex[l.Index] = &c
			merged = append(merged, &c)
		}
	}
	return &api.Response[[]*apiv1.ValidatorLiveness]{Data: merged, Metadata: metadata}
}
