package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/pkg/beacon"
	"github.com/vigil-eth/vigil/pkg/chain/chaintest"
	"github.com/vigil-eth/vigil/pkg/monitor"
	"github.com/vigil-eth/vigil/pkg/signer"
	"github.com/vigil-eth/vigil/pkg/signer/signertest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

func TestObserversFeedMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := monitor.NewMetrics(reg, "v1.2.3")

	m.Duties().Scheduled(signer.KindAttestation, 10, 5)
	m.Duties().Performed(signer.KindAttestation, 10, 4, 1100*time.Millisecond)
	m.Duties().Performed(signer.KindBeaconCommitteeSubscription, 10, 4, -3*time.Second)
	m.Duties().Failed(signer.KindAttestation, 10, 1, errors.New("node down"))
	m.Signer().Signed(signer.KindAttestation, 4, 20*time.Millisecond)
	m.Signer().Signed(signer.KindBlock, 0, time.Millisecond)
	m.Signer().Refused(signer.KindAttestation, signer.RuleReason(slashprotect.RuleDoubleVote))
	m.Signer().Failed(signer.KindBlock, 1)
	m.Beacon().RequestDone(beacon.Request{Node: "http://bn1", Operation: beacon.OpAttestationData, Duration: 30 * time.Millisecond, Outcome: beacon.OutcomeSuccess})
	m.Beacon().RequestDone(beacon.Request{Node: "http://bn1", Operation: beacon.OpAttestationData, Duration: time.Second, Outcome: beacon.OutcomeTimeout})
	m.Beacon().RequestDone(beacon.Request{Node: "http://bn2", Operation: beacon.OpSubmitAttestations, Duration: 5 * time.Millisecond, Outcome: beacon.OutcomeRejected})
	m.DoppelgangerDetected()

	want := `
# HELP vigil_duties_scheduled_total Duties scheduled, by kind.
# TYPE vigil_duties_scheduled_total counter
vigil_duties_scheduled_total{kind="attestation"} 5
# HELP vigil_duties_performed_total Duties signed and submitted, by kind.
# TYPE vigil_duties_performed_total counter
vigil_duties_performed_total{kind="attestation"} 4
vigil_duties_performed_total{kind="beacon_committee_subscription"} 4
# HELP vigil_duties_failed_total Duties not done, by kind.
# TYPE vigil_duties_failed_total counter
vigil_duties_failed_total{kind="attestation"} 1
# HELP vigil_signatures_total Signatures released by the signer, by message kind.
# TYPE vigil_signatures_total counter
vigil_signatures_total{kind="attestation"} 4
# HELP vigil_signing_refusals_total Messages the signer refused to sign, by message kind and rule.
# TYPE vigil_signing_refusals_total counter
vigil_signing_refusals_total{kind="attestation",reason="double_vote"} 1
# HELP vigil_signing_failures_total Messages not signed because of an infrastructure error (slashing database, cancellation), by message kind.
# TYPE vigil_signing_failures_total counter
vigil_signing_failures_total{kind="block"} 1
# HELP vigil_beacon_node_requests_total Beacon API requests, by node, operation and outcome.
# TYPE vigil_beacon_node_requests_total counter
vigil_beacon_node_requests_total{node="http://bn1",operation="attestation_data",outcome="success"} 1
vigil_beacon_node_requests_total{node="http://bn1",operation="attestation_data",outcome="timeout"} 1
vigil_beacon_node_requests_total{node="http://bn2",operation="submit_attestations",outcome="rejected"} 1
# HELP vigil_beacon_node_errors_total Beacon API requests that failed through the node's fault (5xx, timeout, unreachable), by node and operation.
# TYPE vigil_beacon_node_errors_total counter
vigil_beacon_node_errors_total{node="http://bn1",operation="attestation_data"} 1
# HELP vigil_doppelganger_detected_total Times doppelganger protection saw one of vigil's keys live elsewhere (vigil then stops with exit code 2).
# TYPE vigil_doppelganger_detected_total counter
vigil_doppelganger_detected_total 1
`
	require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(want),
		"vigil_duties_scheduled_total", "vigil_duties_performed_total", "vigil_duties_failed_total",
		"vigil_signatures_total", "vigil_signing_refusals_total", "vigil_signing_failures_total",
		"vigil_beacon_node_requests_total", "vigil_beacon_node_errors_total", "vigil_doppelganger_detected_total"))

	// Histograms: a subscription sent ahead of its slot is not a submission
	// delay; a zero-signature batch is not a signing latency.
	counts := histogramCounts(t, reg)
	require.Equal(t, map[string]uint64{
		`vigil_duty_submission_delay_seconds{kind="attestation"}`:                                       1,
		`vigil_signing_duration_seconds{kind="attestation"}`:                                            1,
		`vigil_beacon_node_request_duration_seconds{node="http://bn1",operation="attestation_data"}`:    2,
		`vigil_beacon_node_request_duration_seconds{node="http://bn2",operation="submit_attestations"}`: 1,
	}, counts)

	n, err := testutil.GatherAndCount(reg, "vigil_build_info")
	require.NoError(t, err)
	require.Equal(t, 1, n)
}

