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
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/cliquet-go/cliquet/storage"
)

// nowMS is the server's clock in epoch milliseconds: every web head shares one clock.
const nowMS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

// Every write statement has the same frame (clocked): it locks the collection's clock row
// (lockCTE), computes the new timestamp from it (clockCTE), writes the objects (the CTE w),
// then moves the clock and the live-object counter in one update of the clock row, from
// what w actually wrote (tickCTE):
//
//	WITH lock  AS (SELECT last_modified AS prev FROM timestamps WHERE … FOR UPDATE),
//	     clock AS (SELECT GREATEST(prev + 1, forced or now) AS last_modified FROM lock),
//	     …, w  AS (<the write> RETURNING o.last_modified, …, <live delta> AS d),
//	     tick  AS (UPDATE timestamps SET last_modified = clock…, live = live + sum(d) … WHERE w wrote)
//	SELECT last_modified, … FROM w
//
// The row lock, taken first and kept until commit, serialises the writers of a collection:
// timestamps are strictly increasing in commit order, so a _since poller never misses a
// write, and the counter moves in the same commit order. The counter is exact because each
// write reports its own delta (+1 for an object created or brought back from a tombstone,
// -1 for a deletion, 0 for a replacement) from the rows it changed, which PostgreSQL
// re-checks on their latest version, not from a prediction made on the statement's
// snapshot; a write that changes nothing leaves the clock and the counter alone. A
// collection without a clock row yet makes the statement write nothing: the backend then
// creates the row, locked, in a transaction with the write (lockedWrite).
//
// $1 is the resource, $2 the parent, $3 the object id, $4 the forced timestamp or 0, $5 the
// data as JSON text.

// lockCTE locks the collection's clock row and reads the clock: prev.
const lockCTE = `lock AS MATERIALIZED (
	SELECT last_modified AS prev FROM timestamps
	WHERE resource_name = $1 AND parent_id = $2 FOR UPDATE)`

// clockCTE is the new collection timestamp: max(prev+1, forced), or max(prev+1, now) when
// forced, an expression of the client-forced timestamp the write keeps, is 0.
func clockCTE(forced string) string {
	return `clock AS MATERIALIZED (
	SELECT GREATEST(lock.prev + 1, CASE WHEN f.v > 0 THEN f.v ELSE ` + nowMS + ` END) AS last_modified
	FROM lock, (SELECT ` + forced + ` AS v) AS f)`
}

// tickCTE moves the clock row, locked by lockCTE, to clock's value and adds the deltas of
// w to its live counter, when w wrote something.
const tickCTE = `tick AS (
	UPDATE timestamps AS t SET last_modified = clock.last_modified, live = t.live + c.d
	FROM clock, (SELECT count(*) AS n, COALESCE(sum(w.d), 0) AS d FROM w) AS c
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND c.n > 0)`

// clocked assembles a write statement: lockCTE, clockCTE(forced), ctes (the last one named
// w, returning the columns of out and a delta d), tickCTE, and the final SELECT of out
// from w.
func clocked(forced, out string, ctes ...string) string {
	return "WITH " + lockCTE + ",\n" + clockCTE(forced) + ",\n" + strings.Join(ctes, ",\n") + ",\n" + tickCTE +
		"\nSELECT " + out + " FROM w"
}

// returned is what a write statement returns, and the RETURNING columns of its w: the
// timestamp, and the stored data unless lean.
func returned(lean bool) (out, returning string) {
	if lean {
		return "last_modified", "o.last_modified"
	}
	return "last_modified, data", "o.last_modified, o.data"
}

// storedTS is the timestamp of the live object $3, 0 when there is none.
const storedTS = `COALESCE((SELECT last_modified FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted), 0)`

// forcedTS picks the object's timestamp: the forced one when cond holds and no other object
// of the collection has it (timestamps are unique), else the clock's.
func forcedTS(forced, cond string) string {
	return `CASE WHEN ` + cond + ` AND NOT EXISTS (SELECT 1 FROM objects x WHERE x.resource_name = $1
		AND x.parent_id = $2 AND x.last_modified = ` + forced + ` AND x.id <> $3)
		THEN ` + forced + ` ELSE clock.last_modified END`
}

// targetCTE selects the live object $3 when its timestamp still equals cond, and locks it:
// the compare of a compare-and-swap. It reads lock, so the collection's clock row is locked
// first (which waits for the writers in flight to commit, and keeps the lock order of every
// write: clock, then object, so that no deadlock arises). Under READ COMMITTED, FOR UPDATE
// re-checks the WHERE clause on the latest committed version of the row, so a write
// committed after the statement's snapshot leaves the target empty; nothing is then
// written, and the clock does not move.
func targetCTE(cond string) string {
	return `target AS (
	SELECT o.id FROM lock, objects AS o
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
		AND o.last_modified = ` + cond + `
	FOR UPDATE OF o)`
}

