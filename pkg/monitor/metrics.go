package monitor

import (
	"log/slog"
	"runtime"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/duties"
	"github.com/vigil-eth/vigil/pkg/signer"
)

// namespace prefixes every metric vigil exports.
const namespace = "vigil"

// Buckets are chosen for what each histogram measures: a signature is due
// within milliseconds, a commit within a few, a beacon node answers within
// seconds, and a duty lands somewhere in a slot (12 s on mainnet, less on
// test networks).
var (
	signingBuckets   = prometheus.ExponentialBuckets(0.0005, 2, 14)  // 0.5 ms .. 4 s
	commitBuckets    = prometheus.ExponentialBuckets(0.00025, 2, 14) // 0.25 ms .. 2 s
	requestBuckets   = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16}
	submissionBucket = []float64{0.1, 0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 12, 16, 24}
)

// Metrics holds vigil's operational metrics. Its Beacon, Signer and Duties
// methods return the observers the corresponding packages report to.
type Metrics struct {
	dutiesScheduled  *prometheus.CounterVec
	dutiesPerformed  *prometheus.CounterVec
	dutiesFailed     *prometheus.CounterVec
	submissionDelay  *prometheus.HistogramVec
	signatures       *prometheus.CounterVec
	signingDuration  *prometheus.HistogramVec
	refusals         *prometheus.CounterVec
	signingFailures  *prometheus.CounterVec
	commitDuration   *prometheus.HistogramVec
	dbErrors         prometheus.Counter
	requestDuration  *prometheus.HistogramVec
	requests         *prometheus.CounterVec
	nodeErrors       *prometheus.CounterVec
	doppelgangerSeen prometheus.Counter
}

// NewMetrics creates the operational metrics and registers them, with the
// build information, on reg.
func NewMetrics(reg prometheus.Registerer, version string) *Metrics {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Name: name, Help: help}, labels)
	}
	histogram := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		return prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Name: name, Help: help, Buckets: buckets}, labels)
	}
	m := &Metrics{
		dutiesScheduled: counter("duties_scheduled_total", "Duties scheduled, by kind.", "kind"),
		dutiesPerformed: counter("duties_performed_total", "Duties signed and submitted, by kind.", "kind"),
		dutiesFailed:    counter("duties_failed_total", "Duties not done, by kind.", "kind"),
		submissionDelay: histogram("duty_submission_delay_seconds", "Time into the slot at which a duty was submitted, by kind.", submissionBucket, "kind"),
		signatures:      counter("signatures_total", "Signatures released by the signer, by message kind.", "kind"),
		signingDuration: histogram("signing_duration_seconds",
			"Time from a signing request to its signatures, slashing-protection commit included, by message kind.", signingBuckets, "kind"),
		refusals: counter("signing_refusals_total", "Messages the signer refused to sign, by message kind and rule.", "kind", "reason"),
		signingFailures: counter("signing_failures_total",
			"Messages not signed because of an infrastructure error (slashing database, cancellation), by message kind.", "kind"),
		commitDuration: histogram("slashing_db_commit_duration_seconds",
			"Time to check and durably record a batch in the slashing-protection database, by message kind.", commitBuckets, "kind"),
		dbErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "slashing_db_errors_total",
			Help: "Slashing-protection database calls that failed (nothing was signed for them)."}),
		requestDuration: histogram("beacon_node_request_duration_seconds", "Beacon API round trips, by node and operation.", requestBuckets, "node", "operation"),
		requests:        counter("beacon_node_requests_total", "Beacon API requests, by node, operation and outcome.", "node", "operation", "outcome"),
		nodeErrors: counter("beacon_node_errors_total",
			"Beacon API requests that failed through the node's fault (5xx, timeout, unreachable), by node and operation.", "node", "operation"),
		doppelgangerSeen: prometheus.NewCounter(prometheus.CounterOpts{Namespace: namespace, Name: "doppelganger_detected_total",
			Help: "Times doppelganger protection saw one of vigil's keys live elsewhere (vigil then stops with exit code 2)."}),
	}
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Name: "build_info",
		Help: "Always 1; the labels name the running build."}, []string{"version", "go_version"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	reg.MustRegister(m.dutiesScheduled, m.dutiesPerformed, m.dutiesFailed, m.submissionDelay, m.signatures,
		m.signingDuration, m.refusals, m.signingFailures, m.commitDuration, m.dbErrors, m.requestDuration,
		m.requests, m.nodeErrors, m.doppelgangerSeen, buildInfo)
	return m
}

