package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// buildVigil compiles cmd/vigil into a temporary directory, so the test runs
// the real binary with its real flag parsing, signals and exit codes.
func buildVigil(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../cmd/vigil")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go build ./cmd/vigil:\n%s", out)
	return bin
}

// vigilCLI runs vigil commands with a clean environment (no VAULT_* or
// VIGIL_* leaking in from the developer's shell).
type vigilCLI struct {
	bin     string
	dataDir string
	env     []string
	// transcript collects every short command's output, for the secret
	// scan at the end.
	transcript strings.Builder
}

func (v *vigilCLI) environ() []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + v.dataDir}, v.env...)
}

// run runs one short command and returns its standard output.
func (v *vigilCLI) run(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), v.bin, append([]string{"--data-dir", v.dataDir}, args...)...)
	cmd.Env = v.environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	v.transcript.Write(out)
	v.transcript.WriteString(stderr.String())
	require.NoError(t, err, "vigil %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), out, stderr.String())
	return string(out)
}

// runFail runs a command that must fail and returns its standard error.
func (v *vigilCLI) runFail(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), v.bin, append([]string{"--data-dir", v.dataDir}, args...)...)
	cmd.Env = v.environ()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	v.transcript.Write(out)
	v.transcript.WriteString(stderr.String())
	require.Error(t, err, "vigil %s must fail\nstdout:\n%s", strings.Join(args, " "), out)
	return stderr.String()
}

// vigilProcess is a running `vigil validator run` with its JSON log in a file.
type vigilProcess struct {
	cmd     *exec.Cmd
	logFile string
	done    chan struct{}
	err     error
}

// start starts a long-running vigil command; its standard error (the JSON
// log) goes to logFile. It dies with the test binary (Pdeathsig).
func (v *vigilCLI) start(t *testing.T, logFile string, args ...string) *vigilProcess {
	t.Helper()
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	require.NoError(t, err)
	cmd := exec.Command(v.bin, append([]string{"--data-dir", v.dataDir, "--log-format", "json"}, args...)...)
	cmd.Env = v.environ()
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	require.NoError(t, cmd.Start())
	p := &vigilProcess{cmd: cmd, logFile: logFile, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("---- last 40 lines of %s ----\n%s", logFile, tail(logFile, 40))
		}
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// stop sends SIGTERM and waits for the exit code.
func (p *vigilProcess) stop(t *testing.T, timeout time.Duration) int {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("vigil did not stop within %s of SIGTERM", timeout)
	}
	return p.cmd.ProcessState.ExitCode()
}

// kill ends the process at once, for a run that is thrown away.
func (p *vigilProcess) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freshStart removes the slashing database in dataDir and the log file, so
// that a run starts with nothing signed.
func freshStart(t *testing.T, dataDir, logFile string) {
	t.Helper()
	dbs, err := filepath.Glob(filepath.Join(dataDir, "slashing.db*"))
	require.NoError(t, err)
	for _, f := range append(dbs, logFile) {
		require.NoError(t, os.RemoveAll(f))
	}
}

func (p *vigilProcess) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// rssBytes reads the process's resident set size from /proc.
func (p *vigilProcess) rssBytes() (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", p.cmd.Process.Pid)
}

// logLine is one line of vigil's JSON log; only the fields the test reads.
type logLine struct {
	Level      string `json:"level"`
	Msg        string `json:"msg"`
	Slot       uint64 `json:"slot"`
	Epoch      uint64 `json:"epoch"`
	Fork       string `json:"fork"`
	Kind       string `json:"kind"`
	Validators int    `json:"validators"`
	Result     string `json:"result"`
	Error      any    `json:"error"`
}

// readLog parses a vigil JSON log; lines that are not JSON (a panic, say)
// are returned apart so the test can show them.
func readLog(t *testing.T, path string) (lines []logLine, other []string) {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l logLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			other = append(other, sc.Text())
			continue
		}
		lines = append(lines, l)
	}
	require.NoError(t, sc.Err())
	return lines, other
}

// waitForLog waits until a log line satisfies ok, failing if the process
// exits first.
func waitForLog(ctx context.Context, t *testing.T, p *vigilProcess, what string, ok func(logLine) bool) {
	t.Helper()
	for {
		lines, _ := readLog(t, p.logFile)
		for _, l := range lines {
			if ok(l) {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waiting for vigil to log %s: %v\n%s", what, ctx.Err(), tail(p.logFile, 30))
		case <-p.done:
			t.Fatalf("vigil exited (%v) before logging %s\n%s", p.err, what, tail(p.logFile, 30))
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// mergeDeposits concatenates deposit data files (JSON arrays) into one and
// returns the public keys in order, as 0x hex.
func mergeDeposits(t *testing.T, out string, files ...string) []string {
	t.Helper()
	var all []json.RawMessage
	var pks []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var entries []json.RawMessage
		require.NoError(t, json.Unmarshal(b, &entries), f)
		for _, e := range entries {
			var d struct {
				Pubkey string `json:"pubkey"`
			}
			require.NoError(t, json.Unmarshal(e, &d))
			pks = append(pks, "0x"+strings.ToLower(d.Pubkey))
		}
		all = append(all, entries...)
	}
	b, err := json.Marshal(all)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, b, 0o600))
	return pks
}

// onlyFile returns the single file matching pattern.
func onlyFile(t *testing.T, pattern string) string {
	t.Helper()
	m, err := filepath.Glob(pattern)
	require.NoError(t, err)
	require.Len(t, m, 1, pattern)
	return m[0]
}