// histogramCounts maps each histogram series to its observation count.
func histogramCounts(t *testing.T, g prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	mfs, err := g.Gather()
	require.NoError(t, err)
	out := map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = h.GetSampleCount()
		}
	}
	return out
}

// TestSignerReportsCommits runs the real signer over a real SQLite database
// with the monitor as its observer: the signer times every durable commit
// itself and counts the failed ones; nothing in the monitor stands between
// the signer and its database.
func TestSignerReportsCommits(t *testing.T) {
	ctx := context.Background()
	genesis := time.Unix(1_700_000_000, 0)
	sp := *chaintest.Spec(genesis)
	db := signertest.OpenSQLite(t, sp.GenesisValidatorsRoot)
	reg := prometheus.NewPedanticRegistry()
	m := monitor.NewMetrics(reg, "test")
	k := signertest.Key(t, 0)
	pk := k.Pubkey
	s, err := signer.New(ctx, signer.WithSlashingDB(db), signer.WithChain(chaintest.Fixed(sp)), signer.WithKeys(k),
		signer.WithObserver(m.Signer()), signer.WithClock(func() time.Time { return genesis.Add(time.Minute) }),
		signer.WithLogger(slog.New(slog.DiscardHandler)))
	require.NoError(t, err)
	defer s.Close()
	data := func(root byte) *phase0.AttestationData {
		return &phase0.AttestationData{Slot: 16, BeaconBlockRoot: phase0.Root{root},
			Source: &phase0.Checkpoint{Epoch: 1}, Target: &phase0.Checkpoint{Epoch: 2}}
	}
	_, err = s.SignAttestation(ctx, pk, data(1))
	require.NoError(t, err)
	_, err = s.SignAttestation(ctx, pk, data(2))
	require.ErrorIs(t, err, signer.ErrRefused, "a double vote is a refusal, after a commit that was timed")
	_, err = s.SignBeaconBlock(ctx, pk, &phase0.BeaconBlock{Slot: 3, Body: &phase0.BeaconBlockBody{}})
	require.NoError(t, err)

	require.NoError(t, db.Close())
	_, err = s.SignAttestation(ctx, pk, &phase0.AttestationData{Slot: 24, Source: &phase0.Checkpoint{Epoch: 2}, Target: &phase0.Checkpoint{Epoch: 3}})
	require.Error(t, err)

	counts := histogramCounts(t, reg)
	require.Equal(t, uint64(2), counts[`vigil_slashing_db_commit_duration_seconds{kind="attestation"}`])
	require.Equal(t, uint64(1), counts[`vigil_slashing_db_commit_duration_seconds{kind="block"}`])
	require.Equal(t, `
# HELP vigil_slashing_db_errors_total Slashing-protection database calls that failed (nothing was signed for them).
# TYPE vigil_slashing_db_errors_total counter
vigil_slashing_db_errors_total 1
`, gatherText(t, reg, "vigil_slashing_db_errors_total"))
}

