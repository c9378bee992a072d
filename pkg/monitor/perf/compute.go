package perf

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
)

// Participation flag weights (consensus-specs altair/beacon-chain.md,
// PARTICIPATION_FLAG_WEIGHTS), for effectiveness in epochs without ideal
// rewards.
const (
	weightSource = 14
	weightTarget = 26
	weightHead   = 14
)

// EpochReport is the performance of a set of validators in one finished epoch.
type EpochReport struct {
	Epoch phase0.Epoch
	// Leak is set when the ideal attestation rewards were zero: an
	// inactivity leak, in which correct votes earn nothing.
	Leak bool
	// Validators are in ascending index order.
	Validators []ValidatorReport
}

// ValidatorReport is one validator's performance in one epoch.
type ValidatorReport struct {
	Index  phase0.ValidatorIndex
	Pubkey phase0.BLSPubKey
	// Status is the validator's state at the end of the epoch.
	Status      apiv1.ValidatorState
	Attestation Attestation
	Proposals   []Proposal
	// SyncIncluded and SyncMissed count the slots of the epoch in which the
	// validator was in the sync committee and the next slot had a block.
	SyncIncluded, SyncMissed int
	// Balance is the balance at the end of the epoch; BalanceChange is that
	// minus the balance at its start.
	Balance       phase0.Gwei
	BalanceChange int64
	// EffectiveBalance is the effective balance at the end of the epoch,
	// which the epoch's rewards are proportional to.
	EffectiveBalance phase0.Gwei
}

// Attestation is the fate of a validator's attestation duty in an epoch.
type Attestation struct {
	// Duty is set when the validator had to attest in the epoch; the other
	// fields are meaningful only then.
	Duty bool
	Slot phase0.Slot
	// Included is set when a canonical block carried the attestation.
	Included bool
	// InclusionDelay is the including block's slot minus the attestation's
	// slot; 0 when not included (or included in a block that was not read).
	InclusionDelay uint64
	// Head, Target and Source are set when the chain credited the vote (see
	// the package doc).
	Head, Target, Source bool
	// The rewards of each vote in Gwei as the beacon node reports them;
	// InactivityPenalty is positive when charged.
	HeadReward, TargetReward, SourceReward, InactivityPenalty int64
	// Reward is head + target + source − inactivity penalty.
	Reward int64
	// IdealReward is what a perfect validator of the same effective balance
	// earned for head, target and source.
	IdealReward int64
	// Effectiveness is this epoch's score (see the package doc), at most 1.
	Effectiveness float64
}

// Proposal is one proposer duty.
type Proposal struct {
	Slot     phase0.Slot
	Proposed bool
}

// Compute evaluates the validators' performance in a finished epoch from the
// beacon node's rewards, duties, blocks and balances. It fails with an error
// matching ErrNotReady when the beacon node cannot serve the epoch yet.
func Compute(ctx context.Context, node Node, spec *chain.Spec, epoch phase0.Epoch, vals []Validator) (*EpochReport, error) {
	if err := checkTiming(spec); err != nil {
		return nil, err
	}
	return compute(ctx, node, spec, epoch, vals, func(ctx context.Context, slot phase0.Slot) (*block, error) {
		return fetchBlock(ctx, node, slot)
	})
}

// voter is what the block scan needs of one validator's attester duty.
type voter struct {
	report   *ValidatorReport
	duty     *apiv1.AttesterDuty
	included *block
	vote     *phase0.AttestationData
}

