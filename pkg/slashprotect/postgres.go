package slashprotect

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations are applied in order, each recorded in schema_migrations.
var pgMigrations = []string{
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BYTEA NOT NULL
	);
	CREATE TABLE validators (
		id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		pubkey        BYTEA NOT NULL UNIQUE CHECK (length(pubkey) = 48),
		block_slot_wm BIGINT,
		att_source_wm BIGINT,
		att_target_wm BIGINT
	);
	CREATE TABLE blocks (
		validator_id BIGINT NOT NULL REFERENCES validators (id),
		slot         BIGINT NOT NULL CHECK (slot >= 0),
		signing_root BYTEA NOT NULL CHECK (length(signing_root) IN (0, 32)),
		PRIMARY KEY (validator_id, slot, signing_root)
	);
	-- No foreign key on attestations.validator_id: its per-row trigger doubled
	-- the time of a 10^7-record import. Rows are only written with the id of a
	-- validator row locked in the same transaction, and validators are never deleted.
	CREATE TABLE attestations (
		validator_id BIGINT NOT NULL,
		target_epoch BIGINT NOT NULL CHECK (target_epoch >= 0),
		source_epoch BIGINT NOT NULL CHECK (source_epoch >= 0),
		signing_root BYTEA NOT NULL CHECK (length(signing_root) IN (0, 32)),
		PRIMARY KEY (validator_id, target_epoch, source_epoch, signing_root)
	);
	CREATE INDEX attestations_by_source ON attestations (validator_id, source_epoch, target_epoch);`,
}

// Advisory lock keys ("vigil" in ASCII, then a number).
const (
	pgMigrateLockKey  int64 = 0x76696769_6c000001
	pgInstanceLockKey int64 = 0x76696769_6c000002
)

// pgBackend is the shared store. Each vigil instance holds a shared session
// advisory lock for its lifetime; administrative tools take it exclusively,
// so they cannot run while any instance is up (EIP-3076: import and export
// only while the validator client is stopped).
type pgBackend struct {
	where    string
	pool     *pgxpool.Pool
	lockConn *pgx.Conn

	// registered holds pubkeys whose validator rows are known to be committed;
	// validators are never deleted, so a batch of registered keys needs no
	// INSERT. Should a row be missing after all, lockValidators fails the batch
	// and empties this set.
	registeredMu sync.Mutex
	registered   map[phase0.BLSPubKey]struct{}
}

func openPostgres(ctx context.Context, rawURL, where string, exclusive bool) (*pgBackend, error) {
	cfg, err := pgxpool.ParseConfig(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse PostgreSQL URL %s: %w", where, err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = fmt.Sprintf("vigil pid %d", os.Getpid())
	// Serialisation relies on row locks taken after each statement sees the
	// latest committed data; READ COMMITTED is that, whatever the server default.
	cfg.ConnConfig.RuntimeParams["default_transaction_isolation"] = "read committed"
	// A commit must be durable before its signature leaves vigil (safety rule
	// 1). synchronous_commit = on waits for the WAL flush on the primary and,
	// with synchronous_standby_names set, on the synchronous standbys; a
	// role's or database's "off" or "local" (ALTER ROLE/DATABASE ... SET) would
	// lose or strand commits vigil reported, so the session overrides it: a
	// startup parameter outranks those defaults. remote_apply would add a wait
	// for replay on the standbys, which only read-your-writes on a standby needs.
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	cfg.AfterConnect = checkDurable
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", where, err)
	}
	b := &pgBackend{where: where, pool: pool, registered: make(map[phase0.BLSPubKey]struct{})}
	if err := b.lockInstance(ctx, exclusive); err != nil {
		pool.Close()
		return nil, err
	}
	if err := b.migrate(ctx); err != nil {
		_ = b.close()
		return nil, err
	}
	return b, nil
}

// ErrNotDurable refuses a PostgreSQL server or session on which a committed
// record could be lost: fsync off, or synchronous_commit not on.
var ErrNotDurable = errors.New("slashing database cannot make commits durable")

// checkDurable verifies a new connection's settings before vigil uses it: the
// session's synchronous_commit must be on (a pooler or a server that ignored
// the startup parameter is refused) and the server must fsync (fsync = off
// acknowledges commits that a crash or power loss then erases).
func checkDurable(ctx context.Context, conn *pgx.Conn) error {
	var syncCommit, fsync string
	if err := conn.QueryRow(ctx, `SELECT current_setting('synchronous_commit'), current_setting('fsync')`).Scan(&syncCommit, &fsync); err != nil {
		return fmt.Errorf("read the server's durability settings: %w", err)
	}
	if fsync != "on" {
		return fmt.Errorf("the PostgreSQL server runs with fsync = %s: a commit it acknowledges can vanish in a crash or power loss, "+
			"after vigil released the signature it allowed; set fsync = on in postgresql.conf and reload the server: %w", fsync, ErrNotDurable)
	}
	if syncCommit != "on" {
		return fmt.Errorf("the PostgreSQL session runs with synchronous_commit = %s although vigil asked for on "+
			"(a connection pooler that drops startup parameters?): connect vigil to the server directly: %w", syncCommit, ErrNotDurable)
	}
	return nil
}

// lockInstance takes the instance advisory lock on a connection kept out of
// the pool, so it is held until close (or until the process dies).
func (b *pgBackend) lockInstance(ctx context.Context, exclusive bool) error {
	c, err := b.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", b.where, err)
	}
	conn := c.Hijack()
	fn := "pg_try_advisory_lock_shared"
	if exclusive {
		fn = "pg_try_advisory_lock"
	}
	var ok bool
	if err := conn.QueryRow(ctx, `SELECT `+fn+`($1)`, pgInstanceLockKey).Scan(&ok); err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("lock %s: %w", b.where, err)
	}
	if !ok {
		holders := b.lockHolders(ctx, conn)
		_ = conn.Close(ctx)
		if exclusive {
			return fmt.Errorf("slashing database %s is in use by another vigil process (%s) — stop it first: %w", b.where, holders, ErrInUse)
		}
		return fmt.Errorf("slashing database %s is held exclusively by an administrative vigil command (%s) — wait for it to finish: %w", b.where, holders, ErrInUse)
	}
	b.lockConn = conn
	return nil
}

// lockHolders names the sessions holding the instance lock, for the message.
func (b *pgBackend) lockHolders(ctx context.Context, conn *pgx.Conn) string {
	rows, err := conn.Query(ctx, `SELECT a.application_name, coalesce(host(a.client_addr), 'local')
		FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
		WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
		  AND ((l.classid::bigint << 32) | l.objid::bigint) = $1`, pgInstanceLockKey)
	if err != nil {
		return "holder unknown"
	}
	defer rows.Close()
	var out string
	for rows.Next() {
		var app, host string
		if rows.Scan(&app, &host) == nil {
			if out != "" {
				out += ", "
			}
			out += fmt.Sprintf("%q from %s", app, host)
		}
	}
	if out == "" {
		return "holder unknown"
	}
	return out
}

func (b *pgBackend) migrate(ctx context.Context) error {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", b.where, err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Two instances opening a fresh database at once: one migrates, the other
	// waits here and then finds nothing to do.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrateLockKey); err != nil {
		return fmt.Errorf("lock %s for migration: %w", b.where, err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("migrate %s: %w", b.where, err)
	}
	var version int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version of %s: %w", b.where, err)
	}
	if version > len(pgMigrations) {
		return fmt.Errorf("slashing database %s has schema version %d, newer than this vigil knows (%d): upgrade vigil", b.where, version, len(pgMigrations))
	}
	for v := version; v < len(pgMigrations); v++ {
		if _, err := tx.Exec(ctx, pgMigrations[v]); err != nil {
			return fmt.Errorf("apply schema migration %d to %s: %w", v+1, b.where, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version) VALUES ($1)`, v+1); err != nil {
			return fmt.Errorf("record schema migration %d in %s: %w", v+1, b.where, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit schema migration of %s: %w", b.where, err)
	}
	return nil
}

