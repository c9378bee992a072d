package beacon

import (
	"context"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Submissions go to every usable node in parallel and succeed if at least
// one node accepts: more nodes gossiping a message only helps it spread, and
// one node refusing must not lose a duty (see submit).

// SubmitAttestations submits attestations to every usable node.
func (p *Pool) SubmitAttestations(ctx context.Context, opts *api.SubmitAttestationsOpts) error {
	if opts == nil {
		return eth2client.ErrNoOptions
	}
	return submit(ctx, p, OpSubmitAttestations, opts.Common.Timeout, func(ctx context.Context, c nodeClient) error { return c.SubmitAttestations(ctx, opts) })
}

// SubmitAggregateAttestations submits signed aggregate-and-proofs to every usable node.
func (p *Pool) SubmitAggregateAttestations(ctx context.Context, opts *api.SubmitAggregateAttestationsOpts) error {
	if opts == nil {
		return eth2client.ErrNoOptions
	}
	return submit(ctx, p, OpSubmitAggregateAttestations, opts.Common.Timeout, func(ctx context.Context, c nodeClient) error { return c.SubmitAggregateAttestations(ctx, opts) })
}

// SubmitProposal publishes a signed block to every usable node.
func (p *Pool) SubmitProposal(ctx context.Context, opts *api.SubmitProposalOpts) error {
	if opts == nil {
		return eth2client.ErrNoOptions
	}
	return submit(ctx, p, OpSubmitProposal, opts.Common.Timeout, func(ctx context.Context, c nodeClient) error { return c.SubmitProposal(ctx, opts) })
}

// SubmitBlindedProposal publishes a signed blinded block to every usable node.
func (p *Pool) SubmitBlindedProposal(ctx context.Context, opts *api.SubmitBlindedProposalOpts) error {
	if opts == nil {
		return eth2client.ErrNoOptions
	}
	return submit(ctx, p, OpSubmitBlindedProposal, opts.Common.Timeout, func(ctx context.Context, c nodeClient) error { return c.SubmitBlindedProposal(ctx, opts) })
}

// SubmitBeaconCommitteeSubscriptions subscribes the nodes to attestation subnets to every usable node.
func (p *Pool) SubmitBeaconCommitteeSubscriptions(ctx context.Context, subscriptions []*apiv1.BeaconCommitteeSubscription) error {
	return submit(ctx, p, OpSubmitBeaconCommitteeSubs, 0, func(ctx context.Context, c nodeClient) error {
		return c.SubmitBeaconCommitteeSubscriptions(ctx, subscriptions)
	})
}

// SubmitSyncCommitteeMessages submits sync committee messages to every usable node.
func (p *Pool) SubmitSyncCommitteeMessages(ctx context.Context, messages []*altair.SyncCommitteeMessage) error {
	return submit(ctx, p, OpSubmitSyncCommitteeMessages, 0, func(ctx context.Context, c nodeClient) error { return c.SubmitSyncCommitteeMessages(ctx, messages) })
}

// SubmitSyncCommitteeContributions submits signed contribution-and-proofs to every usable node.
func (p *Pool) SubmitSyncCommitteeContributions(ctx context.Context, contributionAndProofs []*altair.SignedContributionAndProof) error {
	return submit(ctx, p, OpSubmitSyncCommitteeContribs, 0, func(ctx context.Context, c nodeClient) error {
		return c.SubmitSyncCommitteeContributions(ctx, contributionAndProofs)
	})
}

// SubmitSyncCommitteeSubscriptions subscribes the nodes to sync committee subnets to every usable node.
func (p *Pool) SubmitSyncCommitteeSubscriptions(ctx context.Context, subscriptions []*apiv1.SyncCommitteeSubscription) error {
	return submit(ctx, p, OpSubmitSyncCommitteeSubs, 0, func(ctx context.Context, c nodeClient) error {
		return c.SubmitSyncCommitteeSubscriptions(ctx, subscriptions)
	})
}

// SubmitProposalPreparations tells the nodes the fee recipients of our validators to every usable node.
func (p *Pool) SubmitProposalPreparations(ctx context.Context, preparations []*apiv1.ProposalPreparation) error {
	return submit(ctx, p, OpSubmitProposalPreparations, 0, func(ctx context.Context, c nodeClient) error { return c.SubmitProposalPreparations(ctx, preparations) })
}

// SubmitValidatorRegistrations sends builder registrations to every usable node.
func (p *Pool) SubmitValidatorRegistrations(ctx context.Context, registrations []*api.VersionedSignedValidatorRegistration) error {
	return submit(ctx, p, OpSubmitValidatorRegistrations, 0, func(ctx context.Context, c nodeClient) error {
		return c.SubmitValidatorRegistrations(ctx, registrations)
	})
}

// SubmitVoluntaryExit submits a signed voluntary exit to every usable node.
func (p *Pool) SubmitVoluntaryExit(ctx context.Context, voluntaryExit *phase0.SignedVoluntaryExit) error {
	return submit(ctx, p, OpSubmitVoluntaryExit, 0, func(ctx context.Context, c nodeClient) error { return c.SubmitVoluntaryExit(ctx, voluntaryExit) })
}
