package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// The bare baseline: plain net/http handlers that do the same storage operation as the
// toolkit directly, with no toolkit code on the request path. They authenticate like the
// toolkit (the HMAC of Basic credentials names the collection) because the collection is
// needed to address the data; they do no protocol validation, no precondition handling
// beyond If-Match on PATCH, no transactions, and only parse the querystring parameters the
// scenarios send.

// listReq is what the bare list handler understands.
type listReq struct {
	limit     int
	since     int64 // -1: none
	unread    bool  // filter unread=true
	scoreDesc bool  // _sort=-score (then -last_modified)
}

// bareStore is one storage operation per scenario. Objects are returned rendered as the
// protocol shows them ({"id":…,"last_modified":…,…}).
type bareStore interface {
	get(ctx context.Context, parent, id string) (obj []byte, lm int64, err error)
	list(ctx context.Context, parent string, q listReq) ([][]byte, error)
	create(ctx context.Context, parent string, data []byte) (obj []byte, lm int64, err error)
	patch(ctx context.Context, parent, id string, ifMatch int64, changes map[string]any) (obj []byte, lm int64, err error)
	createMany(ctx context.Context, parent string, data [][]byte) ([][]byte, error)
	close()
}

var (
	errNotFound = errors.New("not found")
	errModified = errors.New("modified meanwhile")
)

// render prepends id and last_modified to the data object.
func render(id string, lm int64, data []byte) []byte {
	out := make([]byte, 0, len(data)+80)
	out = append(out, `{"id":"`...)
	out = append(out, id...)
	out = append(out, `","last_modified":`...)
	out = strconv.AppendInt(out, lm, 10)
	d := bytes.TrimSpace(data)
	if len(d) > 2 {
		return append(append(out, ','), d[1:]...)
	}
	return append(out, '}')
}

func newBare(ctx context.Context, cfg serverConfig) (http.Handler, func(), error) {
	var st bareStore
	if cfg.Backend == "postgresql" {
		pc, err := pgxpool.ParseConfig(cfg.DSN)
		if err != nil {
			return nil, nil, err
		}
		pc.MaxConns = int32(cfg.PoolSize)
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			return nil, nil, err
		}
		st = &pgBare{pool: pool}
	} else {
		m := &memBare{colls: map[string]*memColl{}}
		for i := range cfg.Seed {
			m.put(parentID(readerUser), seedID(i), recordData(i))
		}
		st = m
	}
	h := &bareHandler{st: st}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+pluralPath+"/{id}", h.get)
	mux.HandleFunc("GET "+pluralPath, h.list)
	mux.HandleFunc("POST "+pluralPath, h.create)
	mux.HandleFunc("PATCH "+pluralPath+"/{id}", h.patch)
	mux.HandleFunc("POST /v1/batch", h.batch)
	return mux, st.close, nil
}

type bareHandler struct{ st bareStore }

func (h *bareHandler) parent(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		http.Error(w, `{"code":401}`, http.StatusUnauthorized)
		return "", false
	}
	return userID(user, pass), true
}

func fail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, errNotFound):
		http.Error(w, `{"code":404}`, http.StatusNotFound)
	case errors.Is(err, errModified):
		http.Error(w, `{"code":412}`, http.StatusPreconditionFailed)
	default:
		http.Error(w, `{"code":503}`, http.StatusServiceUnavailable)
	}
}

func writeData(w http.ResponseWriter, status int, lm int64, objs ...[]byte) {
	buf := make([]byte, 0, 256)
	if lm > 0 {
		w.Header().Set("ETag", `"`+strconv.FormatInt(lm, 10)+`"`)
	}
	w.Header().Set("Content-Type", "application/json")
	if status != 0 {
		buf = append(buf, `{"data":`...)
		buf = append(buf, objs[0]...)
	} else {
		status = http.StatusOK
		buf = append(buf, `{"data":[`...)
		for i, o := range objs {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, o...)
		}
		buf = append(buf, ']')
	}
	w.WriteHeader(status)
	w.Write(append(buf, '}')) //nolint:errcheck // client gone
}

func (h *bareHandler) get(w http.ResponseWriter, r *http.Request) {
	parent, ok := h.parent(w, r)
	if !ok {
		return
	}
	obj, lm, err := h.st.get(r.Context(), parent, r.PathValue("id"))
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, http.StatusOK, lm, obj)
}

