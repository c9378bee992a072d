package perf

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/attestantio/go-eth2-client/api"
	apiv1 "github.com/attestantio/go-eth2-client/api/v1"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
)

// DefaultEffectivenessEpochs is the effectiveness window when none is asked for.
const DefaultEffectivenessEpochs = 8

// StatusReport is the body of GET /api/v1/validators and of `vigil status
// --format json`.
type StatusReport struct {
	// CurrentSlot is the wall-clock slot when the report was made.
	CurrentSlot uint64 `json:"current_slot"`
	// Fork is the fork the chain is on at CurrentSlot, e.g. "fulu".
	Fork string `json:"fork"`
	// LastEvaluatedEpoch is the newest epoch whose performance is included;
	// nil before the first evaluation.
	LastEvaluatedEpoch *uint64 `json:"last_evaluated_epoch"`
	// EffectivenessEpochs is the window asked for; a validator's own
	// EffectivenessEpochs says how many epochs it had a duty in.
	EffectivenessEpochs int               `json:"effectiveness_epochs"`
	Validators          []ValidatorStatus `json:"validators"`
}

// ValidatorStatus is one row of the status table.
type ValidatorStatus struct {
	Pubkey string `json:"pubkey"`
	Index  uint64 `json:"index"`
	// Status is the Beacon API validator state, e.g. active_ongoing.
	Status      string `json:"status"`
	BalanceGwei uint64 `json:"balance_gwei"`
	// LastAttestation is the newest evaluated attestation duty.
	LastAttestation *AttestationStatus `json:"last_attestation"`
	// EffectivenessPercent is over the validator's duties in the window
	// (see the package doc); nil without any.
	EffectivenessPercent *float64   `json:"effectiveness_percent"`
	EffectivenessEpochs  int        `json:"effectiveness_epochs"`
	NextDuties           NextDuties `json:"next_duties"`
}

// AttestationStatus is the result of one attestation duty.
type AttestationStatus struct {
	Epoch          uint64 `json:"epoch"`
	Slot           uint64 `json:"slot"`
	Included       bool   `json:"included"`
	Head           bool   `json:"head"`
	Target         bool   `json:"target"`
	Source         bool   `json:"source"`
	InclusionDelay uint64 `json:"inclusion_delay"`
	RewardGwei     int64  `json:"reward_gwei"`
}

// NextDuties are a validator's upcoming duties in the current and next epoch.
type NextDuties struct {
	AttestationSlot *uint64  `json:"attestation_slot"`
	ProposalSlots   []uint64 `json:"proposal_slots"`
	// SyncCommittee is set when the validator is in the current sync committee.
	SyncCommittee bool `json:"sync_committee"`
}

// headInfo is what the monitor knows of the validators now: their state and
// next duties.
type headInfo struct {
	slot   phase0.Slot
	states map[phase0.ValidatorIndex]*apiv1.Validator
	duties map[phase0.ValidatorIndex]*NextDuties
}

