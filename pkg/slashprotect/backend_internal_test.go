package slashprotect

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/vigil-eth/vigil/internal/testharness"
)

// The backends remember which validator rows exist (SQLite: their ids), so
// that a batch of known keys skips registering them. These tests check that
// the memory never outlives the truth: nothing enters it from a transaction
// that did not commit, and a wrong entry fails one batch (nothing is signed)
// and is then forgotten.

func cacheTestKey(n byte) phase0.BLSPubKey {
	var pk phase0.BLSPubKey
	pk[0], pk[1], pk[47] = 0xc0, n, n
	return pk
}

func cacheTestAtt(pk phase0.BLSPubKey, source, target phase0.Epoch, root byte) AttestationRequest {
	return AttestationRequest{Pubkey: pk, SourceEpoch: source, TargetEpoch: target, SigningRoot: phase0.Root{0x5a, root}}
}

// forgetOne makes the backend's memory wrong about pk: SQLite maps it to
// other's id, PostgreSQL believes it registered although no row exists.
func forgetOne(t *testing.T, db *DB, pk, other phase0.BLSPubKey) {
	switch b := db.b.(type) {
	case *sqliteBackend:
		b.idsMu.Lock()
		defer b.idsMu.Unlock()
		id, ok := b.ids[other]
		require.True(t, ok, "id of the other key is cached")
		b.ids[pk] = id
	case *pgBackend:
		b.setRegistered([]phase0.BLSPubKey{pk})
	default:
		t.Fatalf("unknown backend %T", db.b)
	}
}

func TestValidatorMemory(t *testing.T) {
	backends := []struct {
		name string
		url  func(testing.TB) string
	}{
		{"sqlite", func(t testing.TB) string { return "sqlite://" + filepath.Join(t.TempDir(), "slashing.db") }},
		{"postgres", testharness.Postgres},
	}
	ctx := context.Background()
	open := func(t *testing.T, url string) *DB {
		db, err := Open(ctx, url, WithGenesisValidatorsRoot(phase0.Root{0xee}))
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		return db
	}
	requireOnly := func(t *testing.T, db *DB, pk phase0.BLSPubKey, want ...SignedAttestation) {
		t.Helper()
		h, err := db.History(ctx, pk, 0)
		require.NoError(t, err)
		require.Equal(t, want, h.Attestations)
	}
	recorded := func(req AttestationRequest) SignedAttestation {
		return SignedAttestation{SourceEpoch: req.SourceEpoch, TargetEpoch: req.TargetEpoch, SigningRoot: &req.SigningRoot}
	}

	for _, be := range backends {
		t.Run(be.name+"/rolled back registration is not remembered", func(t *testing.T) {
			db := open(t, be.url(t))
			a, b := cacheTestKey(1), cacheTestKey(2)
			// Register a in a transaction that rolls back; b then takes the row
			// (and, in SQLite, the id) a would have had.
			tx, err := db.b.begin(ctx, modeCheck)
			require.NoError(t, err)
			_, err = tx.lockValidators(ctx, []phase0.BLSPubKey{a})
			require.NoError(t, err)
			tx.rollback()
			reqB := cacheTestAtt(b, 1, 2, 1)
			vs, err := db.CheckAndRecordAttestations(ctx, []AttestationRequest{reqB})
			require.NoError(t, err)
			require.True(t, vs[0].Allowed)
			reqA := cacheTestAtt(a, 1, 2, 2)
			vs, err = db.CheckAndRecordAttestations(ctx, []AttestationRequest{reqA})
			require.NoError(t, err)
			require.True(t, vs[0].Allowed, "a's vote is checked against a's own history: %v", vs[0].Err())
			requireOnly(t, db, a, recorded(reqA))
			requireOnly(t, db, b, recorded(reqB))
		})

		t.Run(be.name+"/wrong memory fails one batch and is forgotten", func(t *testing.T) {
			db := open(t, be.url(t))
			a, b := cacheTestKey(1), cacheTestKey(2)
			reqB := cacheTestAtt(b, 1, 2, 1)
			_, err := db.CheckAndRecordAttestations(ctx, []AttestationRequest{reqB})
			require.NoError(t, err)
			forgetOne(t, db, a, b)
			// Same target, other root: if a were decided on b's history this
			// would be a double vote; if recorded under b's id, b would gain it.
			reqA := cacheTestAtt(a, 1, 2, 2)
			_, err = db.CheckAndRecordAttestations(ctx, []AttestationRequest{reqA, cacheTestAtt(b, 2, 3, 3)})
			require.Error(t, err, "nothing may be decided on a wrong row")
			vs, err := db.CheckAndRecordAttestations(ctx, []AttestationRequest{reqA})
			require.NoError(t, err)
			require.True(t, vs[0].Allowed, "%v", vs[0].Err())
			requireOnly(t, db, a, recorded(reqA))
			requireOnly(t, db, b, recorded(reqB))
		})
	}
}

