package configs

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

var (
	dashboardFile  = filepath.Join("grafana", "vigil-dashboard.json")
	alertsFile     = filepath.Join("prometheus", "vigil-alerts.yml")
	prometheusFile = filepath.Join("prometheus", "prometheus.yml")
)

type metricType int

const (
	counter metricType = iota
	gauge
	histogram
)

// designMetrics are the metric names of the monitor design contract
// (notes/monitor-design.md, "Metric names") with their types. The dashboard
// and the alerts may use only these, and `up`.
var designMetrics = map[string]metricType{
	// Operational (pkg/monitor).
	"vigil_build_info":                           gauge,
	"vigil_duties_scheduled_total":               counter,
	"vigil_duties_performed_total":               counter,
	"vigil_duties_failed_total":                  counter,
	"vigil_duty_submission_delay_seconds":        histogram,
	"vigil_signatures_total":                     counter,
	"vigil_signing_duration_seconds":             histogram,
	"vigil_signing_refusals_total":               counter,
	"vigil_signing_failures_total":               counter,
	"vigil_slashing_db_commit_duration_seconds":  histogram,
	"vigil_slashing_db_errors_total":             counter,
	"vigil_slashing_db_up":                       gauge,
	"vigil_beacon_node_up":                       gauge,
	"vigil_beacon_node_synced":                   gauge,
	"vigil_beacon_node_head_slot":                gauge,
	"vigil_beacon_node_sync_distance":            gauge,
	"vigil_beacon_node_request_duration_seconds": histogram,
	"vigil_beacon_node_requests_total":           counter,
	"vigil_beacon_node_errors_total":             counter,
	"vigil_keys_loaded":                          gauge,
	"vigil_doppelganger_watching_keys":           gauge,
	"vigil_doppelganger_detected_total":          counter,
	"vigil_vault_token_ttl_seconds":              gauge,
	"vigil_chain_slot":                           gauge,
	"vigil_ready":                                gauge,
	// Performance aggregates (pkg/monitor/perf).
	"vigil_performance_epoch":                 gauge,
	"vigil_attestations_total":                counter,
	"vigil_attestation_votes_total":           counter,
	"vigil_attestation_inclusion_delay_slots": histogram,
	"vigil_proposals_total":                   counter,
	"vigil_sync_committee_messages_total":     counter,
	"vigil_validators_balance_gwei":           gauge,
	"vigil_validators_balance_change_gwei":    gauge,
	"vigil_attestation_reward_gwei":           gauge,
	// Performance per validator.
	"vigil_validator_attestation_included":              gauge,
	"vigil_validator_attestation_head_correct":          gauge,
	"vigil_validator_attestation_target_correct":        gauge,
	"vigil_validator_attestation_source_correct":        gauge,
	"vigil_validator_attestation_inclusion_delay_slots": gauge,
	"vigil_validator_attestation_reward_gwei":           gauge,
	"vigil_validator_proposals_total":                   counter,
	"vigil_validator_sync_committee_messages_total":     counter,
	"vigil_validator_balance_gwei":                      gauge,
	"vigil_validator_balance_change_gwei":               gauge,
}

// seriesName maps a selected series name to its design metric: a histogram
// is selected through its _bucket, _sum and _count series, never by name.
func seriesName(name string) (string, bool) {
	if name == "up" {
		return name, true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && designMetrics[base] == histogram {
			if _, known := designMetrics[base]; known {
				return base, true
			}
		}
	}
	typ, ok := designMetrics[name]
	return name, ok && typ != histogram
}

// metricRef finds metric names in PromQL without parsing it: every vigil_
// identifier and `up` used as a selector. vigil-lint's PromQL parser
// confirms the list when it is built.
var metricRef = regexp.MustCompile(`\b(vigil_[a-z0-9_]+|up)\s*[{\[)]|\b(vigil_[a-z0-9_]+)\b`)

func metricsIn(expr string) []string {
	var out []string
	for _, m := range metricRef.FindAllStringSubmatch(expr, -1) {
		if m[1] != "" {
			out = append(out, m[1])
		} else {
			out = append(out, m[2])
		}
	}
	return out
}