func pubkeyBytes(pubkeys []phase0.BLSPubKey) [][]byte {
	out := make([][]byte, len(pubkeys))
	for i := range pubkeys {
		out[i] = pubkeys[i][:]
	}
	return out
}

// insertMissingValidators inserts rows in pubkey order and skips existing ones
// without consuming identity values.
const insertMissingValidators = `INSERT INTO validators (pubkey)
	SELECT k FROM unnest($1::bytea[]) AS t(k)
	WHERE NOT EXISTS (SELECT 1 FROM validators v WHERE v.pubkey = t.k)
	ORDER BY k ON CONFLICT (pubkey) DO NOTHING`

// unregistered returns the pubkeys not known to have a committed row.
func (b *pgBackend) unregistered(pubkeys []phase0.BLSPubKey) []phase0.BLSPubKey {
	b.registeredMu.Lock()
	defer b.registeredMu.Unlock()
	var out []phase0.BLSPubKey
	for _, pk := range pubkeys {
		if _, ok := b.registered[pk]; !ok {
			out = append(out, pk)
		}
	}
	return out
}

func (b *pgBackend) setRegistered(pubkeys []phase0.BLSPubKey) {
	b.registeredMu.Lock()
	defer b.registeredMu.Unlock()
	for _, pk := range pubkeys {
		b.registered[pk] = struct{}{}
	}
}

