package chain_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
)

var genesis = time.Unix(1_606_824_023, 0) // mainnet genesis

func genesisOf(s *chain.Spec) *apiv1.Genesis {
	return &apiv1.Genesis{GenesisTime: s.GenesisTime, GenesisValidatorsRoot: s.GenesisValidatorsRoot, GenesisForkVersion: s.GenesisForkVersion}
}

func TestDecode(t *testing.T) {
	base := chaintest.Spec(genesis)
	tests := []struct {
		name    string
		edit    func(m map[string]any)
		genesis *apiv1.Genesis
		want    func(c *chain.Spec)
		errHas  string
	}{
		{name: "complete"},
		{name: "fulu unknown to the node", edit: func(m map[string]any) {
			delete(m, "FULU_FORK_VERSION")
			delete(m, "FULU_FORK_EPOCH")
		}, want: func(c *chain.Spec) { c.Fulu = chain.Fork{Epoch: chain.FarFutureEpoch} }},
		{name: "unscheduled fork as max uint64", edit: func(m map[string]any) {
			m["FULU_FORK_EPOCH"] = uint64(18446744073709551615)
		}, want: func(c *chain.Spec) { c.Fulu.Epoch = chain.FarFutureEpoch }},
		{name: "a later fork the node schedules", edit: func(m map[string]any) {
			m["GLOAS_FORK_VERSION"] = phase0.Version{0x80}
			m["GLOAS_FORK_EPOCH"] = uint64(9)
			m["EIP7805_FORK_EPOCH"] = uint64(18446744073709551615)
		}, want: func(c *chain.Spec) { c.Unknown = []chain.UnknownFork{{Name: "GLOAS", Epoch: 9}} }},
		{name: "builder domain defaults", edit: func(m map[string]any) { delete(m, "DOMAIN_APPLICATION_BUILDER") }},
		{name: "epoch as decimal string", edit: func(m map[string]any) { m["ALTAIR_FORK_EPOCH"] = "1" }},
		// go-eth2-client's http client parses SECONDS_PER_SLOT as a duration;
		// other clients may give the plain number of seconds.
		{name: "slot duration as an integer", edit: func(m map[string]any) { m["SECONDS_PER_SLOT"] = uint64(3) }},
		{name: "missing SECONDS_PER_SLOT", edit: func(m map[string]any) { delete(m, "SECONDS_PER_SLOT") }, errHas: "SECONDS_PER_SLOT is missing"},
		{name: "mistyped SECONDS_PER_SLOT", edit: func(m map[string]any) { m["SECONDS_PER_SLOT"] = "three" }, errHas: "SECONDS_PER_SLOT has type string"},
		{name: "zero SECONDS_PER_SLOT", edit: func(m map[string]any) { m["SECONDS_PER_SLOT"] = uint64(0) }, errHas: "SECONDS_PER_SLOT must be positive"},
		{name: "missing SLOTS_PER_EPOCH", edit: func(m map[string]any) { delete(m, "SLOTS_PER_EPOCH") }, errHas: "SLOTS_PER_EPOCH is missing"},
		{name: "missing sync committee size", edit: func(m map[string]any) { delete(m, "SYNC_COMMITTEE_SIZE") }, errHas: "SYNC_COMMITTEE_SIZE is missing"},
		{name: "zero aggregators", edit: func(m map[string]any) { m["TARGET_AGGREGATORS_PER_COMMITTEE"] = uint64(0) }, errHas: "TARGET_AGGREGATORS_PER_COMMITTEE must be positive"},
		{name: "subnets above size", edit: func(m map[string]any) { m["SYNC_COMMITTEE_SUBNET_COUNT"] = uint64(1024) }, errHas: "SYNC_COMMITTEE_SIZE is smaller"},
		{name: "missing attester domain", edit: func(m map[string]any) { delete(m, "DOMAIN_BEACON_ATTESTER") }, errHas: "DOMAIN_BEACON_ATTESTER is missing"},
		{name: "mistyped domain", edit: func(m map[string]any) { m["DOMAIN_RANDAO"] = "0x02000000" }, errHas: "DOMAIN_RANDAO has type string"},
		{name: "version without epoch", edit: func(m map[string]any) { delete(m, "DENEB_FORK_EPOCH") }, errHas: "DENEB_FORK_VERSION and DENEB_FORK_EPOCH"},
		{name: "forks out of order", edit: func(m map[string]any) { m["CAPELLA_FORK_EPOCH"] = uint64(9) }, errHas: "deneb fork epoch 4 is before capella"},
		{name: "unknown fork before fulu", edit: func(m map[string]any) { m["GLOAS_FORK_EPOCH"] = uint64(2) }, errHas: "GLOAS fork epoch 2 is before fulu"},
		{name: "genesis version disagrees", edit: func(m map[string]any) { m["GENESIS_FORK_VERSION"] = phase0.Version{9} }, errHas: "differs from genesis fork version"},
		{name: "empty genesis", genesis: &apiv1.Genesis{}, edit: func(m map[string]any) { delete(m, "GENESIS_FORK_VERSION") }, errHas: "genesis time is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := maps.Clone(chaintest.BeaconSpec(base))
			if tc.edit != nil {
				tc.edit(m)
			}
			g := genesisOf(base)
			if tc.genesis != nil {
				g = tc.genesis
			}
			got, err := chain.Decode(m, g)
			if tc.errHas != "" {
				require.ErrorIs(t, err, chain.ErrSpec)
				require.Contains(t, strings.ToLower(err.Error()), strings.ToLower(tc.errHas))
				return
			}
			require.NoError(t, err)
			want := chaintest.Spec(genesis)
			if tc.want != nil {
				tc.want(want)
			}
			require.Equal(t, want, got)
		})
	}
}