// grafanaVars replaces Grafana's template variables with values that make
// the expressions plain PromQL.
var grafanaVars = strings.NewReplacer(
	"$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	`"$instance"`, `".+"`, `"$validator"`, `".+"`,
)

// dashboard is the part of a Grafana dashboard the tests look at.
type dashboard struct {
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Schema     int     `json:"schemaVersion"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Definition string `json:"definition"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	GridPos struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		UID string `json:"uid"`
	} `json:"datasource"`
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	require.NoError(t, err)
	var d dashboard
	require.NoError(t, json.Unmarshal(b, &d), "%s is not valid JSON", dashboardFile)
	return d
}

// dashboardExprs returns every PromQL expression of the dashboard (panel
// targets and template variable queries) with Grafana's variables replaced.
func dashboardExprs(t *testing.T, d dashboard) map[string]string {
	t.Helper()
	exprs := map[string]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			exprs[p.Title+" "+tg.RefID] = grafanaVars.Replace(tg.Expr)
		}
	}
	labelValues := regexp.MustCompile(`^label_values\((.+),\s*[a-z_]+\)$`)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValues.FindStringSubmatch(v.Definition)
		require.NotNil(t, m, "variable %s: want label_values(SELECTOR, LABEL), got %q", v.Name, v.Definition)
		exprs["variable "+v.Name] = grafanaVars.Replace(m[1])
	}
	return exprs
}

// TestDashboard checks the Grafana dashboard's structure: unique panel ids,
// panels inside the 24-column grid without overlapping, every query panel on
// the ${datasource} variable, every expression naming only design metrics, and
// every design metric shown somewhere.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	require.Equal(t, "vigil-validator", d.UID)
	require.NotEmpty(t, d.Title)
	require.GreaterOrEqual(t, d.Schema, 36)

	t.Run("layout", func(t *testing.T) {
		ids := map[int]string{}
		type rect struct{ x0, y0, x1, y1 int }
		var placed []rect
		for _, p := range d.Panels {
			require.NotContains(t, ids, p.ID, "panel id %d of %q is also %q", p.ID, p.Title, ids[p.ID])
			ids[p.ID] = p.Title
			g := p.GridPos
			require.True(t, g.W > 0 && g.H > 0 && g.X >= 0 && g.X+g.W <= 24, "panel %q: gridPos %+v", p.Title, g)
			r := rect{g.X, g.Y, g.X + g.W, g.Y + g.H}
			for _, o := range placed {
				require.False(t, r.x0 < o.x1 && o.x0 < r.x1 && r.y0 < o.y1 && o.y0 < r.y1, "panel %q overlaps another", p.Title)
			}
			placed = append(placed, r)
			if p.Type != "row" {
				require.NotEmpty(t, p.Targets, "panel %q has no query", p.Title)
				require.NotNil(t, p.Datasource, "panel %q", p.Title)
				require.Equal(t, "${datasource}", p.Datasource.UID, "panel %q must use the data source variable", p.Title)
			}
		}
	})

	exprs := dashboardExprs(t, d)
	used := map[string]bool{}
	for _, title := range slices.Sorted(maps.Keys(exprs)) {
		t.Run(title, func(t *testing.T) {
			names := metricsIn(exprs[title])
			require.NotEmpty(t, names, "%q selects no metric", exprs[title])
			for _, n := range names {
				base, ok := seriesName(n)
				require.True(t, ok, "%q is not a metric of the design (or a histogram used without _bucket/_sum/_count)", n)
				used[base] = true
			}
		})
	}
	t.Run("every design metric is shown", func(t *testing.T) {
		var missing []string
		for n := range designMetrics {
			if !used[n] {
				missing = append(missing, n)
			}
		}
		slices.Sort(missing)
		require.Empty(t, missing)
	})
	t.Run("PromQL parses", func(t *testing.T) {
		in, err := json.Marshal(slices.Collect(maps.Values(exprs)))
		require.NoError(t, err)
		r := runLint(t, in, "promql")
		require.Empty(t, r.Errors)
		for _, n := range r.Metrics {
			_, ok := seriesName(n)
			require.True(t, ok, "the PromQL parser found %q, which is not a design metric", n)
		}
	})
}

