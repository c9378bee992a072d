package duties

import (
	"context"
	"encoding/hex"
	"log/slog"
	"strings"
	"sync"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// attesterEpoch is one epoch's attester duties for our validators.
type attesterEpoch struct {
	dependentRoot phase0.Root
	duties        []*apiv1.AttesterDuty
	stale         bool
	// subscribed is set once subscriptions went out (or are being sent);
	// proofs holds the selection proofs of the validators selected to
	// aggregate.
	subscribed bool
	proofs     map[phase0.ValidatorIndex]phase0.BLSSignature
	// proofsReady is closed once proofs is set.
	proofsReady chan struct{}
}

func newAttesterEpoch() *attesterEpoch { return &attesterEpoch{proofsReady: make(chan struct{})} }

// proposerEpoch is one epoch's proposer duties for our validators.
type proposerEpoch struct {
	dependentRoot phase0.Root
	duties        []*apiv1.ProposerDuty
	stale         bool
}

// syncPeriod is one sync committee period's duties for our validators.
type syncPeriod struct {
	duties     []*apiv1.SyncCommitteeDuty
	subscribed bool
}

// dependentRoot reads the dependent_root the Beacon API returns with duties.
func dependentRoot(md map[string]any) phase0.Root {
	var root phase0.Root
	s, ok := md["dependent_root"].(string)
	if !ok {
		return root
	}
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err == nil && len(b) == len(root) {
		copy(root[:], b)
	}
	return root
}

// indicesActiveAt lists our known validators active in epoch.
func (s *Service) indicesActiveAt(epoch phase0.Epoch) []phase0.ValidatorIndex {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]phase0.ValidatorIndex, 0, len(s.byIndex))
	for idx, v := range s.byIndex {
		if v.activeAt(epoch) {
			out = append(out, idx)
		}
	}
	return out
}

// invalidateDuties marks every cached duty stale, after the validator set changed.
func (s *Service) invalidateDuties() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, a := range s.attester {
		a.stale = true
	}
	for _, p := range s.proposer {
		p.stale = true
	}
	clear(s.sync)
}

// ensureDuties fetches whatever is missing or stale among the attester duties
// of epoch and epoch+1, the proposer duties of epoch and the sync committee
// duties of the current and next period, and forgets older epochs.
func (s *Service) ensureDuties(ctx context.Context, epoch phase0.Epoch) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()

	s.mu.Lock()
	for e := range s.attester {
		if e+1 < epoch {
			delete(s.attester, e)
		}
	}
	for e := range s.proposer {
		if e+1 < epoch {
			delete(s.proposer, e)
		}
	}
	for p := range s.sync {
		if p+1 < s.params.syncPeriod(epoch) {
			delete(s.sync, p)
		}
	}
	for slot := range s.proposed {
		if s.clock.EpochOf(slot)+2 < epoch {
			delete(s.proposed, slot)
		}
	}
	needAtt := func(e phase0.Epoch) bool { a := s.attester[e]; return a == nil || a.stale }
	attNow, attNext := needAtt(epoch), needAtt(epoch+1)
	p := s.proposer[epoch]
	propNow := p == nil || p.stale
	period := s.params.syncPeriod(epoch)
	syncNow := s.params.isAltair(epoch) && s.sync[period] == nil
	nextPeriodEpoch := phase0.Epoch((period + 1) * s.params.epochsPerSyncCommitteePeriod)
	syncNext := s.params.isAltair(nextPeriodEpoch) && s.sync[period+1] == nil
	s.mu.Unlock()

	var wg sync.WaitGroup
	if attNow {
		wg.Go(func() { s.fetchAttesterDuties(ctx, epoch) })
	}
	if attNext {
		wg.Go(func() { s.fetchAttesterDuties(ctx, epoch+1) })
	}
	if propNow {
		wg.Go(func() { s.fetchProposerDuties(ctx, epoch) })
	}
	if syncNow {
		wg.Go(func() { s.fetchSyncDuties(ctx, epoch, period) })
	}
	if syncNext {
		wg.Go(func() { s.fetchSyncDuties(ctx, nextPeriodEpoch, period+1) })
	}
	wg.Wait()
}

func (s *Service) fetchAttesterDuties(ctx context.Context, epoch phase0.Epoch) {
	indices := s.indicesActiveAt(epoch)
	entry := newAttesterEpoch()
	if len(indices) > 0 {
		resp, err := s.node.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil || resp == nil {
			s.log.Warn("Failed to fetch attester duties", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			return
		}
		entry.dependentRoot = dependentRoot(resp.Metadata)
		s.mu.Lock()
		for _, d := range resp.Data {
			// Keep only duties for our keys, and only sane ones.
			if v, ok := s.byIndex[d.ValidatorIndex]; ok && v.pubkey == d.PubKey &&
				s.clock.EpochOf(d.Slot) == epoch && d.ValidatorCommitteeIndex < d.CommitteeLength {
				entry.duties = append(entry.duties, d)
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.attester[epoch] = entry
	s.mu.Unlock()
	s.log.Debug("Attester duties", slog.Uint64("epoch", uint64(epoch)), slog.Int("duties", len(entry.duties)),
		slog.String("dependent_root", rootHex(entry.dependentRoot)))
}

func (s *Service) fetchProposerDuties(ctx context.Context, epoch phase0.Epoch) {
	indices := s.indicesActiveAt(epoch)
	entry := &proposerEpoch{}
	if len(indices) > 0 {
		// The endpoint lists every proposer of the epoch; the filter below
		// keeps ours.
		resp, err := s.node.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil || resp == nil {
			s.log.Warn("Failed to fetch proposer duties", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			return
		}
		entry.dependentRoot = dependentRoot(resp.Metadata)
		s.mu.Lock()
		for _, d := range resp.Data {
			if v, ok := s.byIndex[d.ValidatorIndex]; ok && v.pubkey == d.PubKey && s.clock.EpochOf(d.Slot) == epoch {
				entry.duties = append(entry.duties, d)
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.proposer[epoch] = entry
	s.mu.Unlock()
	if len(entry.duties) > 0 {
		for _, d := range entry.duties {
			s.log.Info("Proposer duty", slog.Uint64("slot", uint64(d.Slot)), slog.Uint64("validator_index", uint64(d.ValidatorIndex)))
		}
	}
}

func (s *Service) fetchSyncDuties(ctx context.Context, epoch phase0.Epoch, period uint64) {
	indices := s.indicesActiveAt(epoch)
	entry := &syncPeriod{}
	if len(indices) > 0 {
		resp, err := s.node.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: epoch, Indices: indices})
		if err != nil || resp == nil {
			s.log.Warn("Failed to fetch sync committee duties", slog.Uint64("period", period), slog.Any("error", err))
			return
		}
		s.mu.Lock()
		for _, d := range resp.Data {
			if v, ok := s.byIndex[d.ValidatorIndex]; ok && v.pubkey == d.PubKey && len(d.ValidatorSyncCommitteeIndices) > 0 {
				entry.duties = append(entry.duties, d)
			}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.sync[period] = entry
	s.mu.Unlock()
	if len(entry.duties) > 0 {
		s.log.Info("Sync committee duties", slog.Uint64("period", period), slog.Int("validators", len(entry.duties)))
	}
}

func rootHex(r phase0.Root) string { return "0x" + hex.EncodeToString(r[:]) }
