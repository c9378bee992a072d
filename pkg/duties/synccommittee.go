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
	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/altair"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/signer"
)

// syncCommittee performs the sync committee duties (altair validator guide,
// "Sync committee"): it keeps the duties of the current and next period,
// subscribes the node to their subnets, signs the head block root each slot
// and publishes the contributions of the subcommittees we aggregate for.
type syncCommittee struct {
	common
	node   syncCommitteeClient
	signer syncCommitteeSigner
	heads  *headTracker

	mu      sync.Mutex
	periods map[uint64]*syncPeriod
	// generation counts invalidations (see attester.generation).
	generation uint64
}

// syncPeriod is one sync committee period's duties for our validators.
type syncPeriod struct {
	duties     []*apiv1.SyncCommitteeDuty
	subscribed bool
}

// syncMember is one of our validators in the sync committee for a slot.
type syncMember struct {
	pubkey        phase0.BLSPubKey
	index         phase0.ValidatorIndex
	subcommittees []uint64
}

// needs reports whether the duties of epoch's period and of the next one are
// missing (a period before Altair has none), and the first epoch of the next
// period.
func (c *syncCommittee) needs(epoch phase0.Epoch) (now, next bool, nextEpoch phase0.Epoch) {
	sp := c.spec()
	period := sp.SyncPeriod(epoch)
	nextEpoch = phase0.Epoch((period + 1) * sp.EpochsPerSyncCommitteePeriod)
	c.mu.Lock()
	defer c.mu.Unlock()
	now = sp.AtLeast(spec.DataVersionAltair, epoch) && c.periods[period] == nil
	next = sp.AtLeast(spec.DataVersionAltair, nextEpoch) && c.periods[period+1] == nil
	return now, next, nextEpoch
}

// forget drops the duties of periods before epoch's previous one.
func (c *syncCommittee) forget(epoch phase0.Epoch) {
	period := c.spec().SyncPeriod(epoch)
	c.mu.Lock()
	defer c.mu.Unlock()
	for p := range c.periods {
		if p+1 < period {
			delete(c.periods, p)
		}
	}
}

// invalidate drops every period's duties, after the validator set changed.
func (c *syncCommittee) invalidate() {
	c.mu.Lock()
	c.generation++
	clear(c.periods)
	c.mu.Unlock()
}

// fetch reads the duties of the period that contains epoch.
func (c *syncCommittee) fetch(ctx context.Context, epoch phase0.Epoch) {
	period := c.spec().SyncPeriod(epoch)
	c.mu.Lock()
	gen := c.generation
	c.mu.Unlock()
	indices := c.roster.activeIndices(epoch)
	entry := &syncPeriod{}
	if len(indices) > 0 {
		resp, err := c.node.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil || resp == nil {
			c.log.Warn("Failed to fetch sync committee duties", slog.Uint64("period", period), slog.Any("error", err))
			return
		}
		for _, d := range resp.Data {
			if c.roster.owns(d.ValidatorIndex, d.PubKey) && len(d.ValidatorSyncCommitteeIndices) > 0 {
				entry.duties = append(entry.duties, d)
			}
		}
	}
	c.mu.Lock()
	if c.generation == gen {
		// An answer for a validator set that changed meanwhile is dropped;
		// the next slot fetches again.
		c.periods[period] = entry
	}
	c.mu.Unlock()
	if len(entry.duties) > 0 {
		c.log.Info("Sync committee duties", slog.Uint64("period", period), slog.Int("validators", len(entry.duties)))
	}
}

