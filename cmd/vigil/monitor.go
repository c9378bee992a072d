package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/duties/slotclock"
	"github.com/vigil-eth/vigil/pkg/monitor"
)

const (
	flagMetricsAddress        = "metrics-address"
	flagMetricsValidatorLimit = "metrics-validator-limit"
	flagEnablePprof           = "enable-pprof"

	defaultMetricsAddress = "127.0.0.1:9465"
	defaultValidatorLimit = 64
)

// monitorConfig is the validated monitor part of validator run's flags.
type monitorConfig struct {
	address        string
	validatorLimit int
	pprof          bool
}

func parseMonitorConfig(c interface {
	String(string) string
	Int(string) int
	Bool(string) bool
}) (monitorConfig, error) {
	mc := monitorConfig{address: strings.TrimSpace(c.String(flagMetricsAddress)), validatorLimit: c.Int(flagMetricsValidatorLimit), pprof: c.Bool(flagEnablePprof)}
	if mc.validatorLimit < 0 {
		return mc, fmt.Errorf("--%s %d: want 0 or more keys", flagMetricsValidatorLimit, mc.validatorLimit)
	}
	if mc.address != "" {
		if _, _, err := net.SplitHostPort(mc.address); err != nil {
			return mc, fmt.Errorf("--%s %q: want host:port such as %s, or empty to disable metrics and health", flagMetricsAddress, mc.address, defaultMetricsAddress)
		}
	}
	if mc.pprof && mc.address == "" {
		return mc, fmt.Errorf("--%s needs --%s: pprof is served on the monitor listener", flagEnablePprof, flagMetricsAddress)
	}
	return mc, nil
}

// The parts of the running client the monitor reads. Each is set once the
// component has started; until then the readiness check names what is
// still starting.
type (
	monitoredDB interface {
		GenesisValidatorsRoot(ctx context.Context) (phase0.Root, bool, error)
		String() string
	}
	monitoredPool   interface{ Nodes() []beacon.NodeStatus }
	monitoredKeys   interface{ Pubkeys() []phase0.BLSPubKey }
	monitoredDuties interface {
		Validators() []duties.ValidatorStatus
		SlotClock() *slotclock.SlotClock
	}
	// tokenTTLer is a key store whose credentials expire: a Vault token.
	tokenTTLer interface {
		TokenTTL() (time.Duration, bool)
	}
)

// runMonitor is validator run's monitor: metrics, health and the status
// route. Its listener starts first, so /healthz answers and /readyz says
// what vigil waits for while it connects.
type runMonitor struct {
	cfg     monitorConfig
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *monitor.Metrics
	health  *monitor.Health
	server  *monitor.Server

	mu         sync.Mutex
	db         monitoredDB
	pool       monitoredPool
	keys       monitoredKeys
	duties     monitoredDuties
	vault      tokenTTLer
	origins    *keyOrigins
	validators http.Handler
}

func newRunMonitor(cfg monitorConfig, log *slog.Logger, origins *keyOrigins) (*runMonitor, error) {
	m := &runMonitor{cfg: cfg, log: log, reg: prometheus.NewRegistry(), origins: origins}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.metrics = monitor.NewMetrics(m.reg, version)
	m.health = monitor.NewHealth(
		monitor.Check{Name: "keys_loaded", Run: m.checkKeys},
		monitor.Check{Name: "beacon_node", Run: m.checkBeacon},
		monitor.Check{Name: "slashing_db", Run: m.checkDB},
		monitor.Check{Name: "doppelganger", Run: m.checkDoppelganger},
	)
	m.reg.MustRegister(monitor.NewStateCollector(monitor.State{
		Keys:          m.keyStates,
		Nodes:         m.nodes,
		VaultTokenTTL: m.vaultTTL,
		Slot:          m.slot,
		SlashingDBUp:  m.dbUp,
		Ready:         func() bool { return m.health.Ready(context.Background()).Ready() },
	}))
	if cfg.address == "" {
		log.Warn("Metrics and health endpoints are off (--" + flagMetricsAddress + " is empty): nothing will alert on missed duties")
		return m, nil
	}
	if host, _, _ := net.SplitHostPort(cfg.address); !isLoopback(host) {
		log.Warn("The monitor listener is reachable beyond this machine: its metrics name your validators; firewall it",
			slog.String("address", cfg.address))
	}
	h := monitor.NewHandler(monitor.HandlerConfig{
		Gatherer: m.reg, Health: m.health, Pprof: cfg.pprof,
		Validators: http.HandlerFunc(m.serveValidators),
	})
	srv, err := monitor.Listen(cfg.address, h, log)
	if err != nil {
		return nil, fmt.Errorf("%w (choose another with --%s, or leave it empty to disable metrics)", err, flagMetricsAddress)
	}
	m.server = srv
	return m, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// serve runs the listener until ctx ends; a listener that dies is logged,
// not fatal: duties matter more than their metrics.
func (m *runMonitor) serve(ctx context.Context) {
	if m.server == nil {
		return
	}
	if err := m.server.Serve(ctx); err != nil {
		m.log.Error("Metrics and health listener stopped", slog.Any("error", err))
	}
}

func (m *runMonitor) setDB(db monitoredDB)    { m.mu.Lock(); m.db = db; m.mu.Unlock() }
func (m *runMonitor) setPool(p monitoredPool) { m.mu.Lock(); m.pool = p; m.mu.Unlock() }
func (m *runMonitor) setKeys(k monitoredKeys) { m.mu.Lock(); m.keys = k; m.mu.Unlock() }
func (m *runMonitor) setVault(v tokenTTLer)   { m.mu.Lock(); m.vault = v; m.mu.Unlock() }
func (m *runMonitor) setDuties(d monitoredDuties) {
	m.mu.Lock()
	m.duties = d
	m.mu.Unlock()
}

// setValidators installs the /api/v1/validators handler once the
// performance tracker runs.
func (m *runMonitor) setValidators(h http.Handler) { m.mu.Lock(); m.validators = h; m.mu.Unlock() }

func (m *runMonitor) get() (monitoredDB, monitoredPool, monitoredKeys, monitoredDuties, tokenTTLer) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.db, m.pool, m.keys, m.duties, m.vault
}

