package configs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// requireIntegration reports whether missing tools must fail the test rather
// than skip it (set by `make test`).
func requireIntegration() bool { return os.Getenv("VIGIL_REQUIRE_INTEGRATION") == "1" }

// lookTool finds a checking tool: the path in env when set, else name on the
// PATH. Without it the test skips loudly, naming how to get it, or fails under
// VIGIL_REQUIRE_INTEGRATION=1.
func lookTool(t *testing.T, env, name, install string) string {
	t.Helper()
	if env != "" {
		if p := os.Getenv(env); p != "" {
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("%s=%s: %v", env, p, err)
			}
			return p
		}
	}
	p, err := exec.LookPath(name)
	if err != nil {
		msg := "CHECK NOT RUN: " + name + " not found"
		if env != "" {
			msg += " (and " + env + " is unset)"
		}
		msg += "; " + install + ", or run `make test`"
		if requireIntegration() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// lintBinary returns vigil-lint (tools/lint): $VIGIL_LINT_BIN, or the binary
// scripts/build-lint.sh caches for the current tools/lint sources. Without
// it the test skips loudly, or fails under VIGIL_REQUIRE_INTEGRATION=1.
func lintBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VIGIL_LINT_BIN"); p != "" {
		_, err := os.Stat(p)
		require.NoError(t, err, "VIGIL_LINT_BIN")
		return p
	}
	var p string
	if cache, err := os.UserCacheDir(); err == nil {
		p = filepath.Join(cache, "vigil-tools", "lint-"+lintKey(t), "vigil-lint")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "CHECK NOT RUN: no vigil-lint at " + p + " and VIGIL_LINT_BIN is unset; build it with scripts/build-lint.sh " +
		"(about 2 minutes cold, cached) or run `make test`"
	if requireIntegration() {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// lintKey is scripts/build-lint.sh's cache key: the first 12 hex digits of
// the SHA-256 of tools/lint's go.mod, go.sum and *.go files in that order.
func lintKey(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "tools", "lint")
	srcs, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	h := sha256.New()
	for _, f := range append([]string{filepath.Join(dir, "go.mod"), filepath.Join(dir, "go.sum")}, srcs...) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// lintReport is vigil-lint's output.
type lintReport struct {
	Errors   []string `json:"errors"`
	Warnings []string `json:"warnings"`
	Metrics  []string `json:"metrics"`
	Excluded []string `json:"excluded"`
	Stages   []struct {
		Name     string `json:"name"`
		Base     string `json:"base"`
		Commands []struct {
			Cmd  string `json:"cmd"`
			Text string `json:"text"`
		} `json:"commands"`
	} `json:"stages"`
}

// runLint runs vigil-lint with args (and stdin, if not nil) and decodes its
// report; exit status 1 (invalid input) is not an error here.
func runLint(t *testing.T, stdin []byte, args ...string) lintReport {
	t.Helper()
	cmd := exec.Command(lintBinary(t), args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
		t.Fatalf("vigil-lint %v: %v: %s", args, err, stderr.String())
	}
	var r lintReport
	require.NoError(t, json.Unmarshal(out, &r), "vigil-lint output: %s", out)
	return r
}
