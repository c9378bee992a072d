package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExcuseSlotsPrysmMissedToo pins down when a missed duty may be blamed
// on the chain rather than on vigil: only when an attester of the reference
// client in the same slot missed too.
func TestExcuseSlotsPrysmMissedToo(t *testing.T) {
	const epoch = 3
	// Validators 1 and 2 are vigil's, 10 and 11 Prysm's, all in slot 96;
	// validator 3 (vigil's) is alone in slot 97; validator 4 (vigil's) and
	// 12 (Prysm's) are in slot 98.
	slots := map[uint64]uint64{1: 96, 2: 96, 10: 96, 11: 96, 3: 97, 4: 98, 12: 98}
	others := []uint64{10, 11, 12}
	credited := func(is ...uint64) map[uint64]attestationReward {
		got := map[uint64]attestationReward{}
		for _, i := range is {
			got[i] = attestationReward{Target: true}
		}
		return got
	}
	tests := []struct {
		name    string
		got     map[uint64]attestationReward
		excused []uint64
	}{
		{"everyone missed", credited(), []uint64{1, 2, 10, 11, 4, 12}},
		{"Prysm's attesters all credited", credited(10, 11, 12), nil},
		{"one of Prysm's two in the slot missed", credited(11, 12), []uint64{1, 2, 10, 11}},
		{"Prysm's missed in one slot only", credited(1, 10, 11), []uint64{4, 12}},
		{"vigil's credited, Prysm's missed", credited(1, 2, 3, 4), []uint64{1, 2, 10, 11, 4, 12}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e excusedDuties
			excuseSlotsPrysmMissedToo(epoch, slots, tc.got, others, &e)
			for i, slot := range slots {
				want := ""
				for _, x := range tc.excused {
					if x == i {
						want = slotMissedByPrysmToo
					}
				}
				require.Equal(t, want, e.reason(epoch, i, slot), "validator %d", i)
			}
		})
	}
	t.Run("an earlier excuse is kept", func(t *testing.T) {
		var e excusedDuties
		e.add(epoch, 1, "restart")
		excuseSlotsPrysmMissedToo(epoch, slots, credited(), others, &e)
		require.Equal(t, "restart", e.reason(epoch, 1, 96))
		require.Equal(t, slotMissedByPrysmToo, e.reason(epoch, 2, 96))
	})
}
