package postgresql

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cliquet-go/cliquet/internal/jsonobj"
	"github.com/cliquet-go/cliquet/storage"
)

// nowMS is the server's clock in epoch milliseconds: every web head shares one clock.
const nowMS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

// Every write statement starts by bumping the collection's clock row (clockCTE), which takes
// the row's lock and keeps it until commit: the writers of one collection are serialised,
// so timestamps are strictly increasing in commit order (a _since poller never misses a
// write). The same step adds the write's delta to the row's live counter (+1 for an object
// created or brought back from a tombstone, -1 for a deletion, 0 for a replacement), so
// that the counter moves in the same commit order.
//
// The delta is computed from the statement's snapshot, before the object is written. It is
// exact when the snapshot is taken after the clock row's lock: the backend then sends
// lockSQL and the write together, in one transaction and one round trip (lockedRow), which
// is what every write in a unit of work's transaction does (the locked form of the
// statements). In autocommit mode a write is sent alone (the auto form), and its snapshot
// may predate a write of the same object that committed while it waited for the lock; the
// statement then finds the object in another state than it counted on, and fails instead
// of writing (assertCTE), which rolls it back: the backend sends it again, in the locked
// form, after lockSQL (see racing). Only a race on one object costs that second try.
//
// The auto form upserts the clock row (INSERT ... ON CONFLICT DO UPDATE), which also
// creates it for a new collection: under contention PostgreSQL then re-reads the locked row
// more cheaply than for an UPDATE that finds its row changed (an EvalPlanQual recheck), and
// that work happens while the lock is held. The locked form updates the row it has locked.
//
// $1 is the resource, $2 the parent, $3 the object id, $4 the forced timestamp or 0, $5 the
// data as JSON text.

// lockSQL locks the collection's clock row (no row when it has none: the locked form after
// it then writes nothing, and the backend runs it again in lockedWrite).
const lockSQL = `SELECT last_modified FROM timestamps WHERE resource_name = $1 AND parent_id = $2 FOR UPDATE`

// clockCTE bumps the collection clock and returns the new timestamp: max(previous+1,
// forced), or max(previous+1, now) when forced, an expression giving the client-forced
// timestamp the write keeps, is 0. delta is added to the live counter. cond (" AND ...")
// skips the write, and the bump, when false. The locked form updates the row lockSQL
// locked (no row when it does not exist); the auto form upserts it (a new row starts at
// forced or now, with delta as its counter). action is the SQL text of the write's
// storage.Action, which the clock row's change notification carries (notifyExpr).
func clockCTE(locked bool, forced, delta, cond, action string) string {
	if locked {
		return `clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, CASE WHEN f.v > 0 THEN f.v ELSE ` + nowMS + ` END),
		live = t.live + ` + delta + `
	FROM (SELECT ` + forced + ` AS v) AS f
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND ` + unmovedClock + cond + `
	RETURNING t.last_modified, ` + notifyExpr("$1", "$2", "t.last_modified", action) + `)`
	}
	return `clock AS (
	INSERT INTO timestamps AS t (resource_name, parent_id, last_modified, live)
	SELECT $1, $2, CASE WHEN f.v > 0 THEN f.v ELSE ` + nowMS + ` END, ` + delta + `
	FROM (SELECT ` + forced + ` AS v) AS f WHERE TRUE` + cond + `
	ON CONFLICT (resource_name, parent_id) DO UPDATE
		SET last_modified = GREATEST(t.last_modified + 1, EXCLUDED.last_modified), live = t.live + EXCLUDED.live
	RETURNING t.last_modified, ` + notifyExpr("$1", "$2", "t.last_modified", action) + `)`
}

// unmovedClock holds when the clock row the statement updates is the one its snapshot shows.
// After lockSQL it always does: the lock was taken before the statement started. It fails
// (PostgreSQL re-checks it on the row's latest version, which it then updates) only when
// lockSQL found no clock row, one appeared since, and a write moved it after the
// statement's snapshot was taken: the locked form then writes nothing rather than count
// from a stale snapshot, as if it had run when lockSQL did (no clock row: no object).
const unmovedClock = `t.last_modified = (SELECT last_modified FROM timestamps
		WHERE resource_name = $1 AND parent_id = $2)`

// assertCTE makes the statement fail when the clock moved (clockCTE returned a row) but the
// object write w wrote nothing, or wrote what wrongly (a condition on w's rows, "" for
// none), because the object is not in the state the delta counted on: it inserts the clock
// row's key again, a unique violation (SQLSTATE 23505) that rolls the statement back. It
// never fails after lockSQL.
func assertCTE(wrongly string) string {
	wrote := `SELECT 1 FROM w`
	if wrongly != "" {
		wrote += ` WHERE NOT (` + wrongly + `)`
	}
	return `wrote AS (
	INSERT INTO timestamps (resource_name, parent_id, last_modified)
	SELECT $1, $2, 0 WHERE EXISTS (SELECT 1 FROM clock) AND NOT EXISTS (` + wrote + `))`
}

// storedTS is the timestamp of the live object $3, 0 when there is none.
const storedTS = `COALESCE((SELECT last_modified FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted), 0)`

