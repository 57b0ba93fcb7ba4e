package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/santhosh-tekuri/jsonschema/v5"

	"github.com/cliquet-go/cliquet/permission"
)

// The bare tree handler: the tree scenarios' requests answered with hand-written SQL over
// pgxpool, with no toolkit code on the request path. Like the flat bare handler it
// authenticates (the HMAC of the Basic credentials is the user id), does no protocol
// validation and parses only what the scenarios send; it checks what the toolkit checks for
// these requests: the bucket and the collection exist, and the caller's principals (its
// user id, system.Authenticated, system.Everyone and its groups from user_principals) hold
// a permission that grants the request on the record, the collection or the bucket. It
// answers 404 for a missing bucket, collection or record and 403 without the permission
// (no 401/403 nuance for missing ancestors), and does not list the records shared one by
// one with a caller who cannot read the whole collection.

// principalsOf are the caller's principals the statements match ACEs against (the groups
// are expanded in SQL from users), as the toolkit's Identity.AllPrincipals computes them.
func principalsOf(uid string) (principals, users []string) {
	return []string{uid, permission.Authenticated, permission.Everyone}, []string{uid, permission.Authenticated}
}

// aclHolds is the SQL condition that one of the caller's principals ($principals, plus the
// groups of $users) holds the ACE a.
func aclHolds(principals, users string) string {
	return `(a.principal = ANY(` + principals + `) OR a.principal IN (SELECT principal FROM user_principals WHERE user_id = ANY(` + users + `)))`
}

// ancestorsJoin reads the bucket ($1 id) and, joined to it, the collection ($2 id, $3 the
// bucket's URI); it yields no row when one of them is missing.
const ancestorsJoin = `FROM objects b
	JOIN objects c ON c.resource_name = 'collection' AND c.parent_id = $3 AND c.id = $2 AND NOT c.deleted
	WHERE b.resource_name = 'bucket' AND b.parent_id = '' AND b.id = $1 AND NOT b.deleted`

// treeGetSQL reads one record ($5 id in the collection $4) with the existence of its
// ancestors and whether the caller may read it: read or write on the record, the collection
// or the bucket ($6 their URIs).
var treeGetSQL = `SELECT r.last_modified, r.data,
	EXISTS (SELECT 1 FROM access_control_entries a
	        WHERE a.object_id = ANY($6) AND a.permission IN ('read', 'write') AND ` + aclHolds("$7", "$8") + `)
	FROM objects b
	JOIN objects c ON c.resource_name = 'collection' AND c.parent_id = $3 AND c.id = $2 AND NOT c.deleted
	LEFT JOIN objects r ON r.resource_name = 'record' AND r.parent_id = $4 AND r.id = $5 AND NOT r.deleted
	WHERE b.resource_name = 'bucket' AND b.parent_id = '' AND b.id = $1 AND NOT b.deleted`

// treeListSQL checks the ancestors and that the caller may read the whole collection (read
// or write on the collection or the bucket, $5 their URIs), and reads the first page of the
// collection ($4) when both hold: one row with NULL record columns when the page is empty
// or the check fails.
func treeListSQL(limit int) string {
	return `WITH chk AS (
	  SELECT EXISTS (SELECT 1 ` + ancestorsJoin + `) AS found,
	         EXISTS (SELECT 1 FROM access_control_entries a
	                 WHERE a.object_id = ANY($5) AND a.permission IN ('read', 'write') AND ` + aclHolds("$6", "$7") + `) AS allowed)
	SELECT chk.found, chk.allowed, r.id, r.last_modified, r.data
	FROM chk LEFT JOIN LATERAL (
	  SELECT id, last_modified, data FROM objects
	  WHERE resource_name = 'record' AND parent_id = $4 AND NOT deleted AND chk.found AND chk.allowed
	  ORDER BY last_modified DESC LIMIT ` + strconv.Itoa(limit) + `) r ON true`
}

// treeCreateCheckSQL checks the ancestors and that the caller may create records in the
// collection (record:create or write on the collection $4, write on the bucket $5), and
// returns the collection's timestamp (the version of its schema).
var treeCreateCheckSQL = `SELECT c.last_modified,
	EXISTS (SELECT 1 FROM access_control_entries a
	        WHERE ((a.object_id = $4 AND a.permission IN ('record:create', 'write')) OR (a.object_id = $5 AND a.permission = 'write'))
	          AND ` + aclHolds("$6", "$7") + `)
	` + ancestorsJoin

