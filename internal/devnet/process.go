package devnet

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// stopGrace is how long a process gets to exit after SIGTERM before its whole
// process group is killed.
const stopGrace = 10 * time.Second

// Process is one devnet program running in its own process group, with its
// standard output and error in a log file.
type Process struct {
	// Name identifies the process in logs and errors, e.g. "beacon-0".
	Name string
	// LogFile holds the process's standard output and standard error.
	LogFile string

	cmd      *exec.Cmd
	logf     *os.File
	done     chan struct{}
	waitErr  error
	stopOnce sync.Once
	stopped  bool
	mu       sync.Mutex
}

func startProcess(name, logFile, dir string, argv []string, env []string) (*Process, error) {
	logf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", name, err)
	}
	fmt.Fprintf(logf, "# %s\n", strings.Join(argv, " "))
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = append(os.Environ(), env...)
	// Own process group so Stop can kill anything the program forks; Pdeathsig
	// so a crashed test binary does not leave a chain running on the machine.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogFile: logFile, cmd: cmd, logf: logf, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.waitErr = err
		p.mu.Unlock()
		logf.Close()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the operating-system process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed once the process has exited, for whatever reason.
func (p *Process) Exited() <-chan struct{} { return p.done }

// Running reports whether the process is still alive.
func (p *Process) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *Process) wasStopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stopped
}

// exitError describes an exit that nobody asked for, for error messages.
func (p *Process) exitError() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.waitErr != nil {
		return fmt.Errorf("%s exited: %w (log %s)", p.Name, p.waitErr, p.LogFile)
	}
	return fmt.Errorf("%s exited with status 0 (log %s)", p.Name, p.LogFile)
}

// Stop sends SIGTERM to the process group, waits up to ten seconds, then sends
// SIGKILL. It is safe to call more than once and after the process exited.
func (p *Process) Stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		p.mu.Unlock()
		pgid := p.cmd.Process.Pid
		// The group may still hold children after the leader exited, so the
		// signals go to the group either way; ESRCH just means it is empty.
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopGrace):
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	})
}

// RSSBytes returns the process's resident set size from /proc (Linux only).
func (p *Process) RSSBytes() (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.Pid()))
	if err != nil {
		return 0, fmt.Errorf("rss of %s: %w", p.Name, err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		rest, ok := strings.CutPrefix(s.Text(), "VmRSS:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) != 2 || fields[1] != "kB" {
			return 0, fmt.Errorf("rss of %s: unexpected VmRSS line %q", p.Name, s.Text())
		}
		kb, err := strconv.ParseUint(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("rss of %s: %w", p.Name, err)
		}
		return kb * 1024, nil
	}
	if err := s.Err(); err != nil {
		return 0, fmt.Errorf("rss of %s: %w", p.Name, err)
	}
	return 0, errors.New("rss of " + p.Name + ": no VmRSS line (process exited?)")
}

// Tail returns up to n last lines of the process's log file.
func (p *Process) Tail(n int) string {
	return tailFile(p.LogFile, n)
}

// Problems returns up to n last warning and error lines of the process's
// log file. A failed test prints them beside the tail, which at that point
// holds only the shutdown: the lines that explain a lost slot come minutes
// earlier.
func (p *Process) Problems(n int) string {
	return tailFileMatching(p.LogFile, n, isProblem)
}

// isProblem tells whether a log line of geth (WARN, ERROR, CRIT) or of a
// Prysm binary (level=warning, level=error, level=fatal) is a warning or an
// error.
func isProblem(line string) bool {
	for _, marker := range []string{"WARN [", "ERROR[", "CRIT [", "level=warning", "level=error", "level=fatal"} {
		if strings.Contains(line, marker) {
			return true
		}
	}
	return false
}

func tailFile(path string, n int) string {
	return tailFileMatching(path, n, func(string) bool { return true })
}

func tailFileMatching(path string, n int, keep func(string) bool) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	var lines []string
	for line := range strings.SplitSeq(strings.TrimRight(string(b), "\n"), "\n") {
		if keep(line) {
			lines = append(lines, line)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
