package exit_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/herumi/bls-eth-go-binary/bls"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/exit"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
)

type node struct {
	vals      map[phase0.ValidatorIndex]*apiv1.Validator
	submitted []*phase0.SignedVoluntaryExit
	submitErr error
}

func (n *node) Validators(context.Context, *api.ValidatorsOpts) (*api.Response[map[phase0.ValidatorIndex]*apiv1.Validator], error) {
	return &api.Response[map[phase0.ValidatorIndex]*apiv1.Validator]{Data: n.vals}, nil
}

func (n *node) SubmitVoluntaryExit(_ context.Context, e *phase0.SignedVoluntaryExit) error {
	n.submitted = append(n.submitted, e)
	return n.submitErr
}

var genesis = time.Unix(1_700_000_000, 0)

func TestExit(t *testing.T) {
	ctx := context.Background()
	sp := chaintest.Spec(genesis)
	k := signertest.Key(t, 0)
	pk := k.Pubkey
	now := genesis.Add(7 * 24 * time.Second) // epoch 7: Fulu on the test chain
	sgn, err := signer.New(ctx, signer.WithoutSlashingDB(), signer.WithChain(chaintest.Fixed(*sp)), signer.WithKeys(k),
		signer.WithClock(func() time.Time { return now }), signer.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer sgn.Close()
	active := func(st apiv1.ValidatorState) *node {
		return &node{vals: map[phase0.ValidatorIndex]*apiv1.Validator{42: {Index: 42, Status: st, Validator: &phase0.Validator{PublicKey: pk}}}}
	}

	n := active(apiv1.ValidatorStateActiveOngoing)
	plan, err := exit.Prepare(ctx, n, sp, now, pk, nil)
	require.NoError(t, err)
	require.Equal(t, phase0.Epoch(7), plan.Epoch, "the current epoch by default")
	require.Equal(t, phase0.ValidatorIndex(42), plan.Index)
	require.Contains(t, plan.Warning(), fmt.Sprintf("exit validator 42 (%s) at epoch 7", pubkey.Hex(pk)))
	require.Contains(t, plan.Warning(), fmt.Sprintf("%#x", sp.GenesisValidatorsRoot[:]))
	require.NoError(t, exit.Submit(ctx, n, sgn, plan))
	require.Len(t, n.submitted, 1)

	// EIP-7044: from Deneb on the exit verifies under the Capella fork
	// version, whatever the current fork.
	dom, err := signer.ComputeDomain(sp.Domains.VoluntaryExit, sp.Capella.Version, sp.GenesisValidatorsRoot)
	require.NoError(t, err)
	obj, err := plan.Message().HashTreeRoot()
	require.NoError(t, err)
	root, err := signer.ComputeSigningRoot(obj, dom)
	require.NoError(t, err)
	var pub bls.PublicKey
	require.NoError(t, pub.Deserialize(pk[:]))
	var sig bls.Sign
	sub := n.submitted[0].Signature
	require.NoError(t, sig.Deserialize(sub[:]))
	require.True(t, sig.VerifyByte(&pub, root[:]))

	e := phase0.Epoch(9)
	plan, err = exit.Prepare(ctx, n, sp, now, pk, &e)
	require.NoError(t, err)
	require.Equal(t, e, plan.Epoch)

	_, err = exit.Prepare(ctx, &node{}, sp, now, pk, nil)
	require.ErrorIs(t, err, exit.ErrUnknownValidator)
	_, err = exit.Prepare(ctx, active(apiv1.ValidatorStateActiveExiting), sp, now, pk, nil)
	require.ErrorIs(t, err, exit.ErrNotActive)
	require.ErrorContains(t, err, "active_exiting")

	n.submitErr = errors.New("rejected")
	require.ErrorContains(t, exit.Submit(ctx, n, sgn, plan), "no beacon node accepted it")

	sp.Unknown = []chain.UnknownFork{{Name: "GLOAS", Epoch: 8}}
	sgn2, err := signer.New(ctx, signer.WithoutSlashingDB(), signer.WithChain(chaintest.Fixed(*sp)), signer.WithKeys(signertest.Key(t, 0)),
		signer.WithClock(func() time.Time { return now }), signer.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer sgn2.Close()
	require.ErrorIs(t, exit.Submit(ctx, &node{}, sgn2, plan), chain.ErrUnknownFork, "an exit for a fork vigil cannot name is not signed")
}
