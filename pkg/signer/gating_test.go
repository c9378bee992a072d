package signer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/deneb"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

var errDiskOnFire = errors.New("disk on fire")

// step is one attestation for key 0 and what the signer must answer.
type step struct {
	slot   phase0.Slot
	source phase0.Epoch
	tag    byte
	want   error // nil: signed
}

// TestAttestationGating runs attestation sequences for one key through a real
// SQLite database: refusals carry slashprotect's rule, produce no signature
// and leave the database as it was; repeats re-sign identically.
func TestAttestationGating(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name  string
		steps []step
	}{
		{"first vote signs", []step{{slot: 16, source: 1, tag: 1}}},
		{"same message re-signs", []step{{slot: 16, source: 1, tag: 1}, {slot: 16, source: 1, tag: 1}}},
		{"double vote refused", []step{{slot: 16, source: 1, tag: 1}, {slot: 17, source: 1, tag: 2, want: slashprotect.ErrDoubleVote}}},
		{"surround refused", []step{
			{slot: 8, source: 0, tag: 1}, {slot: 24, source: 2, tag: 2},
			{slot: 32, source: 1, tag: 3, want: slashprotect.ErrSurroundVote},
		}},
		{"surrounded refused", []step{
			{slot: 8, source: 0, tag: 1}, {slot: 40, source: 1, tag: 2},
			{slot: 24, source: 2, tag: 3, want: slashprotect.ErrSurroundedVote},
		}},
		{"source after target refused", []step{{slot: 16, source: 3, tag: 1, want: slashprotect.ErrSourceAfterTarget}}},
		{"source equals target after genesis refused", []step{
			{slot: 16, source: 2, tag: 1, want: slashprotect.ErrSourceEqualsTarget},
			// Nothing recorded: the next honest vote is no "surround" of it.
			{slot: 24, source: 1, tag: 2},
		}},
		{"genesis vote signs", []step{{slot: 3, source: 0, tag: 1}, {slot: 8, source: 0, tag: 2}}},
		{"below watermark refused", []step{{slot: 32, source: 3, tag: 1}, {slot: 24, source: 2, tag: 2, want: slashprotect.ErrBelowWatermark}}},
		{"next epochs sign", []step{{slot: 16, source: 1, tag: 1}, {slot: 24, source: 2, tag: 2}, {slot: 32, source: 3, tag: 3}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{})
			pk := e.pks[0]
			var lastSig phase0.BLSSignature
			signed := 0
			for i, st := range tc.steps {
				e.at(st.slot)
				data := att(e.spec, st.slot, st.source, st.tag)
				before, _ := e.store.History(ctx, pk, 0)
				sig, err := e.s.SignAttestation(ctx, pk, data)
				if st.want != nil {
					require.ErrorIs(t, err, st.want, "step %d", i)
					require.ErrorIs(t, err, signer.ErrRefused)
					var refusal *signer.RefusalError
					require.ErrorAs(t, err, &refusal)
					require.NotEqual(t, slashprotect.RuleNone, refusal.Rule, "step %d: the slashprotect rule travels with the refusal", i)
					require.Equal(t, st.want, refusal.Rule.Err(), "step %d", i)
					require.Equal(t, signer.RuleReason(refusal.Rule), refusal.Reason, "step %d", i)
					require.Equal(t, st.want == slashprotect.ErrDoubleVote, refusal.DoubleSigned(), "step %d", i)
					require.Equal(t, 1, e.obs.RefusedCount(refusal.Reason), "step %d: counted under the rule's name", i)
					require.Equal(t, phase0.BLSSignature{}, sig, "step %d: a refusal carries no signature", i)
					after, herr := e.store.History(ctx, pk, 0)
					if before.Pubkey == (phase0.BLSPubKey{}) {
						require.ErrorIs(t, herr, slashprotect.ErrUnknownValidator)
					} else {
						require.Equal(t, before.TotalAttestations, after.TotalAttestations, "step %d: nothing recorded", i)
					}
					continue
				}
				require.NoError(t, err, "step %d", i)
				root := attRoot(t, e.spec, testVersionAt(e.spec, data.Target.Epoch), data)
				verify(t, pk, root, sig)
				if i > 0 && st == tc.steps[i-1] {
					require.Equal(t, lastSig, sig, "a repeat re-signs the identical message")
				}
				lastSig = sig
				signed++
			}
			require.Equal(t, signed, e.obs.SignedCount(signer.KindAttestation))
		})
	}
}

