package beacon_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	ethhttp "github.com/attestantio/go-eth2-client/http"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/rs/zerolog"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/beacon/beacontest"
)

// attestationDataGetter is what both benchmarks call.
type attestationDataGetter interface {
	AttestationData(context.Context, *api.AttestationDataOpts) (*api.Response[*phase0.AttestationData], error)
}

func benchAttestationData(b *testing.B, c attestationDataGetter) {
	b.Helper()
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.AttestationData(ctx, &api.AttestationDataOpts{Slot: 17}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttestationData compares a read through the pool with the same
// read through a bare go-eth2-client, against a loopback fake node: the
// difference is the pool's bookkeeping per call.
func BenchmarkAttestationData(b *testing.B) {
	node := beacontest.New(b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	b.Run("pool", func(b *testing.B) {
		p, err := beacon.New(ctx, beacon.WithAddresses([]string{node.URL()}), beacon.WithHealthInterval(time.Hour),
			beacon.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		benchAttestationData(b, p)
	})
	b.Run("go-eth2-client", func(b *testing.B) {
		svc, err := ethhttp.New(ctx, ethhttp.WithAddress(node.URL()), ethhttp.WithLogLevel(zerolog.Disabled))
		if err != nil {
			b.Fatal(err)
		}
		benchAttestationData(b, svc.(*ethhttp.Service))
	})
}

// BenchmarkSubmitAttestations submits one slot's worth of attestations for
// 10,000 keys (313) to one and to three nodes in parallel.
func BenchmarkSubmitAttestations(b *testing.B) {
	atts := make([]*spec.VersionedAttestation, 313)
	for i := range atts {
		atts[i] = &spec.VersionedAttestation{Version: spec.DataVersionDeneb, Deneb: &phase0.Attestation{
			AggregationBits: []byte{0x01, 0x01},
			Data: &phase0.AttestationData{Slot: 17, Index: phase0.CommitteeIndex(i % 64),
				Source: &phase0.Checkpoint{}, Target: &phase0.Checkpoint{Epoch: 2}},
		}}
	}
	for _, nodes := range []int{1, 3} {
		b.Run(fmt.Sprintf("nodes=%d", nodes), func(b *testing.B) {
			var addresses []string
			for range nodes {
				addresses = append(addresses, beacontest.New(b).URL())
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p, err := beacon.New(ctx, beacon.WithAddresses(addresses), beacon.WithHealthInterval(time.Hour),
				beacon.WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				b.Fatal(err)
			}
			opts := &api.SubmitAttestationsOpts{Attestations: atts}
			b.ResetTimer()
			for b.Loop() {
				if err := p.SubmitAttestations(ctx, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