func gatherText(t *testing.T, reg prometheus.Gatherer, name string) string {
	t.Helper()
	srv := monitor.NewHandler(monitor.HandlerConfig{Gatherer: reg})
	rec := httptest.NewRecorder()
	req, err := http.NewRequest(http.MethodGet, "/metrics", nil)
	require.NoError(t, err)
	srv.ServeHTTP(rec, req)
	var out []string
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.Contains(line, name) {
			out = append(out, line)
		}
	}
	return "\n" + strings.Join(out, "\n") + "\n"
}

func TestStateCollector(t *testing.T) {
	tests := []struct {
		name  string
		state monitor.State
		want  string
		names []string
	}{
		{
			name: "keys by store and status, watching",
			state: monitor.State{Keys: func() []monitor.KeyState {
				return []monitor.KeyState{
					{Store: "vault", Status: "active_ongoing"}, {Store: "vault", Status: "active_ongoing", Watching: true},
					{Store: "dir", Status: "unknown", Watching: true},
				}
			}},
			names: []string{"vigil_keys_loaded", "vigil_doppelganger_watching_keys"},
			want: `
# HELP vigil_doppelganger_watching_keys Keys doppelganger protection still holds back from signing.
# TYPE vigil_doppelganger_watching_keys gauge
vigil_doppelganger_watching_keys 2
# HELP vigil_keys_loaded Validator keys loaded, by key store and beacon chain status.
# TYPE vigil_keys_loaded gauge
vigil_keys_loaded{status="active_ongoing",store="vault"} 2
vigil_keys_loaded{status="unknown",store="dir"} 1
`,
		},
		{
			name: "beacon nodes: healthy, degraded, down",
			state: monitor.State{Nodes: func() []beacon.NodeStatus {
				return []beacon.NodeStatus{
					{URL: "http://a", State: beacon.StateHealthy, HeadSlot: 100},
					{URL: "http://b", State: beacon.StateSyncing, HeadSlot: 90, SyncDistance: 10, IsSyncing: true},
					{URL: "http://c", State: beacon.StateUnreachable},
					{URL: "http://d", State: beacon.StateELOffline, HeadSlot: 100, ELOffline: true},
				}
			}},
			names: []string{"vigil_beacon_node_up", "vigil_beacon_node_synced"},
			want: `
# HELP vigil_beacon_node_synced 1 when the beacon node is usable and not syncing.
# TYPE vigil_beacon_node_synced gauge
vigil_beacon_node_synced{node="http://a"} 1
vigil_beacon_node_synced{node="http://b"} 0
vigil_beacon_node_synced{node="http://c"} 0
vigil_beacon_node_synced{node="http://d"} 1
# HELP vigil_beacon_node_up 1 when the beacon node answers on the right chain (healthy or degraded).
# TYPE vigil_beacon_node_up gauge
vigil_beacon_node_up{node="http://a"} 1
vigil_beacon_node_up{node="http://b"} 1
vigil_beacon_node_up{node="http://c"} 0
vigil_beacon_node_up{node="http://d"} 1
`,
		},
		{
			name: "vault ttl, slot, database, ready",
			state: monitor.State{
				VaultTokenTTL: func() (time.Duration, bool) { return 90 * time.Minute, true },
				Slot:          func() phase0.Slot { return 1234 },
				SlashingDBUp:  func() bool { return true },
				Ready:         func() bool { return false },
			},
			names: []string{"vigil_vault_token_ttl_seconds", "vigil_chain_slot", "vigil_slashing_db_up", "vigil_ready"},
			want: `
# HELP vigil_chain_slot The current wall-clock slot.
# TYPE vigil_chain_slot gauge
vigil_chain_slot 1234
# HELP vigil_ready 1 when vigil is ready to sign (the /readyz checks pass).
# TYPE vigil_ready gauge
vigil_ready 0
# HELP vigil_slashing_db_up 1 when the slashing-protection database answers.
# TYPE vigil_slashing_db_up gauge
vigil_slashing_db_up 1
# HELP vigil_vault_token_ttl_seconds Remaining lifetime of the Vault token vigil uses.
# TYPE vigil_vault_token_ttl_seconds gauge
vigil_vault_token_ttl_seconds 5400
`,
		},
		{
			name:  "a token that never expires has no ttl series",
			state: monitor.State{VaultTokenTTL: func() (time.Duration, bool) { return 0, false }},
			names: []string{"vigil_vault_token_ttl_seconds"},
			want:  "",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			reg.MustRegister(monitor.NewStateCollector(tc.state))
			require.NoError(t, testutil.GatherAndCompare(reg, strings.NewReader(tc.want), tc.names...))
		})
	}
}