// alertRules is the Prometheus rule file format (rulefmt), strictly decoded.
type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record,omitempty"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for,omitempty"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func decodeStrict(t *testing.T, path string, v any) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	require.NoError(t, dec.Decode(v), "%s", path)
}

// TestAlertRules checks the alert rules: the rule file schema, the alerts the
// design asks for, labels and annotations every alert needs, and metric names;
// then Prometheus's own rule loader (through vigil-lint) parses every
// expression and template.
func TestAlertRules(t *testing.T) {
	var rules alertRules
	decodeStrict(t, alertsFile, &rules)
	require.NotEmpty(t, rules.Groups)

	alerts := map[string]string{}
	groups := map[string]bool{}
	for _, g := range rules.Groups {
		require.NotEmpty(t, g.Name)
		require.False(t, groups[g.Name], "group %q twice", g.Name)
		groups[g.Name] = true
		for _, r := range g.Rules {
			t.Run(r.Alert, func(t *testing.T) {
				require.NotEmpty(t, r.Alert, "only alerting rules here")
				require.Empty(t, r.Record)
				require.NotContains(t, alerts, r.Alert, "alert %q twice", r.Alert)
				alerts[r.Alert] = r.Expr
				require.NotEmpty(t, r.Expr)
				if r.For != "" {
					_, err := time.ParseDuration(r.For)
					require.NoError(t, err, "for: %q", r.For)
				}
				require.Contains(t, []string{"critical", "warning"}, r.Labels["severity"])
				require.NotEmpty(t, r.Annotations["summary"])
				require.NotEmpty(t, r.Annotations["description"])
				for _, n := range metricsIn(r.Expr) {
					_, ok := seriesName(n)
					require.True(t, ok, "%q is not a metric of the design", n)
				}
			})
		}
	}

	t.Run("the design's alerts", func(t *testing.T) {
		// monitor-design.md, "Alert rules expected", each with the metric
		// that must drive it.
		want := map[string]string{
			"VigilAttestationsMissed":   "vigil_attestations_total",
			"VigilProposalMissed":       "vigil_proposals_total",
			"VigilBeaconNodeDown":       "vigil_beacon_node_up",
			"VigilBeaconNodeUnsynced":   "vigil_beacon_node_synced",
			"VigilNoUsableBeaconNode":   "vigil_beacon_node_synced",
			"VigilSlashingRefusal":      "vigil_signing_refusals_total",
			"VigilVaultTokenExpiring":   "vigil_vault_token_ttl_seconds",
			"VigilDoppelgangerDetected": "vigil_doppelganger_detected_total",
			"VigilDown":                 "up",
			"VigilNotReady":             "vigil_ready",
		}
		for alert, metric := range want {
			require.Contains(t, alerts, alert)
			require.Contains(t, metricsIn(alerts[alert]), metric, "alert %s", alert)
		}
		require.Contains(t, alerts["VigilVaultTokenExpiring"], "< 3600", "expiring means under an hour")
		require.Contains(t, alerts["VigilDown"], `job="vigil"`, "the job name of prometheus.yml")
	})

	t.Run("Prometheus loads them", func(t *testing.T) {
		r := runLint(t, nil, "rules", alertsFile)
		require.Empty(t, r.Errors)
		for _, n := range r.Metrics {
			_, ok := seriesName(n)
			require.True(t, ok, "the PromQL parser found %q, which is not a design metric", n)
		}
	})
	t.Run("a broken rule is caught", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad.yml")
		b, err := os.ReadFile(alertsFile)
		require.NoError(t, err)
		s := strings.Replace(string(b), "expr: vigil_slashing_db_up == 0", "expr: vigil_slashing_db_up == = 0", 1)
		s = strings.Replace(s, "{{ $labels.node }} is down", "{{ $labels.node is down", 1)
		require.NoError(t, os.WriteFile(bad, []byte(s), 0o600))
		r := runLint(t, nil, "rules", bad)
		require.Len(t, r.Errors, 3, "%q", r.Errors) // the rule's expression twice (loader, our parse) and the template
	})
}

