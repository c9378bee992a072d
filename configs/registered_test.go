package configs

import (
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/monitor"
	"github.com/vigil-eth/vigil/pkg/monitor/perf"
)

// recordingRegisterer keeps what is registered, so its descriptors can be
// read even for vectors that have no series yet (Gather skips those).
type recordingRegisterer struct{ collectors []prometheus.Collector }

func (r *recordingRegisterer) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *recordingRegisterer) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *recordingRegisterer) Unregister(prometheus.Collector) bool { return false }

// TestDesignMetricsAreRegistered closes the loop between the dashboard and
// alerts (checked against designMetrics) and the code: every design metric
// is one that vigil's collectors describe, and every vigil_ metric they
// describe is in the design, so neither side can drift alone.
func TestDesignMetricsAreRegistered(t *testing.T) {
	reg := &recordingRegisterer{}
	monitor.NewMetrics(reg, "test")
	reg.MustRegister(
		monitor.NewStateCollector(monitor.State{}),
		perf.NewTracker(nil, chaintest.Fixed(*chaintest.Spec(time.Unix(0, 0)))),
	)

	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	described := map[string]bool{}
	descs := make(chan *prometheus.Desc)
	go func() {
		defer close(descs)
		for _, c := range reg.collectors {
			c.Describe(descs)
		}
	}()
	for d := range descs {
		m := fqName.FindStringSubmatch(d.String())
		require.NotNil(t, m, "descriptor %s", d)
		described[m[1]] = true
	}

	// Exported for operators who want them, not used by the dashboard.
	undesigned := map[string]bool{"vigil_beacon_node_state": true, "vigil_beacon_node_latency_seconds": true}
	var missing, extra []string
	for name := range designMetrics {
		if !described[name] {
			missing = append(missing, name)
		}
	}
	for name := range described {
		if _, ok := designMetrics[name]; !ok && !undesigned[name] {
			extra = append(extra, name)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	require.Empty(t, missing, "design metrics no collector describes")
	require.Empty(t, extra, "metrics the code exports that the design (and so the dashboard check) does not know")
}
