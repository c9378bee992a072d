package signer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/signer"
)

// TestNothingSignedOnAnUnknownFork schedules a fork after Fulu that this
// build cannot name: from its epoch on every message is refused with
// ReasonUnknownFork and nothing reaches the slashing database; before it,
// signing goes on.
func TestNothingSignedOnAnUnknownFork(t *testing.T) {
	ctx := context.Background()
	sp := *chaintest.Spec(genesis)
	sp.Unknown = []chain.UnknownFork{{Name: "GLOAS", Epoch: 7}}
	e := newEnv(t, envConfig{spec: &sp})
	e.at(7 * 8)

	_, err := e.s.SignAttestation(ctx, e.pks[0], att(sp, 6*8+7, 5, 1))
	require.NoError(t, err, "epoch 6 is Fulu, which vigil knows")

	tests := map[string]func() error{
		"attestation": func() error { _, err := e.s.SignAttestation(ctx, e.pks[0], att(sp, 7*8, 6, 1)); return err },
		"randao":      func() error { _, err := e.s.SignRANDAOReveal(ctx, e.pks[0], 7); return err },
		"selection":   func() error { _, err := e.s.SignSelectionProof(ctx, e.pks[0], 7*8); return err },
		"sync":        func() error { _, err := e.s.SignSyncCommitteeMessage(ctx, e.pks[0], 7*8, phase0.Root{1}); return err },
		"exit": func() error {
			_, err := e.s.SignVoluntaryExit(ctx, e.pks[0], &phase0.VoluntaryExit{Epoch: 7, ValidatorIndex: 1})
			return err
		},
	}
	for name, sign := range tests {
		t.Run(name, func(t *testing.T) {
			err := sign()
			require.ErrorIs(t, err, chain.ErrUnknownFork)
			require.ErrorIs(t, err, signer.ErrRefused)
			var r *signer.RefusalError
			require.True(t, errors.As(err, &r))
			require.Equal(t, signer.ReasonUnknownFork, r.Reason)
			require.Contains(t, err.Error(), "GLOAS from epoch 7")
		})
	}
	h, err := e.store.History(ctx, e.pks[0], 0)
	require.NoError(t, err)
	for _, a := range h.Attestations {
		require.Less(t, a.TargetEpoch, phase0.Epoch(7), "nothing recorded for the unknown fork")
	}
}
