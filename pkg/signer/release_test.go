package signer_test

import (
	"context"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// verdictDB answers every attestation batch with what decide says, without
// recording anything.
type verdictDB struct {
	signer.SlashingDB
	decide func(n int) ([]slashprotect.Verdict, error)
}

func (d *verdictDB) CheckAndRecordAttestations(_ context.Context, reqs []slashprotect.AttestationRequest) ([]slashprotect.Verdict, error) {
	return d.decide(len(reqs))
}

// TestSignaturesReleasedOnlyWhenAllowed: attestation batches are signed while
// the slashing database commits, so this checks that a signature comes back
// only with an Allowed verdict from a commit that succeeded, and that
// everything else is dropped (safety rule 1).
func TestSignaturesReleasedOnlyWhenAllowed(t *testing.T) {
	allowed := slashprotect.Verdict{Allowed: true}
	refused := slashprotect.Verdict{Refusal: &slashprotect.Refusal{Rule: slashprotect.RuleDoubleVote}}
	tests := []struct {
		name        string
		decide      func(n int) ([]slashprotect.Verdict, error)
		wantErr     bool
		wantSigned  []bool
		wantRefused int
	}{
		{
			name:    "commit fails",
			decide:  func(int) ([]slashprotect.Verdict, error) { return nil, errDiskOnFire },
			wantErr: true,
		},
		{
			name: "commit fails after deciding",
			decide: func(n int) ([]slashprotect.Verdict, error) {
				v := make([]slashprotect.Verdict, n)
				for i := range v {
					v[i] = allowed
				}
				return v, errDiskOnFire
			},
			wantErr: true,
		},
		{
			name:    "too few verdicts",
			decide:  func(n int) ([]slashprotect.Verdict, error) { return []slashprotect.Verdict{allowed}, nil },
			wantErr: true,
		},
		{
			name: "every message refused",
			decide: func(n int) ([]slashprotect.Verdict, error) {
				v := make([]slashprotect.Verdict, n)
				for i := range v {
					v[i] = refused
				}
				return v, nil
			},
			wantSigned:  []bool{false, false, false, false},
			wantRefused: 4,
		},
		{
			name: "zero verdicts (no reason) are refusals",
			decide: func(n int) ([]slashprotect.Verdict, error) {
				return make([]slashprotect.Verdict, n), nil
			},
			wantSigned:  []bool{false, false, false, false},
			wantRefused: 4,
		},
		{
			name: "only the allowed ones",
			decide: func(int) ([]slashprotect.Verdict, error) {
				return []slashprotect.Verdict{refused, allowed, refused, allowed}, nil
			},
			wantSigned:  []bool{false, true, false, true},
			wantRefused: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envConfig{keys: 4, wrap: func(db signer.SlashingDB) signer.SlashingDB {
				return &verdictDB{SlashingDB: db, decide: tc.decide}
			}})
			e.at(24)
			data := att(e.spec, 25, 2, 1)
			duties := make([]signer.AttestationDuty, len(e.pks))
			for i, pk := range e.pks {
				duties[i] = signer.AttestationDuty{Pubkey: pk, Data: data}
			}
			res, err := e.s.SignAttestations(context.Background(), duties)
			if tc.wantErr {
				require.Error(t, err)
				require.Nil(t, res, "no results, so no signatures")
				require.Zero(t, e.obs.SignedCount(signer.KindAttestation))
				_, dbErrs := e.obs.SlashingDBCalls(signer.KindAttestation)
				require.Equal(t, 1, dbErrs, "the signer reports the failed commit to its observer")
				return
			}
			require.NoError(t, err)
			root := attRoot(t, e.spec, e.spec.Capella.Version, data)
			for i, r := range res {
				if tc.wantSigned[i] {
					require.NoError(t, r.Err, "duty %d", i)
					verify(t, e.pks[i], root, r.Signature)
					continue
				}
				require.ErrorIs(t, r.Err, signer.ErrRefused, "duty %d", i)
				require.Equal(t, phase0.BLSSignature{}, r.Signature, "duty %d", i)
			}
			require.Equal(t, len(e.pks)-tc.wantRefused, e.obs.SignedCount(signer.KindAttestation))
			calls, _ := e.obs.SlashingDBCalls(signer.KindAttestation)
			require.Equal(t, 1, calls, "one commit per batch, reported by the signer")
		})
	}
}
