package duties

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// proposalSettings are the operator's block production settings: graffiti,
// the builder boost, the block production timeout, and each validator's fee
// recipient, gas limit and builder use.
type proposalSettings struct {
	graffiti     [32]byte
	builderBoost *uint64
	blockTimeout time.Duration
	configs      proposerConfigs
}

// staticConfigs are the settings of WithFeeRecipient, WithGasLimit,
// WithBuilder and WithProposerConfig.
type staticConfigs struct {
	def    ProposerConfig
	perKey map[phase0.BLSPubKey]ProposerConfig
}

func (c staticConfigs) For(pk phase0.BLSPubKey) ProposerConfig {
	cfg := c.def
	if k, ok := c.perKey[pk]; ok {
		cfg.FeeRecipient = k.FeeRecipient
		if k.GasLimit != 0 {
			cfg.GasLimit = k.GasLimit
		}
	}
	return cfg
}

// forKey returns the validator's settings.
func (p *proposalSettings) forKey(pk phase0.BLSPubKey) ProposerConfig { return p.configs.For(pk) }

// preparer tells the node every epoch which fee recipient each validator
// uses and, with the builder network, registers them with it.
type preparer struct {
	common
	node     preparationClient
	signer   registrationSigner
	settings *proposalSettings

	mu sync.Mutex
	// registrations are kept until their configuration changes: builders
	// expect the same timestamp on resubmission.
	registrations map[phase0.BLSPubKey]*registration
}

// registration is a signed builder registration.
type registration struct {
	feeRecipient bellatrix.ExecutionAddress
	gasLimit     uint64
	signed       *api.VersionedSignedValidatorRegistration
}

// forget drops the registrations of removed keys.
func (p *preparer) forget(pubkeys ...phase0.BLSPubKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, pk := range pubkeys {
		delete(p.registrations, pk)
	}
}

// prepare submits prepare_beacon_proposer for every validator that has not
// exited and, with the builder enabled, their registrations.
func (p *preparer) prepare(ctx context.Context, slot phase0.Slot) {
	keys := p.roster.notExited()
	if len(keys) == 0 {
		return
	}
	preps := make([]*apiv1.ProposalPreparation, 0, len(keys))
	for _, k := range keys {
		preps = append(preps, &apiv1.ProposalPreparation{ValidatorIndex: k.index, FeeRecipient: p.settings.forKey(k.pubkey).FeeRecipient})
	}
	if err := p.node.SubmitProposalPreparations(ctx, preps); err != nil {
		p.log.Warn("Failed to submit proposer preparations", slog.Any("error", err))
		p.obs.Failed(signer.KindProposerPreparation, slot, len(preps), err)
	} else {
		p.obs.Performed(signer.KindProposerPreparation, slot, len(preps), p.sinceSlotStart(slot))
	}
	p.register(ctx, slot, keys)
}

// register submits the builder registrations of the validators that use
// the builder network and may sign.
func (p *preparer) register(ctx context.Context, slot phase0.Slot, keys []indexedKey) {
	const kind = signer.KindValidatorRegistration
	regs := make([]*api.VersionedSignedValidatorRegistration, 0, len(keys))
	failed := 0
	for _, k := range keys {
		if !p.settings.forKey(k.pubkey).Builder {
			continue
		}
		if _, canSign := p.roster.signer(k.index); !canSign {
			continue
		}
		reg, err := p.registration(ctx, k.pubkey)
		if err != nil {
			failed++
			p.log.Warn("Failed to sign validator registration", slog.Uint64("validator_index", uint64(k.index)), slog.Any("error", err))
			continue
		}
		regs = append(regs, reg)
	}
	if failed > 0 {
		p.obs.Failed(kind, slot, failed, nil)
	}
	if len(regs) == 0 {
		return
	}
	if err := p.node.SubmitValidatorRegistrations(ctx, regs); err != nil {
		p.log.Warn("Failed to submit validator registrations", slog.Any("error", err))
		p.obs.Failed(kind, slot, len(regs), err)
		return
	}
	p.obs.Performed(kind, slot, len(regs), p.sinceSlotStart(slot))
}

// registration returns the validator's signed registration, signing a new one
// only when its fee recipient or gas limit changed.
func (p *preparer) registration(ctx context.Context, pk phase0.BLSPubKey) (*api.VersionedSignedValidatorRegistration, error) {
	cfg := p.settings.forKey(pk)
	p.mu.Lock()
	r, ok := p.registrations[pk]
	p.mu.Unlock()
	if ok && r.feeRecipient == cfg.FeeRecipient && r.gasLimit == cfg.GasLimit {
		return r.signed, nil
	}
	msg := &apiv1.ValidatorRegistration{
		FeeRecipient: cfg.FeeRecipient, GasLimit: cfg.GasLimit,
		Timestamp: p.clock.Now().Truncate(time.Second), Pubkey: pk,
	}
	sig, err := p.signer.SignValidatorRegistration(ctx, msg)
	if err != nil {
		return nil, err
	}
	signed := &api.VersionedSignedValidatorRegistration{
		Version: spec.BuilderVersionV1,
		V1:      &apiv1.SignedValidatorRegistration{Message: msg, Signature: sig},
	}
	if p.roster.has(pk) {
		p.mu.Lock()
		p.registrations[pk] = &registration{feeRecipient: cfg.FeeRecipient, gasLimit: cfg.GasLimit, signed: signed}
		p.mu.Unlock()
	}
	return signed, nil
}
