package perf

import (
	"errors"
	"fmt"
	"net/http"

	eth2client "github.com/attestantio/go-eth2-client"
	"github.com/attestantio/go-eth2-client/api"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/chain"
)

// Node is the part of the Beacon API the performance monitor reads; a
// *beacon.Pool provides it.
type Node interface {
	eth2client.AttestationRewardsProvider
	eth2client.AttesterDutiesProvider
	eth2client.ProposerDutiesProvider
	eth2client.SyncCommitteeDutiesProvider
	eth2client.SignedBeaconBlockProvider
	eth2client.BeaconCommitteesProvider
	eth2client.ValidatorsProvider
}

// checkTiming reports a spec whose timing the monitor cannot work with.
func checkTiming(s *chain.Spec) error {
	switch {
	case s == nil:
		return errors.New("perf: no chain spec")
	case s.GenesisTime.IsZero():
		return errors.New("perf: spec has no genesis time")
	case s.SlotDuration <= 0:
		return errors.New("perf: spec has no slot duration")
	case s.SlotsPerEpoch == 0:
		return errors.New("perf: spec has no SLOTS_PER_EPOCH")
	}
	return nil
}

// Validator is one validator to evaluate.
type Validator struct {
	Index  phase0.ValidatorIndex
	Pubkey phase0.BLSPubKey
}

// ErrNotReady marks an epoch the beacon node cannot evaluate yet (it answered
// 404 or 400, as Prysm does for rewards before the epoch after next);
// evaluation should be retried later.
var ErrNotReady = errors.New("epoch not evaluable yet")

// notReady wraps err with ErrNotReady when the beacon node refused the request
// with 404 or 400.
func notReady(what string, err error) error {
	var apiErr *api.Error
	if errors.As(err, &apiErr) && (apiErr.StatusCode == http.StatusNotFound || apiErr.StatusCode == http.StatusBadRequest) {
		return fmt.Errorf("%s: %w: %w", what, ErrNotReady, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// isNotFound reports a 404 answer, which for a block means an empty slot.
func isNotFound(err error) bool {
	var apiErr *api.Error
	return errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusNotFound
}