// alertTestsFile holds unit tests of the alert rules in promtool's format.
var alertTestsFile = filepath.Join("prometheus", "vigil-alerts.test.yml")

// TestAlertRuleUnitTests runs the alert unit tests with Prometheus's PromQL
// engine (through vigil-lint), checks that every alert is shown firing by at
// least one of them, and that a wrong expression makes them fail.
func TestAlertRuleUnitTests(t *testing.T) {
	var tests struct {
		RuleFiles          []string `yaml:"rule_files"`
		EvaluationInterval string   `yaml:"evaluation_interval"`
		Tests              []struct {
			Name           string `yaml:"name"`
			InputSeries    []any  `yaml:"input_series"`
			AlertRuleTests []struct {
				EvalTime  string `yaml:"eval_time"`
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	decodeStrict(t, alertTestsFile, &tests)
	require.Equal(t, []string{filepath.Base(alertsFile)}, tests.RuleFiles)

	t.Run("every alert is seen firing", func(t *testing.T) {
		var rules alertRules
		decodeStrict(t, alertsFile, &rules)
		fired := map[string]bool{}
		for _, tc := range tests.Tests {
			for _, a := range tc.AlertRuleTests {
				fired[a.Alertname] = fired[a.Alertname] || len(a.ExpAlerts) > 0
			}
		}
		for _, g := range rules.Groups {
			for _, r := range g.Rules {
				require.True(t, fired[r.Alert], "no test in %s shows %s firing", alertTestsFile, r.Alert)
			}
		}
	})
	t.Run("they pass", func(t *testing.T) {
		r := runLint(t, nil, "alerttest", alertTestsFile)
		require.Empty(t, r.Errors)
	})
	t.Run("a wrong expression fails them", func(t *testing.T) {
		dir := t.TempDir()
		b, err := os.ReadFile(alertsFile)
		require.NoError(t, err)
		// Without the join on up, the node that is down would also be
		// reported as unsynced.
		wrong := strings.Replace(string(b), "(vigil_beacon_node_synced == 0) and on (job, instance, node) (vigil_beacon_node_up == 1)",
			"vigil_beacon_node_synced == 0", 1)
		require.NotEqual(t, string(b), wrong)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(alertsFile)), []byte(wrong), 0o600))
		tb, err := os.ReadFile(alertTestsFile)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(alertTestsFile)), tb, 0o600))
		r := runLint(t, nil, "alerttest", filepath.Join(dir, filepath.Base(alertTestsFile)))
		require.Len(t, r.Errors, 1, "%q", r.Errors)
		require.Contains(t, r.Errors[0], "VigilBeaconNodeUnsynced")
	})
}

// TestPrometheusConfig checks the example scrape configuration: the job the
// alerts expect, vigil's default monitor address, and the rule file.
func TestPrometheusConfig(t *testing.T) {
	var cfg struct {
		Global struct {
			ScrapeInterval     string `yaml:"scrape_interval"`
			EvaluationInterval string `yaml:"evaluation_interval"`
		} `yaml:"global"`
		RuleFiles []string `yaml:"rule_files"`
		Alerting  struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName        string `yaml:"job_name"`
			MetricsPath    string `yaml:"metrics_path"`
			Scheme         string `yaml:"scheme"`
			ScrapeInterval string `yaml:"scrape_interval"`
			ScrapeTimeout  string `yaml:"scrape_timeout"`
			StaticConfigs  []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	decodeStrict(t, prometheusFile, &cfg)
	require.Equal(t, []string{filepath.Base(alertsFile)}, cfg.RuleFiles)
	require.Len(t, cfg.ScrapeConfigs, 1)
	sc := cfg.ScrapeConfigs[0]
	require.Equal(t, "vigil", sc.JobName)
	require.Equal(t, "/metrics", sc.MetricsPath)
	require.Equal(t, []string{"127.0.0.1:9465"}, sc.StaticConfigs[0].Targets, "vigil's default metrics-address")
	for _, d := range []string{cfg.Global.ScrapeInterval, cfg.Global.EvaluationInterval, sc.ScrapeInterval, sc.ScrapeTimeout} {
		_, err := time.ParseDuration(d)
		require.NoError(t, err)
	}
}
