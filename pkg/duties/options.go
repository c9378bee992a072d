package duties

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// DefaultGasLimit is the execution gas limit registered with builders when
// none is configured, the value Lighthouse and Teku default to.
const DefaultGasLimit = 36_000_000

// DefaultDoppelgangerEpochs is how many full epochs doppelganger protection
// watches before a new key may sign.
const DefaultDoppelgangerEpochs = 2

// ProposerConfig is the per-validator block production configuration.
type ProposerConfig struct {
	// FeeRecipient receives the execution fees of the validator's blocks.
	FeeRecipient bellatrix.ExecutionAddress
	// GasLimit is the gas limit registered with builders.
	GasLimit uint64
	// Builder uses the external builder network for the validator:
	// registrations every epoch and builder payloads in its blocks.
	Builder bool
}

// proposerConfigs serves each validator's ProposerConfig, e.g. a
// proposerconfig.Source that follows a file the operator edits.
type proposerConfigs interface {
	For(pk phase0.BLSPubKey) ProposerConfig
}

type options struct {
	node               BeaconNode
	signer             Signer
	chain              chainModel
	log                *slog.Logger
	observers          []Observer
	pubkeys            []phase0.BLSPubKey
	feeRecipient       *bellatrix.ExecutionAddress
	gasLimit           uint64
	perKey             map[phase0.BLSPubKey]ProposerConfig
	graffiti           [32]byte
	builder            bool
	builderBoost       *uint64
	configs            proposerConfigs
	blockTimeout       time.Duration
	doppelgangerEpochs uint64
	errs               []error
}

// Option configures New.
type Option func(*options)

// WithBeaconNode sets the beacon node (mandatory): a go-eth2-client http
// client or the multi-node pool.
func WithBeaconNode(node BeaconNode) Option { return func(o *options) { o.node = node } }

// WithSigner sets the signer every signature is asked of (mandatory).
func WithSigner(s Signer) Option { return func(o *options) { o.signer = s } }

// WithFeeRecipient sets the default fee recipient (mandatory): unset, the
// execution rewards of every block would be burnt to the zero address.
func WithFeeRecipient(addr bellatrix.ExecutionAddress) Option {
	return func(o *options) { o.feeRecipient = &addr }
}

// WithPubkeys adds validator public keys to perform duties for; more can be
// added at runtime with AddPubkeys.
func WithPubkeys(pubkeys ...phase0.BLSPubKey) Option {
	return func(o *options) { o.pubkeys = append(o.pubkeys, pubkeys...) }
}

// WithChain sets the chain the duties run on (mandatory): its spec and its
// slot clock, whose wall clock tests replace.
func WithChain(c chainModel) Option { return func(o *options) { o.chain = c } }

// WithLogger sets the logger; slog.Default() by default.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithObserver adds observers of the duties (the metrics, the live log); it
// may be given more than once.
func WithObserver(obs ...Observer) Option {
	return func(o *options) { o.observers = append(o.observers, obs...) }
}

// WithGraffiti sets the graffiti of proposed blocks, at most 32 bytes.
func WithGraffiti(g string) Option {
	return func(o *options) {
		if len(g) > len(o.graffiti) {
			o.errs = append(o.errs, fmt.Errorf("%w: graffiti is %d bytes, at most 32 allowed", ErrInvalidOption, len(g)))
			return
		}
		o.graffiti = [32]byte{}
		copy(o.graffiti[:], g)
	}
}

// WithGasLimit sets the default gas limit registered with builders
// (DefaultGasLimit by default).
func WithGasLimit(limit uint64) Option { return func(o *options) { o.gasLimit = limit } }

// WithProposerConfig overrides the fee recipient and gas limit for one
// validator; a zero GasLimit keeps the default.
func WithProposerConfig(pubkey phase0.BLSPubKey, cfg ProposerConfig) Option {
	return func(o *options) {
		if o.perKey == nil {
			o.perKey = map[phase0.BLSPubKey]ProposerConfig{}
		}
		o.perKey[pubkey] = cfg
	}
}

// WithProposerConfigs makes src the source of every validator's fee
// recipient, gas limit and builder use, replacing WithFeeRecipient's,
// WithGasLimit's, WithBuilder's and WithProposerConfig's settings.
func WithProposerConfigs(src proposerConfigs) Option { return func(o *options) { o.configs = src } }

// WithBlockProductionTimeout bounds how long the beacon node may take to
// produce a block; half a slot by default (a block published later is
// likely orphaned, but a builder or an execution client that just restarted
// needs seconds).
func WithBlockProductionTimeout(d time.Duration) Option {
	return func(o *options) {
		if d < 0 {
			o.errs = append(o.errs, fmt.Errorf("%w: block production timeout %s is negative", ErrInvalidOption, d))
			return
		}
		o.blockTimeout = d
	}
}

// WithBuilder enables the external builder network: validator registrations
// every epoch and builder payloads in produced blocks.
func WithBuilder() Option { return func(o *options) { o.builder = true } }

// WithBuilderBoostFactor sets produce block v3's builder_boost_factor when the
// builder is enabled (the beacon node's default, 100, otherwise). Without the
// builder it is always 0, so the node builds locally.
func WithBuilderBoostFactor(factor uint64) Option {
	return func(o *options) { o.builderBoost = &factor }
}

// WithDoppelgangerEpochs sets how many epochs each key is watched for
// liveness before it may sign (DefaultDoppelgangerEpochs); 0 disables the
// protection, which is safe only for a brand-new chain or a key known to be
// offline everywhere else.
func WithDoppelgangerEpochs(n uint64) Option { return func(o *options) { o.doppelgangerEpochs = n } }
