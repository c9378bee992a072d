package signer_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/attestantio/go-eth2-client/api"
	apiv1bellatrix "github.com/attestantio/go-eth2-client/api/v1/bellatrix"
	apiv1capella "github.com/attestantio/go-eth2-client/api/v1/capella"
	apiv1deneb "github.com/attestantio/go-eth2-client/api/v1/deneb"
	apiv1electra "github.com/attestantio/go-eth2-client/api/v1/electra"
	apiv1fulu "github.com/attestantio/go-eth2-client/api/v1/fulu"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/capella"
	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// forkBlocks builds, for a fork, a full block and (from Bellatrix on) a
// blinded one at slot, plus the versioned proposals wrapping them.
type forkBlocks struct {
	version  spec.DataVersion
	epoch    phase0.Epoch
	full     func(slot phase0.Slot) any
	blinded  func(slot phase0.Slot) any
	proposal func(block any, blinded bool) *api.VersionedProposal
	bp       func(block any) *api.VersionedBlindedProposal
}

func hdr(slot phase0.Slot) (phase0.Slot, phase0.ValidatorIndex, phase0.Root, phase0.Root) {
	return slot, 5, phase0.Root{0xaa, byte(slot)}, phase0.Root{0xbb, byte(slot)}
}

func allForks() []forkBlocks {
	return []forkBlocks{
		{
			version: spec.DataVersionPhase0, epoch: 0,
			full: func(s phase0.Slot) any {
				b := &phase0.BeaconBlock{Body: &phase0.BeaconBlockBody{Graffiti: [32]byte{1}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			proposal: func(b any, _ bool) *api.VersionedProposal {
				return &api.VersionedProposal{Version: spec.DataVersionPhase0, Phase0: b.(*phase0.BeaconBlock)}
			},
		},
		{
			version: spec.DataVersionAltair, epoch: 1,
			full: func(s phase0.Slot) any {
				b := &altair.BeaconBlock{Body: &altair.BeaconBlockBody{Graffiti: [32]byte{2}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			proposal: func(b any, _ bool) *api.VersionedProposal {
				return &api.VersionedProposal{Version: spec.DataVersionAltair, Altair: b.(*altair.BeaconBlock)}
			},
		},
		{
			version: spec.DataVersionBellatrix, epoch: 2,
			full: func(s phase0.Slot) any {
				b := &bellatrix.BeaconBlock{Body: &bellatrix.BeaconBlockBody{Graffiti: [32]byte{3}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			blinded: func(s phase0.Slot) any {
				b := &apiv1bellatrix.BlindedBeaconBlock{Body: &apiv1bellatrix.BlindedBeaconBlockBody{Graffiti: [32]byte{3}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			proposal: func(b any, blinded bool) *api.VersionedProposal {
				p := &api.VersionedProposal{Version: spec.DataVersionBellatrix, Blinded: blinded}
				if blinded {
					p.BellatrixBlinded = b.(*apiv1bellatrix.BlindedBeaconBlock)
				} else {
					p.Bellatrix = b.(*bellatrix.BeaconBlock)
				}
				return p
			},
			bp: func(b any) *api.VersionedBlindedProposal {
				return &api.VersionedBlindedProposal{Version: spec.DataVersionBellatrix, Bellatrix: b.(*apiv1bellatrix.BlindedBeaconBlock)}
			},
		},
		{
			version: spec.DataVersionCapella, epoch: 3,
			full: func(s phase0.Slot) any {
				b := &capella.BeaconBlock{Body: &capella.BeaconBlockBody{Graffiti: [32]byte{4}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			blinded: func(s phase0.Slot) any {
				b := &apiv1capella.BlindedBeaconBlock{Body: &apiv1capella.BlindedBeaconBlockBody{Graffiti: [32]byte{4}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			proposal: func(b any, blinded bool) *api.VersionedProposal {
				p := &api.VersionedProposal{Version: spec.DataVersionCapella, Blinded: blinded}
				if blinded {
					p.CapellaBlinded = b.(*apiv1capella.BlindedBeaconBlock)
				} else {
					p.Capella = b.(*capella.BeaconBlock)
				}
				return p
			},
			bp: func(b any) *api.VersionedBlindedProposal {
				return &api.VersionedBlindedProposal{Version: spec.DataVersionCapella, Capella: b.(*apiv1capella.BlindedBeaconBlock)}
			},
		},
		{
			version: spec.DataVersionDeneb, epoch: 4,
			full: func(s phase0.Slot) any {
				b := &deneb.BeaconBlock{Body: &deneb.BeaconBlockBody{Graffiti: [32]byte{5}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			blinded: func(s phase0.Slot) any {
				b := &apiv1deneb.BlindedBeaconBlock{Body: &apiv1deneb.BlindedBeaconBlockBody{Graffiti: [32]byte{5}}}
				b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
				return b
			},
			proposal: func(b any, blinded bool) *api.VersionedProposal {
				p := &api.VersionedProposal{Version: spec.DataVersionDeneb, Blinded: blinded}
				if blinded {
					p.DenebBlinded = b.(*apiv1deneb.BlindedBeaconBlock)
				} else {
					p.Deneb = &apiv1deneb.BlockContents{Block: b.(*deneb.BeaconBlock)}
				}
				return p
			},
			bp: func(b any) *api.VersionedBlindedProposal {
				return &api.VersionedBlindedProposal{Version: spec.DataVersionDeneb, Deneb: b.(*apiv1deneb.BlindedBeaconBlock)}
			},
		},
		electraLike(spec.DataVersionElectra, 5),
		electraLike(spec.DataVersionFulu, 6),
	}
}

// electraLike covers Electra and Fulu, which share block containers.
func electraLike(v spec.DataVersion, epoch phase0.Epoch) forkBlocks {
	return forkBlocks{
		version: v, epoch: epoch,
		full: func(s phase0.Slot) any {
			b := &electra.BeaconBlock{Body: &electra.BeaconBlockBody{Graffiti: [32]byte{byte(v)}}}
			b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
			return b
		},
		blinded: func(s phase0.Slot) any {
			b := &apiv1electra.BlindedBeaconBlock{Body: &apiv1electra.BlindedBeaconBlockBody{Graffiti: [32]byte{byte(v)}}}
			b.Slot, b.ProposerIndex, b.ParentRoot, b.StateRoot = hdr(s)
			return b
		},
		proposal: func(b any, blinded bool) *api.VersionedProposal {
			p := &api.VersionedProposal{Version: v, Blinded: blinded}
			switch {
			case blinded && v == spec.DataVersionElectra:
				p.ElectraBlinded = b.(*apiv1electra.BlindedBeaconBlock)
			case blinded:
				p.FuluBlinded = b.(*apiv1electra.BlindedBeaconBlock)
			case v == spec.DataVersionElectra:
				p.Electra = &apiv1electra.BlockContents{Block: b.(*electra.BeaconBlock)}
			default:
				p.Fulu = &apiv1fulu.BlockContents{Block: b.(*electra.BeaconBlock)}
			}
			return p
		},
		bp: func(b any) *api.VersionedBlindedProposal {
			p := &api.VersionedBlindedProposal{Version: v}
			if v == spec.DataVersionElectra {
				p.Electra = b.(*apiv1electra.BlindedBeaconBlock)
			} else {
				p.Fulu = b.(*apiv1electra.BlindedBeaconBlock)
			}
			return p
		},
	}
}

// forkVersion is the version the test expects for a data version.
func forkVersion(sp chain.Spec, v spec.DataVersion) phase0.Version {
	return map[spec.DataVersion]phase0.Version{
		spec.DataVersionPhase0: sp.GenesisForkVersion, spec.DataVersionAltair: sp.Altair.Version,
		spec.DataVersionBellatrix: sp.Bellatrix.Version, spec.DataVersionCapella: sp.Capella.Version,
		spec.DataVersionDeneb: sp.Deneb.Version, spec.DataVersionElectra: sp.Electra.Version,
		spec.DataVersionFulu: sp.Fulu.Version,
	}[v]
}

func blockRoot(t *testing.T, block any) phase0.Root {
	t.Helper()
	r, err := block.(interface{ HashTreeRoot() ([32]byte, error) }).HashTreeRoot()
	require.NoError(t, err)
	return r
}

// TestBlocksEveryFork signs a full and a blinded block of every fork through
// each entry point and verifies the signature against a hand-computed root
// with the fork version the test expects; each is recorded in the database.
func TestBlocksEveryFork(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{})
	for _, f := range allForks() {
		type path struct {
			name  string
			block func(phase0.Slot) any
			sign  func(pk phase0.BLSPubKey, block any) (phase0.BLSSignature, error)
		}
		paths := []path{
			{"proposal full", f.full, func(pk phase0.BLSPubKey, b any) (phase0.BLSSignature, error) {
				return e.s.SignProposal(ctx, pk, f.proposal(b, false))
			}},
			{"beacon block full", f.full, func(pk phase0.BLSPubKey, b any) (phase0.BLSSignature, error) {
				return e.s.SignBeaconBlock(ctx, pk, b)
			}},
		}
		if f.blinded != nil {
			paths = append(paths,
				path{"proposal blinded", f.blinded, func(pk phase0.BLSPubKey, b any) (phase0.BLSSignature, error) {
					return e.s.SignProposal(ctx, pk, f.proposal(b, true))
				}},
				path{"blinded proposal", f.blinded, func(pk phase0.BLSPubKey, b any) (phase0.BLSSignature, error) {
					return e.s.SignBlindedProposal(ctx, pk, f.bp(b))
				}},
				path{"beacon block blinded", f.blinded, func(pk phase0.BLSPubKey, b any) (phase0.BLSSignature, error) {
					return e.s.SignBeaconBlock(ctx, pk, b)
				}},
			)
		}
		for i, p := range paths {
			t.Run(fmt.Sprintf("%s/%s", f.version, p.name), func(t *testing.T) {
				slot := phase0.Slot(uint64(f.epoch)*e.spec.SlotsPerEpoch + uint64(i))
				e.at(slot)
				pk := e.pks[0]
				block := p.block(slot)
				sig, err := p.sign(pk, block)
				require.NoError(t, err)
				root := handSigningRoot(blockRoot(t, block),
					handDomain(e.spec.Domains.BeaconProposer, forkVersion(e.spec, f.version), e.spec.GenesisValidatorsRoot))
				verify(t, pk, root, sig)

				h, err := e.store.History(ctx, pk, 1)
				require.NoError(t, err)
				require.Equal(t, slot, h.Blocks[0].Slot)
				require.Equal(t, root, *h.Blocks[0].SigningRoot, "the database records the signing root that was signed")
			})
		}
	}
}

func TestBlockRefusals(t *testing.T) {
	ctx := context.Background()
	forks := allForks()
	denebF, electraF := forks[4], forks[5]
	tests := []struct {
		name   string
		slot   phase0.Slot
		sign   func(e *env) (phase0.BLSSignature, error)
		want   error
		reason signer.Reason
	}{
		{"deneb block at an electra slot", 40, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBeaconBlock(ctx, e.pks[0], denebF.full(40))
		}, signer.ErrForkMismatch, signer.ReasonForkMismatch},
		{"proposal says electra at a fulu slot", 48, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignProposal(ctx, e.pks[0], electraF.proposal(electraF.full(48), false))
		}, signer.ErrForkMismatch, signer.ReasonForkMismatch},
		{"nil body", 40, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBeaconBlock(ctx, e.pks[0], &electra.BeaconBlock{Slot: 40})
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"nil block in proposal", 40, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignProposal(ctx, e.pks[0], &api.VersionedProposal{Version: spec.DataVersionElectra})
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"unsupported type", 40, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBeaconBlock(ctx, e.pks[0], "block")
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"phase0 blinded proposal", 0, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBlindedProposal(ctx, e.pks[0], &api.VersionedBlindedProposal{Version: spec.DataVersionPhase0})
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"unknown key", 40, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBeaconBlock(ctx, phase0.BLSPubKey{0x42}, electraF.full(40))
		}, signer.ErrUnknownKey, signer.ReasonUnknownKey},
		{"more than one epoch ahead of the clock", 40 - 9, func(e *env) (phase0.BLSSignature, error) {
			return e.s.SignBeaconBlock(ctx, e.pks[0], electraF.full(40))
		}, signer.ErrFuture, signer.ReasonFuture},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var faulty *signertest.FaultyDB
			e := newEnv(t, envConfig{wrap: func(db signer.SlashingDB) signer.SlashingDB {
				faulty = signertest.NewFaultyDB(db)
				return faulty
			}})
			e.at(tc.slot)
			sig, err := tc.sign(e)
			require.Zero(t, faulty.BlockCalls(), "guards refuse before the database is asked")
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, signer.ErrRefused)
			require.Equal(t, phase0.BLSSignature{}, sig)
			require.Equal(t, 1, e.obs.RefusedCount(tc.reason))
			_, err = e.store.History(ctx, e.pks[0], 0)
			require.ErrorIs(t, err, slashprotect.ErrUnknownValidator, "a refused block leaves no record")
		})
	}
}
