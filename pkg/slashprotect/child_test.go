package slashprotect_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
	"github.com/vigil-eth/vigil/pkg/slashprotect"
	"github.com/vigil-eth/vigil/pkg/slashprotect/slashprotecttest"
)

// Multi-process tests re-execute this test binary with these variables set;
// the child runs one role and exits.
const (
	envChildRole = "VIGIL_SLASHPROTECT_CHILD"
	envChildURL  = "VIGIL_SLASHPROTECT_CHILD_URL"
	envChildSeed = "VIGIL_SLASHPROTECT_CHILD_SEED"
)

// runChild runs a child role if the environment asks for one; it never
// returns in that case.
func runChild() bool {
	role := os.Getenv(envChildRole)
	if role == "" {
		return false
	}
	seed, _ := strconv.ParseUint(os.Getenv(envChildSeed), 10, 64)
	var err error
	switch role {
	case "signer":
		err = childSigner(os.Getenv(envChildURL), seed, -1)
	case "racer":
		err = childSigner(os.Getenv(envChildURL), seed, 40)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	os.Exit(0)
	return true
}

// childSigner sends batches of conflicting attestations for a few shared keys
// (forever when rounds < 0) and prints one line per verdict once the batch's
// call has returned: "A|R pubkey-index source target root-index". A line is
// printed only after the commit, exactly as a signer releases signatures.
func childSigner(url string, seed uint64, rounds int) error {
	ctx := context.Background()
	db, err := slashprotect.Open(ctx, url, slashprotect.WithGenesisValidatorsRoot(slashprotecttest.Network))
	if err != nil {
		return err
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	out := bufio.NewWriter(os.Stdout)
	for r := 0; rounds < 0 || r < rounds; r++ {
		batch := make([]slashprotect.AttestationRequest, 0, 32)
		for i := 0; i < 32; i++ {
			src := rng.Uint64N(24)
			// Unique roots: any two requests at one target conflict.
			root := int(seed)*1_000_000 + r*100 + i
			batch = append(batch, slashprotecttest.Att(slashprotecttest.PK(rng.IntN(8)), src, src+1+rng.Uint64N(3), root))
		}
		vs, err := db.CheckAndRecordAttestations(ctx, batch)
		if err != nil {
			return err
		}
		for i, v := range vs {
			tag := "R"
			if v.Allowed {
				tag = "A"
			}
			req := batch[i]
			fmt.Fprintf(out, "%s %d %d %d %x\n", tag, req.Pubkey[2], req.SourceEpoch, req.TargetEpoch, req.SigningRoot[:])
		}
		if err := out.Flush(); err != nil {
			return err
		}
	}
	return nil
}

type childVerdict struct {
	allowed bool
	pk      phase0.BLSPubKey
	att     slashprotect.SignedAttestation
}

// readVerdicts parses complete lines; a line cut by a kill is dropped.
func readVerdicts(r io.Reader, each func(childVerdict)) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 5 || len(f[4]) != 64 {
			continue
		}
		pkIdx, _ := strconv.Atoi(f[1])
		src, _ := strconv.ParseUint(f[2], 10, 64)
		tgt, _ := strconv.ParseUint(f[3], 10, 64)
		var root phase0.Root
		if _, err := hex.Decode(root[:], []byte(f[4])); err != nil {
			continue
		}
		each(childVerdict{allowed: f[0] == "A", pk: slashprotecttest.PK(pkIdx),
			att: slashprotect.SignedAttestation{SourceEpoch: phase0.Epoch(src), TargetEpoch: phase0.Epoch(tgt), SigningRoot: &root}})
	}
}

func childCommand(role, url string, seed int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChildRole+"="+role, envChildURL+"="+url, envChildSeed+"="+strconv.Itoa(seed))
	cmd.Stderr = os.Stderr
	return cmd
}

func recorded(t *testing.T, db *slashprotect.DB) map[phase0.BLSPubKey][]slashprotect.SignedAttestation {
	out := map[phase0.BLSPubKey][]slashprotect.SignedAttestation{}
	for i := 0; i < 8; i++ {
		h, err := db.History(context.Background(), slashprotecttest.PK(i), 0)
		if err != nil {
			continue
		}
		out[slashprotecttest.PK(i)] = h.Attestations
	}
	return out
}

