package duties_test

import (
	"testing"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
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