func (b *pgBackend) forgetRegistered() {
	b.registeredMu.Lock()
	defer b.registeredMu.Unlock()
	clear(b.registered)
}

func (b *pgBackend) ensureValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) error {
	missing := b.unregistered(pubkeys)
	if len(missing) == 0 {
		return nil
	}
	// Committed on its own, so the check transaction only locks existing rows
	// and always in one order: inserting new rows inside it would lock them out
	// of order with respect to the SELECT ... FOR UPDATE.
	if _, err := b.pool.Exec(ctx, insertMissingValidators, pubkeyBytes(missing)); err != nil {
		return fmt.Errorf("register validators: %w", err)
	}
	b.setRegistered(missing)
	return nil
}

func (b *pgBackend) begin(ctx context.Context, mode txMode) (storeTx, error) {
	opts := pgx.TxOptions{IsoLevel: pgx.ReadCommitted}
	if mode == modeRead {
		opts = pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}
	}
	tx, err := b.pool.BeginTx(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("begin transaction on %s: %w", b.where, err)
	}
	if mode == modeExclusive {
		// EXCLUSIVE conflicts with the ROW SHARE lock every SELECT ... FOR UPDATE
		// takes, so an import or prune runs alone and, taking one lock, cannot
		// deadlock with check batches.
		if _, err := tx.Exec(ctx, `LOCK TABLE validators IN EXCLUSIVE MODE`); err != nil {
			_ = tx.Rollback(ctx)
			return nil, fmt.Errorf("lock %s: %w", b.where, err)
		}
	}
	return &pgTx{b: b, tx: tx}, nil
}

func (b *pgBackend) close() error {
	if b.lockConn != nil {
		ctx := context.Background()
		_ = b.lockConn.Close(ctx)
	}
	b.pool.Close()
	return nil
}

type pgTx struct {
	b    *pgBackend
	tx   pgx.Tx
	done bool
}

func epochPtr(v *int64) *phase0.Epoch {
	if v == nil {
		return nil
	}
	e := phase0.Epoch(*v)
	return &e
}

func slotPtr(v *int64) *phase0.Slot {
	if v == nil {
		return nil
	}
	s := phase0.Slot(*v)
	return &s
}

func (t *pgTx) selectValidators(ctx context.Context, q string, args ...any) ([]*validatorState, error) {
	rows, err := t.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*validatorState
	for rows.Next() {
		v := &validatorState{}
		var pk []byte
		var slot, source, target *int64
		if err := rows.Scan(&v.id, &pk, &slot, &source, &target); err != nil {
			return nil, err
		}
		copy(v.pubkey[:], pk)
		v.wm = Watermarks{BlockSlot: slotPtr(slot), AttestationSource: epochPtr(source), AttestationTarget: epochPtr(target)}
		out = append(out, v)
	}
	return out, rows.Err()
}

func (t *pgTx) lockValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error) {
	keys := pubkeyBytes(pubkeys)
	// Check batches have registered their keys already (ensureValidators);
	// imports register theirs here, under the table lock.
	if len(t.b.unregistered(pubkeys)) > 0 {
		if _, err := t.tx.Exec(ctx, insertMissingValidators, keys); err != nil {
			return nil, fmt.Errorf("register validators: %w", err)
		}
	}
	// ORDER BY before FOR UPDATE: rows are locked in pubkey order, the same in
	// every transaction, so two batches sharing validators cannot deadlock.
	out, err := t.selectValidators(ctx, `SELECT id, pubkey, block_slot_wm, att_source_wm, att_target_wm
		FROM validators WHERE pubkey = ANY($1) ORDER BY pubkey FOR UPDATE`, keys)
	if err != nil {
		return nil, fmt.Errorf("lock validators: %w", err)
	}
	if len(out) != len(pubkeys) {
		t.b.forgetRegistered()
		return nil, fmt.Errorf("lock validators: found %d of %d rows", len(out), len(pubkeys))
	}
	return out, nil
}