// dataExpr is the stored data: the client's, without the protocol fields.
const dataExpr = `COALESCE($5::text::jsonb, '{}'::jsonb) - '{id,last_modified,deleted}'::text[]`

// insertObject is the INSERT of object $3 at timestamp ts, over a tombstone of the same id
// but never over a live object (then it returns no row): delta +1.
func insertObject(ts, returning string) string {
	return `w AS (
	INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data)
	SELECT $1, $2, $3, ` + ts + `, FALSE, ` + dataExpr + `
	FROM clock
	ON CONFLICT (resource_name, parent_id, id) DO UPDATE
		SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data
		WHERE o.deleted
	RETURNING ` + returning + `, 1 AS d)`
}

// createStatement is Create's statement: with a forced timestamp ($4 > 0) kept when no
// other object has it.
func createStatement(lean bool) string {
	out, returning := returned(lean)
	return clocked("$4::bigint", out, insertObject(forcedTS("$4::bigint", "$4::bigint > 0"), returning))
}

// createNowStatement is createStatement for the common case, a create without a forced
// timestamp ($4 is always 0): the object gets the clock's timestamp, and no other object's
// timestamp is looked at.
func createNowStatement(lean bool) string {
	out, returning := returned(lean)
	return clocked("$4::bigint", out, insertObject("clock.last_modified", returning))
}

// updateStatement is Update's upsert. Its three writes are exclusive, each re-checked on
// the latest version of the object's row: replace the live object (delta 0), bring back a
// tombstone (+1), or insert (+1). When the row changed in between in a way none of them
// expects (created, deleted or brought back by a write committed after the statement's
// snapshot), nothing is written and no row is returned: Update then runs it again with the
// clock row locked beforehand (lockedWrite), on a snapshot taken after the lock.
func updateStatement(lean bool) string {
	out, returning := returned(lean)
	ts := forcedTS("$4::bigint", "$4::bigint > "+storedTS)
	return clocked("CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END", out, `replaced AS (
	UPDATE objects AS o SET data = `+dataExpr+`, last_modified = `+ts+`
	FROM clock
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
	RETURNING `+returning+`, 0 AS d)`, `revived AS (
	UPDATE objects AS o SET data = `+dataExpr+`, deleted = FALSE, last_modified = `+ts+`
	FROM clock
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND o.deleted
	RETURNING `+returning+`, 1 AS d)`, `inserted AS (
	INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data)
	SELECT $1, $2, $3, `+ts+`, FALSE, `+dataExpr+`
	FROM clock
	WHERE NOT EXISTS (SELECT 1 FROM replaced) AND NOT EXISTS (SELECT 1 FROM revived)
	ON CONFLICT (resource_name, parent_id, id) DO NOTHING
	RETURNING `+returning+`, 1 AS d)`, `w AS (
	SELECT * FROM replaced UNION ALL SELECT * FROM revived UNION ALL SELECT * FROM inserted)`)
}

// updateIfStatement is updateStatement with a condition ($6, the object's timestamp): it
// only replaces, and writes nothing when the condition fails.
func updateIfStatement(lean bool) string {
	out, returning := returned(lean)
	return clocked("CASE WHEN $4::bigint > $6::bigint THEN $4::bigint ELSE 0 END", out, targetCTE("$6::bigint"), `w AS (
	UPDATE objects AS o SET data = `+dataExpr+`,
		last_modified = `+forcedTS("$4::bigint", "$4::bigint > $6::bigint")+`
	FROM clock, target
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = target.id AND NOT o.deleted
	RETURNING `+returning+`, 0 AS d)`)
}

// deleteWrite turns the live object $3 into a tombstone (delta -1); from lists the
// relations the UPDATE joins (clock, and target for a conditional delete).
func deleteWrite(ts, from string) string {
	return `w AS (
	UPDATE objects AS o SET deleted = TRUE, data = NULL, last_modified = ` + ts + `
	FROM ` + from + `
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
	RETURNING o.last_modified, -1 AS d)`
}

var (
	createSQL        = createStatement(false)
	createLeanSQL    = createStatement(true)
	createNowSQL     = createNowStatement(false)
	createNowLeanSQL = createNowStatement(true)
	updateSQL        = updateStatement(false)
	updateLeanSQL    = updateStatement(true)
	updateIfSQL      = updateIfStatement(false)
	updateIfLeanSQL  = updateIfStatement(true)

	deleteSQL = clocked("CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END", "last_modified",
		deleteWrite(forcedTS("$4::bigint", "$4::bigint > o.last_modified"), "clock"))
	// deleteIfSQL is deleteSQL with a condition ($5, the object's timestamp).
	deleteIfSQL = clocked("CASE WHEN $4::bigint > $5::bigint THEN $4::bigint ELSE 0 END", "last_modified",
		targetCTE("$5::bigint"), deleteWrite(forcedTS("$4::bigint", "$4::bigint > $5::bigint"), "clock, target"))
)