func compute(ctx context.Context, node Node, spec *chain.Spec, epoch phase0.Epoch, vals []Validator, blocks blockSource) (*EpochReport, error) {
	report := &EpochReport{Epoch: epoch}
	if len(vals) == 0 {
		return report, nil
	}
	vals = slices.Clone(vals)
	slices.SortFunc(vals, func(a, b Validator) int { return compareIndex(a.Index, b.Index) })
	vals = slices.CompactFunc(vals, func(a, b Validator) bool { return a.Index == b.Index })
	indices := make([]phase0.ValidatorIndex, len(vals))
	report.Validators = make([]ValidatorReport, len(vals))
	byIndex := make(map[phase0.ValidatorIndex]*ValidatorReport, len(vals))
	for i, v := range vals {
		indices[i] = v.Index
		report.Validators[i] = ValidatorReport{Index: v.Index, Pubkey: v.Pubkey}
		byIndex[v.Index] = &report.Validators[i]
	}

	// Rewards first: they are the last thing the beacon node can serve, so
	// an epoch that is not ready costs one request.
	rewards, err := node.AttestationRewards(ctx, &api.AttestationRewardsOpts{Epoch: epoch, Indices: indices})
	if err != nil {
		return nil, notReady(fmt.Sprintf("attestation rewards of epoch %d", epoch), err)
	}
	if rewards == nil || rewards.Data == nil {
		return nil, fmt.Errorf("attestation rewards of epoch %d: empty answer", epoch)
	}
	if err := addBalances(ctx, node, spec, epoch, indices, byIndex); err != nil {
		return nil, err
	}
	voters, err := attesterDuties(ctx, node, epoch, indices, byIndex)
	if err != nil {
		return nil, err
	}

	first, last := spec.FirstSlot(epoch), spec.FirstSlot(epoch+2)-1
	chain := make(map[phase0.Slot]*block, last-first+1)
	for slot := first; slot <= last; slot++ {
		b, err := blocks(ctx, slot)
		if err != nil {
			return nil, err
		}
		chain[slot] = b
	}
	committees := &committeeLengths{node: node, spec: spec, epoch: epoch}
	if err := findInclusions(ctx, spec, epoch, chain, voters, committees); err != nil {
		return nil, err
	}
	report.Leak = applyRewards(rewards.Data, voters, byIndex)
	if err := addProposals(ctx, node, epoch, chain, byIndex); err != nil {
		return nil, err
	}
	if err := addSync(ctx, node, spec, epoch, indices, chain, byIndex); err != nil {
		return nil, err
	}
	return report, nil
}

func compareIndex(a, b phase0.ValidatorIndex) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// addBalances reads the balances at the start and end of the epoch and the
// status at its end.
func addBalances(ctx context.Context, node Node, spec *chain.Spec, epoch phase0.Epoch, indices []phase0.ValidatorIndex,
	byIndex map[phase0.ValidatorIndex]*ValidatorReport,
) error {
	read := func(slot phase0.Slot) (map[phase0.ValidatorIndex]*apiv1.Validator, error) {
		resp, err := node.Validators(ctx, &api.ValidatorsOpts{State: strconv.FormatUint(uint64(slot), 10), Indices: indices})
		if err != nil {
			return nil, notReady(fmt.Sprintf("validators at slot %d", slot), err)
		}
		if resp == nil {
			return nil, fmt.Errorf("validators at slot %d: empty answer", slot)
		}
		return resp.Data, nil
	}
	start, err := read(spec.FirstSlot(epoch))
	if err != nil {
		return err
	}
	end, err := read(spec.FirstSlot(epoch + 1))
	if err != nil {
		return err
	}
	for idx, r := range byIndex {
		e, ok := end[idx]
		if !ok || e == nil {
			continue
		}
		r.Status = e.Status
		r.Balance = e.Balance
		if e.Validator != nil {
			r.EffectiveBalance = e.Validator.EffectiveBalance
		}
		if s, ok := start[idx]; ok && s != nil {
			r.BalanceChange = int64(e.Balance) - int64(s.Balance)
		}
	}
	return nil
}

func attesterDuties(ctx context.Context, node Node, epoch phase0.Epoch, indices []phase0.ValidatorIndex,
	byIndex map[phase0.ValidatorIndex]*ValidatorReport,
) (map[phase0.ValidatorIndex]*voter, error) {
	resp, err := node.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: epoch, Indices: indices})
	if err != nil {
		return nil, notReady(fmt.Sprintf("attester duties of epoch %d", epoch), err)
	}
	voters := make(map[phase0.ValidatorIndex]*voter)
	if resp == nil {
		return voters, nil
	}
	for _, d := range resp.Data {
		r, ok := byIndex[d.ValidatorIndex]
		if !ok || d == nil {
			continue
		}
		r.Attestation.Duty = true
		r.Attestation.Slot = d.Slot
		voters[d.ValidatorIndex] = &voter{report: r, duty: d}
	}
	return voters, nil
}

// committeeLengths reads the sizes of an epoch's committees, once and only
// when an Electra attestation spans committees the duties do not describe.
type committeeLengths struct {
	node  Node
	spec  *chain.Spec
	epoch phase0.Epoch

	lengths map[committeeKey]int
}

type committeeKey struct {
	slot  phase0.Slot
	index phase0.CommitteeIndex
}

