package duties

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain/slotclock"
)

// Service performs the duties of a set of validators on one chain. It owns
// the slot loop and hands each slot to one type per duty -- attester,
// aggregator, proposer, sync committee, preparer, doppelganger protection --
// over a shared roster of validators; each duty keeps its own state under
// its own lock.
type Service struct {
	log   *slog.Logger
	node  BeaconNode
	clock *slotclock.SlotClock
	cfg   options

	roster *roster
	heads  *headTracker
	att    *attester
	agg    *aggregator
	prop   *proposer
	sync   *syncCommittee
	prep   *preparer
	dg     *doppelganger

	running atomic.Bool
	// reprepare asks the next slot to send proposer preparations (and
	// builder registrations) again: the proposer configuration changed.
	reprepare atomic.Bool
	// refetch wakes the duty refresher after a dependent root changed.
	refetch chan struct{}
	// fetchMu serialises duty fetches so a refetch and a slot never race.
	fetchMu sync.Mutex

	fatalMu sync.Mutex
	fatal   context.CancelCauseFunc
}

// New checks the options and builds the service. WithBeaconNode, WithSigner,
// WithChain and WithFeeRecipient are mandatory.
func New(opts ...Option) (*Service, error) {
	o := options{gasLimit: DefaultGasLimit, doppelgangerEpochs: DefaultDoppelgangerEpochs}
	for _, opt := range opts {
		opt(&o)
	}
	if err := errors.Join(o.errs...); err != nil {
		return nil, err
	}
	switch {
	case o.node == nil:
		return nil, fmt.Errorf("%w: WithBeaconNode", ErrMissingOption)
	case o.signer == nil:
		return nil, fmt.Errorf("%w: WithSigner", ErrMissingOption)
	case o.chain == nil:
		return nil, fmt.Errorf("%w: WithChain", ErrMissingOption)
	case o.feeRecipient == nil && o.configs == nil:
		return nil, fmt.Errorf("%w: WithFeeRecipient (without one, block rewards would go to the zero address)", ErrMissingOption)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	log := o.log.With(slog.String("component", "duties"))
	s := &Service{
		log: log, node: o.node, clock: o.chain.SlotClock(), cfg: o,
		roster:  newRoster(o.doppelgangerEpochs),
		heads:   newHeadTracker(),
		refetch: make(chan struct{}, 1),
	}
	base := common{chain: o.chain, clock: s.clock, roster: s.roster, log: log, obs: observerOf(o.observers)}
	settings := &proposalSettings{graffiti: o.graffiti, builderBoost: o.builderBoost, blockTimeout: o.blockTimeout, configs: o.configs}
	if settings.configs == nil {
		settings.configs = staticConfigs{
			def:    ProposerConfig{FeeRecipient: *o.feeRecipient, GasLimit: o.gasLimit, Builder: o.builder},
			perKey: o.perKey,
		}
	}
	if settings.blockTimeout == 0 {
		settings.blockTimeout = s.clock.SlotDuration() / 2
	}
	s.att = &attester{common: base, node: o.node, signer: o.signer, proofs: o.signer, heads: s.heads, stop: s.stop,
		epochs: map[phase0.Epoch]*attesterEpoch{}, attested: map[phase0.ValidatorIndex]phase0.Epoch{},
		uncertain: map[phase0.ValidatorIndex]phase0.Epoch{}}
	s.agg = &aggregator{common: base, node: o.node, signer: o.signer, proofs: s.att.selectionProofs}
	s.prop = &proposer{common: base, node: o.node, signer: o.signer, stop: s.stop, settings: settings,
		epochs: map[phase0.Epoch]*proposerEpoch{}, proposed: map[phase0.Slot]bool{}}
	s.sync = &syncCommittee{common: base, node: o.node, signer: o.signer, heads: s.heads, periods: map[uint64]*syncPeriod{}}
	s.prep = &preparer{common: base, node: o.node, signer: o.signer, settings: settings, registrations: map[phase0.BLSPubKey]*registration{}}
	s.dg = &doppelganger{common: base, node: o.node, epochs: o.doppelgangerEpochs, stop: s.stop}
	s.roster.add(o.pubkeys...)
	return s, nil
}

// SlotClock returns the service's slot clock.
func (s *Service) SlotClock() *slotclock.SlotClock { return s.clock }

// AddPubkeys adds validators; they get duties from the next slot on, once the
// beacon node knows them and doppelganger protection has cleared them.
func (s *Service) AddPubkeys(pubkeys ...phase0.BLSPubKey) { s.roster.add(pubkeys...) }

// RemovePubkeys stops duties for validators; nothing more is signed for them
// once the call returns, except a batch already handed to the signer.
func (s *Service) RemovePubkeys(pubkeys ...phase0.BLSPubKey) {
	s.roster.remove(pubkeys...)
	s.prep.forget(pubkeys...)
}

// ValidatorStatus is one loaded key as the beacon node sees it.
type ValidatorStatus struct {
	Pubkey phase0.BLSPubKey
	// Index is meaningful only when Known.
	Index  phase0.ValidatorIndex
	Known  bool
	Status apiv1.ValidatorState
	// Signing is false while doppelganger protection still watches the key.
	Signing bool
}

// Validators lists the loaded keys and their status, for the monitor.
func (s *Service) Validators() []ValidatorStatus { return s.roster.statuses() }

// ProposerConfigChanged makes the next slot tell the beacon node each
// validator's fee recipient again (and re-register with builders), instead
// of waiting for the next epoch: a block the node builds in between would pay
// the old recipient, and vigil would refuse to sign it.
func (s *Service) ProposerConfigChanged() { s.reprepare.Store(true) }

// Run performs duties until ctx is cancelled, then lets the current slot's
// duties finish (bounded by the slot's end) and returns nil. It returns
// ErrDoppelganger or ErrConcurrentSigner (see UnsafeToRestart) when it stops
// to protect the keys.
func (s *Service) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return ErrAlreadyRunning
	}
	defer s.running.Store(false)

	// Slot work outlives ctx (graceful shutdown) but not a fatal stop.
	workCtx, fatal := context.WithCancelCause(context.WithoutCancel(ctx))
	defer fatal(nil)
	s.fatalMu.Lock()
	s.fatal = fatal
	s.fatalMu.Unlock()
	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	stopOnFatal := context.AfterFunc(workCtx, stopLoop)
	defer stopOnFatal()

	now := s.clock.CurrentSlot()
	start := runStart{slot: now, epoch: s.clock.EpochOf(now)}
	s.log.Info("Duties starting", slog.Uint64("slot", uint64(now)), slog.Int("validators", len(s.Validators())),
		slog.Uint64("doppelganger_epochs", s.cfg.doppelgangerEpochs), slog.Bool("builder", s.cfg.builder))

	if err := s.subscribeEvents(workCtx); err != nil {
		// Duties still run on the slot clock; only the early attestation
		// and dependent-root refetches are lost.
		s.log.Warn("Events stream unavailable; attesting at 1/3 slot and refreshing duties per epoch only", slog.Any("error", err))
	}

	var wg sync.WaitGroup
	wg.Go(func() { s.refetchLoop(loopCtx, workCtx) })

	// Before genesis the loop sleeps until slot 0; after it, the current slot
	// runs at once, joined late rather than skipped: its attestation is
	// still worth making.
	slot, first := now, true
	if s.clock.Now().Before(s.clock.Genesis()) {
		s.log.Info("Waiting for genesis", slog.Time("genesis", s.clock.Genesis()))
	}
	for {
		if err := s.clock.SleepUntil(loopCtx, s.clock.SlotStart(slot)); err != nil {
			break
		}
		if cur := s.clock.CurrentSlot(); cur > slot {
			s.log.Warn("Skipped slots (process suspended or clock jumped)", slog.Uint64("from", uint64(slot)), slog.Uint64("to", uint64(cur)))
			slot = cur
		}
		sl, f := slot, first
		wg.Go(func() { s.runSlot(workCtx, sl, f, start) })
		first = false
		slot++
	}
	wg.Wait()
	if cause := context.Cause(workCtx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	s.log.Info("Duties stopped")
	return nil
}

