package beacon

import (
	"context"
	"fmt"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	ethhttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
)

// Operations of the reads that the performance monitor needs beyond what
// the duties use.
const (
	OpSignedBeaconBlock Operation = "signed_beacon_block"
	OpBeaconCommittees  Operation = "beacon_committees"
)

// The performance monitor (pkg/monitor/perf) reads blocks and committees of
// past epochs through the pool.
var (
	_ eth2client.SignedBeaconBlockProvider = (*Pool)(nil)
	_ eth2client.BeaconCommitteesProvider  = (*Pool)(nil)
)

// perfClient is what these reads ask of one node. Every node's client is a
// go-eth2-client *http.Service (newNode), which this line proves provides it.
type perfClient interface {
	eth2client.SignedBeaconBlockProvider
	eth2client.BeaconCommitteesProvider
}

var _ perfClient = (*ethhttp.Service)(nil)

// asPerfClient gives the node's client as a perfClient. nodeClient does not
// list these providers, so the conversion is checked; it cannot fail for a
// client built by newNode.
func asPerfClient(c nodeClient) (perfClient, error) {
	pc, ok := c.(perfClient)
	if !ok {
		return nil, fmt.Errorf("beacon client %T cannot read blocks or committees", c)
	}
	return pc, nil
}

// SignedBeaconBlock fetches a block by ID (a slot, root, "head", ...),
// failing over between nodes. An empty slot is an *api.Error with status 404.
func (p *Pool) SignedBeaconBlock(ctx context.Context, opts *api.SignedBeaconBlockOpts) (*api.Response[*spec.VersionedSignedBeaconBlock], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpSignedBeaconBlock, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*spec.VersionedSignedBeaconBlock], error) {
			pc, err := asPerfClient(c)
			if err != nil {
				return nil, err
			}
			return pc.SignedBeaconBlock(ctx, opts)
		})
}

// BeaconCommittees fetches the beacon committees of an epoch at a state,
// failing over between nodes.
func (p *Pool) BeaconCommittees(ctx context.Context, opts *api.BeaconCommitteesOpts) (*api.Response[[]*apiv1.BeaconCommittee], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpBeaconCommittees, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[[]*apiv1.BeaconCommittee], error) {
			pc, err := asPerfClient(c)
			if err != nil {
				return nil, err
			}
			return pc.BeaconCommittees(ctx, opts)
		})
}
