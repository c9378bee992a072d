package signer_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/signer"
)

// uintChunk is an SSZ uint64 as a 32-byte chunk, by hand.
func uintChunk(v uint64) phase0.Root {
	var r phase0.Root
	binary.LittleEndian.PutUint64(r[:], v)
	return r
}

func htr(t *testing.T, f func() ([32]byte, error)) phase0.Root {
	t.Helper()
	r, err := f()
	require.NoError(t, err)
	return r
}

// TestUnslashableMessages signs every message kind that needs no slashing
// record and verifies each signature against a signing root computed by hand
// with the fork version the test expects at that slot.
func TestUnslashableMessages(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{})
	sp := e.spec
	d := sp.Domains
	gvr := sp.GenesisValidatorsRoot
	blockRoot := phase0.Root{0xbb, 31: 0x01}

	contribution := &altair.ContributionAndProof{
		AggregatorIndex: 7,
		Contribution: &altair.SyncCommitteeContribution{
			Slot: 40, BeaconBlockRoot: blockRoot, SubcommitteeIndex: 1,
			AggregationBits: make([]byte, 16),
		},
	}
	phase0Agg := &phase0.AggregateAndProof{AggregatorIndex: 3, Aggregate: &phase0.Attestation{
		AggregationBits: []byte{0x03}, Data: att(sp, 10, 0, 9),
	}}
	electraAgg := &electra.AggregateAndProof{AggregatorIndex: 3, Aggregate: &electra.Attestation{
		AggregationBits: []byte{0x03}, Data: att(sp, 45, 4, 9), CommitteeBits: make([]byte, 8),
	}}
	fuluAgg := &electra.AggregateAndProof{AggregatorIndex: 4, Aggregate: &electra.Attestation{
		AggregationBits: []byte{0x03}, Data: att(sp, 50, 5, 9), CommitteeBits: make([]byte, 8),
	}}
	reg := &apiv1.ValidatorRegistration{
		FeeRecipient: bellatrix.ExecutionAddress{0xfe}, GasLimit: 30_000_000,
		Timestamp: time.Unix(1_700_000_123, 0), Pubkey: e.pks[2],
	}
	exit := func(epoch phase0.Epoch) *phase0.VoluntaryExit {
		return &phase0.VoluntaryExit{Epoch: epoch, ValidatorIndex: 11}
	}

	tests := []struct {
		name string
		clk  phase0.Slot // wall clock slot
		key  int
		sign func() (phase0.BLSSignature, error)
		// obj, dt and version give the expected signing root, by hand.
		obj     phase0.Root
		dt      phase0.DomainType
		version phase0.Version
		gvr     phase0.Root
	}{
		{
			name: "randao epoch 3 (capella)", key: 0,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignRANDAOReveal(ctx, e.pks[0], 3) },
			obj:  uintChunk(3), dt: d.Randao, version: sp.Capella.Version, gvr: gvr,
		},
		{
			name: "randao epoch 0 (phase0)", key: 1,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignRANDAOReveal(ctx, e.pks[1], 0) },
			obj:  uintChunk(0), dt: d.Randao, version: sp.GenesisForkVersion, gvr: gvr,
		},
		{
			name: "selection proof slot 17 (bellatrix)", key: 1,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignSelectionProof(ctx, e.pks[1], 17) },
			obj:  uintChunk(17), dt: d.SelectionProof, version: sp.Bellatrix.Version, gvr: gvr,
		},
		{
			name: "sync committee message slot 9 (altair)", key: 2,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignSyncCommitteeMessage(ctx, e.pks[2], 9, blockRoot) },
			obj:  blockRoot, dt: d.SyncCommittee, version: sp.Altair.Version, gvr: gvr,
		},
		{
			name: "sync committee selection proof slot 9 subcommittee 2", key: 3,
			sign: func() (phase0.BLSSignature, error) {
				return e.s.SignSyncCommitteeSelectionProof(ctx, e.pks[3], 9, 2)
			},
			// SyncAggregatorSelectionData{slot, subcommittee_index}: two uint64 chunks.
			obj: func() phase0.Root {
				a, b := uintChunk(9), uintChunk(2)
				return sha256.Sum256(append(a[:], b[:]...))
			}(),
			dt: d.SyncCommitteeSelectionProof, version: sp.Altair.Version, gvr: gvr,
		},
		{
			name: "contribution and proof slot 40 (electra)", key: 0,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignContributionAndProof(ctx, e.pks[0], contribution) },
			obj:  htr(t, contribution.HashTreeRoot), dt: d.ContributionAndProof, version: sp.Electra.Version, gvr: gvr,
		},
		{
			name: "aggregate and proof pre-electra slot 10 (altair)", key: 1,
			sign: func() (phase0.BLSSignature, error) {
				return e.s.SignAggregateAndProof(ctx, e.pks[1], &spec.VersionedAggregateAndProof{Version: spec.DataVersionAltair, Altair: phase0Agg})
			},
			obj: htr(t, phase0Agg.HashTreeRoot), dt: d.AggregateAndProof, version: sp.Altair.Version, gvr: gvr,
		},
		{
			name: "aggregate and proof electra slot 45", key: 2,
			sign: func() (phase0.BLSSignature, error) {
				return e.s.SignAggregateAndProof(ctx, e.pks[2], &spec.VersionedAggregateAndProof{Version: spec.DataVersionElectra, Electra: electraAgg})
			},
			obj: htr(t, electraAgg.HashTreeRoot), dt: d.AggregateAndProof, version: sp.Electra.Version, gvr: gvr,
		},
		{
			name: "aggregate and proof fulu slot 50", key: 3,
			sign: func() (phase0.BLSSignature, error) {
				return e.s.SignAggregateAndProof(ctx, e.pks[3], &spec.VersionedAggregateAndProof{Version: spec.DataVersionFulu, Fulu: fuluAgg})
			},
			obj: htr(t, fuluAgg.HashTreeRoot), dt: d.AggregateAndProof, version: sp.Fulu.Version, gvr: gvr,
		},
		{
			// Builder domain: genesis fork version and a zero root, at any time.
			name: "validator registration", key: 2, clk: 60,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignValidatorRegistration(ctx, reg) },
			obj:  htr(t, reg.HashTreeRoot), dt: d.ApplicationBuilder, version: sp.GenesisForkVersion,
		},
		{
			name: "voluntary exit before deneb uses the exit epoch's fork", key: 0, clk: 2 * 8,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignVoluntaryExit(ctx, e.pks[0], exit(2)) },
			obj:  htr(t, exit(2).HashTreeRoot), dt: d.VoluntaryExit, version: sp.Bellatrix.Version, gvr: gvr,
		},
		{
			name: "voluntary exit after deneb uses capella (EIP-7044)", key: 0, clk: 6 * 8,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignVoluntaryExit(ctx, e.pks[0], exit(3)) },
			obj:  htr(t, exit(3).HashTreeRoot), dt: d.VoluntaryExit, version: sp.Capella.Version, gvr: gvr,
		},
		{
			name: "voluntary exit for a post-deneb epoch signed before deneb uses capella", key: 1, clk: 2 * 8,
			sign: func() (phase0.BLSSignature, error) { return e.s.SignVoluntaryExit(ctx, e.pks[1], exit(6)) },
			obj:  htr(t, exit(6).HashTreeRoot), dt: d.VoluntaryExit, version: sp.Capella.Version, gvr: gvr,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.at(tc.clk)
			sig, err := tc.sign()
			require.NoError(t, err)
			verify(t, e.pks[tc.key], handSigningRoot(tc.obj, handDomain(tc.dt, tc.version, tc.gvr)), sig)
		})
	}
}

