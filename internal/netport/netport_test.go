package netport

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestChoosePool(t *testing.T) {
	for _, tc := range []struct {
		name             string
		elo, ehi, lo, hi int
		err              bool
	}{
		{name: "linux default", elo: 32768, ehi: 60999, lo: 10000, hi: 32767},
		{name: "low ephemeral range", elo: 1024, ehi: 50000, lo: 50001, hi: 65535},
		{name: "whole range ephemeral", elo: 1024, ehi: 65535, err: true},
		{name: "high ephemeral range", elo: 49152, ehi: 65535, lo: 10000, hi: 49151},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi, err := choosePool(tc.elo, tc.ehi)
			if tc.err {
				require.Error(t, err)
				require.Contains(t, err.Error(), "ephemeral port range")
				return
			}
			require.NoError(t, err)
			require.Equal(t, [2]int{tc.lo, tc.hi}, [2]int{lo, hi})
		})
	}
}

func TestParseRange(t *testing.T) {
	for in, want := range map[string][3]int{
		"32768\t60999\n": {32768, 60999, 1},
		"1 2 3":          {0, 0, 0},
		"60999 32768":    {0, 0, 0},
		"x 5":            {0, 0, 0},
	} {
		lo, hi, ok := parseRange(in)
		got := [3]int{lo, hi, 0}
		if ok {
			got[2] = 1
		}
		require.Equal(t, want, got, "%q", in)
	}
}

func TestReserveOutsideEphemeralRangeAndBindable(t *testing.T) {
	r, err := Reserve(20)
	require.NoError(t, err)
	defer r.Release()
	lo, hi, err := pool()
	require.NoError(t, err)
	seen := map[int]bool{}
	for _, p := range r.Ports() {
		require.False(t, seen[p], "port %d twice", p)
		seen[p] = true
		require.GreaterOrEqual(t, p, lo)
		require.LessOrEqual(t, p, hi)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		require.NoError(t, err, "a reserved port must be free to bind")
		l.Close()
	}
}

func TestReserveSkipsPortsHeldByOthers(t *testing.T) {
	a, err := Reserve(50)
	require.NoError(t, err)
	b, err := Reserve(50)
	require.NoError(t, err)
	for _, p := range b.Ports() {
		require.NotContains(t, a.Ports(), p)
	}
	// Once released, a's ports are available again; b still holds its own.
	a.Release()
	a.Release()
	b.Release()
}

func TestReserveRefusesZero(t *testing.T) {
	_, err := Reserve(0)
	require.Error(t, err)
}

// TestReserveAcrossProcesses runs reservers in child processes while this one
// holds ports: no port is ever handed to two of them.
func TestReserveAcrossProcesses(t *testing.T) {
	if os.Getenv("NETPORT_CHILD") == "1" {
		r, err := Reserve(100)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println(strings.Trim(fmt.Sprint(r.Ports()), "[]"))
		// Hold the ports until the parent has read every child's answer.
		_, _ = os.Stdin.Read(make([]byte, 1))
		return
	}
	mine, err := Reserve(100)
	require.NoError(t, err)
	defer mine.Release()
	owner := map[int]string{}
	for _, p := range mine.Ports() {
		owner[p] = "parent"
	}
	type child struct {
		cmd   *exec.Cmd
		out   *bufio.Reader
		stdin io.Closer
	}
	var kids []child
	for i := range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReserveAcrossProcesses$")
		cmd.Env = append(os.Environ(), "NETPORT_CHILD=1")
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		stdin, err := cmd.StdinPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start(), "child %d", i)
		kids = append(kids, child{cmd, bufio.NewReader(stdout), stdin})
	}
	for i, k := range kids {
		line, err := k.out.ReadString('\n')
		require.NoError(t, err, "child %d", i)
		require.NotContains(t, line, "ERR")
		for _, f := range strings.Fields(line) {
			p, err := strconv.Atoi(f)
			require.NoError(t, err, "child %d printed %q", i, line)
			prev, taken := owner[p]
			require.False(t, taken, "port %d given to child %d and to %s", p, i, prev)
			owner[p] = fmt.Sprintf("child %d", i)
		}
	}
	for _, k := range kids {
		k.stdin.Close()
		_, _ = io.Copy(io.Discard, k.out)
		require.NoError(t, k.cmd.Wait())
	}
	require.Len(t, owner, 500)
}