// TestSQLiteQueryPlans pins the indexes the check queries use: each must
// seek, never scan a validator's whole history (bundled SQLite's planner).
func TestSQLiteQueryPlans(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "slashing.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	sdb := db.b.(*sqliteBackend).db
	cases := []struct {
		name   string
		query  string
		args   []any
		noSort bool
		want   []string
	}{
		{"facts", sqliteAttFacts, []any{"[[1,2,3]]"}, false, []string{
			"USING PRIMARY KEY (validator_id=? AND target_epoch=?)",
			"USING PRIMARY KEY (validator_id=? AND target_epoch>?)",
			"USING COVERING INDEX attestations_by_source (validator_id=? AND source_epoch>?)",
		}},
		{"surrounding witness", sqliteSurrounding, []any{1, 3, 2}, false, []string{
			"USING PRIMARY KEY (validator_id=? AND target_epoch>?)",
		}},
		{"surrounded witness", sqliteSurrounded, []any{1, 2, 3}, false, []string{
			"USING COVERING INDEX attestations_by_source (validator_id=? AND source_epoch>?)",
		}},
		{"validators", sqliteReadValidators, []any{"[1,2]"}, false, []string{
			"USING INTEGER PRIMARY KEY (rowid=?)",
		}},
		{"watermarks", sqliteSaveWatermarks, []any{"[[1,null,2,3]]"}, false, []string{
			"USING INTEGER PRIMARY KEY (rowid=?)",
		}},
		{"some validators", sqliteListSome, []any{`["` + strings.Repeat("ab", 48) + `"]`}, false, []string{
			"SEARCH validators USING INDEX sqlite_autoindex_validators_1 (pubkey=?)",
		}},
		// Each key's newest entries are read from the end of a primary key: no
		// sort, whatever the history's length.
		{"latest records", sqliteLatest, []any{`["` + strings.Repeat("ab", 48) + `"]`}, true, []string{
			"SEARCH v USING INDEX sqlite_autoindex_validators_1 (pubkey=?)",
			"SEARCH attestations USING PRIMARY KEY (validator_id=?)",
			"SEARCH blocks USING PRIMARY KEY (validator_id=?)",
			"SEARCH attestations USING PRIMARY KEY (validator_id=? AND target_epoch=?)",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rows, err := sdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
			require.NoError(t, err)
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				require.NoError(t, rows.Scan(&id, &parent, &unused, &detail))
				plan = append(plan, detail)
				require.NotRegexp(t, `^SCAN (a|v|attestations|validators|blocks)\b`, detail, "full scan")
				if c.noSort {
					require.NotContains(t, detail, "TEMP B-TREE", "sort")
				}
			}
			require.NoError(t, rows.Err())
			for _, w := range c.want {
				require.True(t, slices.ContainsFunc(plan, func(d string) bool { return strings.Contains(d, w) }),
					"no step %q in plan %q", w, plan)
			}
		})
	}
}

