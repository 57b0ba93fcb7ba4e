package postgresql

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

// A list statement is planned once per connection, not once per execution. PostgreSQL keeps
// a prepared statement's generic plan only when it costs no more than the plans made for
// each execution's values; with the page size as a parameter (LIMIT $n) it never did, and
// every list paid a full planning.
func TestListStatementsKeepTheirGenericPlan(t *testing.T) {
	// A database of its own, whose statistics see one large collection: the planner then
	// prices a page of an unknown size well above a page of 21 objects.
	b := newTestBackend(t, Options{
		URL:      testDatabase(t, "storage_pg_test_plans"),
		PoolSize: 1, WriteWorkers: -1, // one connection: its statements are the ones listed below
	})
	ctx := context.Background()
	s := storage.Scope{Resource: "plan", Parent: "plan-cache"}
	if _, err := b.Create(ctx, s, storage.Object{Data: json.RawMessage(`{"n":1}`)}); err != nil { // the clock row
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, data)
		SELECT $1, $2, 'o' || i, i, '{"n":1}' FROM generate_series(1, 5000) AS i ON CONFLICT DO NOTHING`, s.Resource, s.Parent); err != nil {
		t.Fatal(err)
	}
	// Small collections beside it and forty middle-sized ones: the generic plan is priced for
	// the average collection, the plans made for the small ones' values below it.
	for i := range 3 {
		small := storage.Scope{Resource: "plan", Parent: "small-" + strconv.Itoa(i)}
		if _, err := b.Create(ctx, small, storage.Object{Data: json.RawMessage(`{"n":1}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, data)
		SELECT 'plan', 'mid-' || (i % 40), 'o' || i, i, '{}' FROM generate_series(1, 10000) AS i ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE objects`); err != nil {
		t.Fatal(err)
	}
	const runs = 12
	byDate := []storage.Sort{{Field: "last_modified", Desc: true}}
	for i := range runs {
		scope := s
		if i%2 == 1 {
			scope.Parent = "small-" + strconv.Itoa(i%3)
		}
		if _, _, err := b.ListWithTimestamp(ctx, scope, storage.ListOptions{Limit: 21, Sort: byDate}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.List(ctx, scope, storage.ListOptions{Limit: 21, Sort: byDate}); err != nil {
			t.Fatal(err)
		}
	}
	rows, err := b.pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%FROM objects WHERE resource_name = %parent_id = %LIMIT%'
		AND statement NOT LIKE '%pg_prepared_statements%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var stmt string
		var generic, custom int64
		if err := rows.Scan(&stmt, &generic, &custom); err != nil {
			t.Fatal(err)
		}
		seen++
		if custom > 5 || generic < runs-5 {
			t.Errorf("%d generic and %d custom plans for %d executions of\n%s", generic, custom, runs, strings.TrimSpace(stmt))
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if seen != 2 {
		t.Errorf("found %d list statements prepared on the connection, want 2", seen)
	}
}

// GetMany's statement is planned once per connection and number of keys too: with the keys
// as arrays, whose length a generic plan cannot know, PostgreSQL planned it on every
// execution (see getManyValuesSQL).
func TestGetManyStatementKeepsItsGenericPlan(t *testing.T) {
	b := newTestBackend(t, Options{
		URL:      testDatabase(t, "storage_pg_test_plans"),
		PoolSize: 1, WriteWorkers: -1, // one connection: its statements are the ones listed below
	})
	ctx := context.Background()
	var keys []storage.Key
	for _, s := range []storage.Scope{{Resource: "bucket", Parent: ""}, {Resource: "collection", Parent: "/buckets/b"}, {Resource: "record", Parent: "/buckets/b/collections/c"}} {
		if _, err := b.Update(ctx, s, storage.Object{ID: "plan", Data: json.RawMessage(`{}`)}, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, storage.Key{Scope: s, ID: "plan"})
	}
	// A large collection beside them: index probes then cost more than in a table of a few
	// pages, and the array form's generic plan, priced for ten keys, more than its custom ones.
	if _, err := b.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, data)
		SELECT 'record', '/buckets/b/collections/big', 'o' || i, i, '{"n":1}' FROM generate_series(1, 5000) AS i
		ON CONFLICT DO NOTHING`); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `ANALYZE objects`); err != nil {
		t.Fatal(err)
	}
	const runs = 12
	for range runs {
		got, err := b.GetMany(ctx, keys)
		if err != nil {
			t.Fatal(err)
		}
		for i, o := range got {
			if o.ID != "plan" {
				t.Fatalf("result[%d] = %+v", i, o)
			}
		}
	}
	var (
		stmt            string
		generic, custom int64
	)
	err := b.pool.QueryRow(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%JOIN objects%' AND statement NOT LIKE '%pg_prepared_statements%'`).Scan(&stmt, &generic, &custom)
	if err != nil {
		t.Fatalf("GetMany's prepared statement: %v", err)
	}
	if custom > 5 || generic < runs-5 {
		t.Errorf("%d generic and %d custom plans for %d executions of\n%s", generic, custom, runs, strings.TrimSpace(stmt))
	}
}
