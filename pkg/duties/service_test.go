package duties_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/bellatrix"
	"github.com/attestantio/go-eth2-client/spec/electra"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/chain/slotclock/slotclocktest"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

func TestNewMissingOptions(t *testing.T) {
	sp := testSpec()
	clock := slotclocktest.NewFake(genesis)
	node := dutiestest.New(sp, clock.Now)
	ch := duties.WithChain(chaintest.Chain(t, sp, clock))
	sig := &countingSigner{}
	fee := duties.WithFeeRecipient(bellatrix.ExecutionAddress{1})
	tests := []struct {
		name    string
		opts    []duties.Option
		wantErr error
		want    string
	}{
		{name: "no beacon node", opts: []duties.Option{duties.WithSigner(sig), ch, fee}, wantErr: duties.ErrMissingOption, want: "WithBeaconNode"},
		{name: "no signer", opts: []duties.Option{duties.WithBeaconNode(node), ch, fee}, wantErr: duties.ErrMissingOption, want: "WithSigner"},
		{name: "no chain", opts: []duties.Option{duties.WithBeaconNode(node), duties.WithSigner(sig), fee}, wantErr: duties.ErrMissingOption, want: "WithChain"},
		{name: "no fee recipient", opts: []duties.Option{duties.WithBeaconNode(node), duties.WithSigner(sig), ch}, wantErr: duties.ErrMissingOption, want: "WithFeeRecipient"},
		{name: "graffiti too long", opts: []duties.Option{duties.WithBeaconNode(node), duties.WithSigner(sig), ch, fee,
			duties.WithGraffiti("0123456789012345678901234567890123")}, wantErr: duties.ErrInvalidOption, want: "graffiti"},
		{name: "complete", opts: []duties.Option{duties.WithBeaconNode(node), duties.WithSigner(sig), fee, ch}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := duties.New(tc.opts...)
			if tc.wantErr == nil {
				require.NoError(t, err)
				require.Equal(t, 3*time.Second, s.SlotClock().SlotDuration())
				require.EqualValues(t, 8, s.SlotClock().SlotsPerEpoch())
				return
			}
			require.ErrorIs(t, err, tc.wantErr)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestDutiesRefetchedOnDependentRootChange(t *testing.T) {
	start := phase0.Slot(uint64(denebEpoch)*8 + 1)
	offset := uint64(4)
	e := newEnv(t, envConfig{validators: 2, startSlot: start, configure: func(n *dutiestest.Node) {
		n.DependentRoots[denebEpoch] = phase0.Root{0xa}
		n.AttesterDuty = func(epoch phase0.Epoch, index phase0.ValidatorIndex) *apiv1.AttesterDuty {
			return &apiv1.AttesterDuty{Slot: phase0.Slot(uint64(epoch)*8 + offset), CommitteeLength: 4, CommitteesAtSlot: 1, ValidatorCommitteeIndex: uint64(index)}
		}
	}})
	e.run()
	e.waitCalls(dutiestest.CallAttesterDuties, 2) // this epoch and the next
	e.node.Update(func(n *dutiestest.Node) {
		offset = 3
		n.DependentRoots[denebEpoch] = phase0.Root{0xb}
	})
	e.node.EmitHead(&apiv1.HeadEvent{Slot: start, PreviousDutyDependentRoot: phase0.Root{0xb}})
	e.waitCalls(dutiestest.CallAttesterDuties, 3)

	moved := start + 2 // offset 3
	e.clock.Set(e.at(moved, 1, 3))
	recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)
	require.Equal(t, moved, recs[0].Arg.([]any)[0].(*phase0.Attestation).Data.Slot)
	// The old duty slot passes without a second attestation for the epoch.
	e.clock.Set(e.at(moved+1, 1, 3))
	e.waitTimer(e.slotStart(moved + 2))
	require.Len(t, e.node.Records(dutiestest.CallSubmitAttestations), 1)
}

func TestDoppelganger(t *testing.T) {
	// Started in epoch 4: epochs 5 and on are watched.
	start := phase0.Slot(uint64(denebEpoch)*8 + 2)
	t.Run("live key stops before anything is signed", func(t *testing.T) {
		e := newEnv(t, envConfig{validators: 4, startSlot: start, opts: []duties.Option{duties.WithDoppelgangerEpochs(2)},
			configure: func(n *dutiestest.Node) { n.Live[2] = true }})
		e.run()
		e.waitKnown()
		e.clock.Set(e.at(40, 3, 4))
		select {
		case err := <-e.done:
			require.ErrorIs(t, err, duties.ErrDoppelganger)
			require.True(t, duties.UnsafeToRestart(err))
			e.done <- err // for the cleanup
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
		require.Zero(t, e.signer.calls.Load(), "nothing signed")
		require.Zero(t, e.node.Count(dutiestest.CallSubmitAttestations))
	})
	t.Run("quiet keys sign once the watched epochs are clear", func(t *testing.T) {
		e := newEnv(t, envConfig{validators: 4, startSlot: start, opts: []duties.Option{duties.WithDoppelgangerEpochs(1)}})
		e.run()
		e.waitKnown()
		// Epoch 5's duties (slot 40) pass unsigned while it is watched.
		e.clock.Set(e.at(40, 1, 3))
		e.waitTimer(e.at(40, 3, 4))
		e.clock.Set(e.at(40, 3, 4))
		e.waitCalls(dutiestest.CallLiveness, 1)
		e.waitTimer(e.slotStart(41))
		require.Zero(t, e.signer.calls.Load())
		// Epoch 5 is not clear at its own last slot: its last votes may be
		// included during epoch 6, where a node that counts only included
		// attestations sees them.
		e.clock.Set(e.at(47, 3, 4))
		e.waitTimer(e.slotStart(48))
		for _, v := range e.svc.Validators() {
			require.False(t, v.Signing, "epoch 5 is cleared only once epoch 6 has been checked")
		}
		// Epoch 5 is clear at epoch 6's last slot; epoch 7 attests.
		e.clock.Set(e.at(55, 3, 4))
		require.Eventually(t, func() bool {
			for _, v := range e.svc.Validators() {
				if !v.Signing {
					return false
				}
			}
			return true
		}, 10*time.Second, 2*time.Millisecond)
		e.clock.Set(e.slotStart(56))
		e.waitTimer(e.at(56, 1, 3))
		e.clock.Set(e.at(56, 1, 3))
		recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)
		require.Len(t, recs[0].Arg.([]any), 4)
	})
}

func TestGracefulShutdown(t *testing.T) {
	slot := phase0.Slot(uint64(electraEpoch) * 8)
	e := newEnv(t, envConfig{validators: 3, startSlot: slot})
	e.run()
	e.waitTimer(e.at(slot, 1, 3))
	e.cancel()
	// The slot's duties still complete after cancellation...
	e.clock.Set(e.at(slot, 1, 3))
	e.waitCalls(dutiestest.CallSubmitAttestations, 1)
	e.waitTimer(e.at(slot, 2, 3))
	e.clock.Set(e.at(slot, 2, 3))
	e.waitCalls(dutiestest.CallSubmitAggregates, 1)
	// ...then Run returns without starting another slot.
	select {
	case err := <-e.done:
		require.NoError(t, err)
		e.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the slot's duties")
	}
	e.clock.Set(e.at(slot+9, 1, 3))
	for _, r := range e.node.Records(dutiestest.CallSubmitAttestations) {
		require.Equal(t, slot, r.Arg.([]any)[0].(*electra.SingleAttestation).Data.Slot)
	}
}

func TestConcurrentSignerHeuristic(t *testing.T) {
	// Another instance already signed a different attestation for the target
	// epoch; the duty asks for it again.
	tests := []struct {
		name      string
		start     phase0.Slot
		target    phase0.Epoch
		wantFatal bool
	}{
		{name: "epoch after start: another instance", start: 8*4 + 3, target: 5, wantFatal: true},
		{name: "epoch of start: our predecessor (restart)", start: 8 * 5, target: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{validators: 2, startSlot: tc.start})
			verdicts, err := e.db.CheckAndRecordAttestations(context.Background(), []slashprotect.AttestationRequest{
				{Pubkey: e.keys[1], SourceEpoch: tc.target - 1, TargetEpoch: tc.target, SigningRoot: phase0.Root{0xee}},
			})
			require.NoError(t, err)
			require.Len(t, verdicts, 1)
			e.run()
			e.clock.Set(e.at(40, 1, 3))
			if tc.wantFatal {
				select {
				case err := <-e.done:
					require.ErrorIs(t, err, duties.ErrConcurrentSigner)
					require.True(t, duties.UnsafeToRestart(err))
					e.done <- err
				case <-time.After(10 * time.Second):
					t.Fatal("Run did not stop")
				}
				return
			}
			// Validator 0 attests; validator 1's refusal is logged, not fatal.
			recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)
			require.Len(t, recs[0].Arg.([]any), 1)
			e.waitTimer(e.slotStart(41))
			select {
			case err := <-e.done:
				t.Fatalf("Run stopped: %v", err)
			default:
			}
			require.False(t, errors.Is(nil, duties.ErrConcurrentSigner))
		})
	}
}

