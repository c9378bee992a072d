package duties

import (
	"context"
	"log/slog"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// registration is a signed builder registration kept until its
// configuration changes: builders expect the same timestamp on resubmission.
type registration struct {
	feeRecipient bellatrix.ExecutionAddress
	gasLimit     uint64
	signed       *api.VersionedSignedValidatorRegistration
}

// proposerConfig returns the validator's fee recipient and gas limit.
func (s *Service) proposerConfig(pk phase0.BLSPubKey) ProposerConfig {
	cfg := ProposerConfig{FeeRecipient: *s.cfg.feeRecipient, GasLimit: s.cfg.gasLimit}
	if c, ok := s.cfg.perKey[pk]; ok {
		cfg.FeeRecipient = c.FeeRecipient
		if c.GasLimit != 0 {
			cfg.GasLimit = c.GasLimit
		}
	}
	return cfg
}

// prepareProposers tells the node every epoch which fee recipient each of our
// validators uses (prepare_beacon_proposer) and, with the builder enabled,
// registers them with the builder network.
func (s *Service) prepareProposers(ctx context.Context, slot phase0.Slot) {
	s.mu.Lock()
	type key struct {
		pubkey phase0.BLSPubKey
		index  phase0.ValidatorIndex
	}
	var keys []key
	for idx, v := range s.byIndex {
		if v.state != nil && !v.state.Status.HasExited() {
			keys = append(keys, key{v.pubkey, idx})
		}
	}
	s.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	preps := make([]*apiv1.ProposalPreparation, 0, len(keys))
	for _, k := range keys {
		preps = append(preps, &apiv1.ProposalPreparation{ValidatorIndex: k.index, FeeRecipient: s.proposerConfig(k.pubkey).FeeRecipient})
	}
	if err := s.node.SubmitProposalPreparations(ctx, preps); err != nil {
		s.log.Warn("Failed to submit proposer preparations", slog.Any("error", err))
		s.obs.Failed(KindProposerPreparation, slot, len(preps), err)
	} else {
		s.obs.Performed(KindProposerPreparation, slot, len(preps), s.sinceSlotStart(slot))
	}
	if !s.cfg.builder {
		return
	}
	regs := make([]*api.VersionedSignedValidatorRegistration, 0, len(keys))
	failed := 0
	for _, k := range keys {
		s.mu.Lock()
		_, canSign := s.canSignLocked(k.index)
		s.mu.Unlock()
		if !canSign {
			continue
		}
		reg, err := s.registration(ctx, k.pubkey)
		if err != nil {
			failed++
			s.log.Warn("Failed to sign validator registration", slog.Uint64("validator_index", uint64(k.index)), slog.Any("error", err))
			continue
		}
		regs = append(regs, reg)
	}
	if failed > 0 {
		s.obs.Failed(KindValidatorRegistration, slot, failed, nil)
	}
	if len(regs) == 0 {
		return
	}
	if err := s.node.SubmitValidatorRegistrations(ctx, regs); err != nil {
		s.log.Warn("Failed to submit validator registrations", slog.Any("error", err))
		s.obs.Failed(KindValidatorRegistration, slot, len(regs), err)
		return
	}
	s.obs.Performed(KindValidatorRegistration, slot, len(regs), s.sinceSlotStart(slot))
}

// registration returns the validator's signed registration, signing a new one
// only when its fee recipient or gas limit changed.
func (s *Service) registration(ctx context.Context, pk phase0.BLSPubKey) (*api.VersionedSignedValidatorRegistration, error) {
	cfg := s.proposerConfig(pk)
	s.mu.Lock()
	r, ok := s.registrations[pk]
	s.mu.Unlock()
	if ok && r.feeRecipient == cfg.FeeRecipient && r.gasLimit == cfg.GasLimit {
		return r.signed, nil
	}
	msg := &apiv1.ValidatorRegistration{
		FeeRecipient: cfg.FeeRecipient, GasLimit: cfg.GasLimit,
		Timestamp: s.clock.Now().Truncate(time.Second), Pubkey: pk,
	}
	sig, err := s.signer.SignValidatorRegistration(ctx, msg)
	if err != nil {
		return nil, err
	}
	signed := &api.VersionedSignedValidatorRegistration{
		Version: spec.BuilderVersionV1,
		V1:      &apiv1.SignedValidatorRegistration{Message: msg, Signature: sig},
	}
	s.mu.Lock()
	if _, still := s.validators[pk]; still {
		s.registrations[pk] = &registration{feeRecipient: cfg.FeeRecipient, gasLimit: cfg.GasLimit, signed: signed}
	}
	s.mu.Unlock()
	return signed, nil
}
