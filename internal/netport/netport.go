// Package netport reserves loopback ports for the servers that vigil's tests
// and devnet start (Vault, PostgreSQL, geth, Prysm). A reserved port lies
// outside the kernel's ephemeral range, so no outgoing connection can be given
// it, and it is locked across processes with flock, so that two test binaries
// running in parallel never pick the same one. The classic "listen on port 0,
// close, hand the number on" leaves a window in which either can take it.
package netport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// ephemeralRangeFile is where Linux keeps the range it draws outgoing (and
// port 0) ports from.
const ephemeralRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

const (
	// lowestPort keeps clear of the well-known and commonly configured
	// service ports below it.
	lowestPort = 10000
	// minPoolSize is the smallest usable pool; a machine whose ephemeral
	// range leaves less than this is refused rather than crowded.
	minPoolSize = 1000
)

// Reservation is a set of ports held for one user until Release. The ports
// are free to bind: the holder passes them to the server it starts.
type Reservation struct {
	ports []int
	mu    sync.Mutex
	locks []*os.File
}

// Ports returns the reserved port numbers, in reservation order.
func (r *Reservation) Ports() []int { return append([]int(nil), r.ports...) }

// Release gives the ports back. It is safe to call more than once; a process
// that exits releases its reservations too (the kernel drops its flocks).
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.locks {
		f.Close()
	}
	r.locks = nil
}

// Reserve returns n distinct loopback ports, each free for both TCP and UDP
// on 127.0.0.1 when reserved (Prysm and geth use one number for both) and
// locked against every other Reserve on this machine until Release.
func Reserve(n int) (*Reservation, error) {
	if n <= 0 {
		return nil, fmt.Errorf("reserve %d ports: want at least one", n)
	}
	lo, hi, err := pool()
	if err != nil {
		return nil, err
	}
	dir, err := lockDir()
	if err != nil {
		return nil, err
	}
	size := hi - lo + 1
	r := &Reservation{}
	// A random start spreads concurrent reservers over the pool, so they
	// rarely contend for the same lock files.
	start := rand.IntN(size)
	for i := 0; i < size && len(r.ports) < n; i++ {
		port := lo + (start+i)%size
		f, ok, err := tryLock(dir, port)
		if err != nil {
			r.Release()
			return nil, err
		}
		if !ok {
			continue
		}
		if !bindable(port) {
			f.Close()
			continue
		}
		r.ports = append(r.ports, port)
		r.locks = append(r.locks, f)
	}
	if len(r.ports) < n {
		r.Release()
		return nil, fmt.Errorf("reserve %d loopback ports in %d-%d: only %d are free", n, lo, hi, len(r.ports))
	}
	return r, nil
}

// pool is the port range to reserve from: below the ephemeral range when it
// leaves room there, above it otherwise.
func pool() (lo, hi int, err error) {
	elo, ehi := 32768, 60999 // Linux's default, if the file cannot be read
	if b, err := os.ReadFile(ephemeralRangeFile); err == nil {
		if l, h, ok := parseRange(string(b)); ok {
			elo, ehi = l, h
		}
	}
	return choosePool(elo, ehi)
}

// choosePool picks the larger free stretch beside the ephemeral range
// [elo, ehi].
func choosePool(elo, ehi int) (lo, hi int, err error) {
	below := elo - lowestPort // ports lowestPort..elo-1
	above := 65535 - ehi      // ports ehi+1..65535
	switch {
	case below >= above && below >= minPoolSize:
		return lowestPort, elo - 1, nil
	case above >= minPoolSize:
		return ehi + 1, 65535, nil
	}
	return 0, 0, fmt.Errorf("the ephemeral port range %d-%d (%s) leaves fewer than %d ports for test servers: narrow it",
		elo, ehi, ephemeralRangeFile, minPoolSize)
}

func parseRange(s string) (lo, hi int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	l, err1 := strconv.Atoi(f[0])
	h, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || l <= 0 || h < l || h > 65535 {
		return 0, 0, false
	}
	return l, h, true
}

// lockDir holds one lock file per port ever reserved; the files are empty and
// reused, only their flocks matter.
func lockDir() (string, error) {
	dir := filepath.Join(os.TempDir(), "vigil-netport")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create the port lock directory: %w", err)
	}
	return dir, nil
}

// tryLock takes port's lock without waiting; ok is false if another
// reservation holds it.
func tryLock(dir string, port int) (*os.File, bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)+".lock"), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open the lock file of port %d: %w", port, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("lock port %d: %w", port, err)
	}
	return f, true, nil
}

// bindable reports whether nothing outside the reservations (a server of
// another program) holds port on loopback, for TCP or UDP.
func bindable(port int) bool {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	l.Close()
	u, err := net.ListenPacket("udp", addr)
	if err != nil {
		return false
	}
	u.Close()
	return true
}
