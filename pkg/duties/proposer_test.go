package duties_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/signer"
)

func TestProposal(t *testing.T) {
	tests := []struct {
		name        string
		epoch       phase0.Epoch
		blinded     bool
		opts        []duties.Option
		wantBoost   *uint64
		wantVersion spec.DataVersion
	}{
		{name: "deneb full, local only", epoch: denebEpoch, wantBoost: ptr(uint64(0)), wantVersion: spec.DataVersionDeneb},
		{name: "deneb blinded from builder", epoch: denebEpoch, blinded: true, opts: []duties.Option{duties.WithBuilder()}, wantVersion: spec.DataVersionDeneb},
		{name: "electra full", epoch: electraEpoch, wantBoost: ptr(uint64(0)), wantVersion: spec.DataVersionElectra},
		{name: "electra blinded, boost factor", epoch: electraEpoch, blinded: true,
			opts: []duties.Option{duties.WithBuilder(), duties.WithBuilderBoostFactor(90)}, wantBoost: ptr(uint64(90)), wantVersion: spec.DataVersionElectra},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slot := phase0.Slot(uint64(tc.epoch)*8 + 3)
			e := newEnv(t, envConfig{validators: 4, startSlot: slot, configure: func(n *dutiestest.Node) {
				n.Proposers[slot] = 2
				n.Blinded = tc.blinded
			}, opts: append([]duties.Option{duties.WithGraffiti("vigil")}, tc.opts...)})
			e.run()
			call := dutiestest.CallSubmitProposal
			if tc.blinded {
				call = dutiestest.CallSubmitBlinded
			}
			recs := e.waitCalls(call, 1)
			require.Equal(t, e.slotStart(slot), recs[0].At, "proposed at the start of the slot")
			prop := e.node.Records(dutiestest.CallProposal)[0].Arg.(api.ProposalOpts)
			require.Equal(t, slot, prop.Slot)
			require.NotZero(t, prop.RandaoReveal)
			require.Equal(t, "vigil", string(prop.Graffiti[:5]))
			require.Equal(t, tc.wantBoost, prop.BuilderBoostFactor)
			if tc.blinded {
				p := recs[0].Arg.(*api.VersionedSignedBlindedProposal)
				require.Equal(t, tc.wantVersion, p.Version)
				if tc.wantVersion == spec.DataVersionDeneb {
					require.NotZero(t, p.Deneb.Signature)
				} else {
					require.NotZero(t, p.Electra.Signature)
				}
			} else {
				p := recs[0].Arg.(*api.VersionedSignedProposal)
				require.Equal(t, tc.wantVersion, p.Version)
				if tc.wantVersion == spec.DataVersionDeneb {
					require.NotZero(t, p.Deneb.SignedBlock.Signature)
				} else {
					require.NotZero(t, p.Electra.SignedBlock.Signature)
				}
			}
			if tc.blinded {
				// Builder registrations went out with the epoch's preparations.
				regs := e.waitCalls(dutiestest.CallRegistrations, 1)[0].Arg.([]*api.VersionedSignedValidatorRegistration)
				require.Len(t, regs, 4)
				require.EqualValues(t, duties.DefaultGasLimit, regs[0].V1.Message.GasLimit)
			}
			preps := e.waitCalls(dutiestest.CallPreparations, 1)[0].Arg.([]*apiv1.ProposalPreparation)
			require.Len(t, preps, 4)
		})
	}
}

func ptr[T any](v T) *T { return &v }

// TestProposalFeeRecipient checks per-validator proposer settings and the
// refusal of a local block that pays someone else.
func TestProposalFeeRecipient(t *testing.T) {
	other := bellatrix.ExecutionAddress{0xbb}
	mine := bellatrix.ExecutionAddress{0xaa}
	configs := fixedConfigs{
		def:  duties.ProposerConfig{FeeRecipient: bellatrix.ExecutionAddress{0xfe}, GasLimit: 30_000_000},
		keys: map[phase0.ValidatorIndex]duties.ProposerConfig{2: {FeeRecipient: mine, GasLimit: 45_000_000, Builder: true}},
	}
	tests := []struct {
		name       string
		blockPays  bellatrix.ExecutionAddress
		opts       []duties.Option
		wantSigned bool
	}{
		{name: "the node pays the configured recipient", blockPays: mine, wantSigned: true},
		{name: "the node pays someone else: refused, not signed", blockPays: other},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			slot := phase0.Slot(uint64(electraEpoch)*8 + 3)
			var e *env
			failed := make(chan error, 1)
			e = newEnv(t, envConfig{validators: 4, startSlot: slot, configure: func(n *dutiestest.Node) {
				n.Proposers[slot] = 2
				n.FeeRecipients[2] = tc.blockPays
			}, opts: []duties.Option{
				duties.WithProposerConfigs(configs.withKeys(func() []phase0.BLSPubKey { return e.keys })),
				duties.WithObserver(failures{signer.KindBlock, failed}),
			}})
			e.run()
			preps := e.waitCalls(dutiestest.CallPreparations, 1)[0].Arg.([]*apiv1.ProposalPreparation)
			for _, p := range preps {
				want := configs.def.FeeRecipient
				if p.ValidatorIndex == 2 {
					want = mine
				}
				require.Equal(t, want, p.FeeRecipient, "validator %d", p.ValidatorIndex)
			}
			regs := e.waitCalls(dutiestest.CallRegistrations, 1)[0].Arg.([]*api.VersionedSignedValidatorRegistration)
			require.Len(t, regs, 1, "only the validator that uses the builder network registers")
			require.Equal(t, mine, regs[0].V1.Message.FeeRecipient)
			require.EqualValues(t, 45_000_000, regs[0].V1.Message.GasLimit)

			e.waitCalls(dutiestest.CallProposal, 1)
			prop := e.node.Records(dutiestest.CallProposal)[0].Arg.(api.ProposalOpts)
			require.Equal(t, 1500*time.Millisecond, prop.Common.Timeout, "half a slot for block production")
			require.Nil(t, prop.BuilderBoostFactor, "the node's default boost for a builder validator")
			if tc.wantSigned {
				e.waitCalls(dutiestest.CallSubmitProposal, 1)
				return
			}
			select {
			case err := <-failed:
				require.ErrorIs(t, err, duties.ErrFeeRecipient)
			case <-time.After(10 * time.Second):
				t.Fatal("the proposal was not refused")
			}
			require.Zero(t, e.node.Count(dutiestest.CallSubmitProposal))
			h, err := e.db.History(context.Background(), e.keys[2], 0)
			if err == nil {
				require.Empty(t, h.Blocks, "a refused block is never recorded or signed")
			}
		})
	}
}