// Beacon returns the observer for the beacon node pool.
func (m *Metrics) Beacon() beacon.Observer { return beaconObserver{m} }

// Signer returns the observer for the signer.
func (m *Metrics) Signer() signer.Observer { return signerObserver{m} }

// Duties returns the observer for the duties.
func (m *Metrics) Duties() duties.Observer { return dutiesObserver{m} }

// DoppelgangerDetected counts a doppelganger sighting.
func (m *Metrics) DoppelgangerDetected() { m.doppelgangerSeen.Inc() }

type beaconObserver struct{ m *Metrics }

func (o beaconObserver) RequestDone(r beacon.Request) {
	op := string(r.Operation)
	o.m.requests.WithLabelValues(r.Node, op, r.Outcome.String()).Inc()
	if r.Outcome != beacon.OutcomeCanceled {
		o.m.requestDuration.WithLabelValues(r.Node, op).Observe(r.Duration.Seconds())
	}
	switch r.Outcome {
	case beacon.OutcomeFailed, beacon.OutcomeTimeout, beacon.OutcomeUnreachable:
		o.m.nodeErrors.WithLabelValues(r.Node, op).Inc()
	}
}

// NodeChanged is a no-op: node gauges are read from the pool at scrape time,
// so they can never go stale.
func (beaconObserver) NodeChanged(beacon.NodeStatus) {}

type signerObserver struct{ m *Metrics }

func (o signerObserver) Signed(kind signer.Kind, n int, took time.Duration) {
	if n <= 0 {
		return
	}
	o.m.signatures.WithLabelValues(string(kind)).Add(float64(n))
	o.m.signingDuration.WithLabelValues(string(kind)).Observe(took.Seconds())
}

func (o signerObserver) Refused(kind signer.Kind, reason signer.Reason) {
	o.m.refusals.WithLabelValues(string(kind), string(reason)).Inc()
}

func (o signerObserver) Failed(kind signer.Kind, n int) {
	o.m.signingFailures.WithLabelValues(string(kind)).Add(float64(n))
}

// SlashingDB times each durable check-and-record, as the signer reports it,
// and counts the calls that failed.
func (o signerObserver) SlashingDB(kind signer.Kind, took time.Duration, err error) {
	if err != nil {
		o.m.dbErrors.Inc()
		return
	}
	o.m.commitDuration.WithLabelValues(string(kind)).Observe(took.Seconds())
}

type dutiesObserver struct{ m *Metrics }

func (o dutiesObserver) Scheduled(kind signer.Kind, _ phase0.Slot, n int) {
	o.m.dutiesScheduled.WithLabelValues(string(kind)).Add(float64(n))
}

func (o dutiesObserver) Performed(kind signer.Kind, _ phase0.Slot, n int, intoSlot time.Duration) {
	o.m.dutiesPerformed.WithLabelValues(string(kind)).Add(float64(n))
	// Subscriptions are sent ahead of their slot; a negative delay says
	// nothing about timeliness.
	if intoSlot >= 0 {
		o.m.submissionDelay.WithLabelValues(string(kind)).Observe(intoSlot.Seconds())
	}
}

func (o dutiesObserver) Failed(kind signer.Kind, _ phase0.Slot, n int, _ error) {
	o.m.dutiesFailed.WithLabelValues(string(kind)).Add(float64(n))
}

// DutyLog is the live log of duties: one info line per duty batch done, one
// warning per batch failed, scheduling at debug level.
func DutyLog(log *slog.Logger) duties.Observer { return dutyLog{log} }

type dutyLog struct{ log *slog.Logger }

func (l dutyLog) Scheduled(kind signer.Kind, slot phase0.Slot, n int) {
	l.log.Debug("Duty scheduled", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n))
}

func (l dutyLog) Performed(kind signer.Kind, slot phase0.Slot, n int, intoSlot time.Duration) {
	l.log.Info("Duty", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n),
		slog.String("result", "ok"), slog.Duration("into_slot", intoSlot.Round(time.Millisecond)))
}

func (l dutyLog) Failed(kind signer.Kind, slot phase0.Slot, n int, err error) {
	l.log.Warn("Duty", slog.Uint64("slot", uint64(slot)), slog.String("kind", string(kind)), slog.Int("validators", n),
		slog.String("result", "failed"), slog.Any("error", err))
}