func TestUnslashableRefusals(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{})
	sp := e.spec
	unknown := phase0.BLSPubKey{0x99}
	electraAtDeneb := &electra.AggregateAndProof{Aggregate: &electra.Attestation{Data: att(sp, 33, 3, 1)}}
	phase0AtElectra := &phase0.AggregateAndProof{Aggregate: &phase0.Attestation{Data: att(sp, 41, 4, 1)}}
	tests := []struct {
		name   string
		sign   func() (phase0.BLSSignature, error)
		want   error
		reason signer.Reason
	}{
		{"unknown key", func() (phase0.BLSSignature, error) { return e.s.SignRANDAOReveal(ctx, unknown, 1) }, signer.ErrUnknownKey, signer.ReasonUnknownKey},
		{"nil exit", func() (phase0.BLSSignature, error) { return e.s.SignVoluntaryExit(ctx, e.pks[0], nil) }, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"nil registration", func() (phase0.BLSSignature, error) { return e.s.SignValidatorRegistration(ctx, nil) }, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"nil contribution", func() (phase0.BLSSignature, error) {
			return e.s.SignContributionAndProof(ctx, e.pks[0], &altair.ContributionAndProof{})
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"aggregate missing", func() (phase0.BLSSignature, error) {
			return e.s.SignAggregateAndProof(ctx, e.pks[0], &spec.VersionedAggregateAndProof{Version: spec.DataVersionDeneb})
		}, signer.ErrInvalidMessage, signer.ReasonInvalidMessage},
		{"electra container before electra", func() (phase0.BLSSignature, error) {
			return e.s.SignAggregateAndProof(ctx, e.pks[0], &spec.VersionedAggregateAndProof{Version: spec.DataVersionElectra, Electra: electraAtDeneb})
		}, signer.ErrForkMismatch, signer.ReasonForkMismatch},
		{"phase0 container after electra", func() (phase0.BLSSignature, error) {
			return e.s.SignAggregateAndProof(ctx, e.pks[0], &spec.VersionedAggregateAndProof{Version: spec.DataVersionDeneb, Deneb: phase0AtElectra})
		}, signer.ErrForkMismatch, signer.ReasonForkMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.obs.RefusedCount(tc.reason)
			sig, err := tc.sign()
			require.ErrorIs(t, err, tc.want)
			require.ErrorIs(t, err, signer.ErrRefused)
			var re *signer.RefusalError
			require.True(t, errors.As(err, &re))
			require.Equal(t, tc.reason, re.Reason)
			require.Equal(t, phase0.BLSSignature{}, sig)
			require.Equal(t, before+1, e.obs.RefusedCount(tc.reason))
		})
	}
}