// TestAttestationBatch checks one batch: one database call for everything,
// a refusal or unknown key affects only its own result.
func TestAttestationBatch(t *testing.T) {
	ctx := context.Background()
	var faulty *signertest.FaultyDB
	e := newEnv(t, envConfig{keys: 5, wrap: func(db signer.SlashingDB) signer.SlashingDB {
		faulty = signertest.NewFaultyDB(db)
		return faulty
	}})
	e.at(24)
	// Key 1 has already voted for target 3 with another root.
	_, err := e.s.SignAttestation(ctx, e.pks[1], att(e.spec, 24, 2, 7))
	require.NoError(t, err)
	calls := faulty.AttestationCalls()

	data := att(e.spec, 25, 2, 1)
	future := att(e.spec, 40, 2, 1) // epoch 5, two ahead of epoch 3
	unknown := phase0.BLSPubKey{0x77}
	duties := []signer.AttestationDuty{
		{Pubkey: e.pks[0], Data: data},
		{Pubkey: e.pks[1], Data: data}, // double vote
		{Pubkey: unknown, Data: data},
		{Pubkey: e.pks[2], Data: data},
		{Pubkey: e.pks[3], Data: future},
		{Pubkey: e.pks[4], Data: nil},
	}
	res, err := e.s.SignAttestations(ctx, duties)
	require.NoError(t, err)
	require.Len(t, res, len(duties))
	require.Equal(t, calls+1, faulty.AttestationCalls(), "one slashing-protection call per batch")

	want := []error{nil, slashprotect.ErrDoubleVote, signer.ErrUnknownKey, nil, signer.ErrFuture, signer.ErrInvalidMessage}
	root := attRoot(t, e.spec, e.spec.Capella.Version, data)
	for i, r := range res {
		if want[i] == nil {
			require.NoError(t, r.Err, "duty %d", i)
			verify(t, duties[i].Pubkey, root, r.Signature)
			continue
		}
		require.ErrorIs(t, r.Err, want[i], "duty %d", i)
		require.Equal(t, phase0.BLSSignature{}, r.Signature, "duty %d", i)
	}
	_, err = e.store.History(ctx, unknown, 0)
	require.ErrorIs(t, err, slashprotect.ErrUnknownValidator, "a key the signer does not hold leaves no record")
	h, err := e.store.History(ctx, e.pks[3], 0)
	if err == nil {
		require.Zero(t, h.TotalAttestations, "a future attestation is not recorded")
	}
	require.Equal(t, 1, e.obs.RefusedCount(signer.RuleReason(slashprotect.RuleDoubleVote)))
	require.Equal(t, 1, e.obs.RefusedCount(signer.ReasonFuture))
}

// TestInfrastructureErrors: when the database cannot decide, nothing is
// signed and the error is not a refusal.
func TestInfrastructureErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		fail func(f *signertest.FaultyDB)
		sign func(e *env) (any, error)
		kind signer.Kind
	}{
		{"attestation batch", func(f *signertest.FaultyDB) { f.FailAttestations(errDiskOnFire) }, func(e *env) (any, error) {
			return e.s.SignAttestations(ctx, []signer.AttestationDuty{
				{Pubkey: e.pks[0], Data: att(e.spec, 8, 0, 1)}, {Pubkey: e.pks[1], Data: att(e.spec, 8, 0, 1)},
			})
		}, signer.KindAttestation},
		{"block", func(f *signertest.FaultyDB) { f.FailBlocks(errDiskOnFire) }, func(e *env) (any, error) {
			return e.s.SignBeaconBlock(ctx, e.pks[0], allForks()[1].full(8))
		}, signer.KindBlock},
		{"history for the long-gap guard", func(f *signertest.FaultyDB) { f.FailLatestRecords(errDiskOnFire) }, func(e *env) (any, error) {
			return e.s.SignAttestations(ctx, []signer.AttestationDuty{{Pubkey: e.pks[0], Data: att(e.spec, 8, 0, 1)}})
		}, signer.KindAttestation},
		{"cancelled context", func(*signertest.FaultyDB) {}, func(e *env) (any, error) {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			return e.s.SignAttestations(cctx, []signer.AttestationDuty{{Pubkey: e.pks[0], Data: att(e.spec, 8, 0, 1)}})
		}, signer.KindAttestation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var faulty *signertest.FaultyDB
			e := newEnv(t, envConfig{wrap: func(db signer.SlashingDB) signer.SlashingDB {
				faulty = signertest.NewFaultyDB(db)
				return faulty
			}})
			e.at(8)
			tc.fail(faulty)
			out, err := tc.sign(e)
			require.Error(t, err)
			require.NotErrorIs(t, err, signer.ErrRefused)
			switch v := out.(type) {
			case []signer.AttestationResult:
				require.Nil(t, v, "no results, so no signatures")
			case phase0.BLSSignature:
				require.Equal(t, phase0.BLSSignature{}, v)
			}
			require.Positive(t, e.obs.FailedCount(tc.kind))
			require.Zero(t, e.obs.SignedCount(tc.kind))
		})
	}
}

// TestBlockGating: double proposals are refused, repeats re-sign.
func TestBlockGating(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, envConfig{})
	f := allForks()[4] // deneb
	e.at(33)
	sig1, err := e.s.SignBeaconBlock(ctx, e.pks[0], f.full(33))
	require.NoError(t, err)
	sig2, err := e.s.SignBeaconBlock(ctx, e.pks[0], f.full(33))
	require.NoError(t, err, "the identical block re-signs")
	require.Equal(t, sig1, sig2)

	other := f.full(33).(*deneb.BeaconBlock)
	other.Body.Graffiti = [32]byte{0x99}
	sig3, err := e.s.SignBeaconBlock(ctx, e.pks[0], other)
	require.ErrorIs(t, err, slashprotect.ErrDoubleBlock)
	require.ErrorIs(t, err, signer.ErrRefused)
	require.Equal(t, phase0.BLSSignature{}, sig3)
	require.Equal(t, 1, e.obs.RefusedCount(signer.RuleReason(slashprotect.RuleDoubleBlock)))
}

// testVersionAt is the fork version at epoch in signertest.ChainSpec, whose
// forks Altair … Fulu start at epochs 1 … 6.
func testVersionAt(sp chain.Spec, epoch phase0.Epoch) phase0.Version {
	versions := []phase0.Version{sp.GenesisForkVersion, sp.Altair.Version, sp.Bellatrix.Version,
		sp.Capella.Version, sp.Deneb.Version, sp.Electra.Version, sp.Fulu.Version}
	return versions[min(int(epoch), len(versions)-1)]
}
