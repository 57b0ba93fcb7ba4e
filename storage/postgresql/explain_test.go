package postgresql

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/storage"
)

// sqlCapture is a pgx tracer that records the SELECTs over objects that the backend sends.
type sqlCapture struct {
	mu    sync.Mutex
	stmts []capturedSQL
}

type capturedSQL struct {
	sql  string
	args []any
}

func (c *sqlCapture) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	s := strings.TrimSpace(d.SQL)
	if (strings.HasPrefix(s, "SELECT") || strings.HasPrefix(s, "WITH")) && (strings.Contains(s, "FROM objects") || strings.Contains(s, "JOIN objects")) {
		c.mu.Lock()
		c.stmts = append(c.stmts, capturedSQL{sql: d.SQL, args: d.Args})
		c.mu.Unlock()
	}
	return ctx
}

func (c *sqlCapture) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (c *sqlCapture) take() []capturedSQL {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.stmts
	c.stmts = nil
	return out
}

// planNode is the part of EXPLAIN (FORMAT JSON)'s plan tree the test reads.
type planNode struct {
	NodeType     string     `json:"Node Type"`
	RelationName string     `json:"Relation Name"`
	IndexName    string     `json:"Index Name"`
	Plans        []planNode `json:"Plans"`
}

func (n planNode) walk(f func(planNode)) {
	f(n)
	for _, c := range n.Plans {
		c.walk(f)
	}
}

// TestListsUseTheCollectionIndex guards the indexes in CI: on a collection of 3,000 objects
// among 30,000 (after ANALYZE), the SQL that List sends for the first page, a keyset page
// and a _since poll is planned as an index scan of
// objects_resource_parent_last_modified_idx, with no sequential scan of objects and no sort.
// The SQL is captured from the backend's connections, so the test follows the query builder.
// GetMany's statement is planned as primary-key probes.
func TestListsUseTheCollectionIndex(t *testing.T) {
	b := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_explain")})
	ctx := context.Background()
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// 10 collections of 3,000 objects: last_modified 1..3000 in each, every 10th a tombstone.
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data)
		SELECT 'record', '/buckets/b/collections/c' || c, 'obj-' || i, i, i % 10 = 0,
		       CASE WHEN i % 10 = 0 THEN NULL ELSE jsonb_build_object('n', i, 'title', 'object ' || i) END
		FROM generate_series(1, 10) AS c, generate_series(1, 3000) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO timestamps (resource_name, parent_id, last_modified, live)
		SELECT 'record', '/buckets/b/collections/c' || c, 3000, 2700 FROM generate_series(1, 10) AS c`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE objects`); err != nil {
		t.Fatal(err)
	}

	capture := &sqlCapture{}
	cfg := b.pool.Config()
	cfg.ConnConfig.Tracer = capture
	traced, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(traced.Close)
	traced.Reset()
	plain := b.pool
	b.pool = traced
	t.Cleanup(func() { b.pool = plain })

	s := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c3"}
	newest := []storage.Sort{{Field: "last_modified", Desc: true}}
	tests := []struct {
		name string
		opt  storage.ListOptions
		want int // objects the list returns
	}{
		{"the first page, newest first", storage.ListOptions{Sort: newest, Limit: 26}, 26},
		{"a keyset page after last_modified 1500", storage.ListOptions{Sort: newest, Limit: 26,
			Pagination: [][]storage.Filter{{{Field: "last_modified", Op: storage.LT, Value: int64(1500)}}}}, 26},
		{"a _since poll with tombstones", storage.ListOptions{Sort: newest, Limit: 26, IncludeDeleted: true,
			Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: int64(2950)}}}, 26},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			capture.take()
			got, err := b.List(ctx, s, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.want {
				t.Fatalf("List returned %d objects, want %d", len(got), tt.want)
			}
			stmts := capture.take()
			if len(stmts) == 0 {
				t.Fatal("no SELECT over objects captured")
			}
			for _, st := range stmts {
				plan, raw := explain(t, plain, st)
				indexed := false
				plan.walk(func(n planNode) {
					switch {
					case (n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan") &&
						n.IndexName == "objects_resource_parent_last_modified_idx":
						indexed = true
					case n.NodeType == "Seq Scan" && n.RelationName == "objects":
						t.Errorf("sequential scan of objects")
					case n.NodeType == "Sort" || n.NodeType == "Incremental Sort":
						t.Errorf("%s node: the index order is not used", n.NodeType)
					}
				})
				if !indexed {
					t.Errorf("no index scan of objects_resource_parent_last_modified_idx")
				}
				if t.Failed() {
					t.Logf("SQL: %s\nargs: %v\nplan: %s", st.sql, st.args, raw)
				}
			}
		})
	}
	// GetMany reads by primary key: one index probe per key, whatever the collections.
	t.Run("GetMany of three keys in three collections", func(t *testing.T) {
		capture.take()
		keys := []storage.Key{
			{Scope: storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c1"}, ID: "obj-1"},
			{Scope: storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c2"}, ID: "obj-10"}, // a tombstone
			{Scope: s, ID: "obj-2999"},
		}
		got, err := b.GetMany(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].ID != "obj-1" || got[1].ID != "" || got[2].ID != "obj-2999" {
			t.Fatalf("GetMany returned ids %q, %q, %q", got[0].ID, got[1].ID, got[2].ID)
		}
		stmts := capture.take()
		if len(stmts) != 1 {
			t.Fatalf("%d SELECTs over objects captured, want 1", len(stmts))
		}
		plan, raw := explain(t, plain, stmts[0])
		indexed := false
		plan.walk(func(n planNode) {
			switch {
			case (n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan") && n.IndexName == "objects_pkey":
				indexed = true
			case n.NodeType == "Seq Scan" && n.RelationName == "objects":
				t.Errorf("sequential scan of objects")
			}
		})
		if !indexed {
			t.Errorf("no index scan of objects_pkey")
		}
		if t.Failed() {
			t.Logf("SQL: %s\nplan: %s", stmts[0].sql, raw)
		}
	})
}

// explain returns the plan PostgreSQL makes for a captured statement with its arguments, and
// the EXPLAIN output.
func explain(t *testing.T, pool *pgxpool.Pool, st capturedSQL) (planNode, []byte) {
	t.Helper()
	var raw []byte
	if err := pool.QueryRow(context.Background(), "EXPLAIN (FORMAT JSON) "+st.sql, st.args...).Scan(&raw); err != nil {
		t.Fatalf("EXPLAIN %s: %v", st.sql, err)
	}
	var plans []struct {
		Plan planNode `json:"Plan"`
	}
	if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN output %s: %v", raw, err)
	}
	return plans[0].Plan, raw
}
