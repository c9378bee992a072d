package duties

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"log/slog"
	"sync"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// syncMember is one of our validators in the sync committee for a slot.
type syncMember struct {
	pubkey        phase0.BLSPubKey
	index         phase0.ValidatorIndex
	subcommittees []uint64
}

// syncMembersAt returns our sync committee members for messages at slot.
// The committee that signs at slot is the one of slot+1's period: its
// messages are verified by the block at slot+1 (altair beacon-chain,
// process_sync_aggregate), so the last slot of a period belongs to the next
// committee.
func (s *Service) syncMembersAt(slot phase0.Slot) []syncMember {
	epoch := s.clock.EpochOf(slot + 1)
	if !s.params.isAltair(epoch) {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.sync[s.params.syncPeriod(epoch)]
	if p == nil {
		return nil
	}
	var out []syncMember
	for _, d := range p.duties {
		v, ok := s.canSignLocked(d.ValidatorIndex)
		if !ok {
			continue
		}
		m := syncMember{pubkey: v.pubkey, index: d.ValidatorIndex}
		seen := map[uint64]bool{}
		for _, ci := range d.ValidatorSyncCommitteeIndices {
			sub := uint64(ci) / s.params.subcommitteeSize()
			if !seen[sub] {
				seen[sub] = true
				m.subcommittees = append(m.subcommittees, sub)
			}
		}
		out = append(out, m)
	}
	return out
}

// isSyncCommitteeAggregator is is_sync_committee_aggregator (altair validator
// guide, "Aggregation selection").
func (p *chainParams) isSyncCommitteeAggregator(proof phase0.BLSSignature) bool {
	modulo := max(1, p.syncCommitteeSize/p.syncCommitteeSubnetCount/p.targetAggregatorsPerSyncSubcommittee)
	h := sha256.Sum256(proof[:])
	return binary.LittleEndian.Uint64(h[:8])%modulo == 0
}

// syncCommitteeDuties signs the head block root at 1/3 of the slot (or at the
// slot's head block) and, at 2/3, the contributions of the subcommittees we
// aggregate for (altair validator guide, "Sync committee").
func (s *Service) syncCommitteeDuties(ctx context.Context, slot phase0.Slot) {
	members := s.syncMembersAt(slot)
	if len(members) == 0 {
		return
	}
	s.obs.Scheduled(KindSyncCommitteeMessage, slot, len(members))

	// Selection proofs do not depend on the head: sign them while waiting.
	type candidate struct {
		member phase0.ValidatorIndex
		pubkey phase0.BLSPubKey
		sub    uint64
		proof  phase0.BLSSignature
	}
	var aggMu sync.Mutex
	var aggregators []candidate
	var proofsDone sync.WaitGroup
	proofsDone.Go(func() {
		for _, m := range members {
			for _, sub := range m.subcommittees {
				proof, err := s.signer.SignSyncCommitteeSelectionProof(ctx, m.pubkey, slot, sub)
				if err != nil {
					s.log.Warn("Failed to sign sync committee selection proof", slog.Uint64("slot", uint64(slot)),
						slog.Uint64("validator_index", uint64(m.index)), slog.Any("error", err))
					continue
				}
				if s.params.isSyncCommitteeAggregator(proof) {
					aggMu.Lock()
					aggregators = append(aggregators, candidate{m.index, m.pubkey, sub, proof})
					aggMu.Unlock()
				}
			}
		}
	})
	defer proofsDone.Wait()

	if !s.waitFor(ctx, s.clock.SlotFraction(slot, 1, 3), s.heads.wait(slot)) {
		s.obs.Failed(KindSyncCommitteeMessage, slot, len(members), ctx.Err())
		return
	}
	resp, err := s.node.BeaconBlockRoot(ctx, &api.BeaconBlockRootOpts{Block: "head"})
	if err != nil || resp == nil || resp.Data == nil {
		if err == nil {
			err = errors.New("empty beacon block root")
		}
		s.log.Warn("Failed to obtain head block root for sync committee", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		s.obs.Failed(KindSyncCommitteeMessage, slot, len(members), err)
		return
	}
	root := *resp.Data
	msgs := make([]*altair.SyncCommitteeMessage, 0, len(members))
	for _, m := range members {
		sig, err := s.signer.SignSyncCommitteeMessage(ctx, m.pubkey, slot, root)
		if err != nil {
			s.log.Warn("Failed to sign sync committee message", slog.Uint64("slot", uint64(slot)),
				slog.Uint64("validator_index", uint64(m.index)), slog.Any("error", err))
			s.obs.Failed(KindSyncCommitteeMessage, slot, 1, err)
			continue
		}
		msgs = append(msgs, &altair.SyncCommitteeMessage{Slot: slot, BeaconBlockRoot: root, ValidatorIndex: m.index, Signature: sig})
	}
	if len(msgs) > 0 {
		if err := s.node.SubmitSyncCommitteeMessages(ctx, msgs); err != nil {
			s.log.Error("Failed to submit sync committee messages", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
			s.obs.Failed(KindSyncCommitteeMessage, slot, len(msgs), err)
		} else {
			s.obs.Performed(KindSyncCommitteeMessage, slot, len(msgs), s.sinceSlotStart(slot))
		}
	}

	proofsDone.Wait()
	if len(aggregators) == 0 {
		return
	}
	s.obs.Scheduled(KindSyncCommitteeContribution, slot, len(aggregators))
	if !s.waitFor(ctx, s.clock.SlotFraction(slot, 2, 3), nil) {
		s.obs.Failed(KindSyncCommitteeContribution, slot, len(aggregators), ctx.Err())
		return
	}
	contributions := map[uint64]*altair.SyncCommitteeContribution{}
	var out []*altair.SignedContributionAndProof
	for _, a := range aggregators {
		c, ok := contributions[a.sub]
		if !ok {
			resp, err := s.node.SyncCommitteeContribution(ctx, &api.SyncCommitteeContributionOpts{Slot: slot, SubcommitteeIndex: a.sub, BeaconBlockRoot: root})
			if err == nil && (resp == nil || resp.Data == nil || resp.Data.Slot != slot || resp.Data.SubcommitteeIndex != a.sub || resp.Data.BeaconBlockRoot != root) {
				err = errors.New("contribution is empty or for another slot, subcommittee or root")
			}
			if err != nil {
				s.log.Warn("Failed to obtain sync committee contribution", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("subcommittee_index", a.sub), slog.Any("error", err))
				contributions[a.sub] = nil
				s.obs.Failed(KindSyncCommitteeContribution, slot, 1, err)
				continue
			}
			c = resp.Data
			contributions[a.sub] = c
		}
		if c == nil {
			continue
		}
		cp := &altair.ContributionAndProof{AggregatorIndex: a.member, Contribution: c, SelectionProof: a.proof}
		sig, err := s.signer.SignContributionAndProof(ctx, a.pubkey, cp)
		if err != nil {
			s.obs.Failed(KindSyncCommitteeContribution, slot, 1, err)
			continue
		}
		out = append(out, &altair.SignedContributionAndProof{Message: cp, Signature: sig})
	}
	if len(out) == 0 {
		return
	}
	if err := s.node.SubmitSyncCommitteeContributions(ctx, out); err != nil {
		s.log.Error("Failed to submit sync committee contributions", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		s.obs.Failed(KindSyncCommitteeContribution, slot, len(out), err)
		return
	}
	s.obs.Performed(KindSyncCommitteeContribution, slot, len(out), s.sinceSlotStart(slot))
}

// subscribeSyncCommittees asks the node to join our validators' sync
// committee subnets for the current and next period, once per period.
func (s *Service) subscribeSyncCommittees(ctx context.Context, epoch phase0.Epoch) {
	period := s.params.syncPeriod(epoch)
	for _, p := range []uint64{period, period + 1} {
		s.mu.Lock()
		sp := s.sync[p]
		if sp == nil || sp.subscribed || len(sp.duties) == 0 {
			s.mu.Unlock()
			continue
		}
		sp.subscribed = true
		duties := sp.duties
		s.mu.Unlock()
		until := phase0.Epoch((p + 1) * s.params.epochsPerSyncCommitteePeriod)
		subs := make([]*apiv1.SyncCommitteeSubscription, 0, len(duties))
		for _, d := range duties {
			subs = append(subs, &apiv1.SyncCommitteeSubscription{ValidatorIndex: d.ValidatorIndex, SyncCommitteeIndices: d.ValidatorSyncCommitteeIndices, UntilEpoch: until})
		}
		slot := s.clock.FirstSlot(epoch)
		if err := s.node.SubmitSyncCommitteeSubscriptions(ctx, subs); err != nil {
			s.log.Warn("Failed to submit sync committee subscriptions", slog.Uint64("period", p), slog.Any("error", err))
			s.obs.Failed(KindSyncCommitteeSubscription, slot, len(subs), err)
			s.mu.Lock()
			sp.subscribed = false
			s.mu.Unlock()
			continue
		}
		s.obs.Performed(KindSyncCommitteeSubscription, slot, len(subs), s.sinceSlotStart(slot))
	}
}
