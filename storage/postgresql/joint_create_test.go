package postgresql

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/storage"
)

// TestCreateWithACEs: the object and its ACEs are written by one statement, both or
// neither, in every path of a creation (an existing collection, a new one, a forced
// timestamp, a taken id, inside a unit of work that rolls back); other permission backends
// are declined.
func TestCreateWithACEs(t *testing.T) {
	t.Run("through the write pipeline", func(t *testing.T) { testCreateWithACEs(t, Options{}) })
	t.Run("without it", func(t *testing.T) { testCreateWithACEs(t, Options{WriteWorkers: -1}) })
}

func testCreateWithACEs(t *testing.T, opts Options) {
	ctx := context.Background()
	b, p := newJointBackends(t, "storage_pg_test_joint_create", opts)
	scope := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
	uri := func(id string) string { return scope.Parent + "/records/" + id }
	aces := permission.Set{"write": {"basicauth:alice", "basicauth:alice"}, "read": {"system.Everyone"}}
	check := func(t *testing.T, id string, want permission.Set) {
		t.Helper()
		got, err := p.ObjectPermissions(ctx, uri(id))
		if err != nil {
			t.Fatal(err)
		}
		for k := range want {
			slices.Sort(want[k])
			want[k] = slices.Compact(want[k])
		}
		if len(got) != len(want) || !slices.Equal(got["write"], want["write"]) || !slices.Equal(got["read"], want["read"]) {
			t.Errorf("ACL of %s = %v, want %v", id, got, want)
		}
	}
	create := func(t *testing.T, ctx context.Context, id string, forced int64, perms permission.Backend) (storage.Object, bool, error) {
		o, err := b.CreateWithACEs(ctx, scope, storage.Object{ID: id, LastModified: forced, Data: []byte(`{"n": 1}`)}, perms, uri(id), aces)
		ok, err := answered(err)
		return o, ok, err
	}

	t.Run("a new collection, then an existing one, then a forced timestamp", func(t *testing.T) {
		for i, forced := range []int64{0, 0, 1000} {
			id := []string{"r1", "r2", "r3"}[i]
			o, ok, err := create(t, ctx, id, forced, p)
			if err != nil || !ok || o.ID != id || string(o.Data) != `{"n":1}` {
				t.Fatalf("create %s: %+v %v %v", id, o, ok, err)
			}
			got, err := b.Get(ctx, scope, id)
			if err != nil || got.LastModified != o.LastModified {
				t.Fatalf("stored %s: %+v %v", id, got, err)
			}
			check(t, id, permission.Set{"write": {"basicauth:alice"}, "read": {"system.Everyone"}})
		}
	})
	t.Run("a taken id writes neither, and says so", func(t *testing.T) {
		if err := p.DeleteObjectPermissions(ctx, uri("r1")); err != nil {
			t.Fatal(err)
		}
		_, ok, err := create(t, ctx, "r1", 0, decorated{p})
		var ue *storage.UnicityError
		if !ok || !errors.As(err, &ue) || ue.Existing.ID != "r1" {
			t.Fatalf("create of a taken id: %v %v", ok, err)
		}
		check(t, "r1", permission.Set{})
	})
	t.Run("in a unit of work that rolls back, neither stays", func(t *testing.T) {
		uctx, tx, _ := b.Begin(ctx)
		if _, ok, err := create(t, uctx, "r4", 0, p); err != nil || !ok {
			t.Fatalf("create in the unit: %v %v", ok, err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Get(ctx, scope, "r4"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("r4 after the rollback: %v", err)
		}
		check(t, "r4", permission.Set{})
	})
	t.Run("another permission backend, or unstorable ACEs, are declined", func(t *testing.T) {
		if _, ok, err := create(t, ctx, "r5", 0, memory.New()); ok || err != nil {
			t.Errorf("memory permission backend: %v %v", ok, err)
		}
		_, err := b.CreateWithACEs(ctx, scope, storage.Object{ID: "r6"}, p, uri("r6"), permission.Set{"read": {"a\x00b"}})
		if ok, err := answered(err); ok || err != nil {
			t.Errorf("a NUL principal: %v %v", ok, err)
		}
		for _, id := range []string{"r5", "r6"} {
			if _, err := b.Get(ctx, scope, id); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("%s was written: %v", id, err)
			}
		}
	})
}
