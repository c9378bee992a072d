package duties

import (
	"context"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// Beacon node capabilities, one narrow interface per consumer. A single
// go-eth2-client http.Service or the multi-node pool satisfies all of them.
type (
	eventsClient interface {
		eth2client.EventsProvider
	}
	validatorsClient interface {
		eth2client.ValidatorsProvider
	}
	livenessClient interface {
		eth2client.ValidatorLivenessProvider
	}
	attesterClient interface {
		eth2client.AttesterDutiesProvider
		eth2client.AttestationDataProvider
		eth2client.AttestationsSubmitter
		eth2client.BeaconCommitteeSubscriptionsSubmitter
	}
	aggregatorClient interface {
		eth2client.AggregateAttestationProvider
		eth2client.AggregateAttestationsSubmitter
	}
	proposerClient interface {
		eth2client.ProposerDutiesProvider
		eth2client.ProposerDutiesV2Provider
		eth2client.ProposalProvider
		eth2client.ProposalSubmitter
		eth2client.BlindedProposalSubmitter
	}
	preparationClient interface {
		eth2client.ProposalPreparationsSubmitter
		eth2client.ValidatorRegistrationsSubmitter
	}
	syncCommitteeClient interface {
		eth2client.SyncCommitteeDutiesProvider
		eth2client.SyncCommitteeSubscriptionsSubmitter
		eth2client.SyncCommitteeMessagesSubmitter
		eth2client.SyncCommitteeContributionProvider
		eth2client.SyncCommitteeContributionsSubmitter
		eth2client.BeaconBlockRootProvider
	}
)

// BeaconNode is everything the duties ask of the beacon node: the union of the
// narrow interfaces above, all from go-eth2-client.
type BeaconNode interface {
	eventsClient
	validatorsClient
	livenessClient
	attesterClient
	aggregatorClient
	proposerClient
	preparationClient
	syncCommitteeClient
}

// Signer capabilities, one narrow interface per consumer; *signer.Signer
// satisfies all of them.
type (
	attestationSigner interface {
		SignAttestations(ctx context.Context, duties []signer.AttestationDuty) ([]signer.AttestationResult, error)
	}
	selectionProofSigner interface {
		SignSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot) (phase0.BLSSignature, error)
	}
	aggregationSigner interface {
		SignAggregateAndProof(ctx context.Context, pubkey phase0.BLSPubKey, aggregate *spec.VersionedAggregateAndProof) (phase0.BLSSignature, error)
	}
	proposalSigner interface {
		SignRANDAOReveal(ctx context.Context, pubkey phase0.BLSPubKey, epoch phase0.Epoch) (phase0.BLSSignature, error)
		SignProposal(ctx context.Context, pubkey phase0.BLSPubKey, proposal *api.VersionedProposal) (phase0.BLSSignature, error)
		LatestBlock(ctx context.Context, pubkey phase0.BLSPubKey) (phase0.Slot, bool, error)
	}
	syncCommitteeSigner interface {
		SignSyncCommitteeMessage(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, blockRoot phase0.Root) (phase0.BLSSignature, error)
		SignSyncCommitteeSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, subcommitteeIndex uint64) (phase0.BLSSignature, error)
		SignContributionAndProof(ctx context.Context, pubkey phase0.BLSPubKey, cp *altair.ContributionAndProof) (phase0.BLSSignature, error)
	}
	registrationSigner interface {
		SignValidatorRegistration(ctx context.Context, reg *apiv1.ValidatorRegistration) (phase0.BLSSignature, error)
	}
)

// Signer is every signature the duties ask for: the union of the narrow
// interfaces above. *signer.Signer satisfies it.
type Signer interface {
	attestationSigner
	selectionProofSigner
	aggregationSigner
	proposalSigner
	syncCommitteeSigner
	registrationSigner
}

var _ Signer = (*signer.Signer)(nil)
