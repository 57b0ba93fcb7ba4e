package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
)

// The tree scenarios: Kinto's shape built with the toolkit (shareable buckets, collections
// under buckets, records under collections, the records validated against their collection's
// "schema" field), on PostgreSQL storage and permissions in one database. Each scenario is
// measured on three targets in the same run: the tree app, the flat bookmark app (the
// standard scenario of the same name) and a bare handler doing the tree's SQL by hand
// (baretree.go).

// The tree's fixed objects and users. The owner creates the bucket and the collection (and
// is the author of the seeded records); the reader holds read on the bucket; the writer
// holds write on the collection.
const (
	treeBucket = "b1"
	treeColl   = "c1"
	treeOwner  = "owner"
	treeWriter = "treewriter"
)

const (
	treeBucketURI = "/buckets/" + treeBucket
	treeCollURI   = treeBucketURI + "/collections/" + treeColl
	treeRecords   = "/v1" + treeCollURI + "/records" // the records' plural URL
)

// treeRecordURI is the object URI (permission object id) of a record of c1.
func treeRecordURI(id string) string { return treeCollURI + "/records/" + id }

// treeSchema is the JSON Schema of c1's records: every seeded record (recordData) and
// every created one satisfies it.
const treeSchema = `{"type":"object","properties":{"title":{"type":"string"},"score":{"type":"number"}},"required":["title"]}`

// The targets of the tree scenarios.
const (
	targetTree     = "tree"      // the toolkit tree app
	targetFlat     = "flat"      // the toolkit flat bookmark app
	targetBareTree = "bare-tree" // the bare handler of the tree's SQL
)

var treeTargets = []string{targetBareTree, targetTree, targetFlat}

// migratePermissions opens the permission backend by name from settings, as the app does,
// and runs its InitializeSchema (its tables live beside the storage tables).
func migratePermissions(ctx context.Context, dsn string) error {
	s, err := config.FromMap(map[string]string{"permission_backend": "postgresql", "permission_url": dsn}, config.Options{Env: []string{}})
	if err != nil {
		return err
	}
	b, err := permission.Open(ctx, "postgresql", s)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.InitializeSchema(ctx, false)
}

