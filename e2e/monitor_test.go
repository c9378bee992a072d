package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
)

// httpGet fetches url from vigil's monitor listener.
func httpGet(ctx context.Context, t *testing.T, url string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "GET %s", url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// metrics is one scrape of vigil's /metrics.
type metrics map[string]*dto.MetricFamily

func scrape(ctx context.Context, t *testing.T, addr string) metrics {
	t.Helper()
	code, body := httpGet(ctx, t, "http://"+addr+"/metrics")
	require.Equal(t, http.StatusOK, code)
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	require.NoError(t, err)
	return mfs
}

// series returns every series of name as label set → value (counters,
// gauges; histograms give their sample count).
func (m metrics) series(name string) map[string]float64 {
	out := map[string]float64{}
	mf, ok := m[name]
	if !ok {
		return out
	}
	for _, s := range mf.GetMetric() {
		var labels []string
		for _, l := range s.GetLabel() {
			labels = append(labels, l.GetName()+"="+l.GetValue())
		}
		key := strings.Join(labels, ",")
		switch {
		case s.Gauge != nil:
			out[key] = s.GetGauge().GetValue()
		case s.Counter != nil:
			out[key] = s.GetCounter().GetValue()
		case s.Histogram != nil:
			out[key] = float64(s.GetHistogram().GetSampleCount())
		}
	}
	return out
}

// value returns the series of name with exactly labels (k=v,...).
func (m metrics) value(t *testing.T, name, labels string) float64 {
	t.Helper()
	v, ok := m.series(name)[labels]
	require.True(t, ok, "no series %s{%s}; have %v", name, labels, m.series(name))
	return v
}

func (m metrics) sum(name string) float64 {
	var s float64
	for _, v := range m.series(name) {
		s += v
	}
	return s
}

// readyReport is vigil's /readyz body.
type readyReport struct {
	Status string `json:"status"`
	Checks []struct {
		Name   string `json:"name"`
		OK     bool   `json:"ok"`
		Detail string `json:"detail"`
	} `json:"checks"`
}

// checkHealth checks /healthz and /readyz of a running vigil that has
// started its duties.
func checkHealth(ctx context.Context, t *testing.T, addr string) {
	t.Helper()
	code, body := httpGet(ctx, t, "http://"+addr+"/healthz")
	require.Equal(t, http.StatusOK, code)
	require.JSONEq(t, `{"status":"alive"}`, string(body))
	code, body = httpGet(ctx, t, "http://"+addr+"/readyz")
	var rep readyReport
	require.NoError(t, json.Unmarshal(body, &rep), "%s", body)
	require.Equal(t, http.StatusOK, code, "readyz: %s", body)
	require.Equal(t, "ready", rep.Status)
	names := map[string]bool{}
	for _, c := range rep.Checks {
		require.True(t, c.OK, "check %s: %s", c.Name, c.Detail)
		names[c.Name] = true
	}
	require.Equal(t, map[string]bool{"keys_loaded": true, "beacon_node": true, "slashing_db": true, "doppelganger": true, "chain_spec": true}, names)
}

// holdBackKeys moves n keystores (with their passwords) out of a keystore
// directory, to be put back with restoreKeys.
func holdBackKeys(t *testing.T, keysDir, heldDir string, pubkeys []string) {
	t.Helper()
	for _, sub := range []string{"validators", "secrets"} {
		require.NoError(t, os.MkdirAll(filepath.Join(heldDir, sub), 0o700))
		for _, pk := range pubkeys {
			require.NoError(t, os.Rename(filepath.Join(keysDir, sub, pk), filepath.Join(heldDir, sub, pk)))
		}
	}
}

func restoreKeys(t *testing.T, keysDir, heldDir string, pubkeys []string) {
	t.Helper()
	// Secrets first: a keystore whose password is missing must never be seen.
	for _, sub := range []string{"secrets", "validators"} {
		for _, pk := range pubkeys {
			require.NoError(t, os.Rename(filepath.Join(heldDir, sub, pk), filepath.Join(keysDir, sub, pk)))
		}
	}
}

// sighup asks a running vigil to reload its key stores.
func (p *vigilProcess) sighup(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGHUP))
}

// statusRow is the part of `vigil status --format json` the test reads.
type statusRow struct {
	Pubkey string `json:"pubkey"`
	Index  uint64 `json:"index"`
	Status string `json:"status"`
}

