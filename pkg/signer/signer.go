package signer

import (
	"context"
	"errors"
	"sync"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/keystore"
)

var errNotImplemented = errors.New("signer: not implemented yet")

// ErrKeyMismatch refuses a key whose secret does not belong to its Pubkey
// field: signing with it would record slashing protection under the wrong key.
var ErrKeyMismatch = errors.New("secret key does not match its public key")

// Signer signs every message a validator client needs. It is safe for
// concurrent use.
type Signer struct {
	mu   sync.RWMutex
	keys map[phase0.BLSPubKey]*keystore.Key
}

// New checks the options, the chain spec and the slashing database's network
// and returns a Signer. WithSlashingDB and WithChainSpec are mandatory.
func New(ctx context.Context, opts ...Option) (*Signer, error) {
	return nil, errNotImplemented
}

// AddKeys hands keys to the signer, which then owns them (it zeroes them on
// removal or Close). A key already held is kept and the duplicate zeroed.
// It fails with ErrKeyMismatch, adding nothing, if any secret does not match
// its pubkey.
func (s *Signer) AddKeys(keys ...*keystore.Key) error { return errNotImplemented }

// RemoveKeys forgets and zeroes the keys with these public keys and returns
// how many were held.
func (s *Signer) RemoveKeys(pubkeys ...phase0.BLSPubKey) int { return 0 }

// Pubkeys lists the held public keys in byte order.
func (s *Signer) Pubkeys() []phase0.BLSPubKey { return nil }

// HasKey reports whether the signer holds the key for pubkey.
func (s *Signer) HasKey(pubkey phase0.BLSPubKey) bool { return false }

// ChainSpec returns the chain the signer signs for.
func (s *Signer) ChainSpec() ChainSpec { return ChainSpec{} }

// Close zeroes and forgets every key; later calls fail with ErrClosed. It does
// not close the slashing database, which the caller owns.
func (s *Signer) Close() error { return nil }

// SignAttestations signs a slot's attestations: all are checked and recorded
// through one slashing-protection call (one durable commit), then the allowed
// ones are signed in parallel. Results align with duties; a refusal affects
// only its own result. A non-nil error means the database could not decide
// and nothing was signed.
func (s *Signer) SignAttestations(ctx context.Context, duties []AttestationDuty) ([]AttestationResult, error) {
	return nil, errNotImplemented
}

// SignAttestation signs one attestation; see SignAttestations.
func (s *Signer) SignAttestation(ctx context.Context, pubkey phase0.BLSPubKey, data *phase0.AttestationData) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignProposal signs a block proposal as produced by the beacon node (full or
// blinded, any fork), after recording it in the slashing database.
func (s *Signer) SignProposal(ctx context.Context, pubkey phase0.BLSPubKey, proposal *api.VersionedProposal) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignBlindedProposal signs a blinded block proposal, after recording it in
// the slashing database.
func (s *Signer) SignBlindedProposal(ctx context.Context, pubkey phase0.BLSPubKey, proposal *api.VersionedBlindedProposal) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignBeaconBlock signs one of go-eth2-client's per-fork block types
// (*phase0.BeaconBlock … *electra.BeaconBlock and the api/v1 blinded ones),
// after recording it in the slashing database.
func (s *Signer) SignBeaconBlock(ctx context.Context, pubkey phase0.BLSPubKey, block any) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignRANDAOReveal signs the RANDAO reveal for epoch.
func (s *Signer) SignRANDAOReveal(ctx context.Context, pubkey phase0.BLSPubKey, epoch phase0.Epoch) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignSelectionProof signs the aggregation slot selection proof for slot.
func (s *Signer) SignSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignAggregateAndProof signs an aggregate-and-proof, before or after Electra.
func (s *Signer) SignAggregateAndProof(ctx context.Context, pubkey phase0.BLSPubKey, aggregate *spec.VersionedAggregateAndProof) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignSyncCommitteeMessage signs the sync committee message for the beacon
// block root at slot.
func (s *Signer) SignSyncCommitteeMessage(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, blockRoot phase0.Root) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignSyncCommitteeSelectionProof signs the sync aggregator selection data for
// slot and subcommittee.
func (s *Signer) SignSyncCommitteeSelectionProof(ctx context.Context, pubkey phase0.BLSPubKey, slot phase0.Slot, subcommitteeIndex uint64) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignContributionAndProof signs a sync committee contribution-and-proof.
func (s *Signer) SignContributionAndProof(ctx context.Context, pubkey phase0.BLSPubKey, cp *altair.ContributionAndProof) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignValidatorRegistration signs a builder registration (builder-specs
// DOMAIN_APPLICATION_BUILDER) with the key of reg.Pubkey.
func (s *Signer) SignValidatorRegistration(ctx context.Context, reg *apiv1.ValidatorRegistration) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}

// SignVoluntaryExit signs a voluntary exit (EIP-7044: from Deneb on always
// with the Capella fork version).
func (s *Signer) SignVoluntaryExit(ctx context.Context, pubkey phase0.BLSPubKey, exit *phase0.VoluntaryExit) (phase0.BLSSignature, error) {
	return phase0.BLSSignature{}, errNotImplemented
}
