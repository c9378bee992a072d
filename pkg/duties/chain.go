package duties

import (
	"fmt"
	"math"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"

	"github.com/vigil-eth/vigil/pkg/duties/slotclock"
)

const farFutureEpoch = phase0.Epoch(math.MaxUint64)

// chainParams holds the spec values the duties need besides the slot clock,
// all read from the beacon node's /eth/v1/config/spec.
type chainParams struct {
	altairEpoch, electraEpoch phase0.Epoch
	// forks lists fork activation epochs in order, for the data version at an epoch.
	forks []forkAt

	targetAggregatorsPerCommittee        uint64
	syncCommitteeSize                    uint64
	syncCommitteeSubnetCount             uint64
	targetAggregatorsPerSyncSubcommittee uint64
	epochsPerSyncCommitteePeriod         uint64
}

type forkAt struct {
	version spec.DataVersion
	epoch   phase0.Epoch
}

func chainParamsFromSpec(values map[string]any) (chainParams, error) {
	var p chainParams
	p.forks = []forkAt{{spec.DataVersionPhase0, 0}}
	for _, f := range []struct {
		name    string
		version spec.DataVersion
	}{
		{"ALTAIR", spec.DataVersionAltair}, {"BELLATRIX", spec.DataVersionBellatrix},
		{"CAPELLA", spec.DataVersionCapella}, {"DENEB", spec.DataVersionDeneb},
		{"ELECTRA", spec.DataVersionElectra}, {"FULU", spec.DataVersionFulu},
	} {
		epoch := farFutureEpoch
		if _, ok := values[f.name+"_FORK_EPOCH"]; ok {
			e, err := slotclock.SpecUint(values, f.name+"_FORK_EPOCH")
			if err != nil {
				return p, err
			}
			epoch = phase0.Epoch(e)
		}
		p.forks = append(p.forks, forkAt{f.version, epoch})
		switch f.version {
		case spec.DataVersionAltair:
			p.altairEpoch = epoch
		case spec.DataVersionElectra:
			p.electraEpoch = epoch
		}
	}
	for _, c := range []struct {
		name string
		dst  *uint64
	}{
		{"TARGET_AGGREGATORS_PER_COMMITTEE", &p.targetAggregatorsPerCommittee},
		{"SYNC_COMMITTEE_SIZE", &p.syncCommitteeSize},
		{"SYNC_COMMITTEE_SUBNET_COUNT", &p.syncCommitteeSubnetCount},
		{"TARGET_AGGREGATORS_PER_SYNC_SUBCOMMITTEE", &p.targetAggregatorsPerSyncSubcommittee},
		{"EPOCHS_PER_SYNC_COMMITTEE_PERIOD", &p.epochsPerSyncCommitteePeriod},
	} {
		v, err := slotclock.SpecUint(values, c.name)
		if err != nil {
			return p, err
		}
		if v == 0 {
			return p, fmt.Errorf("%w: %s must be positive", slotclock.ErrSpec, c.name)
		}
		*c.dst = v
	}
	if p.syncCommitteeSize < p.syncCommitteeSubnetCount {
		return p, fmt.Errorf("%w: SYNC_COMMITTEE_SIZE is smaller than SYNC_COMMITTEE_SUBNET_COUNT", slotclock.ErrSpec)
	}
	return p, nil
}

// versionAt returns the fork in effect at epoch.
func (p *chainParams) versionAt(epoch phase0.Epoch) spec.DataVersion {
	v := spec.DataVersionPhase0
	for _, f := range p.forks {
		if f.epoch != farFutureEpoch && f.epoch <= epoch {
			v = f.version
		}
	}
	return v
}

func (p *chainParams) isElectra(epoch phase0.Epoch) bool {
	return p.electraEpoch != farFutureEpoch && epoch >= p.electraEpoch
}

func (p *chainParams) isAltair(epoch phase0.Epoch) bool {
	return p.altairEpoch != farFutureEpoch && epoch >= p.altairEpoch
}

// syncPeriod is compute_sync_committee_period.
func (p *chainParams) syncPeriod(epoch phase0.Epoch) uint64 {
	return uint64(epoch) / p.epochsPerSyncCommitteePeriod
}

// subcommitteeSize is SYNC_COMMITTEE_SIZE // SYNC_COMMITTEE_SUBNET_COUNT.
func (p *chainParams) subcommitteeSize() uint64 {
	return p.syncCommitteeSize / p.syncCommitteeSubnetCount
}