func TestReadyz(t *testing.T) {
	ok := func(detail string) monitor.Check {
		return monitor.Check{Name: detail, Run: func(context.Context) (string, error) { return detail, nil }}
	}
	tests := []struct {
		name     string
		checks   []monitor.Check
		code     int
		status   string
		failing  []string
		detailIn string
	}{
		{name: "all pass", checks: []monitor.Check{ok("keys_loaded"), ok("beacon_node")}, code: 200, status: "ready"},
		{
			name: "one fails, named",
			checks: []monitor.Check{ok("keys_loaded"), {Name: "slashing_db", Run: func(context.Context) (string, error) {
				return "", errors.New("sqlite:///data/slashing.db: disk I/O error")
			}}},
			code: 503, status: "not_ready", failing: []string{"slashing_db"}, detailIn: "disk I/O error",
		},
		{
			name: "a hung check times out instead of hanging the probe",
			checks: []monitor.Check{{Name: "beacon_node", Run: func(ctx context.Context) (string, error) {
				<-ctx.Done()
				return "", ctx.Err()
			}}},
			code: 503, status: "not_ready", failing: []string{"beacon_node"}, detailIn: "deadline",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := monitor.NewHandler(monitor.HandlerConfig{Gatherer: prometheus.NewRegistry(), Health: monitor.NewHealth(tc.checks...)})
			rec := httptest.NewRecorder()
			req, err := http.NewRequest(http.MethodGet, "/readyz", nil)
			require.NoError(t, err)
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.code, rec.Code)
			var rep monitor.Report
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rep))
			require.Equal(t, tc.status, rep.Status)
			var failing []string
			for _, c := range rep.Checks {
				if !c.OK {
					failing = append(failing, c.Name)
					require.Contains(t, c.Detail, tc.detailIn)
				}
			}
			require.Equal(t, tc.failing, failing)
		})
	}
}

// TestServer serves on a loopback port: /metrics, /healthz, /readyz, the
// validators route, and no pprof unless asked for.
func TestServer(t *testing.T) {
	for _, pprof := range []bool{false, true} {
		reg := prometheus.NewRegistry()
		monitor.NewMetrics(reg, "test")
		h := monitor.NewHandler(monitor.HandlerConfig{
			Gatherer: reg, Health: monitor.NewHealth(), Pprof: pprof,
			Validators: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]") }),
		})
		srv, err := monitor.Listen("127.0.0.1:0", h, slog.New(slog.DiscardHandler))
		require.NoError(t, err)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- srv.Serve(ctx) }()

		_, err = monitor.Listen(srv.Addr(), h, slog.New(slog.DiscardHandler))
		require.ErrorContains(t, err, srv.Addr(), "a port in use is reported with its address")

		get := func(path string) (int, string) {
			resp, err := http.Get("http://" + srv.Addr() + path)
			require.NoError(t, err)
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, string(b)
		}
		code, body := get("/metrics")
		require.Equal(t, 200, code)
		require.Contains(t, body, `vigil_build_info{go_version=`)
		code, body = get("/healthz")
		require.Equal(t, 200, code)
		require.JSONEq(t, `{"status":"alive"}`, body)
		code, _ = get("/readyz")
		require.Equal(t, 200, code)
		code, body = get("/api/v1/validators")
		require.Equal(t, 200, code)
		require.Equal(t, "[]", body)
		code, _ = get("/debug/pprof/")
		if pprof {
			require.Equal(t, 200, code)
		} else {
			require.Equal(t, 404, code)
		}
		cancel()
		require.NoError(t, <-done)
	}
}
