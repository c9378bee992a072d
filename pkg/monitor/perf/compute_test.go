package perf_test

import (
	"context"
	"testing"
	"time"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
	"github.com/vigil-eth/vigil/pkg/monitor/perf/perftest"
)

const (
	spe     = 8
	epoch   = phase0.Epoch(2) // slots 16-23; its attestations may be included until slot 31
	gwei32  = phase0.Gwei(32_000_000_000)
	dutySlt = phase0.Slot(17)
)

var testSpec = &chain.Spec{GenesisTime: time.Unix(1_700_000_000, 0), SlotDuration: 12 * time.Second, SlotsPerEpoch: spe}

// root is the canonical block root of a slot in the fake chain.
func root(slot phase0.Slot) phase0.Root { return phase0.Root{byte(slot), 0xbb} }

func targetRoot() phase0.Root { return root(16) }

func pubkey(i phase0.ValidatorIndex) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	pk[0], pk[47] = 0xa0, byte(i)
	return pk
}

// scenario is one validator's epoch in the fake chain, with defaults for a
// perfect epoch that each test case changes.
type scenario struct {
	index                  phase0.ValidatorIndex
	position               uint64
	committee              phase0.CommitteeIndex
	includedAt             phase0.Slot // 0: not included
	headVote               phase0.Root
	head                   phase0.Gwei
	target, source         int64
	ideal                  [3]phase0.Gwei // head, target, source
	startBal, endBal       phase0.Gwei
	proposeAt              []phase0.Slot
	proposed               map[phase0.Slot]bool
	syncPos                []phase0.CommitteeIndex
	syncMissAt             phase0.Slot // block whose sync bits omit the validator
	electra                bool
	otherCommitteeLength   uint64 // Electra: length of committee 0 when the validator is in committee 1
	emptySlots             []phase0.Slot
	withoutRewards         bool
	extraVoteWithWrongHead bool
}

func perfect(index phase0.ValidatorIndex) scenario {
	return scenario{
		index: index, position: 3, includedAt: dutySlt + 1, headVote: root(dutySlt),
		head: 100, target: 200, source: 100, ideal: [3]phase0.Gwei{100, 200, 100},
		startBal: gwei32, endBal: gwei32 + 400,
	}
}

func (s scenario) build() *perftest.Chain {
	c := perftest.NewChain()
	committeeLength := uint64(8)
	c.AddAttesterDuty(epoch, &apiv1.AttesterDuty{
		PubKey: pubkey(s.index), Slot: dutySlt, ValidatorIndex: s.index, CommitteeIndex: s.committee,
		CommitteeLength: committeeLength, CommitteesAtSlot: 2, ValidatorCommitteeIndex: s.position,
	})
	if !s.withoutRewards {
		c.SetRewards(epoch, &apiv1.AttestationRewards{
			IdealRewards: []apiv1.IdealAttestationRewards{{EffectiveBalance: gwei32, Head: s.ideal[0], Target: s.ideal[1], Source: s.ideal[2]}},
			TotalRewards: []apiv1.ValidatorAttestationRewards{{ValidatorIndex: s.index, Head: s.head, Target: s.target, Source: s.source}},
		})
	}
	for _, slot := range []phase0.Slot{16, 24} {
		bal := s.startBal
		if slot == 24 {
			bal = s.endBal
		}
		c.SetValidator(slot, &apiv1.Validator{Index: s.index, Balance: bal, Status: apiv1.ValidatorStateActiveOngoing,
			Validator: &phase0.Validator{PublicKey: pubkey(s.index), EffectiveBalance: gwei32}})
	}
	for _, slot := range s.proposeAt {
		c.AddProposerDuty(epoch, &apiv1.ProposerDuty{PubKey: pubkey(s.index), Slot: slot, ValidatorIndex: s.index})
	}
	if len(s.syncPos) > 0 {
		for _, e := range []phase0.Epoch{epoch, epoch + 1} {
			c.AddSyncDuty(e, &apiv1.SyncCommitteeDuty{PubKey: pubkey(s.index), ValidatorIndex: s.index, ValidatorSyncCommitteeIndices: s.syncPos})
		}
	}
	if s.electra && s.committee == 1 {
		c.SetCommittees(epoch, []*apiv1.BeaconCommittee{
			{Slot: dutySlt, Index: 0, Validators: make([]phase0.ValidatorIndex, s.otherCommitteeLength)},
			{Slot: dutySlt, Index: 1, Validators: make([]phase0.ValidatorIndex, committeeLength)},
		})
	}
	empty := make(map[phase0.Slot]bool)
	for _, e := range s.emptySlots {
		empty[e] = true
	}
	for slot := phase0.Slot(16); slot < 32; slot++ {
		if empty[slot] {
			continue
		}
		proposer := phase0.ValidatorIndex(1000)
		if s.proposed[slot] {
			proposer = s.index
		}
		b := perftest.BlockSpec{Slot: slot, Proposer: proposer, Parent: root(slot - 1), SlotsPerEpoch: spe}
		if slot != s.syncMissAt {
			for _, p := range s.syncPos {
				b.SyncSet = append(b.SyncSet, uint64(p))
			}
		}
		if slot == s.includedAt {
			v := perftest.Vote{Slot: dutySlt, Committee: s.committee, Head: s.headVote, Target: targetRoot(), Length: committeeLength, Set: []uint64{s.position}}
			if s.electra {
				v.Committees = []uint64{uint64(s.committee)}
				if s.committee == 1 {
					// Committee 0 comes first in the aggregation bits.
					v.Committees = []uint64{0, 1}
					v.Length = s.otherCommitteeLength + committeeLength
					v.Set = []uint64{0, s.otherCommitteeLength + s.position}
				}
			}
			b.Votes = append(b.Votes, v)
		}
		if s.extraVoteWithWrongHead && slot == dutySlt+1 {
			// Someone else's vote in the same committee: must not count.
			b.Votes = append(b.Votes, perftest.Vote{Slot: dutySlt, Committee: s.committee, Head: s.headVote, Target: targetRoot(), Length: committeeLength, Set: []uint64{s.position + 1}})
		}
		var blk *spec.VersionedSignedBeaconBlock
		if s.electra {
			blk = perftest.Electra(b)
		} else {
			blk = perftest.Deneb(b)
		}
		c.SetBlock(blk)
	}
	return c
}

