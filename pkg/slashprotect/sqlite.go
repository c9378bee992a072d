package slashprotect

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vigil-eth/vigil/pkg/pubkey"

	"github.com/attestantio/go-eth2-client/spec/phase0"
	// mattn/go-sqlite3 is the most used and longest-proven SQLite driver for Go;
	// vigil already needs cgo for herumi BLS, so cgo costs nothing extra here.
	_ "github.com/mattn/go-sqlite3"
)

// sqliteMigrations are applied in order; PRAGMA user_version counts them.
var sqliteMigrations = []string{
	`CREATE TABLE meta (
		key   TEXT PRIMARY KEY,
		value BLOB NOT NULL
	);
	CREATE TABLE validators (
		id            INTEGER PRIMARY KEY,
		pubkey        BLOB NOT NULL UNIQUE CHECK (length(pubkey) = 48),
		block_slot_wm INTEGER,
		att_source_wm INTEGER,
		att_target_wm INTEGER
	);
	CREATE TABLE blocks (
		validator_id INTEGER NOT NULL REFERENCES validators (id),
		slot         INTEGER NOT NULL CHECK (slot >= 0),
		signing_root BLOB NOT NULL CHECK (length(signing_root) IN (0, 32)),
		PRIMARY KEY (validator_id, slot, signing_root)
	) WITHOUT ROWID;
	CREATE TABLE attestations (
		validator_id INTEGER NOT NULL REFERENCES validators (id),
		target_epoch INTEGER NOT NULL CHECK (target_epoch >= 0),
		source_epoch INTEGER NOT NULL CHECK (source_epoch >= 0),
		signing_root BLOB NOT NULL CHECK (length(signing_root) IN (0, 32)),
		PRIMARY KEY (validator_id, target_epoch, source_epoch, signing_root)
	) WITHOUT ROWID;
	CREATE INDEX attestations_by_source ON attestations (validator_id, source_epoch, target_epoch);`,
}

// sqliteBackend is the embedded store: one file, one writer process (held by
// an flock on <file>.lock), one connection.
type sqliteBackend struct {
	path string
	db   *sql.DB
	lock *os.File

	// ids caches validator row ids, which never change once committed
	// (validators are never deleted). Only ids of committed rows enter it, and
	// lockValidators checks every row it reads back against its pubkey.
	idsMu sync.Mutex
	ids   map[phase0.BLSPubKey]int64
}

func openSQLite(ctx context.Context, path string, lockIt bool) (*sqliteBackend, error) {
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("sqlite path %q must be absolute (sqlite:///abs/path/file.db)", path)
	}
	if strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q must not contain ? or #", path)
	}
	var lock *os.File
	if lockIt {
		var err error
		if lock, err = lockFile(path); err != nil {
			return nil, err
		}
	} else if _, err := os.Stat(path); err != nil {
		// Beside a running signer the database exists; never create one.
		return nil, fmt.Errorf("open slashing database %s: %w", path, err)
	}
	// Create the file 0600 ourselves; SQLite gives its -wal and -shm files the
	// database file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		closeLock(lock)
		return nil, fmt.Errorf("open slashing database %s: %w", path, err)
	}
	_ = f.Close()
	// synchronous=FULL with WAL fsyncs the log on every commit: a commit that
	// returned survives power loss. _txlock=immediate makes every transaction
	// BEGIN IMMEDIATE, taking the write lock before the first read, so a
	// check-and-record can never decide on stale data. A 64 MiB page cache
	// keeps large imports from spilling pages before their commit. The driver
	// keeps up to 64 prepared statements on the connection, so a batch's few
	// statements are compiled once per process, not once per transaction.
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=FULL&_busy_timeout=10000&_txlock=immediate&_foreign_keys=1&_cache_size=-65536&_stmt_cache_size=64"
	db, err := sql.Open("sqlite3", dsn)
	if err != nil {
		closeLock(lock)
		return nil, fmt.Errorf("open slashing database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	b := &sqliteBackend{path: path, db: db, lock: lock, ids: make(map[phase0.BLSPubKey]int64)}
	if err := b.migrate(ctx); err != nil {
		_ = b.close()
		return nil, err
	}
	return b, nil
}

// lockFile takes an exclusive, non-blocking flock on <path>.lock and writes
// our pid into it. The kernel releases it when the process dies, even by SIGKILL.
func lockFile(path string) (*os.File, error) {
	name := path + ".lock"
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", name, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		buf := make([]byte, 32)
		n, _ := f.ReadAt(buf, 0)
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := strings.TrimSpace(string(buf[:n]))
			if _, perr := strconv.Atoi(pid); perr != nil {
				pid = "unknown"
			}
			return nil, fmt.Errorf("slashing database %s is in use by another vigil process (pid %s) — stop it first: %w", path, pid, ErrInUse)
		}
		return nil, fmt.Errorf("lock %s: %w", name, err)
	}
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return f, nil
}

