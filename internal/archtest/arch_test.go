// Package archtest checks the import rules of docs/architecture.md ("Who may
// import whom") on the source tree, so that a layering mistake fails a test
// instead of waiting for a review.
package archtest

import (
	"bufio"
	"bytes"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/vigil-eth/vigil/"

// imports returns the vigil packages the non-test files of dir (relative to
// the repository root) import directly.
func imports(t *testing.T, dir string) map[string]bool {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("..", "..", dir))
	require.NoError(t, err)
	out := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join("..", "..", dir, name), nil, parser.ImportsOnly)
		require.NoError(t, err)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if strings.HasPrefix(p, module) {
				out[strings.TrimPrefix(p, module)] = true
			}
		}
	}
	return out
}

func TestNevers(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{"pkg/slashprotect", []string{"pkg/keystore", "pkg/signer", "pkg/duties", "pkg/monitor", "pkg/beacon"}, "the gate never sees keys or duties"},
		{"pkg/slashprotect/interchange", []string{"pkg/keystore", "pkg/signer", "pkg/duties", "pkg/monitor"}, "the gate never sees keys or duties"},
		{"pkg/duties", []string{"pkg/keystore", "pkg/slashprotect", "pkg/monitor"}, "duties never touch keys or bypass the signer"},
		{"pkg/duties/proposerconfig", []string{"pkg/keystore", "pkg/slashprotect", "pkg/signer"}, "duties never touch keys or bypass the signer"},
		{"pkg/monitor", []string{"pkg/slashprotect", "pkg/keystore"}, "the monitor never signs and never wraps the gate"},
		{"pkg/monitor/perf", []string{"pkg/slashprotect", "pkg/keystore", "pkg/signer"}, "the monitor never signs"},
		{"pkg/signer", []string{"pkg/duties", "pkg/beacon", "pkg/monitor"}, "no package reaches up"},
		{"pkg/beacon", []string{"pkg/signer", "pkg/duties", "pkg/slashprotect", "pkg/monitor", "pkg/keystore"}, "no package reaches up"},
		{"pkg/chain", []string{"pkg/signer", "pkg/duties", "pkg/beacon", "pkg/monitor", "pkg/keystore", "pkg/slashprotect"}, "the chain model is a leaf"},
		{"pkg/keystore", []string{"pkg/signer", "pkg/duties", "pkg/slashprotect", "pkg/monitor", "pkg/beacon"}, "keys know nothing of their users"},
		{"pkg/keystore/keyset", []string{"pkg/signer", "pkg/duties", "pkg/slashprotect"}, "its users are interfaces declared in keyset"},
		{"pkg/exit", []string{"pkg/slashprotect", "pkg/duties", "pkg/monitor"}, "an exit signs nothing slashable, through the one signer"},
	}
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			got := imports(t, r.pkg)
			for _, f := range r.forbidden {
				require.False(t, got[f], "%s imports %s: %s", r.pkg, f, r.why)
			}
		})
	}
}

// goFiles calls fn with the path, relative to the repository root, and the
// contents of every .go file in the tree outside the directories in skip.
func goFiles(t *testing.T, skip []string, fn func(rel string, src []byte)) {
	t.Helper()
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			if slices.Contains(skip, rel) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(rel, b)
		return nil
	})
	require.NoError(t, err)
}

// TestOneSpecDecoder checks that no package but pkg/chain parses the beacon
// node's spec values itself.
func TestOneSpecDecoder(t *testing.T) {
	goFiles(t, []string{".git", "tools", "internal/devnet", "e2e", "pkg/chain"}, func(rel string, src []byte) {
		if strings.HasSuffix(rel, "_test.go") || strings.Contains(rel, "test/") {
			return
		}
		require.NotContains(t, string(src), `"SECONDS_PER_SLOT"`, "%s decodes the chain spec; take it from pkg/chain", rel)
	})
}

// TestNoRaceTaggedFiles keeps true what scripts/test.sh relies on when it runs
// `go vet -race`: a file built only with (or only without) the race detector
// would escape either vet or the tests.
func TestNoRaceTaggedFiles(t *testing.T) {
	goFiles(t, []string{".git", "tools"}, func(rel string, src []byte) {
		sc := bufio.NewScanner(bytes.NewReader(src))
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "package ") {
				break
			}
			if !constraint.IsGoBuild(line) {
				continue
			}
			expr, err := constraint.Parse(line)
			require.NoError(t, err, "%s: bad build constraint", rel)
			race := false
			expr.Eval(func(tag string) bool {
				race = race || tag == "race"
				return false
			})
			require.False(t, race, "%s has a build constraint on the race tag; scripts/test.sh vets with -race only", rel)
		}
		require.NoError(t, sc.Err(), "%s: read build constraints", rel)
	})
}