// fixedConfigs serves proposer settings by validator index.
type fixedConfigs struct {
	def  duties.ProposerConfig
	keys map[phase0.ValidatorIndex]duties.ProposerConfig
	pks  func() []phase0.BLSPubKey
}

func (c fixedConfigs) withKeys(pks func() []phase0.BLSPubKey) fixedConfigs { c.pks = pks; return c }

func (c fixedConfigs) For(pk phase0.BLSPubKey) duties.ProposerConfig {
	for i, k := range c.pks() {
		if k == pk {
			if cfg, ok := c.keys[phase0.ValidatorIndex(i)]; ok {
				return cfg
			}
		}
	}
	return c.def
}

// failures reports failed duties of one kind on a channel.
type failures struct {
	kind signer.Kind
	ch   chan error
}

func (failures) Scheduled(signer.Kind, phase0.Slot, int)                {}
func (failures) Performed(signer.Kind, phase0.Slot, int, time.Duration) {}
func (f failures) Failed(kind signer.Kind, _ phase0.Slot, _ int, err error) {
	if kind == f.kind {
		select {
		case f.ch <- err:
		default:
		}
	}
}

// TestProposerDutiesV2 reads proposer duties from the v2 endpoint where the
// node serves it and falls back to v1 where it answers 404.
func TestProposerDutiesV2(t *testing.T) {
	for _, v1Only := range []bool{false, true} {
		t.Run(fmt.Sprintf("v1 only %v", v1Only), func(t *testing.T) {
			slot := phase0.Slot(uint64(electraEpoch)*8 + 3)
			e := newEnv(t, envConfig{validators: 4, startSlot: slot, configure: func(n *dutiestest.Node) {
				n.Proposers[slot] = 2
				n.ProposerDutiesV1Only = v1Only
			}})
			e.run()
			e.waitCalls(dutiestest.CallSubmitProposal, 1)
			require.NotZero(t, e.node.Count(dutiestest.CallProposerDutiesV2), "v2 is asked first")
			if v1Only {
				require.NotZero(t, e.node.Count(dutiestest.CallProposerDuties))
			} else {
				require.Zero(t, e.node.Count(dutiestest.CallProposerDuties))
			}
		})
	}
}

// TestProposerConfigChangedPreparesAtOnce: after the proposer configuration
// changes (a SIGHUP reload), the next slot tells the node the new fee
// recipients rather than waiting for the next epoch, when a block the node
// built for the old recipient would be refused.
func TestProposerConfigChangedPreparesAtOnce(t *testing.T) {
	slot := phase0.Slot(uint64(electraEpoch)*8 + 2)
	e := newEnv(t, envConfig{validators: 2, startSlot: slot})
	e.run()
	require.Len(t, e.waitCalls(dutiestest.CallPreparations, 1), 1, "the first slot prepares")
	e.waitTimer(e.slotStart(slot + 1))
	e.clock.Set(e.slotStart(slot + 1))
	e.waitTimer(e.slotStart(slot + 2))
	require.Equal(t, 1, e.node.Count(dutiestest.CallPreparations), "no preparation mid-epoch without a change")

	e.svc.ProposerConfigChanged()
	e.clock.Set(e.slotStart(slot + 2))
	e.waitCalls(dutiestest.CallPreparations, 2)
	e.waitTimer(e.slotStart(slot + 3))
	e.clock.Set(e.slotStart(slot + 3))
	e.waitTimer(e.slotStart(slot + 4))
	require.Equal(t, 2, e.node.Count(dutiestest.CallPreparations), "one preparation per change")
}