func contains(list []slashprotect.SignedAttestation, a slashprotect.SignedAttestation) bool {
	for _, b := range list {
		if b.SourceEpoch == a.SourceEpoch && b.TargetEpoch == a.TargetEpoch && *b.SigningRoot == *a.SigningRoot {
			return true
		}
	}
	return false
}

// TestCrashSafety kills a signing process with SIGKILL in the middle of its
// batches, several times over one database (SQLite, and PostgreSQL, where the
// kill also cuts the connection mid-transaction or mid-commit): every verdict
// it reported as allowed is in the database, nothing it reported as refused
// is, and the database stays free of slashable pairs.
func TestCrashSafety(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { crashSafety(t, sqliteURL(t)) })
	t.Run("postgres", func(t *testing.T) { crashSafety(t, testharness.Postgres(t)) })
}

func crashSafety(t *testing.T, url string) {
	allowed := map[phase0.BLSPubKey][]slashprotect.SignedAttestation{}
	var refused []childVerdict
	for run := 0; run < 4; run++ {
		cmd := childCommand("signer", url, run+1)
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		lines := 0
		done := make(chan struct{})
		var mu sync.Mutex
		go func() {
			defer close(done)
			readVerdicts(stdout, func(v childVerdict) {
				mu.Lock()
				defer mu.Unlock()
				lines++
				if v.allowed {
					allowed[v.pk] = append(allowed[v.pk], v.att)
				} else {
					refused = append(refused, v)
				}
			})
		}()
		// Let it run a varying while, then kill it wherever it is: most of its
		// time is spent inside a transaction or a commit.
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			n := lines
			mu.Unlock()
			if n >= 200+run*150 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Millisecond)
		}
		require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
		<-done
		_ = cmd.Wait()
		require.Positive(t, lines, "child produced no verdicts")
	}

	db, err := slashprotect.Open(context.Background(), url)
	require.NoError(t, err)
	defer db.Close()
	rec := recorded(t, db)
	n := 0
	for pk, atts := range allowed {
		for _, a := range atts {
			require.True(t, contains(rec[pk], a), "allowed attestation %+v for %x lost", a, pk[:3])
			n++
		}
	}
	for _, v := range refused {
		require.False(t, contains(rec[v.pk], v.att), "refused attestation %+v recorded", v.att)
	}
	require.Positive(t, n)
	require.NotEmpty(t, refused)
	keys := make([]phase0.BLSPubKey, 8)
	for i := range keys {
		keys[i] = slashprotecttest.PK(i)
	}
	slashprotecttest.RequireNoSlashable(t, db, keys)
}

// TestPostgresTwoProcesses has two OS processes race conflicting messages for
// the same validators on one PostgreSQL database: no two allowed messages may
// be slashable together, and the database holds exactly the allowed ones.
func TestPostgresTwoProcesses(t *testing.T) {
	url := testharness.Postgres(t)
	// Migrate once up front so both children race on check-and-record, not on
	// the (separately tested) first open.
	db, err := slashprotect.Open(context.Background(), url, slashprotect.WithGenesisValidatorsRoot(slashprotecttest.Network))
	require.NoError(t, err)
	require.NoError(t, db.Close())

	var mu sync.Mutex
	allowed := map[phase0.BLSPubKey][]slashprotect.SignedAttestation{}
	var wg sync.WaitGroup
	cmds := []*exec.Cmd{childCommand("racer", url, 1), childCommand("racer", url, 2)}
	for _, cmd := range cmds {
		stdout, err := cmd.StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmd.Start())
		wg.Add(1)
		go func() {
			defer wg.Done()
			readVerdicts(stdout, func(v childVerdict) {
				if v.allowed {
					mu.Lock()
					allowed[v.pk] = append(allowed[v.pk], v.att)
					mu.Unlock()
				}
			})
		}()
	}
	wg.Wait()
	for _, cmd := range cmds {
		require.NoError(t, cmd.Wait())
	}

	db, err = slashprotect.Open(context.Background(), url)
	require.NoError(t, err)
	defer db.Close()
	rec := recorded(t, db)
	total := 0
	for pk, atts := range allowed {
		total += len(atts)
		for i, a := range atts {
			for _, b := range atts[i+1:] {
				require.False(t, slashprotecttest.SlashableAttestations(a, b), "two processes both allowed slashable %+v and %+v", a, b)
			}
		}
		require.Len(t, rec[pk], len(atts))
	}
	require.Positive(t, total)
}