// recorder is an Observer keeping what it is told.
type recorder struct {
	mu        sync.Mutex
	performed []performed
}

type performed struct {
	kind     signer.Kind
	slot     phase0.Slot
	n        int
	intoSlot time.Duration
}

func (r *recorder) Scheduled(signer.Kind, phase0.Slot, int)     {}
func (r *recorder) Failed(signer.Kind, phase0.Slot, int, error) {}
func (r *recorder) Performed(kind signer.Kind, slot phase0.Slot, n int, into time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.performed = append(r.performed, performed{kind, slot, n, into})
}

func (r *recorder) of(kind signer.Kind) []performed {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []performed
	for _, p := range r.performed {
		if p.kind == kind {
			out = append(out, p)
		}
	}
	return out
}

func TestKeysAddedAtRuntime(t *testing.T) {
	start := phase0.Slot(uint64(denebEpoch)*8 + 7)
	obs := &recorder{}
	e := newEnv(t, envConfig{validators: 4, startSlot: start, opts: []duties.Option{duties.WithObserver(obs)}})
	// The service starts with two keys; the key store later yields two more.
	e.svc.RemovePubkeys(e.keys[2:]...)
	e.run()
	e.waitTimer(e.slotStart(start + 1))
	e.svc.AddPubkeys(e.keys[2:]...)
	e.clock.Set(e.at(start+1, 1, 3))
	recs := e.waitCalls(dutiestest.CallSubmitAttestations, 1)
	require.Len(t, recs[0].Arg.([]any), 4)
	require.Len(t, e.svc.Validators(), 4)
	require.Eventually(t, func() bool { return len(obs.of(signer.KindAttestation)) == 1 }, 10*time.Second, 2*time.Millisecond)
	require.Equal(t, performed{signer.KindAttestation, start + 1, 4, time.Second}, obs.of(signer.KindAttestation)[0])
}

