package duties

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/duties/slotclock"
)

// Service performs the duties of a set of validators on one chain.
type Service struct {
	log    *slog.Logger
	node   BeaconNode
	signer Signer
	obs    Observer
	clock  *slotclock.SlotClock
	params chainParams
	cfg    options

	running atomic.Bool
	heads   *headTracker
	// refetch wakes the duty refresher after a dependent root changed.
	refetch chan struct{}
	// fetchMu serialises duty fetches so a refetch and a slot never race.
	fetchMu sync.Mutex

	mu sync.Mutex
	// validators holds every loaded key; byIndex those the beacon node knows.
	validators  map[phase0.BLSPubKey]*validator
	byIndex     map[phase0.ValidatorIndex]*validator
	keysChanged bool
	attester    map[phase0.Epoch]*attesterEpoch
	proposer    map[phase0.Epoch]*proposerEpoch
	sync        map[uint64]*syncPeriod
	// attested and proposed remember what this run signed, so that a duty
	// that moves after a reorg is never signed twice for the same target
	// epoch or slot (and so that a slashing refusal proves another writer).
	attested      map[phase0.ValidatorIndex]phase0.Epoch
	proposed      map[phase0.Slot]bool
	registrations map[phase0.BLSPubKey]*registration
	startSlot     phase0.Slot
	startEpoch    phase0.Epoch

	fatalMu sync.Mutex
	fatal   context.CancelCauseFunc
}

type validator struct {
	pubkey phase0.BLSPubKey
	index  phase0.ValidatorIndex
	known  bool
	state  *apiv1.Validator
	dg     doppelgangerState
}

// activeAt reports whether the validator is active in epoch (is_active_validator).
func (v *validator) activeAt(epoch phase0.Epoch) bool {
	if !v.known || v.state == nil {
		return false
	}
	if v.state.Validator == nil {
		return v.state.Status.IsActive()
	}
	return v.state.Validator.ActivationEpoch <= epoch && epoch < v.state.Validator.ExitEpoch
}

// New checks the options and reads the chain's genesis and spec from the
// beacon node to build the slot clock. WithBeaconNode, WithSigner and
// WithFeeRecipient are mandatory.
func New(ctx context.Context, opts ...Option) (*Service, error) {
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
	case o.feeRecipient == nil:
		return nil, fmt.Errorf("%w: WithFeeRecipient (without one, block rewards would go to the zero address)", ErrMissingOption)
	}
	if o.clock == nil {
		o.clock = slotclock.Real{}
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.observer == nil {
		o.observer = nopObserver{}
	}
	specResp, err := o.node.Spec(ctx, &api.SpecOpts{})
	if err != nil {
		return nil, fmt.Errorf("read the chain spec from the beacon node: %w", err)
	}
	genResp, err := o.node.Genesis(ctx, &api.GenesisOpts{})
	if err != nil {
		return nil, fmt.Errorf("read genesis from the beacon node: %w", err)
	}
	if genResp == nil || genResp.Data == nil || specResp == nil {
		return nil, errors.New("beacon node returned an empty spec or genesis")
	}
	clock, err := slotclock.FromSpec(o.clock, specResp.Data, genResp.Data.GenesisTime)
	if err != nil {
		return nil, err
	}
	params, err := chainParamsFromSpec(specResp.Data)
	if err != nil {
		return nil, err
	}
	s := &Service{
		log: o.log.With(slog.String("component", "duties")), node: o.node, signer: o.signer,
		obs: o.observer, clock: clock, params: params, cfg: o,
		heads:         newHeadTracker(),
		refetch:       make(chan struct{}, 1),
		validators:    map[phase0.BLSPubKey]*validator{},
		byIndex:       map[phase0.ValidatorIndex]*validator{},
		attester:      map[phase0.Epoch]*attesterEpoch{},
		proposer:      map[phase0.Epoch]*proposerEpoch{},
		sync:          map[uint64]*syncPeriod{},
		attested:      map[phase0.ValidatorIndex]phase0.Epoch{},
		proposed:      map[phase0.Slot]bool{},
		registrations: map[phase0.BLSPubKey]*registration{},
	}
	s.AddPubkeys(o.pubkeys...)
	return s, nil
}

// SlotClock returns the service's slot clock.
func (s *Service) SlotClock() *slotclock.SlotClock { return s.clock }

// AddPubkeys adds validators; they get duties from the next slot on, once the
// beacon node knows them and doppelganger protection has cleared them.
func (s *Service) AddPubkeys(pubkeys ...phase0.BLSPubKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pk := range pubkeys {
		if _, ok := s.validators[pk]; !ok {
			s.validators[pk] = &validator{pubkey: pk}
			s.keysChanged = true
		}
	}
}