func (h *bareHandler) list(w http.ResponseWriter, r *http.Request) {
	parent, ok := h.parent(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	lr := listReq{limit: 10000, since: -1, unread: q.Get("unread") == "true", scoreDesc: q.Get("_sort") == "-score"}
	if n, err := strconv.Atoi(q.Get("_limit")); err == nil && n > 0 && n < lr.limit {
		lr.limit = n
	}
	if n, err := strconv.ParseInt(q.Get("_since"), 10, 64); err == nil {
		lr.since = n
	}
	objs, err := h.st.list(r.Context(), parent, lr)
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, 0, 0, objs...)
}

func readData(r *http.Request) (json.RawMessage, bool) {
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	b, err := io.ReadAll(r.Body)
	if err != nil || json.Unmarshal(b, &env) != nil || len(env.Data) == 0 || env.Data[0] != '{' {
		return nil, false
	}
	return env.Data, true
}

func (h *bareHandler) create(w http.ResponseWriter, r *http.Request) {
	parent, ok := h.parent(w, r)
	if !ok {
		return
	}
	data, ok := readData(r)
	if !ok {
		http.Error(w, `{"code":400}`, http.StatusBadRequest)
		return
	}
	obj, lm, err := h.st.create(r.Context(), parent, data)
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, http.StatusCreated, lm, obj)
}

