package monitor

import (
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-eth/vigil/pkg/beacon"
)

// KeyState is one loaded key as the monitor counts it.
type KeyState struct {
	// Store is the kind of key store the key came from (vault, dir).
	Store string
	// Status is the beacon chain's validator status, or "unknown" while the
	// beacon node does not know the key.
	Status string
	// Watching is true while doppelganger protection still holds the key
	// back from signing.
	Watching bool
}

// State is what the monitor reads from the running client at scrape time,
// so that gauges always describe the present. Nil functions are skipped: a
// component not started yet has no gauges.
type State struct {
	// Keys lists the loaded keys.
	Keys func() []KeyState
	// Nodes lists the beacon nodes' health.
	Nodes func() []beacon.NodeStatus
	// VaultTokenTTL returns the Vault token's remaining lifetime, and false
	// when it does not expire or no Vault store is in use.
	VaultTokenTTL func() (time.Duration, bool)
	// Slot returns the current wall-clock slot.
	Slot func() phase0.Slot
	// SlashingDBUp reports whether the slashing database answers.
	SlashingDBUp func() bool
	// Ready reports whether /readyz would answer 200.
	Ready func() bool
}

// NodeUsable reports whether the pool may send requests to a node in this
// state: healthy, or on the right chain and answering while behind or
// without a verified execution payload.
func NodeUsable(s beacon.NodeState) bool {
	switch s {
	case beacon.StateHealthy, beacon.StateSyncing, beacon.StateOptimistic, beacon.StateELOffline:
		return true
	default:
		return false
	}
}

// NodeSynced reports whether a node is on the right chain, answering, and
// not syncing.
func NodeSynced(n beacon.NodeStatus) bool {
	return NodeUsable(n.State) && n.State != beacon.StateSyncing && !n.IsSyncing
}

var (
	descKeys        = desc("keys_loaded", "Validator keys loaded, by key store and beacon chain status.", "store", "status")
	descWatching    = desc("doppelganger_watching_keys", "Keys doppelganger protection still holds back from signing.")
	descNodeUp      = desc("beacon_node_up", "1 when the beacon node answers on the right chain (healthy or degraded).", "node")
	descNodeSynced  = desc("beacon_node_synced", "1 when the beacon node is usable and not syncing.", "node")
	descNodeHead    = desc("beacon_node_head_slot", "The beacon node's head slot at its last health check.", "node")
	descNodeDist    = desc("beacon_node_sync_distance", "How many slots the beacon node reports being behind.", "node")
	descNodeState   = desc("beacon_node_state", "1 for the beacon node's current health state.", "node", "state")
	descNodeLatency = desc("beacon_node_latency_seconds", "Moving average of the beacon node's successful round trips.", "node")
	descVaultTTL    = desc("vault_token_ttl_seconds", "Remaining lifetime of the Vault token vigil uses.")
	descSlot        = desc("chain_slot", "The current wall-clock slot.")
	descDBUp        = desc("slashing_db_up", "1 when the slashing-protection database answers.")
	descReady       = desc("ready", "1 when vigil is ready to sign (the /readyz checks pass).")
)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// StateCollector turns State into gauges at scrape time. Each component
// sets its part as it starts.
type StateCollector struct {
	mu sync.Mutex
	s  State
}

// NewStateCollector returns a collector exporting s at each scrape.
func NewStateCollector(s State) *StateCollector { return &StateCollector{s: s} }

// SetKeys sets the source of the keys-loaded gauges.
func (c *StateCollector) SetKeys(f func() []KeyState) { c.mu.Lock(); c.s.Keys = f; c.mu.Unlock() }

// SetNodes sets the source of the beacon node gauges.
func (c *StateCollector) SetNodes(f func() []beacon.NodeStatus) {
	c.mu.Lock()
	c.s.Nodes = f
	c.mu.Unlock()
}

// SetVaultTokenTTL sets the source of the Vault token lifetime gauge.
func (c *StateCollector) SetVaultTokenTTL(f func() (time.Duration, bool)) {
	c.mu.Lock()
	c.s.VaultTokenTTL = f
	c.mu.Unlock()
}

// SetSlot sets the source of the chain slot gauge.
func (c *StateCollector) SetSlot(f func() phase0.Slot) { c.mu.Lock(); c.s.Slot = f; c.mu.Unlock() }

// SetSlashingDBUp sets the source of the slashing database gauge.
func (c *StateCollector) SetSlashingDBUp(f func() bool) {
	c.mu.Lock()
	c.s.SlashingDBUp = f
	c.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descKeys, descWatching, descNodeUp, descNodeSynced, descNodeHead, descNodeDist,
		descNodeState, descNodeLatency, descVaultTTL, descSlot, descDBUp, descReady} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	st := c.s
	c.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	if st.Keys != nil {
		counts := map[[2]string]int{}
		watching := 0
		for _, k := range st.Keys() {
			counts[[2]string{k.Store, k.Status}]++
			if k.Watching {
				watching++
			}
		}
		for k, n := range counts {
			gauge(descKeys, float64(n), k[0], k[1])
		}
		gauge(descWatching, float64(watching))
	}
	if st.Nodes != nil {
		for _, n := range st.Nodes() {
			gauge(descNodeUp, b2f(NodeUsable(n.State)), n.URL)
			gauge(descNodeSynced, b2f(NodeSynced(n)), n.URL)
			gauge(descNodeHead, float64(n.HeadSlot), n.URL)
			gauge(descNodeDist, float64(n.SyncDistance), n.URL)
			gauge(descNodeState, 1, n.URL, n.State.String())
			gauge(descNodeLatency, n.Latency.Seconds(), n.URL)
		}
	}
	if st.VaultTokenTTL != nil {
		if ttl, ok := st.VaultTokenTTL(); ok {
			gauge(descVaultTTL, ttl.Seconds())
		}
	}
	if st.Slot != nil {
		gauge(descSlot, float64(st.Slot()))
	}
	if st.SlashingDBUp != nil {
		gauge(descDBUp, b2f(st.SlashingDBUp()))
	}
	if st.Ready != nil {
		gauge(descReady, b2f(st.Ready()))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