// TestPostgresQueryPlan pins the indexes of the batch facts query on a
// database with a long history and fresh statistics: the surrounding witness
// must seek the primary key by later target, not scan the validator's history
// below the source through the source index.
func TestPostgresQueryPlan(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, testharness.Postgres(t), WithGenesisValidatorsRoot(phase0.Root{0xee}))
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	pool := db.b.(*pgBackend).pool
	for _, q := range []string{
		`INSERT INTO validators (pubkey) SELECT decode(lpad(to_hex(g), 96, '0'), 'hex') FROM generate_series(1, 313) AS g`,
		`INSERT INTO attestations SELECT v.id, e + 1, e, decode(lpad(to_hex(e), 64, '0'), 'hex') FROM validators AS v, generate_series(0, 1023) AS e`,
		`ANALYZE`,
	} {
		_, err := pool.Exec(ctx, q)
		require.NoError(t, err)
	}
	ids, sources, targets := make([]int64, 313), make([]int64, 313), make([]int64, 313)
	for i := range ids {
		ids[i], sources[i], targets[i] = int64(i+1), 1024, 1025
	}
	rows, err := pool.Query(ctx, "EXPLAIN "+pgAttFacts, ids, sources, targets)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, strings.TrimSpace(line))
	}
	require.NoError(t, rows.Err())
	for _, want := range []string{
		"Index Cond: ((validator_id = q.vid) AND (target_epoch = q.tgt))",
		"Index Cond: ((validator_id = q.vid) AND (target_epoch > q.tgt))",
		"Index Cond: ((validator_id = q.vid) AND (source_epoch > q.src) AND (target_epoch < q.tgt))",
	} {
		require.Contains(t, plan, want, "plan:\n%s", strings.Join(plan, "\n"))
	}
	for _, line := range plan {
		require.NotContains(t, line, "(source_epoch < q.src)", "plan:\n%s", strings.Join(plan, "\n"))
	}

	// LatestRecords for every validator: one backward index-only step per
	// key into each history, no sort, no scan.
	_, err = pool.Exec(ctx, `INSERT INTO blocks SELECT v.id, s * 32, decode(lpad(to_hex(s), 64, '0'), 'hex') FROM validators AS v, generate_series(0, 63) AS s`)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, `ANALYZE`)
	require.NoError(t, err)
	var keys [][]byte
	krows, err := pool.Query(ctx, `SELECT pubkey FROM validators`)
	require.NoError(t, err)
	for krows.Next() {
		var k []byte
		require.NoError(t, krows.Scan(&k))
		keys = append(keys, k)
	}
	require.NoError(t, krows.Err())
	require.Len(t, keys, 313)
	plan = explain(t, pool, pgLatest, keys)
	for _, want := range []string{
		"Index Only Scan Backward using attestations_pkey on attestations",
		"Index Only Scan Backward using blocks_pkey on blocks",
	} {
		require.True(t, slices.ContainsFunc(plan, func(l string) bool { return strings.Contains(l, want) }),
			"no %q in plan:\n%s", want, strings.Join(plan, "\n"))
	}
	for _, line := range plan {
		require.NotRegexp(t, `Seq Scan on (attestations|blocks)|Sort`, line, "plan:\n%s", strings.Join(plan, "\n"))
	}

	// Pruning one validator: each DELETE seeks its validator's range.
	plan = explain(t, pool, pgPruneOne, int64(7), int64(512), int64(512*32))
	for _, want := range []string{
		"Index Cond: ((validator_id = '7'::bigint) AND (target_epoch < '512'::bigint))",
		"Index Cond: ((validator_id = '7'::bigint) AND (slot < '16384'::bigint))",
	} {
		require.Contains(t, plan, want, "plan:\n%s", strings.Join(plan, "\n"))
	}
	for _, line := range plan {
		require.NotRegexp(t, `Seq Scan on (attestations|blocks)`, line, "plan:\n%s", strings.Join(plan, "\n"))
	}
}

// explain returns the trimmed lines of q's plan.
func explain(t *testing.T, pool *pgxpool.Pool, q string, args ...any) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "EXPLAIN "+q, args...)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var line string
		require.NoError(t, rows.Scan(&line))
		plan = append(plan, strings.TrimSpace(line))
	}
	require.NoError(t, rows.Err())
	return plan
}
