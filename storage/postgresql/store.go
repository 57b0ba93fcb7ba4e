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

	"github.com/cliquet-go/cliquet/internal/jsonobj"
	"github.com/cliquet-go/cliquet/storage"
)

// nowMS is the server's clock in epoch milliseconds: every web head shares one clock.
const nowMS = "floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

// clockCTE upserts the collection clock row and returns the new timestamp. Taking the row
// lock inside the writing statement serialises the writers of one collection until commit,
// so timestamps are strictly increasing in commit order: a _since poller never misses a
// write. $1 is the resource, $2 the parent; forced is an expression giving the client-forced
// timestamp the write will use, 0 for none: the clock becomes max(previous+1, forced), or
// max(previous+1, now) without one. cond, if not empty, is a WHERE clause that skips the
// write (and the clock bump) when false. action is the SQL text of the write's
// storage.Action, which the clock row's change notification carries (notifyExpr).
func clockCTE(forced, cond, action string) string {
	return `clock AS (
	INSERT INTO timestamps AS t (resource_name, parent_id, last_modified)
	SELECT $1, $2, CASE WHEN f.v > 0 THEN f.v ELSE ` + nowMS + ` END
	FROM (SELECT ` + forced + ` AS v) AS f ` + cond + `
	ON CONFLICT (resource_name, parent_id) DO UPDATE
		SET last_modified = GREATEST(t.last_modified + 1, EXCLUDED.last_modified)
	RETURNING last_modified, ` + notifyExpr("$1", "$2", "last_modified", action) + `)`
}

