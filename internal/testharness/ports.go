package testharness

import (
	"net"
	"strconv"
	"testing"

	"github.com/vigil-eth/vigil/internal/netport"
)

// LoopbackAddr returns a 127.0.0.1:port address that nothing listens on and
// that no other test process can be given until the test ends (see
// internal/netport), for a server the test starts, or as an address where
// nothing answers.
func LoopbackAddr(t testing.TB) string {
	t.Helper()
	r, err := netport.Reserve(1)
	if err != nil {
		t.Fatalf("reserve a loopback port: %v", err)
	}
	t.Cleanup(r.Release)
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.Ports()[0]))
}