// liveExists holds when the object $3 is live, with timestamp ts when ts is not empty.
func liveExists(ts string) string {
	cond := `EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted`
	if ts != "" {
		cond += ` AND last_modified = ` + ts
	}
	return cond + `)`
}

// forcedTS picks the object's timestamp: the forced one when cond holds and no other object
// of the collection has it (timestamps are unique), else the clock's.
func forcedTS(forced, cond string) string {
	return `CASE WHEN ` + cond + ` AND NOT EXISTS (SELECT 1 FROM objects x WHERE x.resource_name = $1
		AND x.parent_id = $2 AND x.last_modified = ` + forced + ` AND x.id <> $3)
		THEN ` + forced + ` ELSE clock.last_modified END`
}

// dataExpr is the stored data: the client's, without the protocol fields. rawExpr is the
// same as text, in the client's key order: writeData removes the protocol fields.
const (
	dataExpr = `COALESCE($5::text::jsonb, '{}'::jsonb) - '{id,last_modified,deleted}'::text[]`
	rawExpr  = `COALESCE($5::text, '{}')`
)

// readData is the expression that reads an object's data (of the row o): the text its writer
// sent, or its jsonb rendered for rows written before the raw column existed.
func readData(o string) string { return "COALESCE(" + o + "raw, " + o + "data::text)" }

// writeSQL is one write statement in its two texts: full returns the stored data, lean the
// timestamp only, used when the data sent is what gets stored (see writeData; "" for none).
type writeSQL struct{ full, lean string }

// writeStatement assembles a write from its CTEs (clock first, the object write w last,
// whose RETURNING clause is written {returning}), in the full and lean texts.
func writeStatement(ctes ...string) writeSQL {
	text := func(out, returning string) string {
		return "WITH " + strings.ReplaceAll(strings.Join(ctes, ",\n"), "{returning}", returning) + "\nSELECT " + out + " FROM w"
	}
	return writeSQL{full: text("last_modified, raw", "o.last_modified, o.raw"), lean: text("last_modified", "o.last_modified")}
}

// createStatement is Create's general statement (a forced timestamp $4 > 0 is kept when no
// other object has it), and, with now, the common one in a transaction (no forced
// timestamp: the clock's). It inserts the object over a tombstone of the same id, never
// over a live object.
func createStatement(locked, now bool) writeSQL {
	ts := forcedTS("$4::bigint", "$4::bigint > 0")
	if now {
		ts = "clock.last_modified"
	}
	return writeStatement(clockCTE(locked, "$4::bigint", "1", " AND NOT "+liveExists(""), "'create'"), `w AS (
	INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
	SELECT $1, $2, $3, `+ts+`, FALSE, `+dataExpr+`, `+rawExpr+`
	FROM clock
	ON CONFLICT (resource_name, parent_id, id) DO UPDATE
		SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data, raw = EXCLUDED.raw
		WHERE o.deleted
	RETURNING {returning})`, assertCTE(""))
}

// createFastStatement is the common create (no forced timestamp: $4 is always 0) in
// autocommit mode: no object is read first, and a plain INSERT writes it, which fails with a
// unique violation, rolling the statement back, when the id is taken by a live object or
// by a tombstone (rare: Create then runs the locked form of the general statement). It is
// the cheapest form, and the one the write pipeline groups (groupCreateSQL). It writes
// nothing, and returns no row, when the collection has no clock row yet.
var createFast = writeStatement(`clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, `+nowMS+`), live = t.live + 1
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0
	RETURNING t.last_modified, `+notifyExpr("$1", "$2", "t.last_modified", "'create'")+`)`, `w AS (
	INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
	SELECT $1, $2, $3, clock.last_modified, FALSE, `+dataExpr+`, `+rawExpr+`
	FROM clock
	RETURNING {returning})`)

// updateStatement is Update's upsert: it replaces the live object $3, or, when there is
// none, creates it or brings its tombstone back (delta +1). The delta counts on the state
// the snapshot shows (was); the upsert checks it on the row's latest version (the ON
// CONFLICT condition), and the assertion fails the statement when it does not hold: no row
// written, or a row inserted where the snapshot showed a live object (which was deleted
// and purged meanwhile). A freshly inserted row is the one whose xmax is 0: the update
// path of INSERT ... ON CONFLICT locks the row before updating it, and PostgreSQL carries
// that lock, the transaction's own id, over to the new version's xmax.
func updateStatement(locked bool) writeSQL {
	ts := forcedTS("$4::bigint", "$4::bigint > "+storedTS)
	return writeStatement(`was AS MATERIALIZED (SELECT `+liveExists("")+` AS live)`,
		clockCTE(locked, "CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END",
			"CASE WHEN (SELECT live FROM was) THEN 0 ELSE 1 END", "", "CASE WHEN (SELECT live FROM was) THEN 'update' ELSE 'create' END"), `w AS (
	INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
	SELECT $1, $2, $3, `+ts+`, FALSE, `+dataExpr+`, `+rawExpr+`
	FROM clock
	ON CONFLICT (resource_name, parent_id, id) DO UPDATE
		SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data, raw = EXCLUDED.raw
		WHERE o.deleted = NOT (SELECT live FROM was)
	RETURNING {returning}, o.xmax = 0 AS fresh)`, assertCTE("w.fresh AND (SELECT live FROM was)"))
}

