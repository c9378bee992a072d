// Package signer is the single door every validator signature passes through.
// It computes domains and signing roots itself from spec types, gates blocks
// and attestations through the slashing-protection database (the record is
// durably committed before any signature is released), guards against clocks
// and beacon nodes that run ahead, and signs with herumi BLS.
package signer

import (
	"context"
	"log/slog"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// SlashingDB is the part of *slashprotect.DB the signer uses. It is an
// interface so tests can inject failures; production passes *slashprotect.DB.
type SlashingDB interface {
	CheckAndRecordAttestations(ctx context.Context, reqs []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error)
	CheckAndRecordBlock(ctx context.Context, req slashprotect.BlockRequest) (slashprotect.Verdict, error)
	BindNetwork(ctx context.Context, root phase0.Root, timing slashprotect.Timing) error
	LatestRecords(ctx context.Context, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]slashprotect.Latest, error)
}

var _ SlashingDB = (*slashprotect.DB)(nil)

// Kind names a kind of message a validator signs or sends, as a stable label
// for logs and metrics. It is vigil's one vocabulary of duties: the duties
// report each duty by the kind of message it produces.
type Kind string

// Kinds of signed messages.
const (
	KindAttestation                 Kind = "attestation"
	KindBlock                       Kind = "block"
	KindRANDAO                      Kind = "randao_reveal"
	KindAggregateAndProof           Kind = "aggregate_and_proof"
	KindSelectionProof              Kind = "selection_proof"
	KindSyncCommitteeMessage        Kind = "sync_committee_message"
	KindSyncCommitteeSelectionProof Kind = "sync_committee_selection_proof"
	KindContributionAndProof        Kind = "contribution_and_proof"
	KindValidatorRegistration       Kind = "validator_registration"
	KindVoluntaryExit               Kind = "voluntary_exit"
)

// Kinds of messages a validator client sends that carry no validator
// signature; the duties report them in the same vocabulary.
const (
	KindBeaconCommitteeSubscription Kind = "beacon_committee_subscription"
	KindSyncCommitteeSubscription   Kind = "sync_committee_subscription"
	KindProposerPreparation         Kind = "proposer_preparation"
)

// Reason says why a message was refused, as a stable label for logs and
// metrics: the name of the slashing-protection rule that refused it
// (RuleReason), or one of the signer's own guards below.
type Reason string

// The signer's own refusal reasons, for messages refused before the slashing
// database is asked. None is the name of a slashprotect.Rule.
const (
	ReasonFuture         Reason = "future"
	ReasonLongGap        Reason = "long_gap"
	ReasonUnknownKey     Reason = "unknown_key"
	ReasonInvalidMessage Reason = "invalid_message"
	ReasonForkMismatch   Reason = "fork_mismatch"
	ReasonUnknownFork    Reason = "unknown_fork"
)

// RuleReason is the Reason of a refusal by a slashing-protection rule: the
// rule's own name (slashprotect.Rule.String), so each rule has one name.
func RuleReason(rule slashprotect.Rule) Reason { return Reason(rule.String()) }

// Observer is told about every signature made, refused or failed. The monitor
// implements it (metrics); methods must be cheap and safe for concurrent use.
type Observer interface {
	// Signed counts n signatures of kind released to the caller, took after
	// the request arrived (the slashing-protection commit included).
	Signed(kind Kind, n int, took time.Duration)
	// Refused counts one message of kind refused for reason.
	Refused(kind Kind, reason Reason)
	// Failed counts n messages of kind not signed because of an
	// infrastructure error (slashing database unreachable, context cancelled).
	Failed(kind Kind, n int)
	// SlashingDB reports one call to the slashing-protection database for
	// messages of kind: how long the check-and-record (its durable commit
	// included) took, or the error it failed with.
	SlashingDB(kind Kind, took time.Duration, err error)
}

// Option configures New.
type Option func(*options)

type options struct {
	db           SlashingDB
	noDB         bool
	chain        chainModel
	keys         []*keystore.Key
	clock        func() time.Time
	log          *slog.Logger
	observer     Observer
	maxGapEpochs uint64
	allowLongGap bool
	workers      int
}

// DefaultMaxGapEpochs is the long-gap limit: 225 epochs is one day on mainnet
// (225 × 32 × 12 s).
const DefaultMaxGapEpochs = 225

// WithSlashingDB sets the slashing-protection database (mandatory unless
// WithoutSlashingDB).
func WithSlashingDB(db SlashingDB) Option { return func(o *options) { o.db = db } }

// WithoutSlashingDB makes a signer for messages that cannot be slashed only
// (voluntary exits, RANDAO reveals, selection proofs, registrations): it
// refuses every block and attestation with ErrNoSlashingDB. The exit command
// uses it so that it never needs the database a running validator client
// holds locked.
func WithoutSlashingDB() Option { return func(o *options) { o.noDB = true } }

// chainModel is the chain the signer signs for: *chain.Chain, whose spec
// follows forks the beacon node schedules while vigil runs.
type chainModel interface {
	Spec() *chain.Spec
}

// WithChain sets the chain the signer signs for (mandatory): every domain
// and signing root is computed from its current spec.
func WithChain(c chainModel) Option { return func(o *options) { o.chain = c } }

// WithKeys adds signing keys at construction; the signer takes ownership and
// zeroes them on removal or Close. If New fails, the caller keeps them.
func WithKeys(keys ...*keystore.Key) Option {
	return func(o *options) { o.keys = append(o.keys, keys...) }
}

// WithClock sets the wall clock used by the future guard; time.Now by default.
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithLogger sets the logger; slog.Default() by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithObserver sets the observer of signatures and refusals.
func WithObserver(obs Observer) Option { return func(o *options) { o.observer = obs } }

// WithMaxGapEpochs sets the long-gap limit in epochs (DefaultMaxGapEpochs by
// default); 0 disables the guard.
func WithMaxGapEpochs(n uint64) Option { return func(o *options) { o.maxGapEpochs = n } }

// WithLongGapOverride lets blocks and attestations through the long-gap guard:
// the operator confirms that the validator really was offline that long.
func WithLongGapOverride() Option { return func(o *options) { o.allowLongGap = true } }

// WithWorkers sets how many goroutines sign a batch in parallel; GOMAXPROCS
// by default.
func WithWorkers(n int) Option { return func(o *options) { o.workers = n } }

// AttestationDuty is one validator's attestation to sign.
type AttestationDuty struct {
	Pubkey phase0.BLSPubKey
	Data   *phase0.AttestationData
}

// AttestationResult is the outcome for one AttestationDuty: a signature, or
// Err (a *RefusalError for refusals).
type AttestationResult struct {
	Signature phase0.BLSSignature
	Err       error
}
