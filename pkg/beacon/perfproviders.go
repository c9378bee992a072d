package beacon

import (
	"context"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
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

// SignedBeaconBlock fetches a block by ID (a slot, root, "head", ...),
// failing over between nodes. An empty slot is an *api.Error with status 404.
func (p *Pool) SignedBeaconBlock(ctx context.Context, opts *api.SignedBeaconBlockOpts) (*api.Response[*spec.VersionedSignedBeaconBlock], error) {
	if opts == nil {
		return nil, eth2client.ErrNoOptions
	}
	return read(ctx, p, OpSignedBeaconBlock, opts.Common.Timeout,
		func(ctx context.Context, c nodeClient) (*api.Response[*spec.VersionedSignedBeaconBlock], error) {
			return c.SignedBeaconBlock(ctx, opts)
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
			return c.BeaconCommittees(ctx, opts)
		})
}