// updateIfStatement is updateStatement with a condition ($6, the object's timestamp): it
// only replaces, and writes nothing when the condition fails.
func updateIfStatement(locked bool) writeSQL {
	return writeStatement(clockCTE(locked, "CASE WHEN $4::bigint > $6::bigint THEN $4::bigint ELSE 0 END", "0", " AND "+liveExists("$6::bigint"), "'update'"), `w AS (
	UPDATE objects AS o SET data = `+dataExpr+`, raw = `+rawExpr+`,
		last_modified = `+forcedTS("$4::bigint", "$4::bigint > $6::bigint")+`
	FROM clock
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted AND o.last_modified = $6::bigint
	RETURNING {returning})`, assertCTE(""))
}

// deleteStatement turns the live object $3 into a tombstone; with a condition ($5, the
// object's timestamp) only when it has that timestamp. Its lean text is the one to run.
func deleteStatement(locked, conditional bool) writeSQL {
	forced, keep, ts, check := "CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END", "$4::bigint > o.last_modified", "", ""
	if conditional {
		forced, keep, ts, check = "CASE WHEN $4::bigint > $5::bigint THEN $4::bigint ELSE 0 END", "$4::bigint > $5::bigint", "$5::bigint",
			" AND o.last_modified = $5::bigint"
	}
	return writeStatement(clockCTE(locked, forced, "-1", " AND "+liveExists(ts), "'delete'"), `w AS (
	UPDATE objects AS o SET deleted = TRUE, data = NULL, raw = NULL, last_modified = `+forcedTS("$4::bigint", keep)+`
	FROM clock
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted`+check+`
	RETURNING {returning})`, assertCTE(""))
}

// writeForms is a write's statement in its two forms: auto, sent alone in autocommit mode,
// and locked, sent after lockSQL (see racing).
type writeForms struct{ auto, locked writeSQL }

// pick returns the form for a write made after lockSQL when lock is not nil, else alone.
func (f writeForms) pick(lock *storage.Scope) writeSQL {
	if lock != nil {
		return f.locked
	}
	return f.auto
}

var (
	createForms   = writeForms{createStatement(false, false), createStatement(true, false)}
	createNow     = createStatement(true, true)
	updateForms   = writeForms{updateStatement(false), updateStatement(true)}
	updateIfForms = writeForms{updateIfStatement(false), updateIfStatement(true)}
	deleteForms   = writeForms{deleteStatement(false, false), deleteStatement(true, false)}
	deleteIfForms = writeForms{deleteStatement(false, true), deleteStatement(true, true)}
)

// batcher is what pgx.Tx and *pgxpool.Conn have for sending statements together.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// lockedRow runs sql after lockSQL for collection s, in one transaction and one round trip
// (the write pipeline, or a batch on q: the unit of work's transaction, or an implicit one
// on a pooled connection), and scans its row into dest (pgx.ErrNoRows when it returned
// none).
func lockedRow(ctx context.Context, q rowQuerier, s storage.Scope, sql string, args []any, dest ...any) error {
	if p, ok := q.(*pipeline); ok {
		return p.queryRowLocked(ctx, s, sql, args...).Scan(dest...)
	}
	bq, ok := q.(batcher)
	if !ok {
		return fmt.Errorf("storage/postgresql: cannot lock the clock row through %T", q)
	}
	batch := &pgx.Batch{}
	batch.Queue(lockSQL, s.Resource, s.Parent)
	batch.Queue(sql, args...)
	br := bq.SendBatch(ctx, batch)
	_, err := br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(dest...)
	}
	if cerr := br.Close(); err == nil || errors.Is(err, pgx.ErrNoRows) && cerr != nil {
		err = cerr
	}
	return err
}

// lockClockSQL locks the collection's clock row, creating it when missing at 0, a value no
// reader sees: it runs in a transaction with a write, which moves the clock to the write's
// own timestamp (max(0+1, forced or now): a first write keeps a forced timestamp in the
// past, as kinto does), or is rolled back with it.
const lockClockSQL = `INSERT INTO timestamps AS t (resource_name, parent_id, last_modified) VALUES ($1, $2, 0)
	ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = t.last_modified`

// lockedWrite runs write after lockClockSQL, in a transaction of its own (a savepoint in the
// unit of work's transaction): for a collection without a clock row yet, whose first write
// creates it (the first writers of a collection are serialised on that row's key). A write
// that returns no row (pgx.ErrNoRows, passed through) or fails is rolled back with the
// clock row it may have created.
func (b *Backend) lockedWrite(ctx context.Context, op string, s storage.Scope, write func(q rowQuerier) error) error {
	return b.run(ctx, op, true, func(q querier) error {
		tx, err := q.(interface {
			Begin(context.Context) (pgx.Tx, error)
		}).Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
		if _, err := tx.Exec(ctx, lockClockSQL, s.Resource, s.Parent); err != nil {
			return err
		}
		if err := write(tx); err != nil {
			return noRows(err)
		}
		return tx.Commit(ctx)
	})
}

