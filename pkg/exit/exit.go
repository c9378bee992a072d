// Package exit prepares, signs and submits a validator's voluntary exit: it
// checks the validator on the beacon node, chooses the exit epoch, has the
// signer sign it (EIP-7044: with the Capella fork version from Deneb on) and
// submits it. It signs nothing slashable, so it runs next to a validator
// client that holds the slashing database.
package exit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/keystore"
	"github.com/vigil-eth/vigil/pkg/pubkey"
	"github.com/vigil-eth/vigil/pkg/signer"
)

// Node is what the exit asks of the beacon node.
type Node interface {
	eth2client.ValidatorsProvider
	eth2client.VoluntaryExitSubmitter
}

// Signer signs the exit; *signer.Signer satisfies it.
type Signer interface {
	SignVoluntaryExit(ctx context.Context, pubkey phase0.BLSPubKey, exit *phase0.VoluntaryExit) (phase0.BLSSignature, error)
}

// Errors callers branch on.
var (
	// ErrUnknownValidator means the beacon node does not know the key.
	ErrUnknownValidator = errors.New("the beacon node does not know this validator")
	// ErrNotActive means the validator cannot exit in its state.
	ErrNotActive = errors.New("only an active validator that is not exiting can exit")
)

// Plan is an exit ready to be confirmed and signed.
type Plan struct {
	Pubkey phase0.BLSPubKey
	Index  phase0.ValidatorIndex
	// Epoch is the earliest epoch at which the exit is valid.
	Epoch phase0.Epoch
	// GenesisValidatorsRoot names the network the exit is for.
	GenesisValidatorsRoot phase0.Root
}

// Message is the voluntary exit the plan signs.
func (p *Plan) Message() *phase0.VoluntaryExit {
	return &phase0.VoluntaryExit{Epoch: p.Epoch, ValidatorIndex: p.Index}
}

// Warning is what an operator reads before confirming the plan.
func (p *Plan) Warning() string {
	return fmt.Sprintf("About to exit validator %d (%s) at epoch %d on the network with genesis validators root %#x.\n"+
		"An exit cannot be undone: the validator stops earning and its stake becomes withdrawable after the exit queue.",
		p.Index, pubkey.Hex(p.Pubkey), p.Epoch, p.GenesisValidatorsRoot[:])
}

// Prepare looks the validator up and plans its exit at epoch, or at the
// current epoch (from now) when epoch is nil.
func Prepare(ctx context.Context, node Node, spec *chain.Spec, now time.Time, pk phase0.BLSPubKey, epoch *phase0.Epoch) (*Plan, error) {
	p := &Plan{Pubkey: pk, GenesisValidatorsRoot: spec.GenesisValidatorsRoot, Epoch: spec.EpochAtSlot(spec.SlotAt(now))}
	if epoch != nil {
		p.Epoch = *epoch
	}
	vals, err := node.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: []phase0.BLSPubKey{pk}})
	if err != nil {
		return nil, fmt.Errorf("look up the validator on the beacon node: %w", err)
	}
	var val *apiv1.Validator
	if vals != nil {
		for _, v := range vals.Data {
			if v != nil && v.Validator != nil && v.Validator.PublicKey == pk {
				val = v
			}
		}
	}
	if val == nil {
		return nil, fmt.Errorf("%w: %s on the network with genesis validators root %#x", ErrUnknownValidator,
			pubkey.Hex(pk), spec.GenesisValidatorsRoot[:])
	}
	if val.Status != apiv1.ValidatorStateActiveOngoing {
		return nil, fmt.Errorf("%w: validator %d (%s) is %s", ErrNotActive, val.Index, pubkey.Hex(pk), val.Status)
	}
	p.Index = val.Index
	return p, nil
}

// Submit signs the planned exit and submits it to the beacon node.
func Submit(ctx context.Context, node Node, sgn Signer, p *Plan) error {
	msg := p.Message()
	sig, err := sgn.SignVoluntaryExit(ctx, p.Pubkey, msg)
	if err != nil {
		return fmt.Errorf("sign the voluntary exit: %w", err)
	}
	if err := node.SubmitVoluntaryExit(ctx, &phase0.SignedVoluntaryExit{Message: msg, Signature: sig}); err != nil {
		return fmt.Errorf("submit the voluntary exit (signed, but no beacon node accepted it): %w", err)
	}
	return nil
}

// KeyLoader loads the key of one validator; *keyset.Set satisfies it.
type KeyLoader interface {
	LoadOne(ctx context.Context, pk phase0.BLSPubKey) (*keystore.Key, error)
}

// Execute plans the exit of pk at epoch (nil: the current one), loads its
// key into a signer that has no slashing database (an exit cannot be
// slashed, and a running validator client holds the database), lets confirm
// refuse it, then signs and submits it. Nothing is signed if confirm fails.
func Execute(ctx context.Context, node Node, keys KeyLoader, spec *chain.Spec, now time.Time, pk phase0.BLSPubKey,
	epoch *phase0.Epoch, confirm func(*Plan) error, log *slog.Logger) (*Plan, error) {
	plan, err := Prepare(ctx, node, spec, now, pk, epoch)
	if err != nil {
		return nil, err
	}
	key, err := keys.LoadOne(ctx, pk)
	if err != nil {
		return nil, err
	}
	ch, err := chain.New(spec, nil)
	if err != nil {
		key.Zero()
		return nil, err
	}
	sgn, err := signer.New(ctx, signer.WithoutSlashingDB(), signer.WithChain(ch), signer.WithLogger(log), signer.WithKeys(key))
	if err != nil {
		key.Zero()
		return nil, fmt.Errorf("start the signer: %w", err)
	}
	defer sgn.Close()
	if err := confirm(plan); err != nil {
		return nil, err
	}
	return plan, Submit(ctx, node, sgn, plan)
}