// parseStatus reads `vigil status --format json` output: an array of rows,
// or an object holding one under "validators".
func parseStatus(t *testing.T, out string) []statusRow {
	t.Helper()
	var rows []statusRow
	if err := json.Unmarshal([]byte(out), &rows); err == nil {
		return rows
	}
	var wrapped struct {
		Validators []statusRow `json:"validators"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &wrapped), "vigil status --format json:\n%s", out)
	return wrapped.Validators
}

func labelIndex(i uint64, pk string) string {
	return fmt.Sprintf("index=%d,pubkey=%s", i, pk)
}

func parseUintLabel(t *testing.T, labels, name string) uint64 {
	t.Helper()
	for _, kv := range strings.Split(labels, ",") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			n, err := strconv.ParseUint(v, 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no label %s in %s", name, labels)
	return 0
}

// monitorCheck is what checkMonitor compares vigil's monitor against.
type monitorCheck struct {
	addr        string
	vigil       *vigilCLI
	node        beaconAPI
	stoppedNode string
	liveNode    string
	indices     []uint64
	pubkeyOf    map[uint64]string
	// big is the index of the 0x02 validator deposited with 64 ETH: its
	// balance above 32 ETH must show (EIP-7251).
	big uint64
	// fork is the fork the chain is on, as `vigil status` must name it.
	fork string
}

// checkMonitor is issue 5's devnet check: health and readiness, the
// operational metrics, and the per-validator performance vigil reports
// against the beacon node's own rewards, then `vigil status`.
func checkMonitor(ctx context.Context, t *testing.T, c monitorCheck) monitorView {
	t.Helper()
	checkHealth(ctx, t, c.addr)
	m := scrape(ctx, t, c.addr)

	require.Equal(t, 1.0, m.sum("vigil_ready"))
	require.Equal(t, 1.0, m.sum("vigil_build_info"))
	require.Equal(t, float64(len(c.indices)), m.sum("vigil_keys_loaded"), "keys loaded: %v", m.series("vigil_keys_loaded"))
	stores := map[string]float64{}
	for labels, v := range m.series("vigil_keys_loaded") {
		for _, kv := range strings.Split(labels, ",") {
			if s, ok := strings.CutPrefix(kv, "store="); ok {
				stores[s] += v
			}
		}
	}
	require.Equal(t, map[string]float64{"vault": halfValidators, "dir": halfValidators}, stores)
	require.Zero(t, m.sum("vigil_doppelganger_watching_keys"))
	require.Equal(t, 1.0, m.sum("vigil_slashing_db_up"))
	require.Zero(t, m.sum("vigil_signing_refusals_total"), "refusals: %v", m.series("vigil_signing_refusals_total"))

	up := m.series("vigil_beacon_node_up")
	require.Equal(t, 0.0, up["node="+c.stoppedNode], "stopped node: %v", up)
	require.Equal(t, 1.0, up["node="+c.liveNode], "live node: %v", up)
	require.Positive(t, m.sum("vigil_beacon_node_errors_total"), "the stopped node's failures are counted")

	for _, kind := range []string{"attestation", "sync_committee_message", "proposer_preparation"} {
		require.Positive(t, m.value(t, "vigil_duties_performed_total", "kind="+kind), "duties performed: %s", kind)
		require.Positive(t, m.value(t, "vigil_duty_submission_delay_seconds", "kind="+kind), "submission delay observed: %s", kind)
	}
	require.Positive(t, m.value(t, "vigil_signatures_total", "kind=attestation"))
	require.Positive(t, m.value(t, "vigil_signing_duration_seconds", "kind=attestation"))
	require.Positive(t, m.value(t, "vigil_slashing_db_commit_duration_seconds", "kind=attestation"))

	// Performance: vigil's view of the last evaluated epoch must be the
	// beacon node's, validator by validator.
	epoch := uint64(m.sum("vigil_performance_epoch"))
	require.GreaterOrEqual(t, epoch, uint64(lastCheckedEpoch-1), "the performance tracker lags")
	rewards, ok := c.node.attestationRewards(ctx, epoch, c.indices)
	require.True(t, ok, "rewards for epoch %d", epoch)
	flags := map[string]func(attestationReward) bool{
		"vigil_validator_attestation_head_correct":   func(r attestationReward) bool { return r.Head },
		"vigil_validator_attestation_target_correct": func(r attestationReward) bool { return r.Target },
		"vigil_validator_attestation_source_correct": func(r attestationReward) bool { return r.Source },
	}
	var included int
	for _, i := range c.indices {
		labels := labelIndex(i, c.pubkeyOf[i])
		r := rewards[i]
		for name, want := range flags {
			require.Equal(t, b2f(want(r)), m.value(t, name, labels), "%s for validator %d in epoch %d", name, i, epoch)
		}
		if m.value(t, "vigil_validator_attestation_included", labels) == 1 {
			included++
		}
	}
	require.Positive(t, m.value(t, "vigil_attestations_total", "result=included"))
	t.Logf("monitor: performance epoch %d, %d of %d attestations included; readyz ready; %d beacon node errors counted",
		epoch, included, len(c.indices), int(m.sum("vigil_beacon_node_errors_total")))

	// Balances: the state at the first slot of E+1, and the change since E's.
	end, start := c.node.balances(ctx, (epoch+1)*slotsPerEpoch), c.node.balances(ctx, epoch*slotsPerEpoch)
	var sum, change float64
	for _, i := range c.indices {
		labels := labelIndex(i, c.pubkeyOf[i])
		require.Equal(t, float64(end[i]), m.value(t, "vigil_validator_balance_gwei", labels), "balance of validator %d after epoch %d", i, epoch)
		d := float64(int64(end[i]) - int64(start[i]))
		require.Equal(t, d, m.value(t, "vigil_validator_balance_change_gwei", labels), "balance change of validator %d in epoch %d", i, epoch)
		sum += float64(end[i])
		change += d
	}
	require.Equal(t, sum, m.sum("vigil_validators_balance_gwei"))
	bigBalance := m.value(t, "vigil_validator_balance_gwei", labelIndex(c.big, c.pubkeyOf[c.big]))
	require.Greater(t, bigBalance, 63e9, "the 64 ETH compounding validator's balance (EIP-7251)")
	require.Equal(t, change, m.sum("vigil_validators_balance_change_gwei"))

	// vigil status, through the running instance.
	out := c.vigil.run(t, "status", "--instance", "http://"+c.addr, "--format", "json")
	var report struct {
		Fork string `json:"fork"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &report), "vigil status --format json:\n%s", out)
	require.Equal(t, c.fork, report.Fork, "the fork `vigil status` names")
	rows := parseStatus(t, out)
	require.Len(t, rows, len(c.indices))
	seen := map[uint64]bool{}
	for _, r := range rows {
		require.Equal(t, c.pubkeyOf[r.Index], r.Pubkey, "status row for validator %d", r.Index)
		seen[r.Index] = true
	}
	require.Len(t, seen, len(c.indices))
	_, raw := httpGet(ctx, t, "http://"+c.addr+"/metrics")
	_, validatorsAPI := httpGet(ctx, t, "http://"+c.addr+"/api/v1/validators")
	t.Logf("monitor: vigil status says fork %s; the 64 ETH validator %d has %.0f gwei", report.Fork, c.big, bigBalance)
	return monitorView{metrics: m, epoch: epoch, raw: string(raw), validatorsAPI: string(validatorsAPI)}
}