func (c *committeeLengths) get(ctx context.Context, slot phase0.Slot, index phase0.CommitteeIndex) (int, error) {
	if c.lengths == nil {
		epoch := c.epoch
		resp, err := c.node.BeaconCommittees(ctx, &api.BeaconCommitteesOpts{
			State: strconv.FormatUint(uint64(c.spec.FirstSlot(epoch)), 10),
			Epoch: &epoch,
		})
		if err != nil {
			return 0, notReady(fmt.Sprintf("beacon committees of epoch %d", epoch), err)
		}
		c.lengths = make(map[committeeKey]int)
		if resp != nil {
			for _, bc := range resp.Data {
				c.lengths[committeeKey{bc.Slot, bc.Index}] = len(bc.Validators)
			}
		}
	}
	n, ok := c.lengths[committeeKey{slot, index}]
	if !ok {
		return 0, fmt.Errorf("beacon node lists no committee %d at slot %d", index, slot)
	}
	return n, nil
}

// findInclusions scans the blocks after each duty slot, up to the end of the
// next epoch (EIP-7045), for the first attestation covering the validator.
func findInclusions(ctx context.Context, spec *chain.Spec, epoch phase0.Epoch, chain map[phase0.Slot]*block,
	voters map[phase0.ValidatorIndex]*voter, committees *committeeLengths,
) error {
	// Voters by slot and committee, with their own committee's length
	// known from the duty.
	type member struct {
		v        *voter
		position uint64
	}
	bySlot := make(map[committeeKey][]member)
	for _, v := range voters {
		k := committeeKey{v.duty.Slot, v.duty.CommitteeIndex}
		bySlot[k] = append(bySlot[k], member{v: v, position: v.duty.ValidatorCommitteeIndex})
	}
	dutyLength := func(k committeeKey) (int, bool) {
		ms := bySlot[k]
		if len(ms) == 0 {
			return 0, false
		}
		return int(ms[0].v.duty.CommitteeLength), true
	}

	first, last := spec.FirstSlot(epoch)+1, spec.FirstSlot(epoch+2)-1
	for slot := first; slot <= last; slot++ {
		b := chain[slot]
		if b == nil {
			continue
		}
		for _, a := range b.atts {
			if a.data == nil || a.data.Slot >= b.slot || spec.EpochAtSlot(a.data.Slot) != epoch {
				continue
			}
			if a.committees == nil {
				k := committeeKey{a.data.Slot, a.data.Index}
				for _, m := range bySlot[k] {
					if m.v.included == nil && m.position < a.bits.Len() && a.bits.BitAt(m.position) {
						m.v.included, m.v.vote = b, a.data
					}
				}
				continue
			}
			// Electra (EIP-7549): the aggregation bits are the members of
			// the committees set in committee_bits, in committee order.
			offset := uint64(0)
			for _, ci := range a.committees.BitIndices() {
				k := committeeKey{a.data.Slot, phase0.CommitteeIndex(ci)}
				size, ok := dutyLength(k)
				if !ok {
					n, err := committees.get(ctx, a.data.Slot, k.index)
					if err != nil {
						return err
					}
					size = n
				}
				for _, m := range bySlot[k] {
					pos := offset + m.position
					if m.v.included == nil && pos < a.bits.Len() && a.bits.BitAt(pos) {
						m.v.included, m.v.vote = b, a.data
					}
				}
				offset += uint64(size)
			}
		}
	}
	for _, v := range voters {
		if v.included != nil {
			v.report.Attestation.Included = true
			v.report.Attestation.InclusionDelay = uint64(v.included.slot - v.duty.Slot)
		}
	}
	return nil
}

// applyRewards turns the rewards into vote correctness (see the package doc)
// and reports whether the epoch's ideal rewards were zero.
func applyRewards(rw *apiv1.AttestationRewards, voters map[phase0.ValidatorIndex]*voter,
	byIndex map[phase0.ValidatorIndex]*ValidatorReport,
) bool {
	var ref *apiv1.IdealAttestationRewards
	for i := range rw.IdealRewards {
		if ref == nil || rw.IdealRewards[i].EffectiveBalance > ref.EffectiveBalance {
			ref = &rw.IdealRewards[i]
		}
	}
	leak := ref == nil || (ref.Head == 0 && ref.Target == 0 && ref.Source == 0)
	for _, t := range rw.TotalRewards {
		r, ok := byIndex[t.ValidatorIndex]
		if !ok || !r.Attestation.Duty {
			continue
		}
		a := &r.Attestation
		a.HeadReward, a.TargetReward, a.SourceReward = int64(t.Head), t.Target, t.Source
		a.InactivityPenalty = int64(t.Inactivity)
		a.Reward = a.HeadReward + a.TargetReward + a.SourceReward - a.InactivityPenalty
		a.Source = t.Source >= 0
		a.Target = t.Target >= 0
		ideal := idealFor(rw.IdealRewards, ref, r.EffectiveBalance)
		a.IdealReward = ideal
		if !leak && ideal > 0 {
			a.Head = t.Head > 0
			a.Effectiveness = min(float64(a.HeadReward+a.TargetReward+a.SourceReward)/float64(ideal), 1)
		} else {
			v := voters[t.ValidatorIndex]
			a.Head = a.Target && a.Source && v != nil && v.included != nil && a.InclusionDelay == 1 &&
				v.vote.BeaconBlockRoot == v.included.parentRoot
			a.Effectiveness = flagScore(a.Source, a.Target, a.Head)
		}
		if !a.Included && (a.Source || a.Target) {
			// Credited but not found in the blocks read: included, delay
			// unknown.
			a.Included = true
		}
	}
	return leak
}

