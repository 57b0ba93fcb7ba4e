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
	s := storage.Scope{Resource: "r", Parent: "p"}
	// An object written at version 1, as that version's statements wrote it (no raw column).
	if _, err := b.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data)
		VALUES ($1, $2, 'kept', 42, FALSE, '{"zz": 1, "a": {"y": 2, "x": 1}}')`, s.Resource, s.Parent); err != nil {
		t.Fatal(err)
	}
	kept := storage.Object{ID: "kept", LastModified: 42}

	applied, err := b.migrate(ctx, true, 0)
	if err != nil || fmt.Sprint(applied) != "[2 3 4]" {
		t.Fatalf("dry run would apply %v, %v; want [2 3 4]", applied, err)
	}
	if got := b.tableState(t); got != "version=1 objects=true tombstones_idx=false" {
		t.Fatalf("the dry run changed the database: %s", got)
	}
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if got := b.tableState(t); got != "version=4 objects=true tombstones_idx=true" {
		t.Fatalf("after upgrade: %s", got)
	}
	var opts []string
	if err := b.pool.QueryRow(ctx, `SELECT coalesce(reloptions, '{}') FROM pg_class WHERE oid = 'timestamps'::regclass`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(opts) != "[fillfactor=50]" {
		t.Errorf("clock table options after upgrade: %v, want [fillfactor=50]", opts)
	}
	// It is read from its jsonb (keys in jsonb's order); rewritten, in the writer's order.
	got, err := b.Get(ctx, s, "kept")
	if err != nil || got.LastModified != kept.LastModified || string(got.Data) != `{"a": {"x": 1, "y": 2}, "zz": 1}` {
		t.Fatalf("object written at version 1: %+v (%s), %v", got, got.Data, err)
	}
	if _, err := b.Update(ctx, s, storage.Object{ID: "kept", Data: json.RawMessage(`{"zz":1,"a":{"y":2,"x":1}}`)}); err != nil {
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
