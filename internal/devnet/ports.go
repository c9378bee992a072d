package devnet

import (
	"fmt"
	"io"
	"net"
)

// freePorts returns n distinct loopback ports that were free for both TCP and
// UDP a moment ago. All listeners stay open until every port is chosen, so the
// kernel cannot hand out the same port twice; another process may still take
// one before the devnet binds it, which only makes a start fail, never
// connect somewhere unexpected.
func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for attempts := 0; len(ports) < n; attempts++ {
		if attempts > 10*n {
			return nil, fmt.Errorf("find %d free loopback ports: only %d after %d attempts", n, len(ports), attempts)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port: %w", err)
		}
		held = append(held, l)
		port := l.Addr().(*net.TCPAddr).Port
		// Prysm's discovery and geth's p2p use UDP on the same number.
		u, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		held = append(held, u)
		ports = append(ports, port)
	}
	return ports, nil
}
