package beacon

import (
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// NodeState is the health verdict for one beacon node.
type NodeState int

// Node states, from least to most usable. Only StateHealthy nodes serve reads
// and submissions while any node is healthy; see docs/beacon.md.
const (
	// StateUnknown is a node that has not been checked yet.
	StateUnknown NodeState = iota
	// StateWrongChain is a node whose genesis differs from the pool's chain; it is never used.
	StateWrongChain
	// StateUnreachable is a node whose last health check or request failed at the transport level or timed out.
	StateUnreachable
	// StateUnidentified is a reachable node whose genesis could not be fetched yet, so its chain is unknown.
	StateUnidentified
	// StateSyncing is a node that reports is_syncing or is further behind than the allowed sync distance.
	StateSyncing
	// StateOptimistic is a node whose head is optimistic (execution payload not yet verified).
	StateOptimistic
	// StateELOffline is a node that reports its execution client offline.
	StateELOffline
	// StateHealthy is a reachable, synced node on the pool's chain.
	StateHealthy
)

// String returns the state's name as used in logs and metric labels.
func (s NodeState) String() string {
	switch s {
	case StateWrongChain:
		return "wrong_chain"
	case StateUnreachable:
		return "unreachable"
	case StateUnidentified:
		return "unidentified"
	case StateSyncing:
		return "syncing"
	case StateOptimistic:
		return "optimistic"
	case StateELOffline:
		return "el_offline"
	case StateHealthy:
		return "healthy"
	default:
		return "unknown"
	}
}

// degraded reports whether a node in this state may still be used when no
// node is healthy: it is on the right chain and answers, but is behind or
// cannot vouch for its execution payloads.
func (s NodeState) degraded() bool {
	return s == StateSyncing || s == StateOptimistic || s == StateELOffline
}

// NodeStatus is a snapshot of one beacon node's health for the monitor and
// for operators.
type NodeStatus struct {
	// URL is the node's address with any credentials, path and query removed.
	URL string
	// Index is the node's position in the preference order, from 0.
	Index int
	// State is the health verdict.
	State NodeState
	// Version is the node's self-reported version string, when known.
	Version string
	// HeadSlot, SyncDistance, IsSyncing, IsOptimistic and ELOffline are the
	// node's last /eth/v1/node/syncing answer.
	HeadSlot     phase0.Slot
	SyncDistance phase0.Slot
	IsSyncing    bool
	IsOptimistic bool
	ELOffline    bool
	// Latency is an exponentially weighted moving average of successful
	// request round trips; zero until the first success.
	Latency time.Duration
	// Requests and Failures count requests made to the node by the pool,
	// health checks included; requests the node rejected as invalid (4xx) are
	// not failures.
	Requests uint64
	Failures uint64
	// ConsecutiveFailures is the number of failures since the last success.
	ConsecutiveFailures int
	// LastError is the redacted text of the most recent failure, if any.
	LastError string
	// LastCheck is when the last health check finished.
	LastCheck time.Time
}

// Usable reports whether the pool sends reads and submissions to the node
// while at least one node is healthy.
func (s NodeStatus) Usable() bool {
	return s.State == StateHealthy
}