func (m *runMonitor) serveValidators(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	h := m.validators
	m.mu.Unlock()
	if h == nil {
		http.Error(w, "vigil is still starting: the validator table is not available yet", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

var errStarting = errors.New("starting")

func (m *runMonitor) checkKeys(context.Context) (string, error) {
	_, _, keys, _, _ := m.get()
	if keys == nil {
		return "", fmt.Errorf("%w: keys not loaded yet", errStarting)
	}
	n := len(keys.Pubkeys())
	if n == 0 {
		return "", errors.New("no validator keys loaded: add keys to the key stores (picked up on the next poll or SIGHUP)")
	}
	return fmt.Sprintf("%d keys", n), nil
}

func (m *runMonitor) checkBeacon(context.Context) (string, error) {
	_, pool, _, _, _ := m.get()
	if pool == nil {
		return "", fmt.Errorf("%w: no beacon node connected yet", errStarting)
	}
	var states []string
	for _, n := range pool.Nodes() {
		if monitor.NodeSynced(n) {
			return fmt.Sprintf("%s synced, head slot %d", n.URL, n.HeadSlot), nil
		}
		states = append(states, n.URL+" "+n.State.String())
	}
	return "", fmt.Errorf("no synced beacon node: %s", strings.Join(states, ", "))
}

func (m *runMonitor) checkDB(ctx context.Context) (string, error) {
	db, _, _, _, _ := m.get()
	if db == nil {
		return "", fmt.Errorf("%w: slashing database not open yet", errStarting)
	}
	if _, _, err := db.GenesisValidatorsRoot(ctx); err != nil {
		return "", fmt.Errorf("slashing database %s does not answer: %w", db, err)
	}
	return db.String(), nil
}

// dbUp is checkDB for the scrape, bounded like a readiness check so that a
// hung database cannot hang Prometheus's scrape.
func (m *runMonitor) dbUp() bool {
	ctx, cancel := context.WithTimeout(context.Background(), dbUpTimeout)
	defer cancel()
	_, err := m.checkDB(ctx)
	return err == nil
}

// dbUpTimeout bounds the scrape-time database check.
const dbUpTimeout = 2 * time.Second

func (m *runMonitor) checkDoppelganger(context.Context) (string, error) {
	_, _, _, d, _ := m.get()
	if d == nil {
		return "", fmt.Errorf("%w: duties not started yet", errStarting)
	}
	watching, signing := 0, 0
	for _, v := range d.Validators() {
		switch {
		case v.Known && !v.Signing:
			watching++
		case v.Signing:
			signing++
		}
	}
	if watching > 0 {
		return "", fmt.Errorf("doppelganger protection still watching %d keys", watching)
	}
	return fmt.Sprintf("%d keys signing", signing), nil
}

func (m *runMonitor) keyStates() []monitor.KeyState {
	_, _, _, d, _ := m.get()
	if d == nil {
		return nil
	}
	vals := d.Validators()
	out := make([]monitor.KeyState, 0, len(vals))
	for _, v := range vals {
		st := "unknown"
		if v.Known && v.Status.String() != "" {
			st = v.Status.String()
		}
		out = append(out, monitor.KeyState{Store: m.origins.get(v.Pubkey), Status: st, Watching: v.Known && !v.Signing})
	}
	return out
}

func (m *runMonitor) nodes() []beacon.NodeStatus {
	_, pool, _, _, _ := m.get()
	if pool == nil {
		return nil
	}
	return pool.Nodes()
}

func (m *runMonitor) vaultTTL() (time.Duration, bool) {
	_, _, _, _, v := m.get()
	if v == nil {
		return 0, false
	}
	return v.TokenTTL()
}

func (m *runMonitor) slot() phase0.Slot {
	_, _, _, d, _ := m.get()
	if d == nil {
		return 0
	}
	return d.SlotClock().CurrentSlot()
}

// keyOrigins remembers which key store each loaded key came from, for the
// keys-loaded metric.
type keyOrigins struct {
	mu sync.Mutex
	m  map[phase0.BLSPubKey]string
}

func newKeyOrigins() *keyOrigins { return &keyOrigins{m: map[phase0.BLSPubKey]string{}} }

func (o *keyOrigins) set(pk phase0.BLSPubKey, store string) {
	if o == nil {
		return
	}
	o.mu.Lock()
	o.m[pk] = store
	o.mu.Unlock()
}

func (o *keyOrigins) get(pk phase0.BLSPubKey) string {
	if o == nil {
		return "unknown"
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if s, ok := o.m[pk]; ok {
		return s
	}
	return "unknown"
}

// dutyObservers fans duty reports out to the live log and the metrics.
type dutyObservers []duties.Observer

func (os dutyObservers) Scheduled(kind duties.Kind, slot phase0.Slot, n int) {
	for _, o := range os {
		o.Scheduled(kind, slot, n)
	}
}

func (os dutyObservers) Performed(kind duties.Kind, slot phase0.Slot, n int, intoSlot time.Duration) {
	for _, o := range os {
		o.Performed(kind, slot, n, intoSlot)
	}
}

func (os dutyObservers) Failed(kind duties.Kind, slot phase0.Slot, n int, err error) {
	for _, o := range os {
		o.Failed(kind, slot, n, err)
	}
}