func (h *bareHandler) patch(w http.ResponseWriter, r *http.Request) {
	parent, ok := h.parent(w, r)
	if !ok {
		return
	}
	var ifMatch int64
	if v := r.Header.Get("If-Match"); v != "" {
		n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
		if err != nil {
			http.Error(w, `{"code":400}`, http.StatusBadRequest)
			return
		}
		ifMatch = n
	}
	var env struct {
		Data map[string]any `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil || env.Data == nil {
		http.Error(w, `{"code":400}`, http.StatusBadRequest)
		return
	}
	obj, lm, err := h.st.patch(r.Context(), parent, r.PathValue("id"), ifMatch, env.Data)
	if err != nil {
		fail(w, err)
		return
	}
	writeData(w, http.StatusOK, lm, obj)
}

// batch creates every request's body.data in the default collection (the only form the
// harness sends) and answers like kinto's batch endpoint.
func (h *bareHandler) batch(w http.ResponseWriter, r *http.Request) {
	parent, ok := h.parent(w, r)
	if !ok {
		return
	}
	var env struct {
		Requests []struct {
			Body struct {
				Data json.RawMessage `json:"data"`
			} `json:"body"`
		} `json:"requests"`
	}
	if err := json.NewDecoder(r.Body).Decode(&env); err != nil {
		http.Error(w, `{"code":400}`, http.StatusBadRequest)
		return
	}
	data := make([][]byte, len(env.Requests))
	for i, rq := range env.Requests {
		data[i] = rq.Body.Data
	}
	objs, err := h.st.createMany(r.Context(), parent, data)
	if err != nil {
		fail(w, err)
		return
	}
	buf := []byte(`{"responses":[`)
	for i, o := range objs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"status":201,"path":"`+pluralPath+`","body":{"data":`...)
		buf = append(append(buf, o...), "}}"...)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(buf, "]}"...)) //nolint:errcheck // client gone
}

// --- memory: maps under RWMutexes ---------------------------------------------------------

type memBare struct {
	mu    sync.RWMutex
	colls map[string]*memColl
}

type memColl struct {
	mu    sync.RWMutex
	ts    int64
	byID  map[string]*memRec
	order []*memRec // ascending last_modified
}

type memRec struct {
	id       string
	lm       int64
	data     []byte
	rendered []byte
	score    float64
	unread   bool
}

func (m *memBare) coll(parent string) *memColl {
	m.mu.RLock()
	c := m.colls[parent]
	m.mu.RUnlock()
	if c != nil {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if c = m.colls[parent]; c == nil {
		c = &memColl{byID: map[string]*memRec{}}
		m.colls[parent] = c
	}
	return c
}

// put stores data under id with a new timestamp; the caller must not hold c.mu.
func (m *memBare) put(parent, id string, data []byte) *memRec {
	c := m.coll(parent)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.putLocked(id, data)
}

func (c *memColl) putLocked(id string, data []byte) *memRec {
	c.ts = max(c.ts+1, time.Now().UnixMilli())
	var fields struct {
		Score  float64 `json:"score"`
		Unread bool    `json:"unread"`
	}
	_ = json.Unmarshal(data, &fields)
	rec := &memRec{id: id, lm: c.ts, data: bytes.Clone(data), score: fields.Score, unread: fields.Unread}
	rec.rendered = render(id, rec.lm, rec.data)
	if old := c.byID[id]; old != nil {
		i := sort.Search(len(c.order), func(i int) bool { return c.order[i].lm >= old.lm })
		c.order = append(c.order[:i], c.order[i+1:]...)
	}
	c.byID[id] = rec
	c.order = append(c.order, rec)
	return rec
}

func (m *memBare) get(_ context.Context, parent, id string) ([]byte, int64, error) {
	c := m.coll(parent)
	c.mu.RLock()
	rec := c.byID[id]
	c.mu.RUnlock()
	if rec == nil {
		return nil, 0, errNotFound
	}
	return rec.rendered, rec.lm, nil
}

func (m *memBare) list(_ context.Context, parent string, q listReq) ([][]byte, error) {
	c := m.coll(parent)
	c.mu.RLock()
	defer c.mu.RUnlock()
	var out [][]byte
	if q.unread || q.scoreDesc {
		var recs []*memRec
		for _, r := range c.order {
			if (!q.unread || r.unread) && r.lm > q.since {
				recs = append(recs, r)
			}
		}
		sort.Slice(recs, func(i, j int) bool {
			if q.scoreDesc && recs[i].score != recs[j].score {
				return recs[i].score > recs[j].score
			}
			return recs[i].lm > recs[j].lm
		})
		for _, r := range recs[:min(len(recs), q.limit)] {
			out = append(out, r.rendered)
		}
		return out, nil
	}
	for i := len(c.order) - 1; i >= 0 && len(out) < q.limit && c.order[i].lm > q.since; i-- {
		out = append(out, c.order[i].rendered)
	}
	return out, nil
}

func (m *memBare) create(_ context.Context, parent string, data []byte) ([]byte, int64, error) {
	rec := m.put(parent, uuid.NewString(), data)
	return rec.rendered, rec.lm, nil
}

func (m *memBare) patch(_ context.Context, parent, id string, ifMatch int64, changes map[string]any) ([]byte, int64, error) {
	c := m.coll(parent)
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.byID[id]
	if old == nil {
		return nil, 0, errNotFound
	}
	if ifMatch != 0 && ifMatch != old.lm {
		return nil, 0, errModified
	}
	var data map[string]any
	if err := json.Unmarshal(old.data, &data); err != nil {
		return nil, 0, err
	}
	for k, v := range changes {
		data[k] = v
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, 0, err
	}
	rec := c.putLocked(id, b)
	return rec.rendered, rec.lm, nil
}

func (m *memBare) createMany(_ context.Context, parent string, data [][]byte) ([][]byte, error) {
	c := m.coll(parent)
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([][]byte, len(data))
	for i, d := range data {
		out[i] = c.putLocked(uuid.NewString(), d).rendered
	}
	return out, nil
}

func (m *memBare) close() {}

// --- PostgreSQL: the same operations in hand-written SQL over pgxpool ----------------------

// The bare baseline's write statements, written by hand against storage/postgresql's schema
// (its tables timestamps and objects) for the data the scenarios send: new ids, no forced
// timestamp, no protocol keys in the data. They do the work of the backend's writes: bump
// the collection clock (unique, increasing timestamps) and its live counter, announce the
// change on the backend's channel in its format (the backend announces by default), and
// store the object as jsonb beside its text as sent. The scopes are short, so the
// announcement always names them.
const (
	// clockCreateSQL creates object $3 holding $4 (JSON text) in collection ($1, $2) and
	// returns its timestamp; no row, and nothing written, when the collection has no clock
	// row yet (newClockSQL creates it).
	clockCreateSQL = `WITH clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint),
		live = t.live + 1
	WHERE t.resource_name = $1 AND t.parent_id = $2
	RETURNING t.last_modified, pg_notify('` + postgresql.NotifyChannel + `', json_build_array(t.last_modified, 'create', $1, $2)::text))
INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data, raw)
SELECT $1, $2, $3, clock.last_modified, FALSE, $4::jsonb, $4
FROM clock
RETURNING last_modified`

	// clockUpdateSQL replaces the data of the live object $3 of collection ($1, $2) with $4
	// (JSON text) and returns its new timestamp; no row, and nothing written, when no live
	// object has that id.
	clockUpdateSQL = `WITH clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted)
	RETURNING t.last_modified, pg_notify('` + postgresql.NotifyChannel + `', json_build_array(t.last_modified, 'update', $1, $2)::text))
UPDATE objects AS o SET last_modified = clock.last_modified, data = $4::jsonb, raw = $4
FROM clock
WHERE o.resource_name = $1 AND o.parent_id = $2 AND o.id = $3 AND NOT o.deleted
RETURNING o.last_modified`

	// newClockSQL creates the clock row of collection ($1, $2) at the current time, as the
	// backend does on a collection's first write; it does nothing when the row exists.
	newClockSQL = `INSERT INTO timestamps (resource_name, parent_id, last_modified)
	VALUES ($1, $2, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) ON CONFLICT DO NOTHING`
)

// clockCreate creates object id holding data in collection (res, parent) with
// clockCreateSQL, after creating the collection's clock row (newClockSQL) when it has none
// yet. It returns the object's timestamp and its data as stored.
func clockCreate(ctx context.Context, q interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}, res, parent, id string, data string) (int64, []byte, error) {
	var lm int64
	err := q.QueryRow(ctx, clockCreateSQL, res, parent, id, data).Scan(&lm)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err = q.Exec(ctx, newClockSQL, res, parent); err != nil {
			return 0, nil, err
		}
		err = q.QueryRow(ctx, clockCreateSQL, res, parent, id, data).Scan(&lm)
	}
	return lm, []byte(data), err // stored as sent (it has no protocol keys)
}