// writeData is the data of a write as a statement parameter (arg, nil for none, stored as
// {}), and the data that will be stored (echo), so that the lean statements can be used:
// the text sent, compacted, without its top-level protocol fields (see echoable), keys in
// their order (the raw column stores exactly that text). echo is nil when the data is not a
// JSON object that Go can parse: the text is then sent as it is, for PostgreSQL to refuse.
func writeData(d json.RawMessage) (arg any, echo json.RawMessage, err error) {
	arg, err = jsonArg(d)
	if err != nil {
		return nil, nil, err
	}
	if arg == nil {
		return nil, json.RawMessage("{}"), nil
	}
	t := arg.(string)
	if echoable(t) && compact(t) {
		return arg, json.RawMessage(t), nil
	}
	clean, err := jsonobj.Without([]byte(t), "id", "last_modified", "deleted")
	if err != nil {
		return arg, nil, nil
	}
	return string(clean), clean, nil
}

// echoable reports whether the JSON object text t certainly has no top-level "id",
// "last_modified" or "deleted" key, which storage removes: none of the three quoted names
// occurs anywhere in it, nor a \u escape (which could spell one). PostgreSQL still parses
// the text, and refuses it when it is not JSON.
func echoable(t string) bool {
	return !strings.Contains(t, `"id"`) && !strings.Contains(t, `"last_modified"`) &&
		!strings.Contains(t, `"deleted"`) && !strings.Contains(t, `\u`)
}

// compact reports whether t certainly holds no white space between its tokens: it holds
// none at all (white space inside strings counts too, so that the answer is quick).
func compact(t string) bool {
	return !strings.ContainsAny(t, " \t\n\r")
}

// Create implements storage.Backend.
func (b *Backend) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	return b.create(ctx, s, o, createStatements{fast: createFast, now: createNow, general: createForms})
}

// createStatements are the statements of a creation: the common case (no forced timestamp)
// in autocommit mode (fast) and after lockSQL (now), and the general one (both forms).
// extra are arguments after the five the statements share.
type createStatements struct {
	fast, now writeSQL
	general   writeForms
	extra     []any
}

// create runs a creation with st (see racing): in autocommit mode fast, then, when the
// collection has no clock row yet or the id is taken, the general statement's auto form
// (with a forced timestamp, at once), and after a failure on a race the locked form of
// the general statement, or now for a common create. When that writes nothing, the id is
// taken by a live object (a UnicityError), or, in a transaction, the collection has no
// clock row yet: the general statement then runs in lockedWrite.
func (b *Backend) create(ctx context.Context, s storage.Scope, o storage.Object, st createStatements) (storage.Object, error) {
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	forced := storage.KeptForced(o.LastModified, time.Now())
	data, echo, err := writeData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	if st.now.lean == "" {
		echo = nil // no lean statement: read the stored data back
	}
	args := append([]any{s.Resource, s.Parent, o.ID, forced, data}, st.extra...)
	out := storage.Object{ID: o.ID}
	err = b.runRow(ctx, "create", func(q rowQuerier) error {
		return noRows(racing(q, s, func(lock *storage.Scope) error {
			switch {
			case lock != nil && forced == 0:
				return writeRow(ctx, q, lock, st.now, echo, &out, args...)
			case lock == nil && forced == 0:
				err := writeRow(ctx, q, nil, st.fast, echo, &out, args...)
				if !errors.Is(err, pgx.ErrNoRows) && !uniqueViolation(err) {
					return err
				}
				// No clock row yet (the general statement's auto form creates it), or the
				// id is taken: by a tombstone, which it brings back, or a live object.
			}
			return writeRow(ctx, q, lock, st.general.pick(lock), echo, &out, args...)
		}))
	})
	for attempt := 0; errors.Is(err, pgx.ErrNoRows); attempt++ {
		existing, gerr := b.Get(ctx, s, o.ID)
		if gerr == nil || attempt > 0 {
			if gerr != nil && !errors.Is(gerr, storage.ErrNotFound) {
				return storage.Object{}, gerr
			}
			return storage.Object{}, &storage.UnicityError{Field: "id", Existing: existing}
		}
		if !errors.Is(gerr, storage.ErrNotFound) {
			return storage.Object{}, gerr
		}
		// No live object has the id: the collection has no clock row yet (or the object
		// was deleted meanwhile).
		err = b.lockedWrite(ctx, "create", s, func(q rowQuerier) error {
			return writeRow(ctx, q, nil, st.general.locked, echo, &out, args...)
		})
	}
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
}

// racing runs write without the clock row's lock when q runs it in autocommit mode (lock is
// nil), and runs it again after lockSQL (lock is the collection) when it fails with a unique
// violation: the statement found the object in another state than its snapshot showed
// (see assertCTE), and was rolled back. In a unit of work's transaction, where a failed
// statement would abort the unit, write runs after lockSQL at once.
func racing(q rowQuerier, s storage.Scope, write func(lock *storage.Scope) error) error {
	if _, inTx := q.(pgx.Tx); inTx {
		return write(&s)
	}
	err := write(nil)
	if uniqueViolation(err) {
		return write(&s)
	}
	return err
}