// resetTree removes bucket b1 and everything below it: objects, tombstones, clocks and ACEs.
func resetTree(ctx context.Context, pool *pgxpool.Pool) error {
	below := treeBucketURI + "/%"
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM objects WHERE (resource_name = 'bucket' AND parent_id = '' AND id = $1) OR parent_id = $2 OR parent_id LIKE $3`,
			[]any{treeBucket, treeBucketURI, below}},
		{`DELETE FROM timestamps WHERE parent_id = $1 OR parent_id LIKE $2`, []any{treeBucketURI, below}},
		{`DELETE FROM access_control_entries WHERE object_id = $1 OR object_id LIKE $2`, []any{treeBucketURI, below}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			return fmt.Errorf("reset tree: %w", err)
		}
	}
	return nil
}

// setupTree builds the tree through the tree app's API (bucket b1 with read for the reader,
// collection c1 with its schema and write for the writer), then loads n records into c1
// directly, as the API stores them: one row of objects each, with its ACE giving write to
// its author (the owner), and the collection's clock.
func setupTree(ctx context.Context, pool *pgxpool.Pool, c *client, n int) error {
	if err := resetTree(ctx, pool); err != nil {
		return err
	}
	bucket, _ := json.Marshal(map[string]any{"permissions": map[string][]string{"read": {parentID(readerUser)}}})
	if _, _, err := newCall(c, http.MethodPut, "/v1"+treeBucketURI, treeOwner, bucket).do(http.StatusCreated, false); err != nil {
		return fmt.Errorf("create bucket: %w", err)
	}
	coll, _ := json.Marshal(map[string]any{
		"data":        map[string]any{"schema": json.RawMessage(treeSchema)},
		"permissions": map[string][]string{"write": {parentID(treeWriter)}},
	})
	if _, _, err := newCall(c, http.MethodPut, "/v1"+treeCollURI, treeOwner, coll).do(http.StatusCreated, false); err != nil {
		return fmt.Errorf("create collection: %w", err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	base := dbNow(ctx, conn) - int64(n) - 60_000
	i := 0
	if _, err := conn.Conn().CopyFrom(ctx, pgx.Identifier{"objects"},
		[]string{"resource_name", "parent_id", "id", "last_modified", "deleted", "data"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			row := []any{"record", treeCollURI, seedID(i), base + int64(i), false, string(recordData(i))}
			i++
			return row, nil
		})); err != nil {
		return fmt.Errorf("COPY records: %w", err)
	}
	owner := parentID(treeOwner)
	i = 0
	if _, err := conn.Conn().CopyFrom(ctx, pgx.Identifier{"access_control_entries"},
		[]string{"object_id", "permission", "principal"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			row := []any{treeRecordURI(seedID(i)), "write", owner}
			i++
			return row, nil
		})); err != nil {
		return fmt.Errorf("COPY ACEs: %w", err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified, live) VALUES ('record', $1, $2, $3)
		ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = EXCLUDED.last_modified, live = EXCLUDED.live`,
		treeCollURI, base+int64(n)-1, n); err != nil {
		return err
	}
	// VACUUM, not only ANALYZE: resetTree deleted the previous run's records, whose dead
	// index entries at the newest end of the collection's index a first page would
	// otherwise walk through (7 ms instead of 0.1 ms after a 100,000-record run).
	for _, q := range []string{`VACUUM ANALYZE objects`, `VACUUM ANALYZE access_control_entries`, `VACUUM ANALYZE timestamps`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// dbNow is the database's clock in milliseconds (0 on error: the load still works).
func dbNow(ctx context.Context, conn *pgxpool.Conn) int64 {
	var now int64
	_ = conn.QueryRow(ctx, `SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`).Scan(&now)
	return now
}

// treeScenario is one scenario of the tree family: the steps against a tree server (the
// toolkit's or the bare handler's: same URLs), checked once by a setup request, and the
// standard scenario the flat app runs beside it.
type treeScenario struct {
	name    string // the -scenarios name (and the flat scenario's)
	title   string
	workers int // 0: -clients
	steps   func(c *client, workers, records int) ([]step, error)
	target  float64 // tree / flat req/s must reach this
}

// treeScenarios lists the family for the writer counts of -tree-writers.
func treeScenarios(writers []int) []treeScenario {
	out := []treeScenario{
		{name: "get", title: "GET one record", steps: treeGetSteps, target: 0.7},
		{name: "list", title: "list, first page of 20", steps: treeListSteps, target: 0.7},
	}
	for _, w := range writers {
		out = append(out, treeScenario{name: "create", title: fmt.Sprintf("POST create, %d writers", w), workers: w, steps: treeCreateSteps, target: 0.5})
	}
	return out
}

type treeRecord struct {
	ID           string  `json:"id"`
	LastModified int64   `json:"last_modified"`
	Title        string  `json:"title"`
	Score        float64 `json:"score"`
}

func treeGetSteps(c *client, workers, records int) ([]step, error) {
	// The setup request: the record comes back whole.
	_, b, err := newCall(c, http.MethodGet, treeRecords+"/"+seedID(3), readerUser, nil).do(http.StatusOK, true)
	if err != nil {
		return nil, err
	}
	var one struct {
		Data treeRecord `json:"data"`
	}
	if err := json.Unmarshal(b, &one); err != nil {
		return nil, fmt.Errorf("GET record: %w: %s", err, b)
	}
	if one.Data.ID != seedID(3) || one.Data.Title != "Bookmark 3" || one.Data.LastModified <= 0 {
		return nil, fmt.Errorf("GET record %s returned %s", seedID(3), b)
	}
	steps := make([]step, workers)
	for w := range workers {
		calls := make([]*call, 8)
		for i := range calls {
			calls[i] = newCall(c, http.MethodGet, treeRecords+"/"+seedID((w*131+i*17)%records), readerUser, nil)
		}
		n := 0
		steps[w] = func(context.Context) error {
			n++
			_, _, err := calls[n%len(calls)].do(http.StatusOK, false)
			return err
		}
	}
	return steps, nil
}

func treeListSteps(c *client, workers, records int) ([]step, error) {
	_, b, err := newCall(c, http.MethodGet, treeRecords+"?_limit=20", readerUser, nil).do(http.StatusOK, true)
	if err != nil {
		return nil, err
	}
	var page struct {
		Data []treeRecord `json:"data"`
	}
	if err := json.Unmarshal(b, &page); err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	if len(page.Data) != 20 {
		return nil, fmt.Errorf("list: %d records, want 20", len(page.Data))
	}
	for i, r := range page.Data {
		if r.Title == "" || i > 0 && r.LastModified >= page.Data[i-1].LastModified {
			return nil, fmt.Errorf("list: record %d (%+v) untitled or out of order", i, r)
		}
	}
	return getSteps(c, workers, func(int) *call {
		return newCall(c, http.MethodGet, treeRecords+"?_limit=20", readerUser, nil)
	}, http.StatusOK), nil
}

func treeCreateSteps(c *client, workers, records int) ([]step, error) {
	// The setup requests: a valid record is created, its author gets write on it; a record
	// without the title the schema requires is refused.
	_, b, err := newCall(c, http.MethodPost, treeRecords, treeWriter, envelope(recordData(7))).do(http.StatusCreated, true)
	if err != nil {
		return nil, err
	}
	var created struct {
		Data        treeRecord          `json:"data"`
		Permissions map[string][]string `json:"permissions"`
	}
	if err := json.Unmarshal(b, &created); err != nil {
		return nil, fmt.Errorf("create: %w: %s", err, b)
	}
	if created.Data.ID == "" || created.Data.Title != "Bookmark 7" || !slices.Contains(created.Permissions["write"], parentID(treeWriter)) {
		return nil, fmt.Errorf("create returned %s", b)
	}
	if _, _, err := newCall(c, http.MethodPost, treeRecords, treeWriter, []byte(`{"data":{"score":1}}`)).do(http.StatusBadRequest, false); err != nil {
		return nil, fmt.Errorf("a record invalid against the collection's schema: %w", err)
	}
	return getSteps(c, workers, func(w int) *call {
		return newCall(c, http.MethodPost, treeRecords, treeWriter, envelope(recordData(w)))
	}, http.StatusCreated), nil
}

// treeLine is one scenario of the tree family: its three targets, measured in the same run.
type treeLine struct {
	Scenario     string  `json:"scenario"`
	Clients      int     `json:"clients"`
	Tree         result  `json:"tree"`
	Flat         result  `json:"flat"`
	BareTree     result  `json:"bare_tree"`
	TreeOverFlat float64 `json:"tree_over_flat"`
	TreeOverBare float64 `json:"tree_over_bare_tree"`
	Target       float64 `json:"target_tree_over_flat"` // the target of TreeOverFlat
	Met          bool    `json:"met"`                   // TreeOverFlat ≥ Target with 0 errors on the tree
}

func ratio(a, b float64) float64 {
	if b <= 0 {
		return 0
	}
	return a / b
}

// runTree runs the tree family on PostgreSQL: the tree app, the flat app and the bare tree
// handler, each in its own server, driven alternately (the order rotates every round).
func runTree(ctx context.Context, o options, rep *report, log io.Writer) error {
	if o.dsn == "" {
		return errors.New(`no PostgreSQL DSN: run eval "$(bash scripts/services.sh)" or pass -dsn`)
	}
	if err := migrate(ctx, o.dsn); err != nil {
		return fmt.Errorf("migrate storage: %w", err)
	}
	if err := migratePermissions(ctx, o.dsn); err != nil {
		return fmt.Errorf("migrate permissions: %w", err)
	}
	pool, err := openPool(ctx, o.dsn, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, _, err := loadCollection(ctx, pool, parentID(readerUser), o.records, false); err != nil {
		return err
	}
	if err := dropCollections(ctx, pool, []string{parentID("writer")}); err != nil {
		return err
	}
	servers := map[string]*server{}
	clients := map[string]*client{}
	for _, t := range treeTargets {
		cfg := serverConfig{Target: targetToolkit, App: appTree, Backend: "postgresql", DSN: o.dsn, PoolSize: o.pool, WriteWorkers: o.writeWorkers}
		switch t {
		case targetBareTree:
			cfg.Target = targetBare
		case targetFlat:
			cfg.App = appFlat
		}
		s, err := startServer(ctx, cfg, o.inProcess)
		if err != nil {
			return fmt.Errorf("start %s: %w", t, err)
		}
		defer s.stop()
		servers[t] = s
		clients[t] = newClient(ctx, s.base, clientTimeout)
		defer clients[t].close()
	}
	if err := setupTree(ctx, pool, clients[targetTree], o.records); err != nil {
		return fmt.Errorf("tree setup: %w", err)
	}
	for _, sc := range treeScenarios(o.treeWriters) {
		if !contains(o.scenarios, sc.name) {
			continue
		}
		workers := sc.workers
		if workers == 0 {
			workers = o.clients
		}
		steps := map[string][]step{}
		for _, t := range treeTargets {
			var st []step
			var err error
			if t == targetFlat {
				for _, f := range scenarios {
					if f.name == sc.name {
						st, err = f.setup(ctx, servers[t], clients[t], workers, o.records)
					}
				}
			} else {
				st, err = sc.steps(clients[t], workers, o.records)
			}
			if err != nil {
				return fmt.Errorf("tree %s setup on %s: %w", sc.title, t, err)
			}
			steps[t] = st
		}
		acc := map[string]*runStats{}
		for _, t := range treeTargets {
			acc[t] = &runStats{}
		}
		for round := range o.rounds {
			for i := range treeTargets {
				t := treeTargets[(i+round)%len(treeTargets)]
				runLoad(ctx, servers[t], steps[t], o.warmup, 1<<40)
				var prof chan error
				if o.profileDir != "" && round == 0 && !o.inProcess {
					file := fmt.Sprintf("tree-%s-%d-%s.pprof", sc.name, workers, t)
					prof = profile(ctx, servers[t], filepath.Join(o.profileDir, file), o.duration)
				}
				st := runLoad(ctx, servers[t], steps[t], o.duration, 1<<40)
				if prof != nil {
					if err := <-prof; err != nil {
						fmt.Fprintln(log, "profile:", err)
					}
				}
				acc[t].add(st)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
		}
		res := map[string]result{}
		for _, t := range treeTargets {
			r := toResult("postgresql", sc.title, t, *acc[t], o.inProcess)
			res[t] = r
			fmt.Fprintf(log, "tree %-26s %-9s %8.0f req/s p50 %6.2f ms p99 %6.2f ms errors %d; server %.0f µs CPU, PostgreSQL %.0f µs CPU per op %s\n",
				sc.title, t, r.RPS, r.P50ms, r.P99ms, r.Errors, r.ServerCPUus, r.PostgresCPUus, r.FirstError)
		}
		line := treeLine{Scenario: sc.title, Clients: workers, Tree: res[targetTree], Flat: res[targetFlat], BareTree: res[targetBareTree],
			TreeOverFlat: ratio(res[targetTree].RPS, res[targetFlat].RPS), TreeOverBare: ratio(res[targetTree].RPS, res[targetBareTree].RPS),
			Target: sc.target}
		line.Met = line.TreeOverFlat >= sc.target && line.Tree.Errors == 0
		rep.Tree = append(rep.Tree, line)
	}
	return nil
}