func (b *sqliteBackend) migrate(ctx context.Context) error {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate slashing database %s: %w", b.path, err)
	}
	defer func() { _ = tx.Rollback() }()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return fmt.Errorf("read schema version of %s: %w", b.path, err)
	}
	if version > len(sqliteMigrations) {
		return fmt.Errorf("slashing database %s has schema version %d, newer than this vigil knows (%d): upgrade vigil", b.path, version, len(sqliteMigrations))
	}
	for v := version; v < len(sqliteMigrations); v++ {
		if _, err := tx.ExecContext(ctx, sqliteMigrations[v]); err != nil {
			return fmt.Errorf("apply schema migration %d to %s: %w", v+1, b.path, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA user_version = %d`, len(sqliteMigrations))); err != nil {
		return fmt.Errorf("set schema version of %s: %w", b.path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit schema migration of %s: %w", b.path, err)
	}
	return nil
}

func (b *sqliteBackend) ensureValidators(context.Context, []phase0.BLSPubKey) error {
	// One writer holds the whole database, so lockValidators creates rows.
	return nil
}

func (b *sqliteBackend) begin(ctx context.Context, _ txMode) (storeTx, error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin transaction on %s: %w", b.path, err)
	}
	return &sqliteTx{b: b, tx: tx}, nil
}

func (b *sqliteBackend) close() error {
	err := b.db.Close()
	// Closing the lock file releases the flock.
	if b.lock != nil {
		if lerr := b.lock.Close(); err == nil {
			err = lerr
		}
	}
	return err
}

type sqliteTx struct {
	b     *sqliteBackend
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// newIDs are validator ids this transaction registered; they enter the
	// backend's cache only once it has committed.
	newIDs map[phase0.BLSPubKey]int64
	done   bool
}

// stmt prepares q once per transaction; the driver's statement cache makes
// that a lookup after the first transaction.
func (t *sqliteTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if s, ok := t.stmts[q]; ok {
		return s, nil
	}
	s, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if t.stmts == nil {
		t.stmts = make(map[string]*sql.Stmt)
	}
	t.stmts[q] = s
	return s, nil
}

func (t *sqliteTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	s, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.QueryContext(ctx, args...)
}

func (t *sqliteTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	s, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func scanWatermarks(v *validatorState, slot, source, target sql.NullInt64) {
	if slot.Valid {
		s := phase0.Slot(slot.Int64)
		v.wm.BlockSlot = &s
	}
	if source.Valid {
		s := phase0.Epoch(source.Int64)
		v.wm.AttestationSource = &s
	}
	if target.Valid {
		s := phase0.Epoch(target.Int64)
		v.wm.AttestationTarget = &s
	}
}

// cachedIDs returns the cached id of each pubkey, 0 for unknown ones.
func (b *sqliteBackend) cachedIDs(pubkeys []phase0.BLSPubKey) []int64 {
	ids := make([]int64, len(pubkeys))
	b.idsMu.Lock()
	defer b.idsMu.Unlock()
	for i, pk := range pubkeys {
		ids[i] = b.ids[pk]
	}
	return ids
}

func (b *sqliteBackend) cacheIDs(ids map[phase0.BLSPubKey]int64) {
	b.idsMu.Lock()
	defer b.idsMu.Unlock()
	for pk, id := range ids {
		b.ids[pk] = id
	}
}

func (b *sqliteBackend) forgetIDs() {
	b.idsMu.Lock()
	defer b.idsMu.Unlock()
	clear(b.ids)
}

// registerValidator creates pubkey's row if it is missing and returns its id.
func (t *sqliteTx) registerValidator(ctx context.Context, pk phase0.BLSPubKey) (int64, error) {
	if _, err := t.exec(ctx, `INSERT OR IGNORE INTO validators (pubkey) VALUES (?)`, pk[:]); err != nil {
		return 0, fmt.Errorf("register validator %s: %w", pubkey.Short(pk), err)
	}
	s, err := t.stmt(ctx, `SELECT id FROM validators WHERE pubkey = ?`)
	if err != nil {
		return 0, err
	}
	var id int64
	if err := s.QueryRowContext(ctx, pk[:]).Scan(&id); err != nil {
		return 0, fmt.Errorf("read validator %s: %w", pubkey.Short(pk), err)
	}
	if t.newIDs == nil {
		t.newIDs = make(map[phase0.BLSPubKey]int64)
	}
	t.newIDs[pk] = id
	return id, nil
}

// sqliteReadValidators reads the validators whose ids a JSON array lists, in
// the array's order.
const sqliteReadValidators = `SELECT v.id, v.pubkey, v.block_slot_wm, v.att_source_wm, v.att_target_wm
	FROM json_each(?1) AS j JOIN validators AS v ON v.id = j.value ORDER BY j.key`

// lockValidators needs no lock of its own: the transaction is BEGIN IMMEDIATE
// and holds the only write lock on the whole database. Known validators are
// read with one statement; only keys never seen by this process cost more.
func (t *sqliteTx) lockValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error) {
	ids := t.b.cachedIDs(pubkeys)
	for i, id := range ids {
		if id != 0 {
			continue
		}
		var err error
		if ids[i], err = t.registerValidator(ctx, pubkeys[i]); err != nil {
			return nil, err
		}
	}
	rows, err := t.query(ctx, sqliteReadValidators, jsonArray(len(ids), func(b []byte, i int) []byte {
		return strconv.AppendInt(b, ids[i], 10)
	}))
	if err != nil {
		return nil, fmt.Errorf("read validators: %w", err)
	}
	defer rows.Close()
	out := make([]*validatorState, 0, len(pubkeys))
	for rows.Next() {
		v := &validatorState{}
		var pk []byte
		var slot, source, target sql.NullInt64
		if err := rows.Scan(&v.id, &pk, &slot, &source, &target); err != nil {
			return nil, fmt.Errorf("read validators: %w", err)
		}
		// A row that is not the one asked for would decide one validator's
		// message on another's history: refuse the whole batch instead, and
		// distrust the cache from now on.
		if n := len(out); n >= len(pubkeys) || v.id != ids[n] || !bytes.Equal(pk, pubkeys[n][:]) {
			t.b.forgetIDs()
			return nil, fmt.Errorf("read validators: row %d (id %d) is not validator %s", n, v.id, pubkey.Short(pubkeys[min(n, len(pubkeys)-1)]))
		}
		v.pubkey = pubkeys[len(out)]
		scanWatermarks(v, slot, source, target)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read validators: %w", err)
	}
	if len(out) != len(pubkeys) {
		t.b.forgetIDs()
		return nil, fmt.Errorf("read validators: found %d of %d rows", len(out), len(pubkeys))
	}
	return out, nil
}

// sqliteListSome reads the validators whose pubkeys a JSON array of hex
// strings lists, by the pubkey index (History and Export of a few keys must not
// read every validator row).
const sqliteListSome = `SELECT id, pubkey, block_slot_wm, att_source_wm, att_target_wm FROM validators
	WHERE pubkey IN (SELECT unhex(value) FROM json_each(?1)) ORDER BY pubkey`

func (t *sqliteTx) listValidators(ctx context.Context, pubkeys []phase0.BLSPubKey) ([]*validatorState, error) {
	var rows *sql.Rows
	var err error
	if len(pubkeys) == 0 {
		rows, err = t.query(ctx, `SELECT id, pubkey, block_slot_wm, att_source_wm, att_target_wm FROM validators ORDER BY pubkey`)
	} else {
		rows, err = t.query(ctx, sqliteListSome, hexArray(pubkeys))
	}
	if err != nil {
		return nil, fmt.Errorf("list validators: %w", err)
	}
	defer rows.Close()
	var out []*validatorState
	for rows.Next() {
		v := &validatorState{}
		var pk []byte
		var slot, source, target sql.NullInt64
		if err := rows.Scan(&v.id, &pk, &slot, &source, &target); err != nil {
			return nil, fmt.Errorf("list validators: %w", err)
		}
		copy(v.pubkey[:], pk)
		scanWatermarks(v, slot, source, target)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list validators: %w", err)
	}
	return out, nil
}

// hexArray is a JSON array of the pubkeys in hex, for unhex(json_each.value).
func hexArray(pubkeys []phase0.BLSPubKey) string {
	return jsonArray(len(pubkeys), func(b []byte, i int) []byte {
		b = append(b, '"')
		b = hex.AppendEncode(b, pubkeys[i][:])
		return append(b, '"')
	})
}

func scanAttestations(rows *sql.Rows, withTarget bool, target phase0.Epoch) ([]SignedAttestation, error) {
	defer rows.Close()
	return scanAttestationRows(rows, withTarget, target)
}

// sqliteAttFacts finds, in one statement for the whole batch, every record at
// each request's target (kind 0) and whether a record surrounds it (kind 1) or
// is surrounded by it (kind 2). The requests are a JSON array of [validator
// id, source, target]; i is a request's 0-based position. The primary key
// bounds the surrounding scan to records with a later target, the source
// index the surrounded scan to records with a later source: few, in normal
// operation. The unary + keeps the planner off the source index for the
// surrounding scan, where "source_epoch <" would cover the whole history
// (TestSQLiteQueryPlans).
const sqliteAttFacts = `WITH q (i, vid, src, tgt) AS MATERIALIZED (
		SELECT key, value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1))
	SELECT q.i, 0, a.source_epoch, a.signing_root FROM q
		JOIN attestations AS a ON a.validator_id = q.vid AND a.target_epoch = q.tgt
	UNION ALL
	SELECT q.i, 1, NULL, NULL FROM q WHERE EXISTS (SELECT 1 FROM attestations
		WHERE validator_id = q.vid AND target_epoch > q.tgt AND +source_epoch < q.src)
	UNION ALL
	SELECT q.i, 2, NULL, NULL FROM q WHERE EXISTS (SELECT 1 FROM attestations INDEXED BY attestations_by_source
		WHERE validator_id = q.vid AND source_epoch > q.src AND target_epoch < q.tgt)`

// sqliteSurrounding and sqliteSurrounded fetch one witness for a request that
// sqliteAttFacts found surrounded or surrounding: rare, so one query each.
const (
	sqliteSurrounding = `SELECT source_epoch, target_epoch, signing_root FROM attestations
		WHERE validator_id = ? AND target_epoch > ? AND +source_epoch < ? LIMIT 1`
	sqliteSurrounded = `SELECT source_epoch, target_epoch, signing_root FROM attestations INDEXED BY attestations_by_source
		WHERE validator_id = ? AND source_epoch > ? AND target_epoch < ? LIMIT 1`
)

func (t *sqliteTx) attestationFacts(ctx context.Context, qs []attQuery) ([]attFacts, error) {
	rows, err := t.query(ctx, sqliteAttFacts, jsonArray(len(qs), func(b []byte, i int) []byte {
		b = append(b, '[')
		b = strconv.AppendInt(b, qs[i].validatorID, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(qs[i].source), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(qs[i].target), 10)
		return append(b, ']')
	}))
	if err != nil {
		return nil, fmt.Errorf("query attestations: %w", err)
	}
	defer rows.Close()
	out := make([]attFacts, len(qs))
	var surrounding, surrounded []int
	for rows.Next() {
		var i int64
		var kind int
		var source sql.NullInt64
		var root []byte
		if err := rows.Scan(&i, &kind, &source, &root); err != nil {
			return nil, fmt.Errorf("query attestations: %w", err)
		}
		if i < 0 || i >= int64(len(qs)) {
			return nil, fmt.Errorf("query attestations: row for request %d of %d", i, len(qs))
		}
		switch kind {
		case 0:
			out[i].sameTarget = append(out[i].sameTarget, SignedAttestation{
				SourceEpoch: phase0.Epoch(source.Int64), TargetEpoch: qs[i].target, SigningRoot: rootFromBytes(root)})
		case 1:
			surrounding = append(surrounding, int(i))
		case 2:
			surrounded = append(surrounded, int(i))
		default:
			return nil, fmt.Errorf("query attestations: row of kind %d", kind)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query attestations: %w", err)
	}
	rows.Close()
	for _, i := range surrounding {
		q := qs[i]
		if out[i].surrounding, err = t.witness(ctx, sqliteSurrounding, q.validatorID, int64(q.target), int64(q.source)); err != nil {
			return nil, fmt.Errorf("query surrounding attestations: %w", err)
		}
	}
	for _, i := range surrounded {
		q := qs[i]
		if out[i].surrounded, err = t.witness(ctx, sqliteSurrounded, q.validatorID, int64(q.source), int64(q.target)); err != nil {
			return nil, fmt.Errorf("query surrounded attestations: %w", err)
		}
	}
	return out, nil
}

// witness returns the record a surround query finds. The query runs in the
// same transaction as the one that found it exists, so it finds one.
func (t *sqliteTx) witness(ctx context.Context, q string, args ...any) (*SignedAttestation, error) {
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	found, err := scanAttestations(rows, true, 0)
	if err != nil {
		return nil, err
	}
	if len(found) == 0 {
		return nil, errors.New("record vanished within the transaction")
	}
	return &found[0], nil
}

// jsonArray writes a JSON array of n elements. It is bound as text: SQLite
// would read a blob as JSONB.
func jsonArray(n int, elem func(b []byte, i int) []byte) string {
	b := make([]byte, 0, 2+n*24)
	b = append(b, '[')
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = elem(b, i)
	}
	return string(append(b, ']'))
}

func (t *sqliteTx) blockFacts(ctx context.Context, qs []blockQuery) ([]blockFacts, error) {
	out := make([]blockFacts, len(qs))
	for i, q := range qs {
		rows, err := t.query(ctx, `SELECT signing_root FROM blocks WHERE validator_id = ? AND slot = ?`, q.validatorID, int64(q.slot))
		if err != nil {
			return nil, fmt.Errorf("query same-slot blocks: %w", err)
		}
		for rows.Next() {
			var root []byte
			if err := rows.Scan(&root); err != nil {
				rows.Close()
				return nil, fmt.Errorf("query same-slot blocks: %w", err)
			}
			out[i].sameSlot = append(out[i].sameSlot, SignedBlock{Slot: q.slot, SigningRoot: rootFromBytes(root)})
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("query same-slot blocks: %w", err)
		}
	}
	return out, nil
}

// insertChunk is how many rows one multi-row INSERT carries at most:
// per-statement overhead (cgo calls, database/sql bookkeeping) dominates bulk
// imports. Smaller remainders go in power-of-two chunks, so that a batch of
// any size needs few statements and few distinct (cached) statement texts.
const insertChunk = 128

func multiRowInsert(head, tuple string, n int) string {
	return head + strings.TrimSuffix(strings.Repeat(tuple+",", n), ",")
}

func (t *sqliteTx) insertAttestations(ctx context.Context, rows []attRow) error {
	const head = `INSERT OR IGNORE INTO attestations (validator_id, target_epoch, source_epoch, signing_root) VALUES `
	for len(rows) > 0 {
		n := chunkSize(len(rows))
		args := make([]any, 0, 4*n)
		for _, r := range rows[:n] {
			args = append(args, r.validatorID, int64(r.att.TargetEpoch), int64(r.att.SourceEpoch), rootBytes(r.att.SigningRoot))
		}
		if _, err := t.exec(ctx, multiRowInsert(head, "(?, ?, ?, ?)", n), args...); err != nil {
			return fmt.Errorf("record attestations: %w", err)
		}
		rows = rows[n:]
	}
	return nil
}

// chunkSize is the largest power of two at most n and insertChunk.
func chunkSize(n int) int {
	c := insertChunk
	for c > n {
		c /= 2
	}
	return c
}

func (t *sqliteTx) insertBlocks(ctx context.Context, rows []blockRow) error {
	for _, r := range rows {
		if _, err := t.exec(ctx, `INSERT OR IGNORE INTO blocks (validator_id, slot, signing_root) VALUES (?, ?, ?)`,
			r.validatorID, int64(r.block.Slot), rootBytes(r.block.SigningRoot)); err != nil {
			return fmt.Errorf("record block: %w", err)
		}
	}
	return nil
}

// sqliteSaveWatermarks sets the watermarks of the validators a JSON array of
// [id, block slot, attestation source, attestation target] lists (null for
// none), in one statement: a new validator's first records all set them.
const sqliteSaveWatermarks = `UPDATE validators SET block_slot_wm = w.value ->> 1, att_source_wm = w.value ->> 2, att_target_wm = w.value ->> 3
	FROM json_each(?1) AS w WHERE validators.id = w.value ->> 0`

func (t *sqliteTx) saveWatermarks(ctx context.Context, vs []*validatorState) error {
	if len(vs) == 0 {
		return nil
	}
	appendNullable := func(b []byte, v *int64) []byte {
		if v == nil {
			return append(b, "null"...)
		}
		return strconv.AppendInt(b, *v, 10)
	}
	res, err := t.exec(ctx, sqliteSaveWatermarks, jsonArray(len(vs), func(b []byte, i int) []byte {
		v := vs[i]
		b = append(b, '[')
		b = strconv.AppendInt(b, v.id, 10)
		for _, wm := range []*int64{nullableInt(v.wm.BlockSlot), nullableInt(v.wm.AttestationSource), nullableInt(v.wm.AttestationTarget)} {
			b = appendNullable(append(b, ','), wm)
		}
		return append(b, ']')
	}))
	if err != nil {
		return fmt.Errorf("save watermarks of %d validators: %w", len(vs), err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("save watermarks of %d validators: %w", len(vs), err)
	}
	if n != int64(len(vs)) {
		return fmt.Errorf("save watermarks: updated %d of %d validators", n, len(vs))
	}
	return nil
}

func (t *sqliteTx) attestations(ctx context.Context, id int64) ([]SignedAttestation, error) {
	rows, err := t.query(ctx, `SELECT source_epoch, target_epoch, signing_root FROM attestations WHERE validator_id = ? ORDER BY target_epoch, source_epoch, signing_root`, id)
	if err != nil {
		return nil, fmt.Errorf("read attestations: %w", err)
	}
	out, err := scanAttestations(rows, true, 0)
	if err != nil {
		return nil, fmt.Errorf("read attestations: %w", err)
	}
	return out, nil
}

func (t *sqliteTx) blocks(ctx context.Context, id int64) ([]SignedBlock, error) {
	rows, err := t.query(ctx, `SELECT slot, signing_root FROM blocks WHERE validator_id = ? ORDER BY slot, signing_root`, id)
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

// sqliteLatest reads the watermarks and newest records of the validators
// whose pubkeys a JSON array of hex strings lists. Each subquery reads one
// entry from the end of a primary key (ORDER BY ... DESC LIMIT 1), whatever the
// history's length; TestSQLiteQueryPlans pins that.
const sqliteLatest = `WITH l AS MATERIALIZED (
		SELECT v.id, v.pubkey, v.block_slot_wm, v.att_source_wm, v.att_target_wm,
			(SELECT target_epoch FROM attestations WHERE validator_id = v.id ORDER BY target_epoch DESC LIMIT 1) AS tgt,
			(SELECT slot FROM blocks WHERE validator_id = v.id ORDER BY slot DESC LIMIT 1) AS slot
		FROM json_each(?1) AS k JOIN validators AS v ON v.pubkey = unhex(k.value))
	SELECT pubkey, block_slot_wm, att_source_wm, att_target_wm, tgt,
		(SELECT source_epoch FROM attestations WHERE validator_id = l.id AND target_epoch = l.tgt ORDER BY source_epoch DESC LIMIT 1),
		slot
	FROM l`

func (t *sqliteTx) latestRecords(ctx context.Context, pubkeys []phase0.BLSPubKey) (map[phase0.BLSPubKey]Latest, error) {
	rows, err := t.query(ctx, sqliteLatest, hexArray(pubkeys))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := make(map[phase0.BLSPubKey]Latest, len(pubkeys))
	for rows.Next() {
		var pk []byte
		var slotWM, sourceWM, targetWM, target, source, slot sql.NullInt64
		if err := rows.Scan(&pk, &slotWM, &sourceWM, &targetWM, &target, &source, &slot); err != nil {
			return nil, err
		}
		if len(pk) != len(phase0.BLSPubKey{}) {
			return nil, fmt.Errorf("validator row with a %d-byte pubkey", len(pk))
		}
		var v validatorState
		scanWatermarks(&v, slotWM, sourceWM, targetWM)
		out[phase0.BLSPubKey(pk)] = Latest{Watermarks: v.wm, AttestationTarget: nullEpoch(target), AttestationSource: nullEpoch(source), BlockSlot: nullSlot(slot)}
	}
	return out, rows.Err()
}

func nullEpoch(v sql.NullInt64) *phase0.Epoch {
	if !v.Valid {
		return nil
	}
	e := phase0.Epoch(v.Int64)
	return &e
}

func nullSlot(v sql.NullInt64) *phase0.Slot {
	if !v.Valid {
		return nil
	}
	s := phase0.Slot(v.Int64)
	return &s
}

// prune runs each cut's few statements: SQLite has no round trips to save,
// and a DELETE joined to a list would not use the primary key.
func (t *sqliteTx) prune(ctx context.Context, cuts []pruneCut) ([]pruneResult, error) {
	out := make([]pruneResult, len(cuts))
	for i, c := range cuts {
		var maxS, maxT, maxSlot sql.NullInt64
		if c.attBelow != nil {
			s, err := t.stmt(ctx, `SELECT COUNT(*), MAX(source_epoch), MAX(target_epoch) FROM attestations WHERE validator_id = ? AND target_epoch < ?`)
			if err != nil {
				return nil, err
			}
			if err := s.QueryRowContext(ctx, c.validatorID, int64(*c.attBelow)).Scan(&out[i].attestations, &maxS, &maxT); err != nil {
				return nil, fmt.Errorf("prune attestations: %w", err)
			}
			if out[i].attestations > 0 {
				if _, err := t.exec(ctx, `DELETE FROM attestations WHERE validator_id = ? AND target_epoch < ?`, c.validatorID, int64(*c.attBelow)); err != nil {
					return nil, fmt.Errorf("prune attestations: %w", err)
				}
			}
		}
		if c.blockBelow != nil {
			s, err := t.stmt(ctx, `SELECT COUNT(*), MAX(slot) FROM blocks WHERE validator_id = ? AND slot < ?`)
			if err != nil {
				return nil, err
			}
			if err := s.QueryRowContext(ctx, c.validatorID, int64(*c.blockBelow)).Scan(&out[i].blocks, &maxSlot); err != nil {
				return nil, fmt.Errorf("prune blocks: %w", err)
			}
			if out[i].blocks > 0 {
				if _, err := t.exec(ctx, `DELETE FROM blocks WHERE validator_id = ? AND slot < ?`, c.validatorID, int64(*c.blockBelow)); err != nil {
					return nil, fmt.Errorf("prune blocks: %w", err)
				}
			}
		}
		out[i].maxSource, out[i].maxTarget, out[i].maxSlot = nullEpoch(maxS), nullEpoch(maxT), nullSlot(maxSlot)
	}
	return out, nil
}

func (t *sqliteTx) getMeta(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := t.tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	}
	return v, true, nil
}

func (t *sqliteTx) setMeta(ctx context.Context, key string, value []byte) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

func (t *sqliteTx) commit(context.Context) error {
	t.done = true
	if err := t.tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	t.b.cacheIDs(t.newIDs)
	return nil
}

func (t *sqliteTx) rollback() {
	if !t.done {
		t.done = true
		_ = t.tx.Rollback()
	}
}

func closeLock(f *os.File) {
	if f != nil {
		_ = f.Close()
	}
}