// uniqueViolation reports whether err is PostgreSQL's unique_violation.
func uniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23505"
}

// noRows passes pgx.ErrNoRows (the statement wrote nothing) through run unwrapped.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return result(err)
	}
	return err
}

// writeRow runs a write statement, after lockSQL for the collection lock when it is not nil
// (lockedRow), and scans its row into out: the lean statement, with the data echoed, when
// echo is set, else the full one, which returns the stored data.
func writeRow(ctx context.Context, q rowQuerier, lock *storage.Scope, st writeSQL, echo json.RawMessage, out *storage.Object, args ...any) error {
	scan := func(sql string, dest ...any) error {
		if lock != nil {
			return lockedRow(ctx, q, *lock, sql, args, dest...)
		}
		return q.QueryRow(ctx, sql, args...).Scan(dest...)
	}
	if echo != nil {
		if err := scan(st.lean, &out.LastModified); err != nil {
			return err
		}
		out.Data = echo
		return nil
	}
	var stored []byte
	if err := scan(st.full, &out.LastModified, &stored); err != nil {
		return err
	}
	out.Data = stored
	return nil
}

// Get implements storage.Backend.
func (b *Backend) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	var out storage.Object
	err := b.run(ctx, "get", false, func(q querier) error {
		var err error
		out, err = get(ctx, q, s, id)
		return err
	})
	return out, err
}

func get(ctx context.Context, q rowQuerier, s storage.Scope, id string) (storage.Object, error) {
	out := storage.Object{ID: id}
	var data []byte // a []byte is copied as is; a json.RawMessage would be parsed again
	err := q.QueryRow(ctx, `SELECT last_modified, `+readData("")+` FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted`,
		s.Resource, s.Parent, id).Scan(&out.LastModified, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Object{}, result(storage.ErrNotFound)
	}
	out.Data = data
	return out, err
}

// getManyMaxValues is the largest number of keys GetMany sends as a VALUES list
// (getManyValuesSQL); more keys go as three arrays (getManyArraysSQL).
const getManyMaxValues = 16

// getManyValuesSQL[n] reads the live objects at n keys, given as 3n parameters (the resource,
// parent and id of each key in turn): one primary-key probe per key, each row tagged with its
// key's position (from 1), so that repeated keys give a row each. Each n has its own text, in
// which the number of keys is fixed, so that PostgreSQL keeps the statement's generic plan,
// the same as the one it makes for each execution's values, after five executions. With the
// keys as arrays it never does: the generic plan assumes ten elements, is priced above the
// plans made for the actual few keys, and the statement is planned again on every execution
// (which costs PostgreSQL more than the probes themselves).
var getManyValuesSQL = func() (sqls [getManyMaxValues + 1]string) {
	for n := 1; n <= getManyMaxValues; n++ {
		sqls[n] = "SELECT k.n, o.last_modified, " + readData("o.") + "\n" + getManyFrom(n)
	}
	return sqls
}()

// getManyFrom is the FROM and WHERE clauses of getManyValuesSQL[n] (rows o, keys k), which
// the joint read (joint.go) shares.
func getManyFrom(n int) string {
	var sb strings.Builder
	sb.WriteString("FROM (VALUES ")
	for i := range n {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "($%d::text, $%d::text, $%d::text, %d)", 3*i+1, 3*i+2, 3*i+3, i+1)
	}
	sb.WriteString(`) AS k(resource_name, parent_id, id, n)
JOIN objects AS o ON o.resource_name = k.resource_name AND o.parent_id = k.parent_id AND o.id = k.id
WHERE NOT o.deleted`)
	return sb.String()
}

// storableKeys returns the positions in keys of the keys PostgreSQL can hold (no NUL, valid
// UTF-8), which are the keys a read sends: no object is at the others.
func storableKeys(keys []storage.Key) []int {
	pos := make([]int, 0, len(keys))
	for i, k := range keys {
		if storable(k.Scope.Resource) && storable(k.Scope.Parent) && storable(k.ID) {
			pos = append(pos, i)
		}
	}
	return pos
}

// appendKeyArgs appends the resource, parent and id of each key sent (pos) to args.
func appendKeyArgs(args []any, keys []storage.Key, pos []int) []any {
	for _, i := range pos {
		args = append(args, keys[i].Scope.Resource, keys[i].Scope.Parent, keys[i].ID)
	}
	return args
}

// placeRow puts the object read for the n-th key sent (from 1) at its key's place in out.
func placeRow(out []storage.Object, keys []storage.Key, pos []int, n, lm int64, data []byte) error {
	if n < 1 || n > int64(len(pos)) {
		return fmt.Errorf("a row for key %d of %d", n, len(pos))
	}
	i := pos[n-1]
	out[i] = storage.Object{ID: keys[i].ID, LastModified: lm, Data: data}
	return nil
}

// getManyArraysSQL is getManyValuesSQL for more than getManyMaxValues keys, given as three
// parallel arrays ($1 resources, $2 parents, $3 ids), whose planning the keys amortise.
var getManyArraysSQL = `SELECT k.n, o.last_modified, ` + readData("o.") + `
FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(resource_name, parent_id, id, n)
JOIN objects AS o ON o.resource_name = k.resource_name AND o.parent_id = k.parent_id AND o.id = k.id
WHERE NOT o.deleted`

