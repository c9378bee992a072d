package signer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// SignAttestations signs a slot's attestations: all are checked and recorded
// through one slashing-protection call (one durable commit) while they are
// signed in parallel, and only the signatures whose record was committed as
// allowed are returned. Results align with duties; a refusal affects only its
// own result. A non-nil error means the database could not decide and no
// signature is returned.
func (s *Signer) SignAttestations(ctx context.Context, duties []AttestationDuty) ([]AttestationResult, error) {
	const kind = KindAttestation
	n := len(duties)
	results := make([]AttestationResult, n)
	if n == 0 {
		return results, nil
	}
	start := time.Now()
	now := s.now()
	pubkeys := make([]phase0.BLSPubKey, n)
	roots := make([]phase0.Root, n)
	for i, d := range duties {
		pubkeys[i] = d.Pubkey
	}
	if err := s.loadLatest(ctx, pubkeys); err != nil {
		s.obs.SlashingDB(kind, 0, err)
		s.obs.Failed(kind, n)
		return nil, err
	}

	// Guards and signing roots; survivors go to the database in one call.
	reqs := make([]slashprotect.AttestationRequest, 0, n)
	reqIdx := make([]int, 0, n)
	objectRoots := make(map[*phase0.AttestationData]phase0.Root)
	sp := s.spec()
	for i, d := range duties {
		if d.Data != nil && d.Data.Target != nil {
			if err := sp.Signable(d.Data.Target.Epoch); err != nil {
				results[i].Err = s.refuse(kind, d.Pubkey, ReasonUnknownFork, err)
				continue
			}
		}
		root, err := s.attestationSigningRoot(sp, d.Data, objectRoots)
		if err != nil {
			results[i].Err = s.refuse(kind, d.Pubkey, ReasonInvalidMessage, err)
			continue
		}
		if err := s.checkFuture(now, d.Data.Slot, d.Data.Target.Epoch); err != nil {
			results[i].Err = s.refuse(kind, d.Pubkey, ReasonFuture, err)
			continue
		}
		if err := s.checkGap(d.Pubkey, d.Data.Target.Epoch); err != nil {
			results[i].Err = s.refuse(kind, d.Pubkey, ReasonLongGap, err)
			continue
		}
		held, err := s.holds(d.Pubkey)
		if err != nil {
			return nil, err
		}
		if !held {
			results[i].Err = s.refuse(kind, d.Pubkey, ReasonUnknownKey, ErrUnknownKey)
			continue
		}
		roots[i] = root
		reqs = append(reqs, slashprotect.AttestationRequest{
			Pubkey:      d.Pubkey,
			SourceEpoch: d.Data.Source.Epoch,
			TargetEpoch: d.Data.Target.Epoch,
			SigningRoot: root,
		})
		reqIdx = append(reqIdx, i)
	}
	if len(reqs) == 0 {
		return results, nil
	}

	// While the database commits, sign every request on all cores: the
	// signatures stay in this function and only those whose verdict is
	// Allowed, after the commit, are released (rule 1: no signature leaves
	// before the record that allows it is durable). On a database error or a
	// refusal the signature is dropped. A slashable signature held in memory
	// for a moment gives nothing to anyone who could read it: the secret key
	// sits in the same memory.
	pending := make([]phase0.BLSSignature, n)
	signErrs := make([]error, n)
	signed := make(chan struct{})
	go func() {
		defer close(signed)
		s.signRoots(pubkeys, roots, reqIdx, pending, signErrs)
	}()
	dbStart := time.Now()
	verdicts, err := s.db.CheckAndRecordAttestations(ctx, reqs)
	took := time.Since(dbStart)
	<-signed
	defer clear(pending)
	if err == nil && len(verdicts) != len(reqs) {
		err = fmt.Errorf("slashing database returned %d verdicts for %d attestations", len(verdicts), len(reqs))
	}
	s.obs.SlashingDB(kind, took, err)
	if err != nil {
		s.obs.Failed(kind, len(reqs))
		s.log.Error("slashing database failed; attestations not signed", "count", len(reqs), "err", err)
		return nil, fmt.Errorf("check and record %d attestations: %w", len(reqs), err)
	}

	released := 0
	for j, v := range verdicts {
		i := reqIdx[j]
		d := duties[i]
		if !v.Allowed {
			results[i].Err = s.refuseVerdict(kind, d.Pubkey, v, "slot", d.Data.Slot,
				"source_epoch", d.Data.Source.Epoch, "target_epoch", d.Data.Target.Epoch)
			continue
		}
		if s.gapGuarded() {
			s.noteLatest(d.Pubkey, latestEpoch{epoch: d.Data.Target.Epoch, known: true})
		}
		switch {
		case errors.Is(signErrs[i], ErrUnknownKey):
			results[i].Err = s.refuse(kind, d.Pubkey, ReasonUnknownKey, ErrUnknownKey)
		case signErrs[i] != nil:
			results[i].Err = signErrs[i]
		default:
			results[i].Signature = pending[i]
			released++
		}
	}
	s.obs.Signed(kind, released, time.Since(start))
	return results, nil
}

// SignAttestation signs one attestation; see SignAttestations.
func (s *Signer) SignAttestation(ctx context.Context, pubkey phase0.BLSPubKey, data *phase0.AttestationData) (phase0.BLSSignature, error) {
	res, err := s.SignAttestations(ctx, []AttestationDuty{{Pubkey: pubkey, Data: data}})
	if err != nil {
		return phase0.BLSSignature{}, err
	}
	return res[0].Signature, res[0].Err
}

// attestationSigningRoot checks the data and computes its signing root under
// DOMAIN_BEACON_ATTESTER at the target epoch (consensus specs,
// get_attestation_signature). Object roots are shared by duties that carry
// the same *AttestationData, as a committee's do.
func (s *Signer) attestationSigningRoot(sp *chain.Spec, data *phase0.AttestationData, cache map[*phase0.AttestationData]phase0.Root) (phase0.Root, error) {
	if data == nil || data.Source == nil || data.Target == nil {
		return phase0.Root{}, fmt.Errorf("%w: attestation data, source or target is missing", ErrInvalidMessage)
	}
	// process_attestation rejects a target that is not the slot's epoch;
	// signing one would only record a vote the chain cannot use.
	if data.Target.Epoch != sp.EpochAtSlot(data.Slot) {
		return phase0.Root{}, fmt.Errorf("%w: target epoch %d is not the epoch of slot %d", ErrInvalidMessage, data.Target.Epoch, data.Slot)
	}
	objectRoot, ok := cache[data]
	if !ok {
		r, err := data.HashTreeRoot()
		if err != nil {
			return phase0.Root{}, fmt.Errorf("%w: attestation data root: %v", ErrInvalidMessage, err)
		}
		objectRoot = r
		cache[data] = objectRoot
	}
	dom, err := s.domain(sp, sp.Domains.BeaconAttester, data.Target.Epoch)
	if err != nil {
		return phase0.Root{}, err
	}
	return ComputeSigningRoot(objectRoot, dom)
}