// membersAt returns our sync committee members for messages at slot.
// The committee that signs at slot is the one of slot+1's period: its
// messages are verified by the block at slot+1 (altair beacon-chain,
// process_sync_aggregate), so the last slot of a period belongs to the next
// committee.
func (c *syncCommittee) membersAt(slot phase0.Slot) []syncMember {
	sp := c.spec()
	epoch := c.clock.EpochOf(slot + 1)
	if !sp.AtLeast(spec.DataVersionAltair, epoch) {
		return nil
	}
	c.mu.Lock()
	p := c.periods[sp.SyncPeriod(epoch)]
	var duties []*apiv1.SyncCommitteeDuty
	if p != nil {
		duties = p.duties
	}
	c.mu.Unlock()
	var out []syncMember
	for _, d := range duties {
		pk, ok := c.roster.signer(d.ValidatorIndex)
		if !ok {
			continue
		}
		m := syncMember{pubkey: pk, index: d.ValidatorIndex}
		seen := map[uint64]bool{}
		for _, ci := range d.ValidatorSyncCommitteeIndices {
			sub := uint64(ci) / sp.SyncSubcommitteeSize()
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
func isSyncCommitteeAggregator(sp *chain.Spec, proof phase0.BLSSignature) bool {
	modulo := max(1, sp.SyncCommitteeSize/sp.SyncCommitteeSubnetCount/sp.TargetAggregatorsPerSyncSubcommittee)
	h := sha256.Sum256(proof[:])
	return binary.LittleEndian.Uint64(h[:8])%modulo == 0
}

// syncCandidate is a member selected to aggregate for a subcommittee.
type syncCandidate struct {
	member phase0.ValidatorIndex
	pubkey phase0.BLSPubKey
	sub    uint64
	proof  phase0.BLSSignature
}

// run signs the head block root at 1/3 of the slot (or at the slot's head
// block) and, at 2/3, the contributions of the subcommittees we aggregate for.
func (c *syncCommittee) run(ctx context.Context, slot phase0.Slot) {
	members := c.membersAt(slot)
	if len(members) == 0 {
		return
	}
	c.obs.Scheduled(signer.KindSyncCommitteeMessage, slot, len(members))

	// Selection proofs do not depend on the head: sign them while waiting.
	var aggregators []syncCandidate
	var proofsDone sync.WaitGroup
	proofsDone.Go(func() { aggregators = c.selectAggregators(ctx, slot, members) })
	defer proofsDone.Wait()

	if !c.waitFor(ctx, c.clock.SlotFraction(slot, 1, 3), c.heads.wait(slot)) {
		c.obs.Failed(signer.KindSyncCommitteeMessage, slot, len(members), ctx.Err())
		return
	}
	resp, err := c.node.BeaconBlockRoot(ctx, &api.BeaconBlockRootOpts{Block: "head"})
	if err != nil || resp == nil || resp.Data == nil {
		if err == nil {
			err = errors.New("empty beacon block root")
		}
		c.log.Warn("Failed to obtain head block root for sync committee", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		c.obs.Failed(signer.KindSyncCommitteeMessage, slot, len(members), err)
		return
	}
	root := *resp.Data
	c.sendMessages(ctx, slot, root, members)

	proofsDone.Wait()
	if len(aggregators) == 0 {
		return
	}
	c.contribute(ctx, slot, root, aggregators)
}

// selectAggregators signs the selection proofs of every member's
// subcommittees and returns those that select it to aggregate.
func (c *syncCommittee) selectAggregators(ctx context.Context, slot phase0.Slot, members []syncMember) []syncCandidate {
	sp := c.spec()
	var out []syncCandidate
	for _, m := range members {
		for _, sub := range m.subcommittees {
			proof, err := c.signer.SignSyncCommitteeSelectionProof(ctx, m.pubkey, slot, sub)
			if err != nil {
				c.log.Warn("Failed to sign sync committee selection proof", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("validator_index", uint64(m.index)), slog.Any("error", err))
				continue
			}
			if isSyncCommitteeAggregator(sp, proof) {
				out = append(out, syncCandidate{m.index, m.pubkey, sub, proof})
			}
		}
	}
	return out
}

// sendMessages signs and submits every member's sync committee message for root.
func (c *syncCommittee) sendMessages(ctx context.Context, slot phase0.Slot, root phase0.Root, members []syncMember) {
	const kind = signer.KindSyncCommitteeMessage
	msgs := make([]*altair.SyncCommitteeMessage, 0, len(members))
	for _, m := range members {
		sig, err := c.signer.SignSyncCommitteeMessage(ctx, m.pubkey, slot, root)
		if err != nil {
			c.log.Warn("Failed to sign sync committee message", slog.Uint64("slot", uint64(slot)),
				slog.Uint64("validator_index", uint64(m.index)), slog.Any("error", err))
			c.obs.Failed(kind, slot, 1, err)
			continue
		}
		msgs = append(msgs, &altair.SyncCommitteeMessage{Slot: slot, BeaconBlockRoot: root, ValidatorIndex: m.index, Signature: sig})
	}
	if len(msgs) == 0 {
		return
	}
	if err := c.node.SubmitSyncCommitteeMessages(ctx, msgs); err != nil {
		c.log.Error("Failed to submit sync committee messages", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		c.obs.Failed(kind, slot, len(msgs), err)
		return
	}
	c.obs.Performed(kind, slot, len(msgs), c.sinceSlotStart(slot))
}

// contribute publishes, at 2/3 of the slot, the contribution-and-proofs of
// the aggregators, one contribution fetch per subcommittee.
func (c *syncCommittee) contribute(ctx context.Context, slot phase0.Slot, root phase0.Root, aggregators []syncCandidate) {
	const kind = signer.KindContributionAndProof
	c.obs.Scheduled(kind, slot, len(aggregators))
	if !c.waitFor(ctx, c.clock.SlotFraction(slot, 2, 3), nil) {
		c.obs.Failed(kind, slot, len(aggregators), ctx.Err())
		return
	}
	contributions := map[uint64]*altair.SyncCommitteeContribution{}
	var out []*altair.SignedContributionAndProof
	for _, a := range aggregators {
		cb, ok := contributions[a.sub]
		if !ok {
			resp, err := c.node.SyncCommitteeContribution(ctx, &api.SyncCommitteeContributionOpts{Slot: slot, SubcommitteeIndex: a.sub, BeaconBlockRoot: root})
			if err == nil && (resp == nil || resp.Data == nil || resp.Data.Slot != slot || resp.Data.SubcommitteeIndex != a.sub || resp.Data.BeaconBlockRoot != root) {
				err = errors.New("contribution is empty or for another slot, subcommittee or root")
			}
			if err != nil {
				c.log.Warn("Failed to obtain sync committee contribution", slog.Uint64("slot", uint64(slot)),
					slog.Uint64("subcommittee_index", a.sub), slog.Any("error", err))
				contributions[a.sub] = nil
				c.obs.Failed(kind, slot, 1, err)
				continue
			}
			cb = resp.Data
			contributions[a.sub] = cb
		}
		if cb == nil {
			continue
		}
		cp := &altair.ContributionAndProof{AggregatorIndex: a.member, Contribution: cb, SelectionProof: a.proof}
		sig, err := c.signer.SignContributionAndProof(ctx, a.pubkey, cp)
		if err != nil {
			c.obs.Failed(kind, slot, 1, err)
			continue
		}
		out = append(out, &altair.SignedContributionAndProof{Message: cp, Signature: sig})
	}
	if len(out) == 0 {
		return
	}
	if err := c.node.SubmitSyncCommitteeContributions(ctx, out); err != nil {
		c.log.Error("Failed to submit sync committee contributions", slog.Uint64("slot", uint64(slot)), slog.Any("error", err))
		c.obs.Failed(kind, slot, len(out), err)
		return
	}
	c.obs.Performed(kind, slot, len(out), c.sinceSlotStart(slot))
}

// subscribe asks the node to join our validators' sync committee subnets for
// the current and next period, once per period.
func (c *syncCommittee) subscribe(ctx context.Context, epoch phase0.Epoch) {
	const kind = signer.KindSyncCommitteeSubscription
	sp := c.spec()
	period := sp.SyncPeriod(epoch)
	for _, p := range []uint64{period, period + 1} {
		c.mu.Lock()
		entry := c.periods[p]
		if entry == nil || entry.subscribed || len(entry.duties) == 0 {
			c.mu.Unlock()
			continue
		}
		entry.subscribed = true
		duties := entry.duties
		c.mu.Unlock()
		until := phase0.Epoch((p + 1) * sp.EpochsPerSyncCommitteePeriod)
		subs := make([]*apiv1.SyncCommitteeSubscription, 0, len(duties))
		for _, d := range duties {
			subs = append(subs, &apiv1.SyncCommitteeSubscription{ValidatorIndex: d.ValidatorIndex, SyncCommitteeIndices: d.ValidatorSyncCommitteeIndices, UntilEpoch: until})
		}
		slot := c.clock.FirstSlot(epoch)
		if err := c.node.SubmitSyncCommitteeSubscriptions(ctx, subs); err != nil {
			c.log.Warn("Failed to submit sync committee subscriptions", slog.Uint64("period", p), slog.Any("error", err))
			c.obs.Failed(kind, slot, len(subs), err)
			c.mu.Lock()
			entry.subscribed = false
			c.mu.Unlock()
			continue
		}
		c.obs.Performed(kind, slot, len(subs), c.sinceSlotStart(slot))
	}
}