// GetMany implements storage.Backend with one statement (getManyValuesSQL, or
// getManyArraysSQL for many keys), in the unit of work ctx carries as Get is. A key holding a
// NUL character or invalid UTF-8, which PostgreSQL cannot store (Get fails with
// ErrInvalidData), is not sent: no object is there.
func (b *Backend) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	out := make([]storage.Object, len(keys))
	pos := storableKeys(keys) // pos[j]: the index in keys of the j-th key sent
	if len(pos) == 0 {
		return out, nil
	}
	var (
		sql  string
		args []any
	)
	if len(pos) <= getManyMaxValues {
		sql = getManyValuesSQL[len(pos)]
		args = appendKeyArgs(make([]any, 0, 3*len(pos)), keys, pos)
	} else {
		resources := make([]string, len(pos))
		parents := make([]string, len(pos))
		ids := make([]string, len(pos))
		for j, i := range pos {
			resources[j], parents[j], ids[j] = keys[i].Scope.Resource, keys[i].Scope.Parent, keys[i].ID
		}
		sql, args = getManyArraysSQL, []any{resources, parents, ids}
	}
	err := b.run(ctx, "get_many", false, func(q querier) error {
		rs, err := q.Query(ctx, sql, args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var (
				n    int64
				lm   int64
				data []byte
			)
			if err := rs.Scan(&n, &lm, &data); err != nil {
				return err
			}
			if err := placeRow(out, keys, pos, n, lm, data); err != nil {
				return err
			}
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// storable reports whether PostgreSQL can hold s in a text column: valid UTF-8 without NUL.
func storable(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// Update implements storage.Backend. With a condition it runs one statement that checks and
// writes (see targetCTE).
func (b *Backend) Update(ctx context.Context, s storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	forced := storage.KeptForced(o.LastModified, time.Now())
	data, echo, err := writeData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	out := storage.Object{ID: o.ID}
	want := max(cond.LastModified, 0) // negative: no condition
	err = b.runRow(ctx, "update", func(q rowQuerier) error {
		if want == 0 {
			return noRows(racing(q, s, func(lock *storage.Scope) error {
				return writeRow(ctx, q, lock, updateForms.pick(lock), echo, &out, s.Resource, s.Parent, o.ID, forced, data)
			}))
		}
		err := racing(q, s, func(lock *storage.Scope) error {
			return writeRow(ctx, q, lock, updateIfForms.pick(lock), echo, &out, s.Resource, s.Parent, o.ID, forced, data, want)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return result(storage.ErrModified)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) { // the collection has no clock row yet
		err = b.lockedWrite(ctx, "update", s, func(q rowQuerier) error {
			return writeRow(ctx, q, nil, updateForms.locked, echo, &out, s.Resource, s.Parent, o.ID, forced, data)
		})
		if errors.Is(err, pgx.ErrNoRows) {
			err = b.wrap("update", errors.New("the upsert wrote nothing with the clock row locked"))
		}
	}
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
}

// Delete implements storage.Backend. With a condition it runs one statement that checks and
// writes (see targetCTE).
func (b *Backend) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond storage.Condition) (storage.Object, error) {
	forced := storage.KeptForced(lastModified, time.Now())
	out := storage.Object{ID: id, Deleted: true}
	want := max(cond.LastModified, 0) // negative: no condition
	err := b.runRow(ctx, "delete", func(q rowQuerier) error {
		forms, args, missing := deleteForms, []any{s.Resource, s.Parent, id, forced}, storage.ErrNotFound
		if want != 0 {
			forms, args, missing = deleteIfForms, append(args, want), storage.ErrModified
		}
		err := racing(q, s, func(lock *storage.Scope) error {
			if lock == nil {
				return q.QueryRow(ctx, forms.auto.lean, args...).Scan(&out.LastModified)
			}
			return lockedRow(ctx, q, *lock, forms.locked.lean, args, &out.LastModified)
		})
		if errors.Is(err, pgx.ErrNoRows) { // no live object (nor any clock row: no object at all)
			return result(missing)
		}
		return err
	})
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
}

// DeleteAll implements storage.Backend. The tombstones get consecutive timestamps, reserved
// from the collection clock in the same statement, which runs after lockSQL (see
// lockedRow), following opt.Sort.
func (b *Backend) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	q := &query{}
	q.arg(s.Resource)
	q.arg(s.Parent)
	q.w(`WITH matched AS (SELECT id, row_number() OVER (`)
	mark := q.sb.Len()
	q.orderBy(opt.Sort)
	order := q.sb.String()[mark:]
	q.w(`) AS rn FROM objects WHERE resource_name = $1 AND parent_id = $2 AND NOT deleted`)
	if err := q.where(opt.Filters, opt.Pagination); err != nil {
		return nil, err
	}
	q.w(order)
	q.limit(opt.Limit)
	q.w(`),
n AS (SELECT count(*) AS c FROM matched),
clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, `, nowMS, `) + n.c - 1, live = t.live - n.c
	FROM n WHERE t.resource_name = $1 AND t.parent_id = $2 AND n.c > 0 AND `, unmovedClock, `
	RETURNING t.last_modified, `, notifyExpr("$1", "$2", "t.last_modified", "'delete'"), `)
UPDATE objects AS o SET deleted = TRUE, data = NULL, raw = NULL, last_modified = clock.last_modified - n.c + m.rn
FROM matched m, clock, n
WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = m.id AND NOT o.deleted
RETURNING o.id, o.last_modified, m.rn`)
	type row struct {
		obj storage.Object
		rn  int64
	}
	var rows []row
	err := b.run(ctx, "delete_all", true, func(qr querier) error {
		batch := &pgx.Batch{}
		batch.Queue(lockSQL, s.Resource, s.Parent)
		batch.Queue(q.sb.String(), q.args...)
		br := qr.(batcher).SendBatch(ctx, batch)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return err
		}
		rs, err := br.Query()
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			r := row{obj: storage.Object{Deleted: true}}
			if err := rs.Scan(&r.obj.ID, &r.obj.LastModified, &r.rn); err != nil {
				return err
			}
			rows = append(rows, r)
		}
		rs.Close()
		if err := rs.Err(); err != nil {
			return err
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].rn < rows[j].rn })
	out := make([]storage.Object, len(rows))
	for i, r := range rows {
		out[i] = r.obj
	}
	return out, nil
}

// PurgeDeleted implements storage.Backend with purgeSQL, after lockSQL.
func (b *Backend) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	var n int64
	err := b.run(ctx, "purge_deleted", true, func(q querier) error {
		return lockedRow(ctx, q, s, purgeSQL, []any{s.Resource, s.Parent, before}, &n)
	})
	return int(n), err
}

// List implements storage.Backend. A delta (opt.Since > 0) is read with ListWithTimestamp's
// statement, which checks the horizon in the page's snapshot.
func (b *Backend) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	if opt.Since > 0 {
		out, _, err := b.ListWithTimestamp(ctx, s, opt)
		return out, err
	}
	q := &query{}
	q.arg(s.Resource)
	q.arg(s.Parent)
	q.w(`SELECT id, last_modified, deleted, `, readData(""), ` FROM objects WHERE `, scopeCond(opt.Sort))
	if err := b.listTail(q, opt, q.orderText(opt.Sort)); err != nil {
		return nil, err
	}
	var out []storage.Object
	err := b.run(ctx, "list", false, func(qr querier) error {
		rs, err := qr.Query(ctx, q.sb.String(), q.args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		for rs.Next() {
			var o storage.Object
			var data []byte
			if err := rs.Scan(&o.ID, &o.LastModified, &o.Deleted, &data); err != nil {
				return err
			}
			o.Data = data
			out = append(out, o)
		}
		return rs.Err()
	})
	if err != nil {
		return nil, err
	}
	if out == nil {
		out = []storage.Object{}
	}
	return out, nil
}

// scopeCond returns the condition of a list statement on the collection of its parameters
// $1 (resource) and $2 (parent).
//
// A list statement is prepared once per connection, and PostgreSQL keeps its generic plan
// only when that plan costs no more than the plans made for each execution's values. The
// generic plan is priced for the average collection; a collection that the statistics see
// as smaller (most of them, beside a few large ones) gets cheaper custom plans, and the
// statement is then planned again on every execution, which costs about as much as running
// it. When the page is ordered by last_modified first, the plan is the same whatever the
// collection's size (a scan of the (resource_name, parent_id, last_modified) index, stopped
// by the limit), so the values are hidden from the planner behind sub-selects: every plan is
// then priced alike and the generic one is kept. Other orders keep the values visible, so
// that a small collection is never read with a plan made for a large one.
func scopeCond(sorts []storage.Sort) string {
	if len(sorts) > 0 && sorts[0].Field == "last_modified" {
		return "resource_name = (SELECT $1::text) AND parent_id = (SELECT $2::text)"
	}
	return "resource_name = $1 AND parent_id = $2"
}

// listTail appends the rest of a list query after its scope condition: the filters, order
// (an ORDER BY clause from orderText) and the limit.
func (b *Backend) listTail(q *query, opt storage.ListOptions, order string) error {
	if !opt.IncludeDeleted {
		q.w(" AND NOT deleted")
	}
	if err := q.where(opt.Filters, opt.Pagination); err != nil {
		return err
	}
	q.w(order)
	limit := opt.Limit
	if limit <= 0 {
		limit = b.maxFetch
	}
	q.limit(limit)
	return nil
}

// ListWithTimestamp implements storage.Backend in one statement, so in one round
// trip and one snapshot: the collection's clock row (its timestamp, and its horizon for
// opt.Since) left-joined with the page, each page row
// numbered by row_number() over the page's own order (computed on the page, above its LIMIT,
// so that the planner keeps its top-N sort and index scans). The first read of a never-written
// collection (no clock row yet: the statement returns no row) stores its timestamp with
// Timestamp and runs the statement again.
func (b *Backend) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	q := &query{}
	q.arg(s.Resource)
	q.arg(s.Parent)
	order := q.orderText(opt.Sort)
	q.w(`SELECT t.last_modified, t.horizon, p.rn, p.id, p.last_modified, p.deleted, `, readData("p."), `
FROM timestamps AS t LEFT JOIN LATERAL (
	SELECT s.*, row_number() OVER (`, order, `) AS rn FROM (
		SELECT id, last_modified, deleted, data, raw FROM objects WHERE `, scopeCond(opt.Sort))
	if err := b.listTail(q, opt, order); err != nil {
		return nil, 0, err
	}
	q.w(`) AS s) AS p ON TRUE
WHERE t.resource_name = $1 AND t.parent_id = $2`)
	sql := q.sb.String()
	for attempt := 0; ; attempt++ {
		var (
			out    []storage.Object
			ts, hz int64
			found  bool
		)
		err := b.run(ctx, "list", false, func(qr querier) error {
			rs, err := qr.Query(ctx, sql, q.args...)
			if err != nil {
				return err
			}
			defer rs.Close()
			sorted := true
			var (
				ranks   []int64
				rn, lm  pgtype.Int8
				id      pgtype.Text
				deleted pgtype.Bool
			)
			for rs.Next() {
				var data []byte
				if err := rs.Scan(&ts, &hz, &rn, &id, &lm, &deleted, &data); err != nil {
					return err
				}
				found = true
				if !rn.Valid {
					continue // empty page: the clock row alone
				}
				if len(ranks) > 0 && rn.Int64 < ranks[len(ranks)-1] {
					sorted = false
				}
				ranks = append(ranks, rn.Int64)
				out = append(out, storage.Object{ID: id.String, LastModified: lm.Int64, Deleted: deleted.Bool, Data: data})
			}
			if !sorted { // SQL does not promise the join keeps the lateral side's order
				sort.Sort(byRank{out, ranks})
			}
			return rs.Err()
		})
		if err != nil {
			return nil, 0, err
		}
		if found {
			if err := storage.CheckHorizon(s, opt.Since, hz); err != nil {
				return nil, 0, err
			}
			if out == nil {
				out = []storage.Object{}
			}
			return out, ts, nil
		}
		if attempt == 2 {
			return nil, 0, b.wrap("list", errors.New("the collection timestamp keeps disappearing"))
		}
		if _, err := b.Timestamp(ctx, s); err != nil {
			return nil, 0, err
		}
	}
}

// byRank sorts a page by its row_number() values.
type byRank struct {
	objs  []storage.Object
	ranks []int64
}

func (r byRank) Len() int           { return len(r.objs) }
func (r byRank) Less(i, j int) bool { return r.ranks[i] < r.ranks[j] }
func (r byRank) Swap(i, j int) {
	r.objs[i], r.objs[j] = r.objs[j], r.objs[i]
	r.ranks[i], r.ranks[j] = r.ranks[j], r.ranks[i]
}

// Count implements storage.Backend. Without filters it reads the collection's live counter
// (liveCount) instead of counting rows.
func (b *Backend) Count(ctx context.Context, s storage.Scope, filters []storage.Filter) (int, error) {
	if len(filters) == 0 {
		return b.liveCount(ctx, s)
	}
	q := &query{}
	q.w(`SELECT count(*) FROM objects WHERE resource_name = `, q.arg(s.Resource),
		` AND parent_id = `, q.arg(s.Parent), ` AND NOT deleted`)
	if err := q.where(filters, nil); err != nil {
		return 0, err
	}
	var n int64
	err := b.run(ctx, "count", false, func(qr querier) error {
		return qr.QueryRow(ctx, q.sb.String(), q.args...).Scan(&n)
	})
	return int(n), err
}

// newClockSQL creates the clock row of a collection that has none at the current time, and
// returns it (no row when the row exists).
const newClockSQL = `INSERT INTO timestamps (resource_name, parent_id, last_modified)
	VALUES ($1, $2, ` + nowMS + `) ON CONFLICT DO NOTHING RETURNING last_modified`

// Timestamp implements storage.Backend. The first read of a never-written collection stores
// the current time as its timestamp (a write: it fails with storage.ErrReadOnly on a
// read-only database).
func (b *Backend) Timestamp(ctx context.Context, s storage.Scope) (int64, error) {
	var ts int64
	err := b.run(ctx, "timestamp", false, func(q querier) error {
		for {
			err := q.QueryRow(ctx, `SELECT last_modified FROM timestamps WHERE resource_name = $1 AND parent_id = $2`,
				s.Resource, s.Parent).Scan(&ts)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			err = q.QueryRow(ctx, newClockSQL, s.Resource, s.Parent).Scan(&ts)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// Another writer created the row first: read it.
		}
	})
	return ts, err
}

// jsonArg passes object data as JSON text (nil for none, stored as {}). Data must be a JSON
// object; PostgreSQL checks the rest of its syntax.
func jsonArg(d json.RawMessage) (any, error) {
	t := bytes.TrimSpace(d)
	if len(t) == 0 {
		return nil, nil
	}
	if t[0] != '{' {
		return nil, fmt.Errorf("%w: data is not a JSON object", ErrInvalidData)
	}
	return string(t), nil
}