func (t *pgTx) listValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error) {
	var out []*validatorState
	var err error
	if len(pubkeys) == 0 {
		out, err = t.selectValidators(ctx, `SELECT id, pubkey, block_slot_wm, att_source_wm, att_target_wm FROM validators ORDER BY pubkey`)
	} else {
		out, err = t.selectValidators(ctx, `SELECT id, pubkey, block_slot_wm, att_source_wm, att_target_wm
			FROM validators WHERE pubkey = ANY($1) ORDER BY pubkey`, pubkeyBytes(pubkeys))
	}
	if err != nil {
		return nil, fmt.Errorf("list validators: %w", err)
	}
	return out, nil
}

// pgAttFacts finds, in one statement for the whole batch, every record at
// each request's target and one witness for each surround direction (kind 0,
// 1, 2). i is the request's 1-based position. "source_epoch + 0" keeps the
// planner off the source index for the surrounding witness, where
// "source_epoch <" would scan the validator's whole history; the primary key
// bounds it to records with a later target, as the source index bounds the
// surrounded one to records with a later source (TestPostgresQueryPlan).
const pgAttFacts = `SELECT q.i, f.kind, f.source_epoch, f.target_epoch, f.signing_root
	FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS q(vid, src, tgt, i),
	LATERAL (
		SELECT 0 AS kind, source_epoch, target_epoch, signing_root FROM attestations
			WHERE validator_id = q.vid AND target_epoch = q.tgt
		UNION ALL (SELECT 1, source_epoch, target_epoch, signing_root FROM attestations
			WHERE validator_id = q.vid AND target_epoch > q.tgt AND source_epoch + 0 < q.src LIMIT 1)
		UNION ALL (SELECT 2, source_epoch, target_epoch, signing_root FROM attestations
			WHERE validator_id = q.vid AND source_epoch > q.src AND target_epoch < q.tgt LIMIT 1)
	) AS f`

