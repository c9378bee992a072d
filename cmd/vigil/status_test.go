package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/monitor/perf/perftest"
)

func ptr[T any](v T) *T { return &v }

// cannedStatus is what a running vigil's /api/v1/validators might answer.
var cannedStatus = perf.StatusReport{
	CurrentSlot:         1234,
	LastEvaluatedEpoch:  ptr(uint64(36)),
	EffectivenessEpochs: 8,
	Validators: []perf.ValidatorStatus{
		{
			Pubkey: "0xa1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9f",
			Index:  5, Status: "active_ongoing", BalanceGwei: 32_001_234_567,
			LastAttestation: &perf.AttestationStatus{
				Epoch: 36, Slot: 1160, Included: true, Head: false, Target: true, Source: true, InclusionDelay: 2, RewardGwei: 9000,
			},
			EffectivenessPercent: ptr(87.5), EffectivenessEpochs: 8,
			NextDuties: perf.NextDuties{AttestationSlot: ptr(uint64(1240)), ProposalSlots: []uint64{1250}, SyncCommittee: true},
		},
		{
			Pubkey: "0xb00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001",
			Index:  6, Status: "active_ongoing", BalanceGwei: 31_999_000_000,
			LastAttestation:      &perf.AttestationStatus{Epoch: 36, Slot: 1161},
			EffectivenessPercent: ptr(0.0), EffectivenessEpochs: 8,
			NextDuties: perf.NextDuties{ProposalSlots: []uint64{}},
		},
	},
}

func TestStatusFromInstance(t *testing.T) {
	var gotQuery string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/validators" {
			http.NotFound(w, r)
			return
		}
		gotQuery = r.URL.RawQuery
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(cannedStatus)
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, out string)
	}{
		{
			name: "table",
			args: []string{"status", "--instance", srv.URL},
			check: func(t *testing.T, out string) {
				require.Equal(t, "epochs=8", gotQuery)
				for _, want := range []string{
					"PUBKEY", "EFFECTIVENESS (8 EPOCHS)", "0xa1b2c3d4…8f9f", "active_ongoing", "32.001234567",
					"epoch 36: included, delay 2, head wrong", "87.5%", "attest 1240, propose 1250, sync committee",
					"epoch 36: missed", "31.999000000", "0.0%", "Last evaluated epoch 36; slot 1234.",
				} {
					require.Contains(t, out, want)
				}
			},
		},
		{
			name: "json with a window",
			args: []string{"status", "--instance", srv.URL + "/", "--format", "json", "--epochs", "3"},
			check: func(t *testing.T, out string) {
				require.Equal(t, "epochs=3", gotQuery)
				var got perf.StatusReport
				require.NoError(t, json.Unmarshal([]byte(out), &got))
				require.Equal(t, cannedStatus, got)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := runVigil(t, filepath.Join(t.TempDir(), "data"), tc.args...)
			require.NoError(t, err)
			tc.check(t, out)
		})
	}
}

