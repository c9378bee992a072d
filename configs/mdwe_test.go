package configs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/vigil-eth/vigil/pkg/keystore/keystoretest"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
)

// mdweChildEnv marks the re-executed test process that runs under
// PR_SET_MDWE.
const mdweChildEnv = "VIGIL_TEST_MDWE_CHILD"

// TestCgoWithoutWriteExecuteMemory backs the unit's MemoryDenyWriteExecute=yes:
// vigil's cgo code (herumi's BLS library, SQLite) must never need memory that
// is writable and executable, as a JIT would. A child process turns on the
// kernel's equivalent, prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN) (Linux
// 6.3+), which cannot be turned off again, then derives, signs and verifies
// with BLS and opens a SQLite slashing database.
func TestCgoWithoutWriteExecuteMemory(t *testing.T) {
	if os.Getenv(mdweChildEnv) == "1" {
		mdweChild(t)
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCgoWithoutWriteExecuteMemory$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), mdweChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), "MDWE UNSUPPORTED") {
		// A kernel feature, not something the test command can install.
		t.Skip("CHECK NOT RUN: this kernel has no PR_SET_MDWE (Linux 6.3+):\n" + string(out))
	}
	require.NoError(t, err, "under PR_SET_MDWE:\n%s", out)
	require.Contains(t, string(out), "MDWE OK")
}

func mdweChild(t *testing.T) {
	if err := unix.Prctl(unix.PR_SET_MDWE, unix.PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0); err != nil {
		t.Logf("MDWE UNSUPPORTED: %v", err)
		return
	}
	// The restriction is in force: writable and executable memory is refused.
	_, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANON)
	require.True(t, errors.Is(err, unix.EACCES), "W+X mapping under MDWE: %v", err)

	key := keystoretest.Keys(t, 1)[0]
	msg := []byte("vigil under MemoryDenyWriteExecute")
	sig := key.Secret.SignByte(msg)
	require.True(t, sig.VerifyByte(key.Secret.GetPublicKey(), msg))

	db, err := slashprotect.Open(t.Context(), "sqlite://"+filepath.Join(t.TempDir(), "slashing.db"))
	require.NoError(t, err)
	require.NoError(t, db.Close())
	t.Log("MDWE OK")
}