// fetchHead reads the validators' state at head and their duties from slot
// on, in the current and next epoch.
func fetchHead(ctx context.Context, node Node, spec *chain.Spec, slot phase0.Slot, indices []phase0.ValidatorIndex) (*headInfo, error) {
	h := &headInfo{slot: slot, duties: make(map[phase0.ValidatorIndex]*NextDuties, len(indices))}
	for _, i := range indices {
		h.duties[i] = &NextDuties{ProposalSlots: []uint64{}}
	}
	if len(indices) == 0 {
		return h, nil
	}
	vs, err := node.Validators(ctx, &api.ValidatorsOpts{State: "head", Indices: indices})
	if err != nil {
		return nil, fmt.Errorf("validators at head: %w", err)
	}
	if vs != nil {
		h.states = vs.Data
	}
	current := spec.EpochAtSlot(slot)
	for _, e := range []phase0.Epoch{current, current + 1} {
		att, err := node.AttesterDuties(ctx, &api.AttesterDutiesOpts{Epoch: e, Indices: indices})
		if err != nil {
			return nil, fmt.Errorf("attester duties of epoch %d: %w", e, err)
		}
		if att != nil {
			for _, d := range att.Data {
				nd, ok := h.duties[d.ValidatorIndex]
				if !ok || d.Slot < slot || (nd.AttestationSlot != nil && *nd.AttestationSlot <= uint64(d.Slot)) {
					continue
				}
				s := uint64(d.Slot)
				nd.AttestationSlot = &s
			}
		}
		prop, err := node.ProposerDuties(ctx, &api.ProposerDutiesOpts{Epoch: e, Indices: indices})
		if err != nil {
			// Prysm serves proposer duties only up to the next epoch once it
			// is close; a refusal for the next epoch is not an error.
			if e > current && isClientError(err) {
				continue
			}
			return nil, fmt.Errorf("proposer duties of epoch %d: %w", e, err)
		}
		if prop != nil {
			for _, d := range prop.Data {
				if nd, ok := h.duties[d.ValidatorIndex]; ok && d.Slot >= slot {
					nd.ProposalSlots = append(nd.ProposalSlots, uint64(d.Slot))
				}
			}
		}
	}
	sc, err := node.SyncCommitteeDuties(ctx, &api.SyncCommitteeDutiesOpts{Epoch: current, Indices: indices})
	if err != nil {
		return nil, fmt.Errorf("sync committee duties of epoch %d: %w", current, err)
	}
	if sc != nil {
		for _, d := range sc.Data {
			if nd, ok := h.duties[d.ValidatorIndex]; ok && len(d.ValidatorSyncCommitteeIndices) > 0 {
				nd.SyncCommittee = true
			}
		}
	}
	for _, nd := range h.duties {
		slices.Sort(nd.ProposalSlots)
	}
	return h, nil
}

func isClientError(err error) bool {
	var apiErr *api.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode >= 400 && apiErr.StatusCode < 500
}

// buildStatus makes the status table from the evaluated epochs (oldest
// first) and what is known at head (nil when unknown).
func buildStatus(vals []Validator, reports []*EpochReport, window int, head *headInfo, spec *chain.Spec, now phase0.Slot) *StatusReport {
	if window <= 0 {
		window = DefaultEffectivenessEpochs
	}
	out := &StatusReport{CurrentSlot: uint64(now), Fork: spec.ForkName(spec.EpochAtSlot(now)), EffectivenessEpochs: window, Validators: []ValidatorStatus{}}
	if n := len(reports); n > 0 {
		e := uint64(reports[n-1].Epoch)
		out.LastEvaluatedEpoch = &e
	}
	if len(reports) > window {
		reports = reports[len(reports)-window:]
	}
	vals = slices.Clone(vals)
	slices.SortFunc(vals, func(a, b Validator) int { return compareIndex(a.Index, b.Index) })
	for _, v := range vals {
		row := ValidatorStatus{
			Pubkey:     fmt.Sprintf("%#x", v.Pubkey[:]),
			Index:      uint64(v.Index),
			Status:     "unknown",
			NextDuties: NextDuties{ProposalSlots: []uint64{}},
		}
		var sum float64
		for _, rep := range reports {
			r := rep.find(v.Index)
			if r == nil {
				continue
			}
			row.Status, row.BalanceGwei = r.Status.String(), uint64(r.Balance)
			if a := r.Attestation; a.Duty {
				sum += a.Effectiveness
				row.EffectivenessEpochs++
				row.LastAttestation = &AttestationStatus{
					Epoch: uint64(rep.Epoch), Slot: uint64(a.Slot), Included: a.Included,
					Head: a.Head, Target: a.Target, Source: a.Source,
					InclusionDelay: a.InclusionDelay, RewardGwei: a.Reward,
				}
			}
		}
		if row.EffectivenessEpochs > 0 {
			pct := max(sum/float64(row.EffectivenessEpochs), 0) * 100
			row.EffectivenessPercent = &pct
		}
		if head != nil {
			if st, ok := head.states[v.Index]; ok && st != nil {
				row.Status, row.BalanceGwei = st.Status.String(), uint64(st.Balance)
			}
			if nd, ok := head.duties[v.Index]; ok {
				row.NextDuties = *nd
			}
		}
		out.Validators = append(out.Validators, row)
	}
	return out
}

