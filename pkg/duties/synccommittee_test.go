package duties_test

import (
	"testing"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/duties/dutiestest"
)

func TestSyncCommittee(t *testing.T) {
	tests := []struct {
		name  string
		epoch phase0.Epoch
	}{
		{name: "deneb", epoch: denebEpoch},
		{name: "electra", epoch: electraEpoch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Not the epoch's first slot, so no attestations get in the way.
			slot := phase0.Slot(uint64(tc.epoch)*8 + 2)
			e := newEnv(t, envConfig{validators: 4, startSlot: slot, configure: func(n *dutiestest.Node) {
				// SYNC_COMMITTEE_SIZE 32 / 4 subnets: subcommittees of 8.
				n.SyncCommittee[1] = []phase0.CommitteeIndex{3}
				n.SyncCommittee[3] = []phase0.CommitteeIndex{9, 27}
			}})
			e.run()
			subs := e.waitCalls(dutiestest.CallSyncSubscriptions, 1)[0].Arg.([]*apiv1.SyncCommitteeSubscription)
			require.Len(t, subs, 2)
			e.waitTimer(e.at(slot, 1, 3))
			require.Zero(t, e.node.Count(dutiestest.CallSubmitSyncMessages))
			e.clock.Set(e.at(slot, 1, 3))
			rec := e.waitCalls(dutiestest.CallSubmitSyncMessages, 1)[0]
			require.Equal(t, e.at(slot, 1, 3), rec.At)
			msgs := rec.Arg.([]*altair.SyncCommitteeMessage)
			require.Len(t, msgs, 2, "one message per validator, whatever its subcommittees")
			for _, m := range msgs {
				require.Equal(t, slot, m.Slot)
				require.Equal(t, e.node.HeadRoot, m.BeaconBlockRoot)
			}

			// Subcommittee size 8 / TARGET 16: every member aggregates, for
			// each of its subcommittees (validator 3 sits in 1 and 3).
			e.waitTimer(e.at(slot, 2, 3))
			require.Zero(t, e.node.Count(dutiestest.CallSubmitContributions))
			e.clock.Set(e.at(slot, 2, 3))
			rec = e.waitCalls(dutiestest.CallSubmitContributions, 1)[0]
			require.Equal(t, e.at(slot, 2, 3), rec.At)
			cs := rec.Arg.([]*altair.SignedContributionAndProof)
			got := map[phase0.ValidatorIndex][]uint64{}
			for _, c := range cs {
				require.NotZero(t, c.Signature)
				require.NotZero(t, c.Message.SelectionProof)
				got[c.Message.AggregatorIndex] = append(got[c.Message.AggregatorIndex], c.Message.Contribution.SubcommitteeIndex)
			}
			require.ElementsMatch(t, []uint64{0}, got[1])
			require.ElementsMatch(t, []uint64{1, 3}, got[3])
		})
	}
}
