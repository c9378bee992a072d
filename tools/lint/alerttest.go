package main

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"github.com/prometheus/prometheus/util/annotations"
	"gopkg.in/yaml.v3"
)

// alertTestFile is a subset of `promtool test rules`'s format: input series in
// the expanding notation ("0+1x10", "_" for a missing sample) and the alerts
// expected to be firing at given times. Alerts are compared by labels only,
// not annotations.
type alertTestFile struct {
	RuleFiles          []string         `yaml:"rule_files"`
	EvaluationInterval model.Duration   `yaml:"evaluation_interval"`
	Tests              []alertTestGroup `yaml:"tests"`
}

type alertTestGroup struct {
	Name        string         `yaml:"name"`
	Interval    model.Duration `yaml:"interval"`
	InputSeries []struct {
		Series string `yaml:"series"`
		Values string `yaml:"values"`
	} `yaml:"input_series"`
	AlertRuleTests []struct {
		EvalTime  model.Duration `yaml:"eval_time"`
		Alertname string         `yaml:"alertname"`
		ExpAlerts []struct {
			ExpLabels map[string]string `yaml:"exp_labels"`
		} `yaml:"exp_alerts"`
	} `yaml:"alert_rule_test"`
}

// alertTest runs the alert unit tests of file: for each test it loads the
// input series into memory, evaluates every alerting rule of the rule files
// with Prometheus's PromQL engine at each evaluation interval, applies the
// rules' `for` the way Prometheus's rule manager does (an alert fires once
// its expression has returned the series at every evaluation for that long),
// and compares the firing alerts with the expected ones.
func alertTest(file string) (report, error) {
	var r report
	b, err := os.ReadFile(file)
	if err != nil {
		return r, err
	}
	var tf alertTestFile
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return r, fmt.Errorf("%s: %w", file, err)
	}
	if tf.EvaluationInterval == 0 {
		tf.EvaluationInterval = model.Duration(time.Minute)
	}
	var rules []rulefmt.Rule
	for _, rf := range tf.RuleFiles {
		groups, errs := rulefmt.ParseFile(filepath.Join(filepath.Dir(file), rf), false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
		for _, e := range errs {
			r.Errors = append(r.Errors, e.Error())
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			for _, rule := range g.Rules {
				if rule.Alert != "" {
					rules = append(rules, rule)
				}
			}
		}
	}
	if len(r.Errors) > 0 {
		return r, nil
	}
	engine := promql.NewEngine(promql.EngineOpts{
		Logger: slog.New(slog.DiscardHandler), MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute,
	})
	for _, tg := range tf.Tests {
		for _, e := range runAlertTestGroup(engine, rules, time.Duration(tf.EvaluationInterval), tg) {
			r.Errors = append(r.Errors, fmt.Sprintf("%s: %s", tg.Name, e))
		}
	}
	return r, nil
}

