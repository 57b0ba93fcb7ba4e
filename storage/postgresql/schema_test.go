package postgresql

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

// migrationBackend opens a backend on a database of its own, with no tables.
func migrationBackend(t *testing.T) *Backend {
	t.Helper()
	b, err := New(context.Background(), Options{URL: testDatabase(t, "storage_pg_test_migrate")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if _, err := b.pool.Exec(context.Background(), `DROP TABLE IF EXISTS objects, timestamps, metadata`); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *Backend) tableState(t *testing.T) string {
	t.Helper()
	var objects, tombIdx bool
	err := b.pool.QueryRow(context.Background(), `SELECT to_regclass('objects') IS NOT NULL,
		to_regclass('objects_tombstones_idx') IS NOT NULL`).Scan(&objects, &tombIdx)
	if err != nil {
		t.Fatal(err)
	}
	v, err := b.CurrentSchemaVersion(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("version=%d objects=%t tombstones_idx=%t", v, objects, tombIdx)
}

func TestMigrationsCreateAFreshSchema(t *testing.T) {
	b := migrationBackend(t)
	ctx := context.Background()
	if got := b.tableState(t); got != "version=0 objects=false tombstones_idx=false" {
		t.Fatalf("before: %s", got)
	}
	if err := b.InitializeSchema(ctx, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	if got := b.tableState(t); got != "version=0 objects=false tombstones_idx=false" {
		t.Fatalf("the dry run changed the database: %s", got)
	}
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("version=%d objects=true tombstones_idx=true", SchemaVersion())
	if got := b.tableState(t); got != want {
		t.Fatalf("after: %s, want %s", got, want)
	}
	applied, err := b.migrate(ctx, false, 0)
	if err != nil || len(applied) != 0 {
		t.Fatalf("re-run applied %v, %v; want nothing", applied, err)
	}
	if got := b.tableState(t); got != want {
		t.Fatalf("after re-run: %s", got)
	}
}

func TestMigrationsUpgradeAnOlderSchema(t *testing.T) {
	b := migrationBackend(t)
	ctx := context.Background()
	if _, err := b.migrate(ctx, false, 1); err != nil {
		t.Fatal(err)
	}
	if got := b.tableState(t); got != "version=1 objects=true tombstones_idx=false" {
		t.Fatalf("at version 1: %s", got)
	}
	// Data written by the version 1 statements: two collections with clock rows (one with
	// a tombstone), and one whose objects have no clock row (loaded behind the backend's
	// back); the statements of this version cannot run on that schema.
	s := storage.Scope{Resource: "r", Parent: "p"}
	if _, err := b.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data) VALUES
		('r', 'p', 'kept', 1000, FALSE, '{"zz": 1, "a": {"y": 2, "x": 1}}'), ('r', 'p', 'other', 1001, FALSE, '{}'), ('r', 'p', 'gone', 1002, TRUE, NULL),
		('r', 'q', 'x', 2000, FALSE, '{}'),
		('r', 'noclock', 'y', 3000, FALSE, '{}'), ('r', 'noclock', 'z', 3001, TRUE, NULL);
		INSERT INTO timestamps (resource_name, parent_id, last_modified) VALUES ('r', 'p', 1002), ('r', 'q', 2000), ('r', 'empty', 500)`); err != nil {
		t.Fatal(err)
	}

	applied, err := b.migrate(ctx, true, 0)
	if err != nil || fmt.Sprint(applied) != "[2 3 4 5]" {
		t.Fatalf("dry run would apply %v, %v; want [2 3 4 5]", applied, err)
	}
	if got := b.tableState(t); got != "version=1 objects=true tombstones_idx=false" {
		t.Fatalf("the dry run changed the database: %s", got)
	}
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got, want := b.tableState(t), fmt.Sprintf("version=%d objects=true tombstones_idx=true", SchemaVersion()); got != want {
		t.Fatalf("after upgrade: %s, want %s", got, want)
	}
	var opts []string
	if err := b.pool.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = 'timestamps'::regclass`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(opts) != "[fillfactor=50]" {
		t.Errorf("clock table options after upgrade: %v, want [fillfactor=50]", opts)
	}
	// It is read from its jsonb (keys in jsonb's order).
	got, err := b.Get(ctx, s, "kept")
	if err != nil || got.LastModified != 1000 || string(got.Data) != `{"a": {"x": 1, "y": 2}, "zz": 1}` {
		t.Fatalf("object written at version 1: %+v (%s), %v", got, got.Data, err)
	}
	// The backfill counted the live objects of every collection, and created the missing
	// clock row at the newest timestamp; no horizon yet.
	for _, c := range []struct {
		parent      string
		live        int
		ts, horizon int64
	}{{"p", 2, 1002, 0}, {"q", 1, 2000, 0}, {"noclock", 1, 3001, 0}, {"empty", 0, 500, 0}} {
		sc := storage.Scope{Resource: "r", Parent: c.parent}
		n, err := b.Count(ctx, sc, nil)
		if err != nil || n != c.live {
			t.Errorf("%s: Count = %d, %v; want %d", c.parent, n, err, c.live)
		}
		if ts, err := b.Timestamp(ctx, sc); err != nil || ts != c.ts {
			t.Errorf("%s: Timestamp = %d, %v; want %d", c.parent, ts, err, c.ts)
		}
		if h, err := b.Horizon(ctx, sc); err != nil || h != c.horizon {
			t.Errorf("%s: Horizon = %d, %v; want %d", c.parent, h, err, c.horizon)
		}
	}
	// The counters go on from there.
	if _, err := b.Create(ctx, s, storage.Object{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Delete(ctx, s, "other", 0, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Update(ctx, s, storage.Object{ID: "gone", Data: []byte(`{}`)}, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if n, err := b.Count(ctx, s, nil); err != nil || n != 3 {
		t.Errorf("Count after three writes = %d, %v; want 3", n, err)
	}
	// The object written at version 1, rewritten: its keys come back in the writer's order.
	if _, err := b.Update(ctx, s, storage.Object{ID: "kept", Data: json.RawMessage(`{"zz":1,"a":{"y":2,"x":1}}`)}, storage.Condition{}); err != nil {
		t.Fatal(err)
	}
	if got, err = b.Get(ctx, s, "kept"); err != nil || string(got.Data) != `{"zz":1,"a":{"y":2,"x":1}}` {
		t.Fatalf("object rewritten after the upgrade: %s, %v", got.Data, err)
	}
}

func TestMigrationsRefuseANewerSchema(t *testing.T) {
	b := migrationBackend(t)
	ctx := context.Background()
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, `UPDATE metadata SET value = '99' WHERE name = $1`, versionKey); err != nil {
		t.Fatal(err)
	}
	if err := b.InitializeSchema(ctx, false); err == nil {
		t.Fatal("a schema newer than the program was accepted")
	}
}