func (t *pgTx) attestationFacts(ctx context.Context, qs []attQuery) ([]attFacts, error) {
	ids := make([]int64, len(qs))
	sources := make([]int64, len(qs))
	targets := make([]int64, len(qs))
	for i, q := range qs {
		ids[i], sources[i], targets[i] = q.validatorID, int64(q.source), int64(q.target)
	}
	rows, err := t.tx.Query(ctx, pgAttFacts, ids, sources, targets)
	if err != nil {
		return nil, fmt.Errorf("query attestations: %w", err)
	}
	defer rows.Close()
	out := make([]attFacts, len(qs))
	for rows.Next() {
		var i int64
		var kind int
		var s, tg int64
		var root []byte
		if err := rows.Scan(&i, &kind, &s, &tg, &root); err != nil {
			return nil, fmt.Errorf("query attestations: %w", err)
		}
		if i < 1 || i > int64(len(qs)) {
			return nil, fmt.Errorf("query attestations: row for request %d of %d", i, len(qs))
		}
		a := SignedAttestation{SourceEpoch: phase0.Epoch(s), TargetEpoch: phase0.Epoch(tg), SigningRoot: rootFromBytes(root)}
		f := &out[i-1]
		switch kind {
		case 0:
			f.sameTarget = append(f.sameTarget, a)
		case 1:
			f.surrounding = &a
		case 2:
			f.surrounded = &a
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query attestations: %w", err)
	}
	return out, nil
}

func (t *pgTx) blockFacts(ctx context.Context, qs []blockQuery) ([]blockFacts, error) {
	out := make([]blockFacts, len(qs))
	for i, q := range qs {
		rows, err := t.tx.Query(ctx, `SELECT signing_root FROM blocks WHERE validator_id = $1 AND slot = $2`, q.validatorID, int64(q.slot))
		if err != nil {
			return nil, fmt.Errorf("query blocks: %w", err)
		}
		for rows.Next() {
			var root []byte
			if err := rows.Scan(&root); err != nil {
				rows.Close()
				return nil, fmt.Errorf("query blocks: %w", err)
			}
			out[i].sameSlot = append(out[i].sameSlot, SignedBlock{Slot: q.slot, SigningRoot: rootFromBytes(root)})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("query blocks: %w", err)
		}
	}
	return out, nil
}

// copyThreshold is the row count from which inserts use COPY.
const copyThreshold = 256

func (t *pgTx) insertAttestations(ctx context.Context, rows []attRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, len(rows))
	targets := make([]int64, len(rows))
	sources := make([]int64, len(rows))
	roots := make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], targets[i], sources[i], roots[i] = r.validatorID, int64(r.att.TargetEpoch), int64(r.att.SourceEpoch), rootBytes(r.att.SigningRoot)
	}
	if len(rows) >= copyThreshold {
		// Imports: COPY is several times faster than INSERT for bulk rows. Import
		// has already dropped every duplicate of an existing row.
		src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			return []any{ids[i], targets[i], sources[i], roots[i]}, nil
		})
		if _, err := t.tx.CopyFrom(ctx, pgx.Identifier{"attestations"}, []string{"validator_id", "target_epoch", "source_epoch", "signing_root"}, src); err != nil {
			return fmt.Errorf("record attestations: %w", err)
		}
		return nil
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO attestations (validator_id, target_epoch, source_epoch, signing_root)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bytea[]) ON CONFLICT DO NOTHING`,
		ids, targets, sources, roots); err != nil {
		return fmt.Errorf("record attestations: %w", err)
	}
	return nil
}

func (t *pgTx) insertBlocks(ctx context.Context, rows []blockRow) error {
	if len(rows) == 0 {
		return nil
	}
	ids := make([]int64, len(rows))
	slots := make([]int64, len(rows))
	roots := make([][]byte, len(rows))
	for i, r := range rows {
		ids[i], slots[i], roots[i] = r.validatorID, int64(r.block.Slot), rootBytes(r.block.SigningRoot)
	}
	if _, err := t.tx.Exec(ctx, `INSERT INTO blocks (validator_id, slot, signing_root)
		SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bytea[]) ON CONFLICT DO NOTHING`, ids, slots, roots); err != nil {
		return fmt.Errorf("record blocks: %w", err)
	}
	return nil
}

func nullableInt[T ~uint64](p *T) *int64 {
	if p == nil {
		return nil
	}
	v := int64(*p)
	return &v
}

func (t *pgTx) saveWatermarks(ctx context.Context, vs []*validatorState) error {
	if len(vs) == 0 {
		return nil
	}
	ids := make([]int64, len(vs))
	slots := make([]*int64, len(vs))
	sources := make([]*int64, len(vs))
	targets := make([]*int64, len(vs))
	for i, v := range vs {
		ids[i], slots[i], sources[i], targets[i] = v.id, nullableInt(v.wm.BlockSlot), nullableInt(v.wm.AttestationSource), nullableInt(v.wm.AttestationTarget)
	}
	// One statement for the batch: a new validator's first records all set
	// watermarks at once.
	tag, err := t.tx.Exec(ctx, `UPDATE validators AS v SET block_slot_wm = w.slot, att_source_wm = w.src, att_target_wm = w.tgt
		FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) AS w(id, slot, src, tgt) WHERE v.id = w.id`,
		ids, slots, sources, targets)
	if err != nil {
		return fmt.Errorf("save watermarks of %d validators: %w", len(vs), err)
	}
	if tag.RowsAffected() != int64(len(vs)) {
		return fmt.Errorf("save watermarks: updated %d of %d validators", tag.RowsAffected(), len(vs))
	}
	return nil
}

func (t *pgTx) attestations(ctx context.Context, id int64) ([]SignedAttestation, error) {
	rows, err := t.tx.Query(ctx, `SELECT source_epoch, target_epoch, signing_root FROM attestations
		WHERE validator_id = $1 ORDER BY target_epoch, source_epoch, signing_root`, id)
	if err != nil {
		return nil, fmt.Errorf("read attestations: %w", err)
	}
	defer rows.Close()
	out, err := scanAttestationRows(rows, true, 0)
	if err != nil {
		return nil, fmt.Errorf("read attestations: %w", err)
	}
	return out, nil
}

func (t *pgTx) blocks(ctx context.Context, id int64) ([]SignedBlock, error) {
	rows, err := t.tx.Query(ctx, `SELECT slot, signing_root FROM blocks WHERE validator_id = $1 ORDER BY slot, signing_root`, id)
	if err != nil {
		return nil, fmt.Errorf("read blocks: %w", err)
	}
	defer rows.Close()
	out, err := scanBlockRows(rows)
	if err != nil {
		return nil, fmt.Errorf("read blocks: %w", err)
	}
	return out, nil
}

// pgLatest reads the watermarks and newest records of the validators whose
// pubkeys $1 lists. Each LATERAL subquery reads one entry from the end of a
// primary key (an index-only scan backward with a limit), whatever the
// history's length; TestPostgresQueryPlan pins that.
const pgLatest = `SELECT v.pubkey, v.block_slot_wm, v.att_source_wm, v.att_target_wm, a.target_epoch, a.source_epoch, b.slot
	FROM unnest($1::bytea[]) AS k(pk)
	JOIN validators AS v ON v.pubkey = k.pk
	LEFT JOIN LATERAL (SELECT target_epoch, source_epoch FROM attestations
		WHERE validator_id = v.id ORDER BY target_epoch DESC, source_epoch DESC LIMIT 1) AS a ON true
	LEFT JOIN LATERAL (SELECT slot FROM blocks WHERE validator_id = v.id ORDER BY slot DESC LIMIT 1) AS b ON true`

func (t *pgTx) latestRecords(ctx context.Context, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]Latest, error) {
	rows, err := t.tx.Query(ctx, pgLatest, pubkeyBytes(pubkeys))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[phase0.BLSPubKey]Latest, len(pubkeys))
	for rows.Next() {
		var pk []byte
		var slotWM, sourceWM, targetWM, target, source, slot *int64
		if err := rows.Scan(&pk, &slotWM, &sourceWM, &targetWM, &target, &source, &slot); err != nil {
			return nil, err
		}
		if len(pk) != len(phase0.BLSPubKey{}) {
			return nil, fmt.Errorf("validator row with a %d-byte pubkey", len(pk))
		}
		out[phase0.BLSPubKey(pk)] = Latest{
			Watermarks:        Watermarks{BlockSlot: slotPtr(slotWM), AttestationSource: epochPtr(sourceWM), AttestationTarget: epochPtr(targetWM)},
			AttestationTarget: epochPtr(target), AttestationSource: epochPtr(source), BlockSlot: slotPtr(slot),
		}
	}
	return out, rows.Err()
}

// pgPruneOne deletes one validator's attestations below the target cut $2
// and blocks below the slot cut $3 (NULL: none) and returns what it deleted.
// Each DELETE seeks the primary key by validator and range (the planner does
// not for a join over a list of validators: TestPostgresQueryPlan).
const pgPruneOne = `WITH da AS (DELETE FROM attestations WHERE validator_id = $1 AND target_epoch < $2 RETURNING source_epoch, target_epoch),
	db AS (DELETE FROM blocks WHERE validator_id = $1 AND slot < $3 RETURNING slot)
	SELECT (SELECT count(*) FROM da), (SELECT max(source_epoch) FROM da), (SELECT max(target_epoch) FROM da),
		(SELECT count(*) FROM db), (SELECT max(slot) FROM db)`

// prune sends one statement per validator in a single batch: one round trip
// for a whole chunk.
func (t *pgTx) prune(ctx context.Context, cuts []pruneCut) ([]pruneResult, error) {
	batch := &pgx.Batch{}
	for _, c := range cuts {
		batch.Queue(pgPruneOne, c.validatorID, nullableInt(c.attBelow), nullableInt(c.blockBelow))
	}
	br := t.tx.SendBatch(ctx, batch)
	out := make([]pruneResult, len(cuts))
	for i := range cuts {
		var ms, mt, mslot *int64
		if err := br.QueryRow().Scan(&out[i].attestations, &ms, &mt, &out[i].blocks, &mslot); err != nil {
			_ = br.Close()
			return nil, fmt.Errorf("prune: %w", err)
		}
		out[i].maxSource, out[i].maxTarget, out[i].maxSlot = epochPtr(ms), epochPtr(mt), slotPtr(mslot)
	}
	if err := br.Close(); err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	return out, nil
}

func (t *pgTx) getMeta(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := t.tx.QueryRow(ctx, `SELECT value FROM meta WHERE key = $1`, key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	}
	return v, true, nil
}

func (t *pgTx) setMeta(ctx context.Context, key string, value []byte) error {
	if _, err := t.tx.Exec(ctx, `INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func (t *pgTx) commit(ctx context.Context) error {
	t.done = true
	if err := t.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func (t *pgTx) rollback() {
	if !t.done {
		t.done = true
		_ = t.tx.Rollback(context.Background())
	}
}
