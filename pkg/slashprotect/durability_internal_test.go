package slashprotect

import (
	"context"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
)

// pgAdmin connects to rawURL as its (superuser) owner.
func pgAdmin(t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), rawURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return conn
}

func pgSetting(t *testing.T, conn interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, name string) string {
	t.Helper()
	var v string
	require.NoError(t, conn.QueryRow(context.Background(), `SELECT current_setting($1)`, name).Scan(&v))
	return v
}

// TestPostgresSynchronousCommit: a role and a database whose default is
// synchronous_commit = off (a DBA's tuning, or a shared server's) do not reach
// vigil's sessions, which run on, so every commit vigil reports is flushed.
func TestPostgresSynchronousCommit(t *testing.T) {
	ctx := context.Background()
	base := testharness.Postgres(t)
	u, err := url.Parse(base)
	require.NoError(t, err)
	dbName := strings.TrimPrefix(u.Path, "/")
	role := "vigil_async_" + dbName
	admin := pgAdmin(t, base)
	for _, q := range []string{
		`CREATE ROLE ` + role + ` LOGIN`,
		`ALTER DATABASE ` + dbName + ` OWNER TO ` + role,
		`ALTER ROLE ` + role + ` SET synchronous_commit = off`,
		`ALTER DATABASE ` + dbName + ` SET synchronous_commit = off`,
	} {
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(ctx, `ALTER ROLE `+role+` RESET ALL`)
	})
	u.User = url.User(role)
	asRole := u.String()

	plain := pgAdmin(t, asRole)
	require.Equal(t, "off", pgSetting(t, plain, "synchronous_commit"), "the role's default applies to an ordinary session")

	db, err := Open(ctx, asRole, WithGenesisValidatorsRoot(phase0.Root{0xee}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	pool := db.b.(*pgBackend).pool
	// Several connections at once, so the pool opens more than one.
	var wg sync.WaitGroup
	got := make([]string, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Go(func() {
			c, err := pool.Acquire(ctx)
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Release()
			errs[i] = c.QueryRow(ctx, `SELECT current_setting('synchronous_commit') FROM pg_sleep(0.2)`).Scan(&got[i])
		})
	}
	wg.Wait()
	for i := range got {
		require.NoError(t, errs[i])
		require.Equal(t, "on", got[i], "vigil's session %d", i)
	}
	// And inside a check-and-record transaction.
	tx, err := db.b.begin(ctx, modeCheck)
	require.NoError(t, err)
	require.Equal(t, "on", pgSetting(t, tx.(*pgTx).tx, "synchronous_commit"))
	tx.rollback()
	vs, err := db.CheckAndRecordAttestations(ctx, []AttestationRequest{{Pubkey: phase0.BLSPubKey{1}, SourceEpoch: 1, TargetEpoch: 2, SigningRoot: phase0.Root{1}}})
	require.NoError(t, err)
	require.True(t, vs[0].Allowed)
}

// TestPostgresRefusesFsyncOff: a server running with fsync = off acknowledges
// commits a crash erases, so vigil refuses it at open, and a running vigil
// refuses every new connection (nothing is signed) once the server is
// switched to it. The test switches this test binary's private cluster with
// ALTER SYSTEM and switches it back.
func TestPostgresRefusesFsyncOff(t *testing.T) {
	if os.Getenv(testharness.EnvPostgresURL) != "" {
		t.Skipf("SKIPPING: %s names a shared server; this test would switch its fsync off", testharness.EnvPostgresURL)
	}
	ctx := context.Background()
	base := testharness.Postgres(t)
	running, err := Open(ctx, base, WithGenesisValidatorsRoot(phase0.Root{0xee}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = running.Close() })

	admin := pgAdmin(t, base)
	setFsync := func(v string) {
		t.Helper()
		q := `ALTER SYSTEM SET fsync = ` + v
		if v == "" {
			q, v = `ALTER SYSTEM RESET fsync`, "on"
		}
		_, err := admin.Exec(ctx, q)
		require.NoError(t, err)
		_, err = admin.Exec(ctx, `SELECT pg_reload_conf()`)
		require.NoError(t, err)
		// The reload reaches new sessions asynchronously.
		require.Eventually(t, func() bool {
			c, err := pgx.Connect(ctx, base)
			if err != nil {
				return false
			}
			defer c.Close(ctx)
			return pgSetting(t, c, "fsync") == v
		}, 20*time.Second, 50*time.Millisecond, "fsync = %s after reload", v)
	}
	setFsync("off")
	t.Cleanup(func() { setFsync("") })

	_, err = Open(ctx, testharness.Postgres(t), WithGenesisValidatorsRoot(phase0.Root{0xee}))
	require.ErrorIs(t, err, ErrNotDurable)
	require.ErrorContains(t, err, "fsync = off")
	require.ErrorContains(t, err, "set fsync = on in postgresql.conf")

	running.b.(*pgBackend).pool.Reset()
	_, err = running.CheckAndRecordAttestations(ctx, []AttestationRequest{{Pubkey: phase0.BLSPubKey{1}, SourceEpoch: 1, TargetEpoch: 2, SigningRoot: phase0.Root{1}}})
	require.ErrorIs(t, err, ErrNotDurable, "a new connection to a server without fsync decides nothing")
	t.Log(err)
}
