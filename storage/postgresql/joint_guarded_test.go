package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// CreateGuarded writes the object and its ACEs only when, at its snapshot, the ancestors
// are at the given versions and the user holds one of the bindings; otherwise it writes
// nothing and answers ErrModified. It declines what it cannot run.
func TestCreateGuarded(t *testing.T) {
	t.Run("through the write pipeline", func(t *testing.T) { testCreateGuarded(t, Options{}) })
	t.Run("without it", func(t *testing.T) { testCreateGuarded(t, Options{WriteWorkers: -1}) })
}

func testCreateGuarded(t *testing.T, opts Options) {
	ctx := context.Background()
	b, p := newJointBackends(t, "storage_pg_test_joint_guarded", opts)
	bucket := storage.Scope{Resource: "bucket"}
	coll := storage.Scope{Resource: "collection", Parent: "/buckets/b"}
	recs := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
	bo := mustCreate(t, b, bucket, "b", `{}`)
	co := mustCreate(t, b, coll, "c", `{"schema":{}}`)
	mustCreate(t, b, recs, "first", `{}`) // the collection's clock row
	keys := []storage.Key{{Scope: bucket, ID: "b"}, {Scope: coll, ID: "c"}}
	versions := []int64{bo.LastModified, co.LastModified}
	const alice = "basicauth:alice"
	if err := p.AddPrincipalToACE(ctx, "/buckets/b/collections/c", "record:create", "/buckets/b/groups/writers"); err != nil {
		t.Fatal(err)
	}
	if err := p.AddPrincipalToACE(ctx, "/buckets/b", "write", "basicauth:bob"); err != nil {
		t.Fatal(err)
	}
	if err := p.AddUserPrincipal(ctx, alice, "/buckets/b/groups/writers"); err != nil {
		t.Fatal(err)
	}
	bindings := []permission.Binding{{ObjectID: "/buckets/b/collections/c", Permission: "record:create"},
		{ObjectID: "/buckets/b/collections/c", Permission: "write"}, {ObjectID: "/buckets/b", Permission: "write"}}
	holder := func(user string) permission.HoldQuery {
		return permission.HoldQuery{UserID: user, Principals: []string{permission.Everyone, permission.Authenticated, user}, Bindings: bindings}
	}
	n := 0
	create := func(versions []int64, hold permission.HoldQuery) (storage.Object, bool, error) {
		n++
		id := "r" + string(rune('a'+n))
		aces := permission.Set{"write": {hold.UserID}}
		o, err := b.CreateGuarded(ctx, recs, storage.Object{ID: id, Data: json.RawMessage(`{"b":1,"a":2}`)}, p, recs.Parent+"/records/"+id, aces, keys, versions, hold)
		ok, err := answered(err)
		return o, ok, err
	}
	written := func(t *testing.T, id string, want bool) {
		t.Helper()
		_, err := b.Get(ctx, recs, id)
		acl, perr := p.ObjectPermissions(ctx, recs.Parent+"/records/"+id)
		if perr != nil {
			t.Fatal(perr)
		}
		if got := err == nil; got != want || (len(acl) > 0) != want {
			t.Errorf("%s: object written %v (%v), ACL %v; want written %v", id, got, err, acl, want)
		}
	}

	for _, tc := range []struct {
		name     string
		versions []int64
		hold     permission.HoldQuery
		want     error
	}{
		{"a member of a group that may create", versions, holder(alice), nil},
		{"a writer of the bucket", versions, holder("basicauth:bob"), nil},
		{"no permission check (granted by the settings)", versions, permission.HoldQuery{UserID: "basicauth:carol"}, nil},
		{"a user without the permission", versions, holder("basicauth:carol"), storage.ErrModified},
		{"a changed collection", []int64{bo.LastModified, co.LastModified + 1}, holder(alice), storage.ErrModified},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, ok, err := create(tc.versions, tc.hold)
			id := "r" + string(rune('a'+n))
			if !ok || !errors.Is(err, tc.want) || err == nil && (o.ID != id || o.LastModified == 0 || string(o.Data) != `{"b":1,"a":2}`) {
				t.Fatalf("CreateGuarded = %+v, ok %v, %v; want %v", o, ok, err, tc.want)
			}
			written(t, id, tc.want == nil)
		})
	}
	t.Run("a deleted collection", func(t *testing.T) {
		if _, err := b.Delete(ctx, coll, "c", 0, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		_, ok, err := create(versions, holder(alice))
		if !ok || !errors.Is(err, storage.ErrModified) {
			t.Fatalf("ok %v, %v; want ErrModified", ok, err)
		}
		written(t, "r"+string(rune('a'+n)), false)
	})
	t.Run("declined", func(t *testing.T) {
		fresh := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/fresh"}
		o, err := b.CreateGuarded(ctx, fresh, storage.Object{ID: "x", Data: json.RawMessage(`{}`)}, p, fresh.Parent+"/records/x", permission.Set{}, keys[:1], versions[:1], permission.HoldQuery{})
		if ok, err := answered(err); ok || err != nil {
			t.Errorf("the first object of a collection: %+v, ok %v, %v; want declined", o, ok, err)
		}
		if _, err := b.Get(ctx, fresh, "x"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("declined, yet written: %v", err)
		}
		_, err = b.CreateGuarded(ctx, recs, storage.Object{ID: "y", LastModified: 5}, p, "u", nil, nil, nil, permission.HoldQuery{})
		if ok, err := answered(err); ok || err != nil {
			t.Errorf("a forced timestamp: ok %v, %v; want declined", ok, err)
		}
	})
}