// upsertAction is the action of an upsert of $3: an update when a live object has the id,
// else a creation.
const upsertAction = `CASE WHEN EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted) THEN 'update' ELSE 'create' END`

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
// the compare of a compare-and-swap. It first locks the collection's clock row (the lock
// every writer of the collection takes, in clockCTE), which waits for the writers in flight
// to commit and keeps the lock order of the other writes (clock, then object), so that no
// deadlock arises. Under READ COMMITTED, FOR UPDATE re-checks the WHERE clause on the latest
// committed version of the row, so a write committed after the statement's snapshot leaves
// the target empty; the clock then is not bumped and nothing is written.
func targetCTE(cond string) string {
	return `target AS (
	SELECT o.id FROM objects AS o
	WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
		AND o.last_modified = ` + cond + `
		AND (SELECT count(*) FROM (SELECT 1 FROM timestamps
			WHERE resource_name = $1 AND parent_id = $2 FOR UPDATE) AS lock) >= 0
	FOR UPDATE OF o)`
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

var (
	createSQL = `WITH ` + clockCTE("$4::bigint", `WHERE NOT EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted)`, "'create'") + `
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
SELECT $1, $2, $3, ` + forcedTS("$4::bigint", "$4::bigint > 0") + `, FALSE, ` + dataExpr + `, ` + rawExpr + `
FROM clock
ON CONFLICT (resource_name, parent_id, id) DO UPDATE
	SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data, raw = EXCLUDED.raw
	WHERE o.deleted
RETURNING last_modified, raw`

	// createNowSQL is createSQL for the common case, a create without a forced timestamp
	// into a collection whose clock row exists: the clock is bumped by a plain UPDATE (which
	// takes the same row lock as clockCTE's upsert, so timestamps stay commit-ordered) instead
	// of INSERT ... ON CONFLICT DO UPDATE, and no forced value is checked. It returns no row,
	// and writes nothing, when the clock row is missing or a live object has the id; Create
	// then runs createSQL. ($4, always 0, keeps createSQL's parameters.)
	createNowSQL = `WITH clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, ` + nowMS + `)
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0 AND NOT EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted)
	RETURNING last_modified, ` + notifyExpr("$1", "$2", "last_modified", "'create'") + `)
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
SELECT $1, $2, $3, clock.last_modified, FALSE, ` + dataExpr + `, ` + rawExpr + `
FROM clock
ON CONFLICT (resource_name, parent_id, id) DO UPDATE
	SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data, raw = EXCLUDED.raw
	WHERE o.deleted
RETURNING last_modified, raw`

	updateSQL = `WITH ` + clockCTE("CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END", "", upsertAction) + `
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data, raw)
SELECT $1, $2, $3, ` + forcedTS("$4::bigint", "$4::bigint > "+storedTS) + `, FALSE, ` + dataExpr + `, ` + rawExpr + `
FROM clock
ON CONFLICT (resource_name, parent_id, id) DO UPDATE
	SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data, raw = EXCLUDED.raw
RETURNING last_modified, raw`

	// updateIfSQL is updateSQL with a condition ($6, the object's timestamp): it only
	// replaces, and writes nothing when the condition fails.
	updateIfSQL = `WITH ` + targetCTE("$6::bigint") + `,
` + clockCTE("CASE WHEN $4::bigint > $6::bigint THEN $4::bigint ELSE 0 END", "WHERE EXISTS (SELECT 1 FROM target)", "'update'") + `
UPDATE objects AS o SET data = ` + dataExpr + `, raw = ` + rawExpr + `,
	last_modified = ` + forcedTS("$4::bigint", "$4::bigint > $6::bigint") + `
FROM clock
WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
RETURNING o.last_modified, o.raw`

	// deleteIfSQL is deleteSQL with a condition ($5, the object's timestamp).
	deleteIfSQL = `WITH ` + targetCTE("$5::bigint") + `,
` + clockCTE("CASE WHEN $4::bigint > $5::bigint THEN $4::bigint ELSE 0 END", "WHERE EXISTS (SELECT 1 FROM target)", "'delete'") + `
UPDATE objects AS o SET deleted = TRUE, data = NULL, raw = NULL,
	last_modified = ` + forcedTS("$4::bigint", "$4::bigint > $5::bigint") + `
FROM clock
WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
RETURNING o.last_modified`

	deleteSQL = `WITH ` + clockCTE("CASE WHEN $4::bigint > "+storedTS+" THEN $4::bigint ELSE 0 END", `WHERE EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted)`, "'delete'") + `
UPDATE objects AS o SET deleted = TRUE, data = NULL, raw = NULL,
	last_modified = ` + forcedTS("$4::bigint", "$4::bigint > o.last_modified") + `
FROM clock
WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
RETURNING o.last_modified`
)

// The statements above return the stored data, which PostgreSQL renders from jsonb. When the
// data sent holds no protocol key (see echoData), what is stored is exactly what was sent, so
// the backend runs these lean variants, which return the timestamp only: rendering and
// transferring the jsonb back costs about a quarter of a create's database time.
var (
	createNowLeanSQL = leanReturning(createNowSQL)
	createLeanSQL    = leanReturning(createSQL)
	updateLeanSQL    = leanReturning(updateSQL)
	updateIfLeanSQL  = leanReturning(updateIfSQL)
)

// leanReturning drops the data column from the RETURNING clause that ends statement.
func leanReturning(statement string) string {
	for _, suffix := range []string{", raw", ", o.raw"} {
		if strings.HasSuffix(statement, suffix) {
			return strings.TrimSuffix(statement, suffix)
		}
	}
	panic("postgresql: statement does not return its data: " + statement)
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

// create runs a creation with st: the common statement first when no timestamp is forced,
// the general one when it wrote nothing (a new collection, or the id is taken), and a
// UnicityError when neither did.
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
	err = b.runRow(ctx, "create", func(q rowQuerier) error {
		if forced == 0 {
			err := writeRow(ctx, q, st.now, st.nowLean, echo, &out, args...)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			// A new collection, or the id is taken: the general statement decides.
		}
		err := writeRow(ctx, q, st.general, st.generalLean, echo, &out, args...)
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		existing, gerr := get(ctx, q, s, o.ID)
		if gerr != nil && !errors.Is(gerr, storage.ErrNotFound) {
			return gerr
		}
		return result(&storage.UnicityError{Field: "id", Existing: existing})
	})
	if err != nil {
		return storage.Object{}, err
	}
	return out, nil
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
// (about 0.08 ms of PostgreSQL's CPU, more than the three probes).
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
	err = b.runRow(ctx, "update", func(q rowQuerier) error {
		if want == 0 {
			return writeRow(ctx, q, updateSQL, updateLeanSQL, echo, &out, s.Resource, s.Parent, o.ID, forced, data)
		}
		err := writeRow(ctx, q, updateIfSQL, updateIfLeanSQL, echo, &out, s.Resource, s.Parent, o.ID, forced, data, want)
		if errors.Is(err, pgx.ErrNoRows) {
			return result(storage.ErrModified)
		}
		return err
	})
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
// from the collection clock in the same statement, following opt.Sort.
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
	INSERT INTO timestamps AS t (resource_name, parent_id, last_modified)
	SELECT $1, $2, `, nowMS, ` + n.c - 1 FROM n WHERE n.c > 0
	ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified =
		GREATEST(t.last_modified + 1, `, nowMS, `) + (SELECT c FROM n) - 1
	RETURNING last_modified, `, notifyExpr("$1", "$2", "last_modified", "'delete'"), `)
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

// PurgeDeleted implements storage.Backend.
func (b *Backend) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	var n int64
	err := b.run(ctx, "purge_deleted", true, func(q querier) error {
		tag, err := q.Exec(ctx, `DELETE FROM objects WHERE resource_name = $1 AND parent_id = $2 AND deleted
			AND ($3::bigint <= 0 OR last_modified < $3::bigint)`, s.Resource, s.Parent, before)
		n = tag.RowsAffected()
		return err
	})
	return int(n), err
}

// List implements storage.Backend.
func (b *Backend) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
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

// ListWithTimestamp implements storage.TimestampLister in one statement, so in one round
// trip and one snapshot: the collection's clock row left-joined with the page, each page row
// numbered by row_number() over the page's own order (computed on the page, above its LIMIT,
// so that the planner keeps its top-N sort and index scans). The first read of a never-written
// collection (no clock row yet: the statement returns no row) stores its timestamp with
// Timestamp and runs the statement again.
func (b *Backend) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	q := &query{}
	q.arg(s.Resource)
	q.arg(s.Parent)
	order := q.orderText(opt.Sort)
	q.w(`SELECT t.last_modified, p.rn, p.id, p.last_modified, p.deleted, `, readData("p."), `
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
			out   []storage.Object
			ts    int64
			found bool
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
				if err := rs.Scan(&ts, &rn, &id, &lm, &deleted, &data); err != nil {
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

// Count implements storage.Backend.
func (b *Backend) Count(ctx context.Context, s storage.Scope, filters []storage.Filter) (int, error) {
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