// idealFor returns the ideal head+target+source reward for an effective
// balance: the matching entry, or the reference entry scaled, since every
// flag reward is proportional to the effective balance's increments.
func idealFor(ideals []apiv1.IdealAttestationRewards, ref *apiv1.IdealAttestationRewards, eb phase0.Gwei) int64 {
	if ref == nil || ref.EffectiveBalance == 0 {
		return 0
	}
	for _, i := range ideals {
		if i.EffectiveBalance == eb {
			return int64(i.Head + i.Target + i.Source)
		}
	}
	total := ref.Head + ref.Target + ref.Source
	if eb > ref.EffectiveBalance {
		eb = ref.EffectiveBalance
	}
	return int64(uint64(total) * uint64(eb) / uint64(ref.EffectiveBalance))
}

func flagScore(source, target, head bool) float64 {
	score := 0
	if source {
		score += weightSource
	} else {
		score -= weightSource
	}
	if target {
		score += weightTarget
	} else {
		score -= weightTarget
	}
	if head {
		score += weightHead
	}
	return float64(score) / float64(weightSource+weightTarget+weightHead)
}

// addProposals compares the epoch's proposer duties with its blocks.
func addProposals(ctx context.Context, node Node, epoch phase0.Epoch, chain map[phase0.Slot]*block,
	byIndex map[phase0.ValidatorIndex]*ValidatorReport,
) error {
	resp, err := node.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: epoch})
	if err != nil {
		return notReady(fmt.Sprintf("proposer duties of epoch %d", epoch), err)
	}
	if resp == nil {
		return nil
	}
	for _, d := range resp.Data {
		if d == nil {
			continue
		}
		r, ok := byIndex[d.ValidatorIndex]
		if !ok {
			continue
		}
		b := chain[d.Slot]
		r.Proposals = append(r.Proposals, Proposal{Slot: d.Slot, Proposed: b != nil && b.proposer == d.ValidatorIndex})
	}
	return nil
}

// addSync counts the sync committee messages of the epoch's slots: slot s's
// messages are signed by the committee of epoch(s+1) and carried by the
// block at s+1.
func addSync(ctx context.Context, node Node, spec *chain.Spec, epoch phase0.Epoch, indices []phase0.ValidatorIndex,
	chain map[phase0.Slot]*block, byIndex map[phase0.ValidatorIndex]*ValidatorReport,
) error {
	positions := make(map[phase0.Epoch]map[phase0.ValidatorIndex][]phase0.CommitteeIndex, 2)
	for _, e := range []phase0.Epoch{epoch, epoch + 1} {
		resp, err := node.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: e, Indices: indices})
		if err != nil {
			return notReady(fmt.Sprintf("sync committee duties of epoch %d", e), err)
		}
		positions[e] = make(map[phase0.ValidatorIndex][]phase0.CommitteeIndex)
		if resp == nil {
			continue
		}
		for _, d := range resp.Data {
			if d != nil {
				positions[e][d.ValidatorIndex] = d.ValidatorSyncCommitteeIndices
			}
		}
	}
	first := spec.FirstSlot(epoch)
	for slot := first; slot < spec.FirstSlot(epoch+1); slot++ {
		b := chain[slot+1]
		if b == nil || b.syncBits == nil {
			continue
		}
		for idx, pos := range positions[spec.EpochAtSlot(slot+1)] {
			r, ok := byIndex[idx]
			if !ok || len(pos) == 0 {
				continue
			}
			if slices.ContainsFunc(pos, func(p phase0.CommitteeIndex) bool {
				return uint64(p) < b.syncBits.Len() && b.syncBits.BitAt(uint64(p))
			}) {
				r.SyncIncluded++
			} else {
				r.SyncMissed++
			}
		}
	}
	return nil
}