// lockClockSQL locks the collection's clock row, creating it when missing at 0, a value no
// reader sees: it runs in a transaction with a write, which moves the clock to the write's
// own timestamp (max(0+1, forced or now): a first write keeps a forced timestamp in the
// past, as kinto does), or is rolled back with it.
const lockClockSQL = `INSERT INTO timestamps AS t (resource_name, parent_id, last_modified) VALUES ($1, $2, 0)
	ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = t.last_modified`

// lockedWrite runs write after lockClockSQL, in a transaction of its own (a savepoint in the
// unit of work's transaction): for a collection without a clock row yet, and for an upsert
// that a concurrent write of the same object made write nothing. The clock row is then
// locked before write's statement starts, so its snapshot sees every earlier write of the
// collection. A write that returns no row (pgx.ErrNoRows, passed through) or fails is
// rolled back with the clock row it may have created.
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
			if errors.Is(err, pgx.ErrNoRows) {
				return result(err)
			}
			return err
		}
		return tx.Commit(ctx)
	})
}

// writeData is the data of a write as a statement parameter (arg), and, when the stored
// data will be exactly that text, the text itself (echo), so that the lean statement can be
// used. Nil data is stored as {}.
func writeData(d json.RawMessage) (arg any, echo json.RawMessage, err error) {
	arg, err = jsonArg(d)
	if err != nil {
		return nil, nil, err
	}
	if arg == nil {
		return nil, json.RawMessage("{}"), nil
	}
	t := arg.(string)
	if !echoable(t) {
		return arg, nil, nil
	}
	return arg, json.RawMessage(t), nil
}

// echoable reports whether the JSON object text t certainly has no top-level "id",
// "last_modified" or "deleted" key, which storage removes: none of the three quoted names
// occurs anywhere in it, nor a \u escape (which could spell one). PostgreSQL still parses
// the text, and refuses it when it is not JSON.
func echoable(t string) bool {
	return !strings.Contains(t, `"id"`) && !strings.Contains(t, `"last_modified"`) &&
		!strings.Contains(t, `"deleted"`) && !strings.Contains(t, `\u`)
}

// Create implements storage.Backend.
func (b *Backend) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	return b.create(ctx, s, o, createStatements{now: createNowSQL, nowLean: createNowLeanSQL, general: createSQL, generalLean: createLeanSQL})
}

// createStatements are the statements of a creation: the common case (now, nowLean) and
// the general one (general, generalLean), each full (returning the stored data) and lean
// (used when the data sent is what gets stored; "" for none). extra are arguments after the
// five the statements share.
type createStatements struct {
	now, nowLean, general, generalLean string
	extra                              []any
}

// create runs a creation with st: the common statement when no timestamp is forced, else
// the general one. When it writes nothing, the id is taken (a UnicityError), or the
// collection has no clock row yet: the general statement then runs in lockedWrite.
func (b *Backend) create(ctx context.Context, s storage.Scope, o storage.Object, st createStatements) (storage.Object, error) {
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	forced := storage.KeptForced(o.LastModified, time.Now())
	data, echo, err := writeData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	if st.nowLean == "" {
		echo = nil // no lean statement: read the stored data back
	}
	args := append([]any{s.Resource, s.Parent, o.ID, forced, data}, st.extra...)
	out := storage.Object{ID: o.ID}
	general := func(q rowQuerier) error {
		return noRows(writeRow(ctx, q, st.general, st.generalLean, echo, &out, args...))
	}
	err = b.runRow(ctx, "create", func(q rowQuerier) error {
		if forced == 0 {
			return noRows(writeRow(ctx, q, st.now, st.nowLean, echo, &out, args...))
		}
		return general(q)
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
		err = b.lockedWrite(ctx, "create", s, general)
	}
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
}

// noRows passes pgx.ErrNoRows (the statement wrote nothing) through run unwrapped.
func noRows(err error) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return result(err)
	}
	return err
}