func TestStatusErrors(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	t.Cleanup(broken.Close)

	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "instance unreachable", args: []string{"status", "--instance", deadURL}, want: []string{"unreachable", "--beacon-node"}},
		{name: "instance error", args: []string{"status", "--instance", broken.URL}, want: []string{"500", "boom"}},
		{name: "bad instance URL", args: []string{"status", "--instance", "localhost:9465"}, want: []string{"--instance"}},
		{name: "bad format", args: []string{"status", "--format", "yaml"}, want: []string{"--format", "table or json"}},
		{name: "bad epochs", args: []string{"status", "--epochs", "0"}, want: []string{"--epochs"}},
		{name: "bad pubkey", args: []string{"status", "--beacon-node", deadURL, "--pubkey", "0x12"}, want: []string{"--pubkey"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runVigil(t, filepath.Join(t.TempDir(), "data"), tc.args...)
			require.Error(t, err)
			for _, w := range tc.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// statusPubkey is the public key of validator index i on the fake beacon node.
func statusPubkey(i uint64) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	pk[0], pk[47] = 0xb0, byte(i)
	return pk
}

// serveChain adds to a fake beacon node the routes `vigil status
// --beacon-node` reads beyond those it serves: every validator it is asked
// about is active with 32 ETH plus its index in Gwei, attests perfectly in
// the slot beacontest's duties give it (i mod 8) and is included one slot
// later; no proposals, no sync committee.
func serveChain(t *testing.T, bn *beacontest.Node) {
	t.Helper()
	write := func(w http.ResponseWriter, data any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": data, "execution_optimistic": false, "finalized": false})
	}
	validator := func(i uint64) *apiv1.Validator {
		return &apiv1.Validator{
			Index: phase0.ValidatorIndex(i), Balance: phase0.Gwei(32_000_000_000 + i), Status: apiv1.ValidatorStateActiveOngoing,
			Validator: &phase0.Validator{PublicKey: statusPubkey(i), WithdrawalCredentials: make([]byte, 32), EffectiveBalance: 32_000_000_000, ExitEpoch: 1 << 62, WithdrawableEpoch: 1 << 62},
		}
	}
	bn.Handle("POST /eth/v1/beacon/states/{state}/validators", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			IDs []string `json:"ids"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			http.Error(w, "bad body", http.StatusBadRequest)
			return
		}
		out := []*apiv1.Validator{}
		for _, id := range body.IDs {
			if strings.HasPrefix(id, "0x") {
				if len(id) == 98 && strings.HasPrefix(id, "0xb0") {
					i, _ := strconv.ParseUint(id[96:], 16, 8)
					out = append(out, validator(i))
				}
				continue
			}
			i, _ := strconv.ParseUint(id, 10, 64)
			out = append(out, validator(i))
		}
		write(w, out)
	})
	bn.Handle("POST /eth/v1/beacon/rewards/attestations/{epoch}", func(w http.ResponseWriter, r *http.Request) {
		var ids []string
		_ = json.NewDecoder(r.Body).Decode(&ids)
		totals := []apiv1.ValidatorAttestationRewards{}
		for _, id := range ids {
			i, _ := strconv.ParseUint(id, 10, 64)
			totals = append(totals, apiv1.ValidatorAttestationRewards{ValidatorIndex: phase0.ValidatorIndex(i), Head: 100, Target: 200, Source: 100})
		}
		write(w, apiv1.AttestationRewards{
			IdealRewards: []apiv1.IdealAttestationRewards{{EffectiveBalance: 32_000_000_000, Head: 100, Target: 200, Source: 100}},
			TotalRewards: totals,
		})
	})
	bn.Handle("GET /eth/v2/beacon/blocks/{block_id}", func(w http.ResponseWriter, r *http.Request) {
		slot, err := strconv.ParseUint(r.PathValue("block_id"), 10, 64)
		if err != nil || slot == 0 {
			http.Error(w, `{"code":404,"message":"not found"}`, http.StatusNotFound)
			return
		}
		// Everyone with a duty at slot-1 (position i, i mod 8 = (slot-1) mod 8).
		var set []uint64
		for i := (slot - 1) % 8; i < 128; i += 8 {
			set = append(set, i)
		}
		b := perftest.Deneb(perftest.BlockSpec{
			Slot: phase0.Slot(slot), Proposer: 1000, Parent: phase0.Root{byte(slot - 1)}, SlotsPerEpoch: 8,
			Votes: []perftest.Vote{{Slot: phase0.Slot(slot - 1), Head: phase0.Root{byte(slot - 1)}, Length: 128, Set: set}},
		})
		body, err := perftest.BlockJSON(b)
		require.NoError(t, err)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	bn.Handle("GET /eth/v1/validator/duties/proposer/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"dependent_root":"0x%064x","execution_optimistic":false,"data":[]}`, 0)
	})
	bn.Handle("POST /eth/v1/validator/duties/sync/{epoch}", func(w http.ResponseWriter, _ *http.Request) {
		write(w, []any{})
	})
}

func TestStatusFromBeaconNode(t *testing.T) {
	// Slot 41 of epoch 5: epoch 3 is the newest evaluable one.
	genesis := time.Now().Add(-(41*12 + 6) * time.Second)
	bn := beacontest.New(t, beacontest.WithGenesisTime(genesis), beacontest.WithSpec(completeSpec))
	serveChain(t, bn)

	pk := func(i uint64) string { k := statusPubkey(i); return fmt.Sprintf("%#x", k[:]) }
	out, errOut, err := runVigil(t, filepath.Join(t.TempDir(), "data"), "status", "--beacon-node", bn.URL(),
		"--pubkey", pk(2), "--pubkey", pk(9), "--format", "json", "--epochs", "2")
	require.NoError(t, err, errOut)
	var st perf.StatusReport
	require.NoError(t, json.Unmarshal([]byte(out), &st))
	require.Equal(t, uint64(41), st.CurrentSlot)
	require.NotNil(t, st.LastEvaluatedEpoch)
	require.Equal(t, uint64(3), *st.LastEvaluatedEpoch)
	require.Equal(t, 2, st.EffectivenessEpochs)
	require.Len(t, st.Validators, 2)
	for _, v := range st.Validators {
		require.Equal(t, "active_ongoing", v.Status)
		require.Equal(t, 32_000_000_000+v.Index, v.BalanceGwei)
		require.Equal(t, 2, v.EffectivenessEpochs)
		require.NotNil(t, v.EffectivenessPercent)
		require.InDelta(t, 100, *v.EffectivenessPercent, 1e-9)
		require.Equal(t, &perf.AttestationStatus{
			Epoch: 3, Slot: 24 + v.Index%8, Included: true, Head: true, Target: true, Source: true, InclusionDelay: 1, RewardGwei: 400,
		}, v.LastAttestation)
		require.NotNil(t, v.NextDuties.AttestationSlot)
		require.GreaterOrEqual(t, *v.NextDuties.AttestationSlot, uint64(41))
	}
	require.Equal(t, pk(2), st.Validators[0].Pubkey)

	table, _, err := runVigil(t, filepath.Join(t.TempDir(), "data"), "status", "--beacon-node", bn.URL(), "--pubkey", pk(2))
	require.NoError(t, err)
	require.Contains(t, table, "epoch 3: included, delay 1, all votes correct")
	require.Contains(t, table, "100.0%")
}