func (r *EpochReport) find(index phase0.ValidatorIndex) *ValidatorReport {
	i, ok := slices.BinarySearchFunc(r.Validators, index, func(v ValidatorReport, t phase0.ValidatorIndex) int {
		return compareIndex(v.Index, t)
	})
	if !ok {
		return nil
	}
	return &r.Validators[i]
}

// Evaluate computes the status table directly from the beacon node: the
// last epochs evaluable at now (up to epochs of them) and the next duties.
// It is `vigil status --beacon-node`.
func Evaluate(ctx context.Context, node Node, spec *chain.Spec, now time.Time, vals []Validator, epochs int) (*StatusReport, error) {
	if err := checkTiming(spec); err != nil {
		return nil, err
	}
	if epochs <= 0 {
		epochs = DefaultEffectivenessEpochs
	}
	slot := spec.SlotAt(now)
	indices := make([]phase0.ValidatorIndex, len(vals))
	for i, v := range vals {
		indices[i] = v.Index
	}
	head, err := fetchHead(ctx, node, spec, slot, indices)
	if err != nil {
		return nil, err
	}
	var reports []*EpochReport
	if newest, ok := newestEvaluable(spec, slot); ok {
		cache := newBlockCache(node)
		oldest := phase0.Epoch(0)
		if uint64(newest)+1 > uint64(epochs) {
			oldest = newest + 1 - phase0.Epoch(epochs)
		}
		for e := oldest; e <= newest; e++ {
			rep, err := compute(ctx, node, spec, e, vals, cache.get)
			if errors.Is(err, ErrNotReady) {
				// The newest epoch may not be served yet, or an old one no
				// longer (pruned state): report what can be had.
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("evaluate epoch %d: %w", e, err)
			}
			reports = append(reports, rep)
			cache.forget(spec.FirstSlot(e + 1))
		}
	}
	return buildStatus(vals, reports, epochs, head, spec, slot), nil
}

// newestEvaluable is the newest epoch whose rewards a beacon node serves in
// slot: E once E+1 has ended.
func newestEvaluable(spec *chain.Spec, slot phase0.Slot) (phase0.Epoch, bool) {
	current := spec.EpochAtSlot(slot)
	if current < 2 {
		return 0, false
	}
	return current - 2, true
}

// EvaluateKeys is Evaluate for public keys: it looks their indices up on the
// node and returns, besides the report, the keys the node does not know (no
// deposit processed yet).
func EvaluateKeys(ctx context.Context, node Node, spec *chain.Spec, now time.Time, pubkeys []phase0.BLSPubKey, epochs int) (*StatusReport, []phase0.BLSPubKey, error) {
	resp, err := node.Validators(ctx, &api.ValidatorsOpts{State: "head", PubKeys: pubkeys})
	if err != nil {
		return nil, nil, fmt.Errorf("look up the validators' indices on the beacon node: %w", err)
	}
	known := make(map[phase0.BLSPubKey]bool)
	var vals []Validator
	for idx, v := range resp.Data {
		if v == nil || v.Validator == nil {
			continue
		}
		known[v.Validator.PublicKey] = true
		vals = append(vals, Validator{Index: idx, Pubkey: v.Validator.PublicKey})
	}
	var unknown []phase0.BLSPubKey
	for _, pk := range pubkeys {
		if !known[pk] {
			unknown = append(unknown, pk)
		}
	}
	st, err := Evaluate(ctx, node, spec, now, vals, epochs)
	return st, unknown, err
}
