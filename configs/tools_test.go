package configs

import (
	"os"
	"os/exec"
	"testing"
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