// writeRow runs a write statement and scans its row into out: the lean statement, with the
// data echoed, when echo is set, else the full one, which returns the stored data.
func writeRow(ctx context.Context, q rowQuerier, full, lean string, echo json.RawMessage, out *storage.Object, args ...any) error {
	if echo != nil {
		if err := q.QueryRow(ctx, lean, args...).Scan(&out.LastModified); err != nil {
			return err
		}
		out.Data = echo
		return nil
	}
	var stored []byte
	if err := q.QueryRow(ctx, full, args...).Scan(&out.LastModified, &stored); err != nil {
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
	err := q.QueryRow(ctx, `SELECT last_modified, data FROM objects
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
// (about 0.08 ms of PostgreSQL's CPU, more than the three probes).
var getManyValuesSQL = func() (sqls [getManyMaxValues + 1]string) {
	for n := 1; n <= getManyMaxValues; n++ {
		sqls[n] = "SELECT k.n, o.last_modified, o.data\n" + getManyFrom(n)
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
const getManyArraysSQL = `SELECT k.n, o.last_modified, o.data
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
func (b *Backend) Update(ctx context.Context, s storage.Scope, o storage.Object, cond ...storage.Condition) (storage.Object, error) {
	if o.ID == "" {
		o.ID = uuid.NewString()
	}
	forced := storage.KeptForced(o.LastModified, time.Now())
	data, echo, err := writeData(o.Data)
	if err != nil {
		return storage.Object{}, err
	}
	out := storage.Object{ID: o.ID}
	want := storage.FirstCondition(cond).LastModified
	upsert := func(q rowQuerier) error {
		return noRows(writeRow(ctx, q, updateSQL, updateLeanSQL, echo, &out, s.Resource, s.Parent, o.ID, forced, data))
	}
	err = b.runRow(ctx, "update", func(q rowQuerier) error {
		if want == 0 {
			return upsert(q)
		}
		err := writeRow(ctx, q, updateIfSQL, updateIfLeanSQL, echo, &out, s.Resource, s.Parent, o.ID, forced, data, want)
		if errors.Is(err, pgx.ErrNoRows) {
			return result(storage.ErrModified)
		}
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// No clock row yet, or a write of the same object committed while the statement
		// waited for the clock row (see updateStatement).
		err = b.lockedWrite(ctx, "update", s, upsert)
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
func (b *Backend) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond ...storage.Condition) (storage.Object, error) {
	forced := storage.KeptForced(lastModified, time.Now())
	out := storage.Object{ID: id, Deleted: true}
	want := storage.FirstCondition(cond).LastModified
	err := b.runRow(ctx, "delete", func(q rowQuerier) error {
		var row pgx.Row
		missing := storage.ErrNotFound
		if want == 0 {
			row = q.QueryRow(ctx, deleteSQL, s.Resource, s.Parent, id, forced)
		} else {
			row = q.QueryRow(ctx, deleteIfSQL, s.Resource, s.Parent, id, forced, want)
			missing = storage.ErrModified
		}
		err := row.Scan(&out.LastModified)
		if errors.Is(err, pgx.ErrNoRows) {
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
// from the collection clock in the same statement (whose frame is clocked's), following
// opt.Sort.
func (b *Backend) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	q := &query{}
	q.arg(s.Resource)
	q.arg(s.Parent)
	q.w(`WITH `, lockCTE, `,
matched AS (SELECT id, row_number() OVER (`)
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
clock AS MATERIALIZED (
	SELECT GREATEST(lock.prev + 1, `, nowMS, `) + n.c - 1 AS last_modified FROM lock, n WHERE n.c > 0),
w AS (
	UPDATE objects AS o SET deleted = TRUE, data = NULL, last_modified = clock.last_modified - n.c + m.rn
	FROM matched m, clock, n
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = m.id AND NOT o.deleted
	RETURNING o.id, o.last_modified, m.rn, -1 AS d),
`, tickCTE, `
SELECT id, last_modified, rn FROM w`)
	type row struct {
		obj storage.Object
		rn  int64
	}
	var rows []row
	err := b.run(ctx, "delete_all", true, func(qr querier) error {
		rs, err := qr.Query(ctx, q.sb.String(), q.args...)
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
		return rs.Err()
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

// PurgeDeleted implements storage.Backend with purgeSQL.
func (b *Backend) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	var n int64
	err := b.run(ctx, "purge_deleted", true, func(q querier) error {
		return q.QueryRow(ctx, purgeSQL, s.Resource, s.Parent, before).Scan(&n)
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
	q.w(`SELECT id, last_modified, deleted, data FROM objects WHERE resource_name = `, q.arg(s.Resource),
		` AND parent_id = `, q.arg(s.Parent))
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

// ListWithTimestamp implements storage.TimestampLister in one statement, so in one round
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
	q.w(`SELECT t.last_modified, t.horizon, p.rn, p.id, p.last_modified, p.deleted, p.data
FROM timestamps AS t LEFT JOIN LATERAL (
	SELECT s.*, row_number() OVER (`, order, `) AS rn FROM (
		SELECT id, last_modified, deleted, data FROM objects WHERE resource_name = $1 AND parent_id = $2`)
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
			err = q.QueryRow(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified)
				VALUES ($1, $2, `+nowMS+`) ON CONFLICT DO NOTHING RETURNING last_modified`,
				s.Resource, s.Parent).Scan(&ts)
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
