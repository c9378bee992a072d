package beacon_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
)

// TestAttestationRewards checks the pool's own decoding of the rewards
// endpoint: a charged inactivity penalty comes as a negative number (as
// Prysm sends it) and must not fail the whole answer.
func TestAttestationRewards(t *testing.T) {
	const answer = `{"execution_optimistic":false,"finalized":true,"data":{
		"ideal_rewards":[{"effective_balance":"32000000000","head":"2000","target":"3000","source":"1500","inactivity":"0"}],
		"total_rewards":[
			{"validator_index":"3","head":"2000","target":"3000","source":"1500","inactivity":"0"},
			{"validator_index":"4","head":"0","target":"-3000","source":"-1500","inactivity":"-120"},
			{"validator_index":"5","head":"0","target":"-3000","source":"-1500","inactivity":"120","inclusion_delay":"7"}]}}`
	tests := []struct {
		name    string
		status  int
		body    string
		want    *apiv1.AttestationRewards
		wantErr string
		code    int
	}{
		{
			name: "penalties of either sign", status: 200, body: answer,
			want: &apiv1.AttestationRewards{
				IdealRewards: []apiv1.IdealAttestationRewards{{EffectiveBalance: 32_000_000_000, Head: 2000, Target: 3000, Source: 1500}},
				TotalRewards: []apiv1.ValidatorAttestationRewards{
					{ValidatorIndex: 3, Head: 2000, Target: 3000, Source: 1500},
					{ValidatorIndex: 4, Target: -3000, Source: -1500, Inactivity: 120},
					{ValidatorIndex: 5, Target: -3000, Source: -1500, Inactivity: 120, InclusionDelay: gwei(7)},
				},
			},
		},
		{name: "epoch not served yet", status: 404, body: `{"code":404,"message":"epoch not finished"}`, code: 404},
		{name: "garbage number", status: 200, body: `{"data":{"ideal_rewards":[],"total_rewards":[{"validator_index":"x","head":"0","target":"0","source":"0","inactivity":"0"}]}}`, wantErr: `validator_index "x"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := beacontest.New(t)
			var asked []string
			a.Handle("POST /eth/v1/beacon/rewards/attestations/{epoch}", func(w http.ResponseWriter, r *http.Request) {
				require.Equal(t, "9", r.PathValue("epoch"))
				b, err := io.ReadAll(r.Body)
				require.NoError(t, err)
				require.NoError(t, json.Unmarshal(b, &asked))
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				fmt.Fprint(w, tc.body)
			})
			p, _ := newPool(t, urls(a))
			resp, err := p.AttestationRewards(t.Context(), &api.AttestationRewardsOpts{
				Epoch: 9, Indices: []phase0.ValidatorIndex{3, 4}, PubKeys: []phase0.BLSPubKey{{0xab}},
			})
			switch {
			case tc.code != 0:
				var apiErr *api.Error
				require.True(t, errors.As(err, &apiErr), "a 404 stays an *api.Error the monitor can recognise: %v", err)
				require.Equal(t, tc.code, apiErr.StatusCode)
			case tc.wantErr != "":
				require.ErrorContains(t, err, tc.wantErr)
			default:
				require.NoError(t, err)
				require.Equal(t, tc.want, resp.Data)
				require.Equal(t, []string{"3", "4", "0xab" + strings.Repeat("00", 47)}, asked)
			}
		})
	}
}

func gwei(n uint64) *phase0.Gwei { g := phase0.Gwei(n); return &g }
