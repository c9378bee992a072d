package beacon_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/monitor/perf/perftest"
)

// The pool is what the performance monitor reads from.
var _ perf.Node = (*beacon.Pool)(nil)

func TestPoolServesBlocksAndCommittees(t *testing.T) {
	a := beacontest.New(t)
	a.Handle("GET /eth/v2/beacon/blocks/{block_id}", func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("block_id") != "17" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, `{"code":404,"message":"not found"}`)
			return
		}
		body, err := perftest.BlockJSON(perftest.Deneb(perftest.BlockSpec{Slot: 17, Proposer: 5, SlotsPerEpoch: 8}))
		require.NoError(t, err)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	a.Handle("GET /eth/v1/beacon/states/{state}/committees", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"execution_optimistic":false,"finalized":true,"data":[{"index":"0","slot":"16","validators":["1","2"]}]}`)
	})
	p, _ := newPool(t, urls(a))
	ctx := context.Background()

	b, err := p.SignedBeaconBlock(ctx, &api.SignedBeaconBlockOpts{Block: "17"})
	require.NoError(t, err)
	proposer, err := b.Data.ProposerIndex()
	require.NoError(t, err)
	require.Equal(t, phase0.ValidatorIndex(5), proposer)

	_, err = p.SignedBeaconBlock(ctx, &api.SignedBeaconBlockOpts{Block: "18"})
	var apiErr *api.Error
	require.True(t, errors.As(err, &apiErr))
	require.Equal(t, http.StatusNotFound, apiErr.StatusCode)

	epoch := phase0.Epoch(2)
	c, err := p.BeaconCommittees(ctx, &api.BeaconCommitteesOpts{State: "16", Epoch: &epoch})
	require.NoError(t, err)
	require.Equal(t, []*apiv1.BeaconCommittee{{Slot: 16, Index: 0, Validators: []phase0.ValidatorIndex{1, 2}}}, c.Data)

	_, err = p.SignedBeaconBlock(ctx, nil)
	require.Error(t, err)
	_, err = p.BeaconCommittees(ctx, nil)
	require.Error(t, err)
}
