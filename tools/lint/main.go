// Command vigil-lint checks vigil's deployment files with the parsers of the
// tools that read them, for the tests in configs/: Prometheus rule files and
// PromQL expressions with Prometheus's own packages, and the Dockerfile with
// BuildKit's parser and linter. It is a separate module so that none of this
// enters vigil's go.mod; scripts/build-lint.sh builds and caches it.
//
// Usage:
//
//	vigil-lint rules FILE...      check rule files as Prometheus loads them
//	vigil-lint alerttest FILE     run alert unit tests (promtool's format,
//	                              labels only) with Prometheus's engine
//	vigil-lint promql < EXPRS     check a JSON array of PromQL expressions
//	vigil-lint dockerfile FILE    parse and lint a Dockerfile
//	vigil-lint dockerignore FILE PATH...
//	                              list the PATHs (relative to the build
//	                              context) that the .dockerignore FILE excludes
//
// Each prints one JSON document on stdout (see report) and exits 0 when the
// input is valid, 1 when it is not, 2 on a usage or I/O error.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	dfparser "github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// promParser parses PromQL with Prometheus's defaults.
var promParser = parser.NewParser(parser.Options{})

// report is the JSON printed by every subcommand.
type report struct {
	// Errors are what makes the input invalid.
	Errors []string `json:"errors"`
	// Warnings are lint findings that do not stop the tool from using it.
	Warnings []string `json:"warnings"`
	// Metrics are the metric names the expressions select, sorted.
	Metrics []string `json:"metrics,omitempty"`
	// Excluded are the paths a .dockerignore file leaves out of the build
	// context.
	Excluded []string `json:"excluded,omitempty"`
	// Stages are the Dockerfile's build stages in order.
	Stages []stage `json:"stages,omitempty"`
}

// stage is one FROM ... section of a Dockerfile.
type stage struct {
	Name     string        `json:"name"`
	Base     string        `json:"base"`
	Commands []instruction `json:"commands"`
}

// instruction is one Dockerfile instruction: its keyword in lower case and its
// text as written.
type instruction struct {
	Cmd  string `json:"cmd"`
	Text string `json:"text"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vigil-lint rules FILE... | alerttest FILE | promql < EXPRS.json | dockerfile FILE | dockerignore FILE PATH...")
		os.Exit(2)
	}
	var (
		r   report
		err error
	)
	switch os.Args[1] {
	case "rules":
		r, err = rules(os.Args[2:])
	case "promql":
		r, err = promqlExprs(os.Stdin)
	case "alerttest":
		if len(os.Args) != 3 {
			err = fmt.Errorf("alerttest takes one file")
			break
		}
		r, err = alertTest(os.Args[2])
	case "dockerfile":
		if len(os.Args) != 3 {
			err = fmt.Errorf("dockerfile takes one file")
			break
		}
		r, err = dockerfile(os.Args[2])
	case "dockerignore":
		if len(os.Args) < 3 {
			err = fmt.Errorf("dockerignore takes a file and paths")
			break
		}
		r, err = dockerignore(os.Args[2], os.Args[3:])
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigil-lint:", err)
		os.Exit(2)
	}
	if r.Errors == nil {
		r.Errors = []string{}
	}
	if r.Warnings == nil {
		r.Warnings = []string{}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		os.Exit(2)
	}
	if len(r.Errors) > 0 {
		os.Exit(1)
	}
}

// rules loads rule files the way Prometheus does (rulefmt validates the
// structure, every PromQL expression and every label and annotation
// template) and collects the metric names their expressions select.
func rules(files []string) (report, error) {
	var r report
	if len(files) == 0 {
		return r, fmt.Errorf("rules needs at least one file")
	}
	names := map[string]bool{}
	for _, f := range files {
		groups, errs := rulefmt.ParseFile(f, false, model.UTF8Validation, promParser, slog.New(slog.DiscardHandler))
		for _, e := range errs {
			r.Errors = append(r.Errors, e.Error())
		}
		if groups == nil {
			continue
		}
		for _, g := range groups.Groups {
			for _, rule := range g.Rules {
				addMetrics(names, rule.Expr, &r)
			}
		}
	}
	r.Metrics = sortedKeys(names)
	return r, nil
}

// promqlExprs parses a JSON array of expressions (Grafana's template variables
// already substituted by the caller).
func promqlExprs(in io.Reader) (report, error) {
	var r report
	var exprs []string
	if err := json.NewDecoder(in).Decode(&exprs); err != nil {
		return r, fmt.Errorf("read expressions: %w", err)
	}
	names := map[string]bool{}
	for _, e := range exprs {
		addMetrics(names, e, &r)
	}
	r.Metrics = sortedKeys(names)
	return r, nil
}

func addMetrics(names map[string]bool, expr string, r *report) {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		r.Errors = append(r.Errors, fmt.Sprintf("%q: %v", expr, err))
		return
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
			names[vs.Name] = true
		}
		return nil
	})
}

// dockerfile parses a Dockerfile with BuildKit, the parser `docker build`
// uses, runs BuildKit's built-in lint rules (those of `docker build --check`)
// and lists the stages and their instructions.
func dockerfile(path string) (report, error) {
	var r report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	ast, err := dfparser.Parse(bytes.NewReader(b))
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r, nil
	}
	for _, w := range ast.Warnings {
		line := 0
		if w.Location != nil {
			line = w.Location.Start.Line
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("line %d: %s", line, w.Short))
	}
	lint := linter.New(&linter.Config{Warn: func(rule, desc, url, msg string, loc []dfparser.Range) {
		line := 0
		if len(loc) > 0 {
			line = loc[0].Start.Line
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("line %d: %s: %s", line, rule, msg))
	}})
	stages, _, err := instructions.Parse(ast.AST, lint)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r, nil
	}
	for _, s := range stages {
		st := stage{Name: s.Name, Base: s.BaseName}
		for _, c := range s.Commands {
			in := instruction{Cmd: strings.ToLower(c.Name()), Text: c.Name()}
			if s, ok := c.(fmt.Stringer); ok {
				in.Text = s.String()
			}
			st.Commands = append(st.Commands, in)
		}
		r.Stages = append(r.Stages, st)
	}
	return r, nil
}

// dockerignore matches paths against a .dockerignore file the way BuildKit
// does when it sends the build context.
func dockerignore(file string, paths []string) (report, error) {
	var r report
	f, err := os.Open(file)
	if err != nil {
		return r, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r, nil
	}
	for _, p := range paths {
		excluded, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			return r, fmt.Errorf("match %s: %w", p, err)
		}
		if excluded {
			r.Excluded = append(r.Excluded, p)
		}
	}
	return r, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