// monitorView is what checkMonitor scraped, for checks that need the
// chain's blocks first.
type monitorView struct {
	metrics metrics
	epoch   uint64
	// raw and validatorsAPI are the bodies of /metrics and
	// /api/v1/validators, scanned for secrets.
	raw, validatorsAPI string
}

// checkInclusionDelays compares vigil's inclusion delay for each validator
// in the performance epoch with the earliest block that carried its vote.
func (v monitorView) checkInclusionDelays(t *testing.T, committees map[[2]uint64][]uint64, firstIncluded map[[2]uint64]uint64,
	indices []uint64, pubkeyOf map[uint64]string,
) {
	t.Helper()
	dutySlot := map[uint64]uint64{}
	for key, members := range committees {
		for _, i := range members {
			dutySlot[i] = key[0]
		}
	}
	compared := 0
	for _, i := range indices {
		slot, ok := dutySlot[i]
		if !ok {
			continue
		}
		incl, ok := firstIncluded[[2]uint64{i, slot}]
		if !ok {
			continue
		}
		got := v.metrics.value(t, "vigil_validator_attestation_inclusion_delay_slots", labelIndex(i, pubkeyOf[i]))
		require.Equal(t, float64(incl-slot), got, "inclusion delay of validator %d's attestation at slot %d", i, slot)
		compared++
	}
	require.Positive(t, compared)
	t.Logf("monitor: inclusion delays of %d attestations in epoch %d match the blocks", compared, v.epoch)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