func TestForks(t *testing.T) {
	s := chaintest.Spec(genesis)
	s.Fulu.Epoch = chain.FarFutureEpoch
	s.Unknown = nil
	tests := []struct {
		epoch   phase0.Epoch
		want    spec.DataVersion
		version phase0.Version
	}{
		{0, spec.DataVersionPhase0, s.GenesisForkVersion},
		{1, spec.DataVersionAltair, s.Altair.Version},
		{4, spec.DataVersionDeneb, s.Deneb.Version},
		{5, spec.DataVersionElectra, s.Electra.Version},
		{1 << 40, spec.DataVersionElectra, s.Electra.Version},
	}
	for _, tc := range tests {
		f := s.ForkAt(tc.epoch)
		require.Equal(t, tc.want, f.Name, "epoch %d", tc.epoch)
		require.Equal(t, tc.version, f.Version, "epoch %d", tc.epoch)
		require.Equal(t, tc.want.String(), s.ForkName(tc.epoch))
	}
	require.True(t, s.AtLeast(spec.DataVersionElectra, 5))
	require.False(t, s.AtLeast(spec.DataVersionElectra, 4))
	require.False(t, s.AtLeast(spec.DataVersionFulu, 1<<40), "an unscheduled fork is never reached")
	require.True(t, s.AtLeast(spec.DataVersionPhase0, 0))

	s.Unknown = []chain.UnknownFork{{Name: "GLOAS", Epoch: 9}}
	require.NoError(t, s.Signable(8))
	err := s.Signable(9)
	require.ErrorIs(t, err, chain.ErrUnknownFork)
	require.ErrorContains(t, err, "GLOAS from epoch 9")
	require.Equal(t, "gloas", s.ForkName(10))
}

func TestTiming(t *testing.T) {
	s := chaintest.Spec(genesis)
	require.Equal(t, phase0.Slot(0), s.SlotAt(genesis.Add(-time.Hour)))
	require.Equal(t, phase0.Slot(8), s.SlotAt(genesis.Add(24*time.Second)))
	require.Equal(t, phase0.Epoch(1), s.EpochAtSlot(8))
	require.Equal(t, phase0.Slot(16), s.FirstSlot(2))
	require.Equal(t, genesis.Add(6*time.Second), s.SlotStart(2))
	require.Equal(t, uint64(2), s.SyncPeriod(16))
	require.Equal(t, uint64(128), s.SyncSubcommitteeSize())
}