func TestCompute(t *testing.T) {
	tests := []struct {
		name  string
		mod   func(*scenario)
		check func(t *testing.T, r perf.ValidatorReport, rep *perf.EpochReport)
	}{
		{
			name: "included, all correct",
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Duty)
				require.True(t, a.Included)
				require.Equal(t, uint64(1), a.InclusionDelay)
				require.True(t, a.Head && a.Target && a.Source)
				require.Equal(t, int64(400), a.Reward)
				require.Equal(t, int64(400), a.IdealReward)
				require.InDelta(t, 1.0, a.Effectiveness, 1e-9)
				require.Equal(t, apiv1.ValidatorStateActiveOngoing, r.Status)
			},
		},
		{
			name: "wrong head",
			mod:  func(s *scenario) { s.head = 0; s.headVote = phase0.Root{0xee} },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Included)
				require.False(t, a.Head)
				require.True(t, a.Target && a.Source)
				require.InDelta(t, 0.75, a.Effectiveness, 1e-9)
			},
		},
		{
			name: "wrong target",
			mod:  func(s *scenario) { s.head, s.target = 0, -260 },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Included)
				require.False(t, a.Head)
				require.False(t, a.Target)
				require.True(t, a.Source)
				require.Equal(t, int64(-160), a.Reward)
			},
		},
		{
			name: "missed",
			mod:  func(s *scenario) { s.includedAt = 0; s.head, s.target, s.source = 0, -260, -140 },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Duty)
				require.False(t, a.Included)
				require.Zero(t, a.InclusionDelay)
				require.False(t, a.Head || a.Target || a.Source)
				require.Equal(t, int64(-400), a.Reward)
				require.Negative(t, a.Effectiveness)
			},
		},
		{
			name: "inclusion delay 3",
			mod:  func(s *scenario) { s.includedAt = dutySlt + 3; s.head = 0 },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Included)
				require.Equal(t, uint64(3), a.InclusionDelay)
				require.False(t, a.Head)
				require.True(t, a.Target && a.Source)
			},
		},
		{
			name: "included in the next epoch (EIP-7045)",
			mod:  func(s *scenario) { s.includedAt = 30; s.head, s.source = 0, -140 },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.True(t, a.Included)
				require.Equal(t, uint64(13), a.InclusionDelay)
				require.True(t, a.Target)
				require.False(t, a.Source)
			},
		},
		{
			name: "a neighbour's bit does not count",
			mod: func(s *scenario) {
				s.includedAt, s.extraVoteWithWrongHead = 0, true
				s.head, s.target, s.source = 0, -260, -140
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.False(t, r.Attestation.Included)
			},
		},
		{
			name: "Electra committee bits, own committee only",
			mod:  func(s *scenario) { s.electra = true },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.True(t, r.Attestation.Included)
				require.Equal(t, uint64(1), r.Attestation.InclusionDelay)
			},
		},
		{
			name: "Electra committee bits, offset by an earlier committee",
			mod: func(s *scenario) {
				s.electra, s.committee, s.otherCommitteeLength, s.position = true, 1, 5, 2
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.True(t, r.Attestation.Included)
				require.Equal(t, uint64(1), r.Attestation.InclusionDelay)
			},
		},
		{
			name: "Electra, the bit at the position without the offset is not ours",
			mod: func(s *scenario) {
				// Committee 0 is 2 long: the validator's bit is at 2+2=4; a
				// reading without offset would see bit 2 unset and miss it,
				// and one bit of committee 0 (bit 0) is set.
				s.electra, s.committee, s.otherCommitteeLength, s.position = true, 1, 2, 2
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.True(t, r.Attestation.Included)
			},
		},
		{
			name: "proposal made and proposal missed",
			mod: func(s *scenario) {
				s.proposeAt = []phase0.Slot{19, 20}
				s.proposed = map[phase0.Slot]bool{20: true}
				s.emptySlots = []phase0.Slot{19}
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.Equal(t, []perf.Proposal{{Slot: 19, Proposed: false}, {Slot: 20, Proposed: true}}, r.Proposals)
			},
		},
		{
			name: "proposal slot filled by another proposer (reorged out) is missed",
			mod:  func(s *scenario) { s.proposeAt = []phase0.Slot{21} },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.Equal(t, []perf.Proposal{{Slot: 21, Proposed: false}}, r.Proposals)
			},
		},
		{
			name: "sync committee: one message missed, one slot without a next block",
			mod: func(s *scenario) {
				s.syncPos = []phase0.CommitteeIndex{4, 77}
				s.syncMissAt = 20
				s.emptySlots = []phase0.Slot{22}
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				// Slots 16-23 are carried by blocks 17-24; 22 is empty, 20 misses it.
				require.Equal(t, 6, r.SyncIncluded)
				require.Equal(t, 1, r.SyncMissed)
			},
		},
		{
			name: "balance change",
			mod:  func(s *scenario) { s.startBal, s.endBal = gwei32+1000, gwei32-500 },
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.Equal(t, gwei32-500, r.Balance)
				require.Equal(t, int64(-1500), r.BalanceChange)
				require.Equal(t, gwei32, r.EffectiveBalance)
			},
		},
		{
			name: "inactivity leak, correct head earns nothing but is correct",
			mod: func(s *scenario) {
				s.ideal = [3]phase0.Gwei{}
				s.head, s.target, s.source = 0, 0, 0
			},
			check: func(t *testing.T, r perf.ValidatorReport, rep *perf.EpochReport) {
				require.True(t, rep.Leak)
				a := r.Attestation
				require.True(t, a.Head && a.Target && a.Source)
				require.InDelta(t, 1.0, a.Effectiveness, 1e-9)
			},
		},
		{
			name: "inactivity leak, wrong head",
			mod: func(s *scenario) {
				s.ideal = [3]phase0.Gwei{}
				s.head, s.target, s.source = 0, 0, 0
				s.headVote = phase0.Root{0xee}
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				a := r.Attestation
				require.False(t, a.Head)
				require.True(t, a.Target && a.Source)
				require.InDelta(t, 40.0/54, a.Effectiveness, 1e-9)
			},
		},
		{
			name: "inactivity leak, late head",
			mod: func(s *scenario) {
				s.ideal = [3]phase0.Gwei{}
				s.head, s.target, s.source = 0, 0, 0
				s.includedAt = dutySlt + 2
			},
			check: func(t *testing.T, r perf.ValidatorReport, _ *perf.EpochReport) {
				require.False(t, r.Attestation.Head)
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := perfect(7)
			if tc.mod != nil {
				tc.mod(&s)
			}
			chain := s.build()
			rep, err := perf.Compute(context.Background(), chain, testSpec, epoch, []perf.Validator{{Index: 7, Pubkey: pubkey(7)}})
			require.NoError(t, err)
			require.Equal(t, epoch, rep.Epoch)
			require.Len(t, rep.Validators, 1)
			require.Equal(t, pubkey(7), rep.Validators[0].Pubkey)
			tc.check(t, rep.Validators[0], rep)
		})
	}
}

func TestComputeNotReady(t *testing.T) {
	s := perfect(7)
	s.withoutRewards = true
	_, err := perf.Compute(context.Background(), s.build(), testSpec, epoch, []perf.Validator{{Index: 7, Pubkey: pubkey(7)}})
	require.ErrorIs(t, err, perf.ErrNotReady)
}

func TestComputeNoValidators(t *testing.T) {
	rep, err := perf.Compute(context.Background(), perftest.NewChain(), testSpec, epoch, nil)
	require.NoError(t, err)
	require.Empty(t, rep.Validators)
}