// stop ends Run with err (ErrDoppelganger or ErrConcurrentSigner).
func (s *Service) stop(err error) {
	s.log.Error("Stopping all duties to protect the keys", slog.Any("error", err))
	s.fatalMu.Lock()
	defer s.fatalMu.Unlock()
	if s.fatal != nil {
		s.fatal(err)
	}
}

// runSlot performs one slot's duties, bounded by the slot's end.
func (s *Service) runSlot(parent context.Context, slot phase0.Slot, first bool, start runStart) {
	ctx, cancel := slotclock.WithDeadline(parent, s.clock.Clock(), s.clock.SlotStart(slot+1))
	defer cancel()
	epoch := s.clock.EpochOf(slot)
	newEpoch := first || slot == s.clock.FirstSlot(epoch)
	s.heads.prune(slot)

	keysChanged := s.roster.takeKeysChanged()
	if newEpoch || keysChanged {
		if err := s.roster.refresh(ctx, s.node, epoch, s.log); err != nil {
			s.log.Warn("Failed to refresh validator indices and status", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			if keysChanged {
				s.roster.markKeysChanged()
			}
		} else if keysChanged {
			s.att.invalidate()
			s.prop.invalidate()
			s.sync.invalidate()
		}
	}
	s.ensureDuties(ctx, epoch)

	var wg sync.WaitGroup
	wg.Go(func() { s.subscribe(ctx, epoch) })
	// New keys and a changed proposer configuration are announced at once;
	// the node only builds blocks with a fee recipient it was told about.
	if reprepare := s.reprepare.Swap(false); newEpoch || keysChanged || reprepare {
		wg.Go(func() { s.prep.prepare(ctx, slot) })
	}
	wg.Go(func() { s.prop.propose(ctx, slot, start) })
	wg.Go(func() { s.agg.aggregate(ctx, slot, s.att.run(ctx, slot, start)) })
	wg.Go(func() { s.sync.run(ctx, slot) })
	wg.Go(func() { s.dg.watch(ctx, slot) })
	wg.Wait()
}

// ensureDuties fetches whatever is missing or stale among the attester duties
// of epoch and epoch+1, the proposer duties of epoch and the sync committee
// duties of the current and next period, and forgets older epochs.
func (s *Service) ensureDuties(ctx context.Context, epoch phase0.Epoch) {
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	s.att.forget(epoch)
	s.prop.forget(epoch)
	s.sync.forget(epoch)
	attNow, attNext := s.att.needs(epoch), s.att.needs(epoch+1)
	propNow := s.prop.needs(epoch)
	syncNow, syncNext, nextPeriodEpoch := s.sync.needs(epoch)

	var wg sync.WaitGroup
	if attNow {
		wg.Go(func() { s.att.fetch(ctx, epoch) })
	}
	if attNext {
		wg.Go(func() { s.att.fetch(ctx, epoch+1) })
	}
	if propNow {
		wg.Go(func() { s.prop.fetch(ctx, epoch) })
	}
	if syncNow {
		wg.Go(func() { s.sync.fetch(ctx, epoch) })
	}
	if syncNext {
		wg.Go(func() { s.sync.fetch(ctx, nextPeriodEpoch) })
	}
	wg.Wait()
}

// subscribe sends the beacon committee subscriptions of the freshly fetched
// attester duties and the sync committee subscriptions of the current and
// next period.
func (s *Service) subscribe(ctx context.Context, epoch phase0.Epoch) {
	s.att.subscribe(ctx, epoch)
	s.sync.subscribe(ctx, epoch)
}
