package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestExcuseSlotsMissedByAll pins down when a missed duty may be blamed on
// the chain rather than on vigil: only when the reference client's attesters
// in the same slot missed too.
func TestExcuseSlotsMissedByAll(t *testing.T) {
	const epoch = 3
	// Validators 1 and 2 are vigil's, 10 is Prysm's, all in slot 96;
	// validator 3 (vigil's) is alone in slot 97.
	slots := map[uint64]uint64{1: 96, 2: 96, 10: 96, 3: 97}
	others := []uint64{10}
	tests := []struct {
		name    string
		got     map[uint64]attestationReward
		excused []uint64
	}{
		{"everyone in the slot missed", map[uint64]attestationReward{}, []uint64{1, 2, 10}},
		{"Prysm's attester was credited", map[uint64]attestationReward{10: {Target: true}}, nil},
		{"one of vigil's was credited", map[uint64]attestationReward{2: {Target: true}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e excusedDuties
			excuseSlotsMissedByAll(epoch, slots, tc.got, others, &e)
			for i, slot := range slots {
				want := ""
				for _, x := range tc.excused {
					if x == i {
						want = slotMissedByAll
					}
				}
				require.Equal(t, want, e.reason(epoch, i, slot), "validator %d", i)
			}
		})
	}
	t.Run("an earlier excuse is kept", func(t *testing.T) {
		var e excusedDuties
		e.add(epoch, 1, "restart")
		excuseSlotsMissedByAll(epoch, slots, map[uint64]attestationReward{}, others, &e)
		require.Equal(t, "restart", e.reason(epoch, 1, 96))
		require.Equal(t, slotMissedByAll, e.reason(epoch, 2, 96))
	})
}