// RemovePubkeys stops duties for validators; nothing more is signed for them
// once the call returns, except a batch already handed to the signer.
func (s *Service) RemovePubkeys(pubkeys ...phase0.BLSPubKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pk := range pubkeys {
		if v, ok := s.validators[pk]; ok {
			delete(s.validators, pk)
			if v.known && s.byIndex[v.index] == v {
				delete(s.byIndex, v.index)
			}
			delete(s.registrations, pk)
			s.keysChanged = true
		}
	}
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
func (s *Service) Validators() []ValidatorStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ValidatorStatus, 0, len(s.validators))
	for _, v := range s.validators {
		st := ValidatorStatus{Pubkey: v.pubkey, Index: v.index, Known: v.known, Signing: v.known && v.dg.done}
		if v.state != nil {
			st.Status = v.state.Status
		}
		out = append(out, st)
	}
	return out
}

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
	s.mu.Lock()
	s.startSlot, s.startEpoch = now, s.clock.EpochOf(now)
	s.mu.Unlock()
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
		wg.Go(func() { s.runSlot(workCtx, sl, f) })
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
func (s *Service) runSlot(parent context.Context, slot phase0.Slot, first bool) {
	ctx, cancel := slotclock.WithDeadline(parent, s.clock.Clock(), s.clock.SlotStart(slot+1))
	defer cancel()
	epoch := s.clock.EpochOf(slot)
	newEpoch := first || slot == s.clock.FirstSlot(epoch)

	s.mu.Lock()
	keysChanged := s.keysChanged
	s.keysChanged = false
	s.mu.Unlock()
	if newEpoch || keysChanged {
		if err := s.refreshValidators(ctx, epoch); err != nil {
			s.log.Warn("Failed to refresh validator indices and status", slog.Uint64("epoch", uint64(epoch)), slog.Any("error", err))
			if keysChanged {
				s.mu.Lock()
				s.keysChanged = true
				s.mu.Unlock()
			}
		} else if keysChanged {
			s.invalidateDuties()
		}
	}
	s.ensureDuties(ctx, epoch)

	var wg sync.WaitGroup
	wg.Go(func() { s.subscribe(ctx, epoch) })
	if newEpoch {
		wg.Go(func() { s.prepareProposers(ctx, slot) })
	}
	wg.Go(func() { s.propose(ctx, slot) })
	wg.Go(func() { s.attestAndAggregate(ctx, slot) })
	wg.Go(func() { s.syncCommitteeDuties(ctx, slot) })
	wg.Go(func() { s.watchDoppelgangers(ctx, slot) })
	wg.Wait()
}

// waitFor waits until t or until ready fires, whichever is first; false if
// ctx ended.
func (s *Service) waitFor(ctx context.Context, t time.Time, ready <-chan struct{}) bool {
	d := t.Sub(s.clock.Now())
	if d <= 0 {
		return ctx.Err() == nil
	}
	timer := s.clock.Clock().NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C():
		return true
	case <-ready:
		return true
	}
}

// sinceSlotStart is how far into slot the clock is.
func (s *Service) sinceSlotStart(slot phase0.Slot) time.Duration {
	return s.clock.Now().Sub(s.clock.SlotStart(slot))
}

// canSign returns the validator with index if it is loaded and cleared by
// doppelganger protection.
func (s *Service) canSignLocked(index phase0.ValidatorIndex) (*validator, bool) {
	v, ok := s.byIndex[index]
	if !ok || !v.dg.done {
		return nil, false
	}
	return v, true
}

// refreshValidators resolves the loaded keys to indices and reads their
// status at head.
func (s *Service) refreshValidators(ctx context.Context, epoch phase0.Epoch) error {
	s.mu.Lock()
	pubkeys := make([]phase0.BLSPubKey, 0, len(s.validators))
	for pk := range s.validators {
		pubkeys = append(pubkeys, pk)
	}
	s.mu.Unlock()
	if len(pubkeys) == 0 {
		return nil
	}
	resp, err := s.node.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: pubkeys})
	if err != nil {
		return err
	}
	if resp == nil {
		return errors.New("empty validators response")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	newlyKnown := 0
	for index, st := range resp.Data {
		if st == nil {
			continue
		}
		if st.Validator == nil {
			continue
		}
		pk := st.Validator.PublicKey
		v, ok := s.validators[pk]
		if !ok {
			continue // removed meanwhile, or not ours
		}
		if !v.known {
			newlyKnown++
			v.known, v.index = true, index
			s.byIndex[index] = v
			v.dg = s.newDoppelgangerState(epoch)
		}
		v.state = st
	}
	unknown := len(s.validators) - len(s.byIndex)
	if newlyKnown > 0 || unknown > 0 {
		s.log.Info("Validators resolved", slog.Int("known", len(s.byIndex)), slog.Int("new", newlyKnown),
			slog.Int("unknown_to_beacon_node", unknown), slog.Uint64("epoch", uint64(epoch)))
	}
	return nil
}
