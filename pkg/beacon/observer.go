package beacon

import "time"

// Operation names a Beacon API call for logs and metric labels.
type Operation string

// Operations the pool performs; health checks use OpNodeSyncing and OpGenesis.
const (
	OpAggregateAttestation          Operation = "aggregate_attestation"
	OpAttestationData               Operation = "attestation_data"
	OpAttestationRewards            Operation = "attestation_rewards"
	OpAttesterDuties                Operation = "attester_duties"
	OpBeaconBlockHeader             Operation = "beacon_block_header"
	OpBeaconBlockRoot               Operation = "beacon_block_root"
	OpEvents                        Operation = "events"
	OpFinality                      Operation = "finality"
	OpFork                          Operation = "fork"
	OpForkSchedule                  Operation = "fork_schedule"
	OpGenesis                       Operation = "genesis"
	OpNodeSyncing                   Operation = "node_syncing"
	OpNodeVersion                   Operation = "node_version"
	OpProposal                      Operation = "proposal"
	OpProposerDuties                Operation = "proposer_duties"
	OpSpec                          Operation = "spec"
	OpSubmitAggregateAttestations   Operation = "submit_aggregate_attestations"
	OpSubmitAttestations            Operation = "submit_attestations"
	OpSubmitBeaconCommitteeSubs     Operation = "submit_beacon_committee_subscriptions"
	OpSubmitBlindedProposal         Operation = "submit_blinded_proposal"
	OpSubmitProposal                Operation = "submit_proposal"
	OpSubmitProposalPreparations    Operation = "submit_proposal_preparations"
	OpSubmitSyncCommitteeContribs   Operation = "submit_sync_committee_contributions"
	OpSubmitSyncCommitteeMessages   Operation = "submit_sync_committee_messages"
	OpSubmitSyncCommitteeSubs       Operation = "submit_sync_committee_subscriptions"
	OpSubmitValidatorRegistrations  Operation = "submit_validator_registrations"
	OpSubmitVoluntaryExit           Operation = "submit_voluntary_exit"
	OpSyncCommitteeContribution     Operation = "sync_committee_contribution"
	OpSyncCommitteeDuties           Operation = "sync_committee_duties"
	OpValidatorLiveness             Operation = "validator_liveness"
	OpValidators                    Operation = "validators"
	opSlotDuration                  Operation = "slot_duration"
	opSlotsPerEpoch                 Operation = "slots_per_epoch"
	opGenesisTime                   Operation = "genesis_time"
	opTargetAggregatorsPerCommittee Operation = "target_aggregators_per_committee"
)

// Outcome classifies how one request to one node ended.
type Outcome int

// Request outcomes. Only OutcomeFailed, OutcomeTimeout and OutcomeUnreachable
// count against a node's health.
const (
	// OutcomeSuccess is a 2xx answer.
	OutcomeSuccess Outcome = iota
	// OutcomeRejected is a 4xx answer: the node refused the request itself.
	OutcomeRejected
	// OutcomeFailed is a 5xx answer or an unusable response.
	OutcomeFailed
	// OutcomeTimeout is a request that took longer than the per-request timeout.
	OutcomeTimeout
	// OutcomeUnreachable is a transport failure (refused, reset, DNS).
	OutcomeUnreachable
	// OutcomeCanceled is a request abandoned because the caller's context ended.
	OutcomeCanceled
)

// String returns the outcome's name as used in logs and metric labels.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeRejected:
		return "rejected"
	case OutcomeFailed:
		return "failed"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeUnreachable:
		return "unreachable"
	default:
		return "canceled"
	}
}

// countsAgainstNode reports whether the outcome is the node's fault.
func (o Outcome) countsAgainstNode() bool {
	return o == OutcomeFailed || o == OutcomeTimeout || o == OutcomeUnreachable
}

// Request describes one finished request to one node.
type Request struct {
	// Node is the redacted URL of the node.
	Node string
	// Operation is the Beacon API call.
	Operation Operation
	// Duration is the round trip, including time spent waiting for a timeout.
	Duration time.Duration
	// Outcome says how the request ended.
	Outcome Outcome
}

// Observer receives the pool's per-request and per-node measurements, for
// the Prometheus monitor. Methods are called synchronously from the pool's
// goroutines and must return quickly.
type Observer interface {
	// RequestDone is called after every request to a node.
	RequestDone(Request)
	// NodeChanged is called when a node's State changes.
	NodeChanged(NodeStatus)
}

// nopObserver is the default Observer.
type nopObserver struct{}

func (nopObserver) RequestDone(Request)    {}
func (nopObserver) NodeChanged(NodeStatus) {}

// observerOf is one Observer reporting to several; none is the no-op observer.
func observerOf(obs []Observer) Observer {
	switch len(obs) {
	case 0:
		return nopObserver{}
	case 1:
		return obs[0]
	}
	return observers(obs)
}

type observers []Observer

func (os observers) RequestDone(r Request) {
	for _, o := range os {
		o.RequestDone(r)
	}
}

func (os observers) NodeChanged(s NodeStatus) {
	for _, o := range os {
		o.NodeChanged(s)
	}
}

// OnRecovery is an Observer that calls f (without blocking the pool: f must
// return at once) whenever a node becomes healthy again, e.g. to re-read
// the chain spec from a node that may have been upgraded while it was away.
func OnRecovery(f func()) Observer { return recoveryObserver(f) }

type recoveryObserver func()

func (recoveryObserver) RequestDone(Request) {}

func (f recoveryObserver) NodeChanged(s NodeStatus) {
	if s.State == StateHealthy {
		f()
	}
}