func runAlertTestGroup(engine *promql.Engine, rules []rulefmt.Rule, evalInterval time.Duration, tg alertTestGroup) []string {
	interval := time.Duration(tg.Interval)
	if interval == 0 {
		interval = time.Minute
	}
	store := memStore{}
	for _, in := range tg.InputSeries {
		lbls, vals, err := promParser.ParseSeriesDesc(in.Series + " " + in.Values)
		if err != nil {
			return []string{fmt.Sprintf("series %s: %v", in.Series, err)}
		}
		var samples []chunks.Sample
		for i, v := range vals {
			if v.Omitted {
				continue
			}
			if v.Histogram != nil {
				return []string{fmt.Sprintf("series %s: histogram samples are not supported", in.Series)}
			}
			samples = append(samples, floatSample{t: int64(i) * interval.Milliseconds(), f: v.Value})
		}
		store = append(store, storage.NewListSeries(lbls, samples))
	}
	var maxEval time.Duration
	for _, at := range tg.AlertRuleTests {
		maxEval = max(maxEval, time.Duration(at.EvalTime))
	}
	// firing[step][alertname] are the label sets of the alerts firing after
	// the evaluation at step*evalInterval.
	type alertState struct{ activeAt time.Duration }
	active := make([]map[string]alertState, len(rules))
	firingAt := map[time.Duration]map[string][]labels.Labels{}
	var errs []string
	for ts := time.Duration(0); ts <= maxEval; ts += evalInterval {
		firingAt[ts] = map[string][]labels.Labels{}
		for i, rule := range rules {
			q, err := engine.NewInstantQuery(context.Background(), store, nil, rule.Expr, time.UnixMilli(0).Add(ts))
			if err != nil {
				return []string{fmt.Sprintf("rule %s: %v", rule.Alert, err)}
			}
			res := q.Exec(context.Background())
			q.Close()
			if res.Err != nil {
				return []string{fmt.Sprintf("rule %s at %s: %v", rule.Alert, ts, res.Err)}
			}
			vec, err := res.Vector()
			if err != nil {
				return []string{fmt.Sprintf("rule %s at %s: %v", rule.Alert, ts, err)}
			}
			now := map[string]alertState{}
			for _, s := range vec {
				lb := labels.NewBuilder(s.Metric).Del(labels.MetricName)
				for k, v := range rule.Labels {
					lb.Set(k, v)
				}
				lb.Set(labels.AlertName, rule.Alert)
				lset := lb.Labels()
				key := lset.String()
				st, ok := active[i][key]
				if !ok {
					st = alertState{activeAt: ts}
				}
				now[key] = st
				if ts-st.activeAt >= time.Duration(rule.For) {
					firingAt[ts][rule.Alert] = append(firingAt[ts][rule.Alert], lset)
				}
			}
			active[i] = now
		}
	}
	known := map[string]bool{}
	for _, rule := range rules {
		known[rule.Alert] = true
	}
	for _, at := range tg.AlertRuleTests {
		ts := time.Duration(at.EvalTime)
		if !known[at.Alertname] {
			errs = append(errs, fmt.Sprintf("no alerting rule %q", at.Alertname))
			continue
		}
		if ts%evalInterval != 0 {
			errs = append(errs, fmt.Sprintf("eval_time %s is not a multiple of the evaluation interval %s", ts, evalInterval))
			continue
		}
		var want []string
		for _, e := range at.ExpAlerts {
			m := maps.Clone(e.ExpLabels)
			if m == nil {
				m = map[string]string{}
			}
			m[labels.AlertName] = at.Alertname
			want = append(want, labels.FromMap(m).String())
		}
		var got []string
		for _, l := range firingAt[ts][at.Alertname] {
			got = append(got, l.String())
		}
		sort.Strings(want)
		sort.Strings(got)
		if !slices.Equal(want, got) {
			errs = append(errs, fmt.Sprintf("%s at %s: want firing %v, got %v", at.Alertname, ts, want, got))
		}
	}
	return errs
}

// memStore is an in-memory storage.Queryable over a few series.
type memStore []storage.Series

func (m memStore) Querier(int64, int64) (storage.Querier, error) { return m, nil }

func (m memStore) Select(_ context.Context, _ bool, _ *storage.SelectHints, matchers ...*labels.Matcher) storage.SeriesSet {
	var out []storage.Series
	for _, s := range m {
		ok := true
		for _, mt := range matchers {
			ok = ok && mt.Matches(s.Labels().Get(mt.Name))
		}
		if ok {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return labels.Compare(out[i].Labels(), out[j].Labels()) < 0 })
	return &seriesSet{series: out, i: -1}
}

func (memStore) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memStore) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, nil
}

func (memStore) Close() error { return nil }

type seriesSet struct {
	series []storage.Series
	i      int
}

func (s *seriesSet) Next() bool                        { s.i++; return s.i < len(s.series) }
func (s *seriesSet) At() storage.Series                { return s.series[s.i] }
func (s *seriesSet) Err() error                        { return nil }
func (s *seriesSet) Warnings() annotations.Annotations { return nil }

// floatSample is one float sample of an input series.
type floatSample struct {
	t int64
	f float64
}

func (s floatSample) T() int64                      { return s.t }
func (s floatSample) ST() int64                     { return 0 }
func (s floatSample) F() float64                    { return s.f }
func (s floatSample) H() *histogram.Histogram       { return nil }
func (s floatSample) FH() *histogram.FloatHistogram { return nil }
func (s floatSample) Type() chunkenc.ValueType      { return chunkenc.ValFloat }
func (s floatSample) Copy() chunks.Sample           { return s }