type pgBare struct{ pool *pgxpool.Pool }

func (p *pgBare) get(ctx context.Context, parent, id string) ([]byte, int64, error) {
	var lm int64
	var data []byte
	err := p.pool.QueryRow(ctx, `SELECT last_modified, data FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted`, resourceName, parent, id).Scan(&lm, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, errNotFound
	}
	if err != nil {
		return nil, 0, err
	}
	return render(id, lm, data), lm, nil
}

func (p *pgBare) list(ctx context.Context, parent string, q listReq) ([][]byte, error) {
	sql := `SELECT id, last_modified, data FROM objects WHERE resource_name = $1 AND parent_id = $2 AND NOT deleted`
	args := []any{resourceName, parent}
	if q.since >= 0 {
		sql = `SELECT id, last_modified, data FROM objects WHERE resource_name = $1 AND parent_id = $2`
		args = append(args, q.since)
		sql += ` AND last_modified > $3::bigint`
	}
	if q.unread {
		sql += ` AND (data #> '{unread}') = 'true'::jsonb`
	}
	if q.scoreDesc {
		sql += ` ORDER BY (data #> '{score}') DESC NULLS FIRST, last_modified DESC`
	} else {
		sql += ` ORDER BY last_modified DESC`
	}
	sql += ` LIMIT ` + strconv.Itoa(q.limit)
	rows, err := p.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out [][]byte
	for rows.Next() {
		var id string
		var lm int64
		var data []byte
		if err := rows.Scan(&id, &lm, &data); err != nil {
			return nil, err
		}
		out = append(out, render(id, lm, data))
	}
	return out, rows.Err()
}

func (p *pgBare) create(ctx context.Context, parent string, data []byte) ([]byte, int64, error) {
	id := uuid.NewString()
	lm, stored, err := clockCreate(ctx, p.pool, resourceName, parent, id, string(data))
	if err != nil {
		return nil, 0, err
	}
	return render(id, lm, stored), lm, nil
}

func (p *pgBare) patch(ctx context.Context, parent, id string, ifMatch int64, changes map[string]any) ([]byte, int64, error) {
	var lm int64
	var old []byte
	err := p.pool.QueryRow(ctx, `SELECT last_modified, data FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted`, resourceName, parent, id).Scan(&lm, &old)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, errNotFound
	} else if err != nil {
		return nil, 0, err
	}
	if ifMatch != 0 && ifMatch != lm {
		return nil, 0, errModified
	}
	var data map[string]any
	if err := json.Unmarshal(old, &data); err != nil {
		return nil, 0, err
	}
	for k, v := range changes {
		data[k] = v
	}
	b, _ := json.Marshal(data)
	err = p.pool.QueryRow(ctx, clockUpdateSQL, resourceName, parent, id, string(b)).Scan(&lm)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, 0, errNotFound // deleted meanwhile
	} else if err != nil {
		return nil, 0, err
	}
	return render(id, lm, b), lm, nil
}

func (p *pgBare) createMany(ctx context.Context, parent string, data [][]byte) ([][]byte, error) {
	tx, err := p.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // after Commit: no-op
	out := make([][]byte, len(data))
	for i, d := range data {
		id := uuid.NewString()
		lm, stored, err := clockCreate(ctx, tx, resourceName, parent, id, string(d))
		if err != nil {
			return nil, err
		}
		out[i] = render(id, lm, stored)
	}
	return out, tx.Commit(ctx)
}

func (p *pgBare) close() { p.pool.Close() }