// treeSchemaSQL reads a collection's "schema" field.
const treeSchemaSQL = `SELECT data -> 'schema' FROM objects WHERE resource_name = 'collection' AND parent_id = $1 AND id = $2 AND NOT deleted`

// aceInsertSQL gives a principal a permission on an object (the permission backend's own
// AddPrincipalToACE statement).
const aceInsertSQL = `INSERT INTO access_control_entries (object_id, permission, principal) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`

type bareTree struct {
	pool *pgxpool.Pool

	mu      sync.Mutex
	schemas map[string]compiledSchema // by collection URI
}

// compiledSchema is a collection's schema compiled for one version (timestamp) of it; s is
// nil when the collection has none.
type compiledSchema struct {
	lm int64
	s  *jsonschema.Schema
}

func newBareTree(ctx context.Context, cfg serverConfig) (http.Handler, func(), error) {
	if cfg.Backend != "postgresql" {
		return nil, nil, errors.New("bench: the bare tree handler runs on postgresql only")
	}
	pool, err := openPool(ctx, cfg.DSN, cfg.PoolSize)
	if err != nil {
		return nil, nil, err
	}
	h := &bareTree{pool: pool, schemas: map[string]compiledSchema{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/buckets/{bid}/collections/{cid}/records/{id}", h.get)
	mux.HandleFunc("GET /v1/buckets/{bid}/collections/{cid}/records", h.list)
	mux.HandleFunc("POST /v1/buckets/{bid}/collections/{cid}/records", h.create)
	return mux, pool.Close, nil
}

// treeReq is what every handler reads from the request: the caller and the collection.
type treeReq struct {
	uid, bid, cid      string
	bucketURI, collURI string
	principals, users  []string
}

func (h *bareTree) req(w http.ResponseWriter, r *http.Request) (treeReq, bool) {
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" {
		http.Error(w, `{"code":401}`, http.StatusUnauthorized)
		return treeReq{}, false
	}
	q := treeReq{uid: userID(user, pass), bid: r.PathValue("bid"), cid: r.PathValue("cid")}
	q.bucketURI = "/buckets/" + q.bid
	q.collURI = q.bucketURI + "/collections/" + q.cid
	q.principals, q.users = principalsOf(q.uid)
	return q, true
}

func httpError(w http.ResponseWriter, status int) {
	http.Error(w, `{"code":`+strconv.Itoa(status)+`}`, status)
}

func (h *bareTree) get(w http.ResponseWriter, r *http.Request) {
	q, ok := h.req(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	uri := q.collURI + "/records/" + id
	var lm *int64
	var data []byte
	var allowed bool
	err := h.pool.QueryRow(r.Context(), treeGetSQL, q.bid, q.cid, q.bucketURI, q.collURI, id,
		[]string{uri, q.collURI, q.bucketURI}, q.principals, q.users).Scan(&lm, &data, &allowed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		httpError(w, http.StatusNotFound) // a missing bucket or collection
	case err != nil:
		httpError(w, http.StatusServiceUnavailable)
	case !allowed:
		httpError(w, http.StatusForbidden)
	case lm == nil:
		httpError(w, http.StatusNotFound)
	default:
		// The reader holds no write on the record: the ACEs are not shown (kinto.core).
		writeShared(w, http.StatusOK, *lm, render(id, *lm, data), nil)
	}
}

func (h *bareTree) list(w http.ResponseWriter, r *http.Request) {
	q, ok := h.req(w, r)
	if !ok {
		return
	}
	limit := 10000
	if n, err := strconv.Atoi(r.URL.Query().Get("_limit")); err == nil && n > 0 && n < limit {
		limit = n
	}
	rows, err := h.pool.Query(r.Context(), treeListSQL(limit), q.bid, q.cid, q.bucketURI, q.collURI,
		[]string{q.collURI, q.bucketURI}, q.principals, q.users)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	defer rows.Close()
	var objs [][]byte
	found, allowed := false, false
	for rows.Next() {
		var id *string
		var lm *int64
		var data []byte
		if err := rows.Scan(&found, &allowed, &id, &lm, &data); err != nil {
			httpError(w, http.StatusServiceUnavailable)
			return
		}
		if id != nil {
			objs = append(objs, render(*id, *lm, data))
		}
	}
	switch {
	case rows.Err() != nil:
		httpError(w, http.StatusServiceUnavailable)
	case !found:
		httpError(w, http.StatusNotFound)
	case !allowed:
		httpError(w, http.StatusForbidden)
	default:
		writeData(w, 0, 0, objs...)
	}
}

// schema returns the compiled schema of the collection q at version lm, compiling it on
// first use of that version.
func (h *bareTree) schema(ctx context.Context, q treeReq, lm int64) (*jsonschema.Schema, error) {
	h.mu.Lock()
	c, ok := h.schemas[q.collURI]
	h.mu.Unlock()
	if ok && c.lm == lm {
		return c.s, nil
	}
	var doc []byte
	if err := h.pool.QueryRow(ctx, treeSchemaSQL, q.bucketURI, q.cid).Scan(&doc); err != nil {
		return nil, err
	}
	c = compiledSchema{lm: lm}
	if len(doc) > 0 && string(doc) != "null" {
		comp := jsonschema.NewCompiler()
		const url = "bench:///collection-schema.json"
		if err := comp.AddResource(url, bytes.NewReader(doc)); err != nil {
			return nil, err
		}
		s, err := comp.Compile(url)
		if err != nil {
			return nil, err
		}
		c.s = s
	}
	h.mu.Lock()
	h.schemas[q.collURI] = c
	h.mu.Unlock()
	return c.s, nil
}

func (h *bareTree) create(w http.ResponseWriter, r *http.Request) {
	q, ok := h.req(w, r)
	if !ok {
		return
	}
	data, ok := readData(r)
	if !ok {
		httpError(w, http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var collLM int64
	var allowed bool
	err := h.pool.QueryRow(ctx, treeCreateCheckSQL, q.bid, q.cid, q.bucketURI, q.collURI, q.bucketURI,
		q.principals, q.users).Scan(&collLM, &allowed)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		httpError(w, http.StatusNotFound)
		return
	case err != nil:
		httpError(w, http.StatusServiceUnavailable)
		return
	case !allowed:
		httpError(w, http.StatusForbidden)
		return
	}
	s, err := h.schema(ctx, q, collLM)
	if err != nil {
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	if s != nil {
		var v any
		if json.Unmarshal(data, &v) != nil || s.Validate(v) != nil {
			httpError(w, http.StatusBadRequest)
			return
		}
	}
	// The author's ACE and the clock-and-insert of the record, sent together: one round trip,
	// and one implicit transaction (a batch outside a transaction ends with a single Sync).
	id := uuid.NewString()
	b := &pgx.Batch{}
	b.Queue(aceInsertSQL, q.collURI+"/records/"+id, "write", q.uid)
	b.Queue(clockCreateSQL, "record", q.collURI, id, string(data))
	br := h.pool.SendBatch(ctx, b)
	var lm int64
	_, err = br.Exec()
	if err == nil {
		err = br.QueryRow().Scan(&lm)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if errors.Is(err, pgx.ErrNoRows) {
		// No clock row yet for the collection's records: create it, then the record.
		lm, _, err = clockCreate(ctx, h.pool, "record", q.collURI, id, string(data))
	}
	if err != nil {
		httpError(w, http.StatusServiceUnavailable)
		return
	}
	writeShared(w, http.StatusCreated, lm, render(id, lm, data), []string{q.uid})
}

// writeShared writes one object with its permissions ({"write": writers}, or {} when the
// caller may not see them).
func writeShared(w http.ResponseWriter, status int, lm int64, obj []byte, writers []string) {
	buf := make([]byte, 0, len(obj)+128)
	buf = append(buf, `{"data":`...)
	buf = append(buf, obj...)
	buf = append(buf, `,"permissions":{`...)
	if len(writers) > 0 {
		buf = append(buf, `"write":[`...)
		for i, p := range writers {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = strconv.AppendQuote(buf, p)
		}
		buf = append(buf, ']')
	}
	buf = append(buf, "}}"...)
	w.Header().Set("ETag", `"`+strconv.FormatInt(lm, 10)+`"`)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf) //nolint:errcheck // client gone
}