// lostCommitSigner signs through the real signer but reports the first batch
// as failed, as a PostgreSQL connection lost after COMMIT does: the record
// exists, the caller does not know it.
type lostCommitSigner struct {
	*countingSigner
	lost     atomic.Bool
	lostDone chan struct{}
}

func (s *lostCommitSigner) SignAttestations(ctx context.Context, d []signer.AttestationDuty) ([]signer.AttestationResult, error) {
	res, err := s.countingSigner.SignAttestations(ctx, d)
	if err == nil && s.lost.CompareAndSwap(false, true) {
		defer close(s.lostDone)
		return nil, errors.New("connection lost after commit")
	}
	return res, err
}

// TestUncertainCommitIsNotAnotherSigner: a batch whose commit outcome is
// unknown, then a reorg that moves the duty to a later slot of the same
// epoch (other data): the double-vote refusal is this run's own record, and
// vigil goes on instead of stopping as if another instance signed.
func TestUncertainCommitIsNotAnotherSigner(t *testing.T) {
	start := phase0.Slot(8*4 + 3)
	offset := uint64(0)
	var ls *lostCommitSigner
	failed := make(chan error, 4)
	e := newEnv(t, envConfig{validators: 2, startSlot: start, opts: []duties.Option{duties.WithObserver(failures{signer.KindAttestation, failed})},
		wrapSigner: func(s *countingSigner) duties.Signer {
			ls = &lostCommitSigner{countingSigner: s, lostDone: make(chan struct{})}
			return ls
		},
		configure: func(n *dutiestest.Node) {
			n.DependentRoots[5] = phase0.Root{0xa}
			n.AttesterDuty = func(epoch phase0.Epoch, index phase0.ValidatorIndex) *apiv1.AttesterDuty {
				return &apiv1.AttesterDuty{Slot: phase0.Slot(uint64(epoch)*8 + offset), CommitteeLength: 4, CommitteesAtSlot: 1, ValidatorCommitteeIndex: uint64(index)}
			}
		}})
	e.run()
	e.clock.Set(e.at(40, 1, 3))
	select {
	case <-ls.lostDone:
	case <-time.After(10 * time.Second):
		t.Fatal("the slot's batch never reached the signer")
	}
	// The failure is reported after the attester took note of it: from
	// here on the next slots see the uncertain commit.
	select {
	case <-failed:
	case <-time.After(10 * time.Second):
		t.Fatal("the lost batch was never reported failed")
	}
	e.waitTimer(e.slotStart(41))
	require.Zero(t, e.node.Count(dutiestest.CallSubmitAttestations), "the failed batch is not submitted")

	e.node.Update(func(n *dutiestest.Node) {
		offset = 2
		n.DependentRoots[5] = phase0.Root{0xb}
	})
	e.node.EmitHead(&apiv1.HeadEvent{Slot: 40, PreviousDutyDependentRoot: phase0.Root{0xb}})
	e.waitCalls(dutiestest.CallAttesterDuties, 3)
	e.clock.Set(e.at(42, 1, 3))
	require.Eventually(t, func() bool { return e.signer.attestationCalls.Load() >= 2 }, 10*time.Second, 2*time.Millisecond)
	// A fatal stop follows the refusal at once; give it the chance to.
	select {
	case err := <-e.done:
		e.done <- err // for the cleanup
		t.Fatalf("Run stopped as if another signer held the keys: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	require.Zero(t, e.node.Count(dutiestest.CallSubmitAttestations), "other data for the same target is never signed")
}

// TestSourceEqualsTargetRefused: attestation data whose source is its own
// target epoch after genesis is not signed (only genesis justifies itself).
func TestSourceEqualsTargetRefused(t *testing.T) {
	slot := phase0.Slot(uint64(electraEpoch) * 8)
	e := newEnv(t, envConfig{validators: 2, startSlot: slot, configure: func(n *dutiestest.Node) {
		n.SourceEqualsTarget = true
	}})
	e.run()
	e.clock.Set(e.at(slot, 1, 3))
	e.waitCalls(dutiestest.CallAttestationData, 1)
	e.waitTimer(e.slotStart(slot + 1))
	require.Zero(t, e.signer.attestationCalls.Load())
	require.Zero(t, e.node.Count(dutiestest.CallSubmitAttestations))
}
