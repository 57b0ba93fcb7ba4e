package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

// scope returns a collection no other test uses.
func scope(t testing.TB) storage.Scope {
	return storage.Scope{Resource: "r", Parent: t.Name() + "/" + uuid.NewString()}
}

func mustCreate(t testing.TB, b *Backend, s storage.Scope, id, data string) storage.Object {
	t.Helper()
	o, err := b.Create(context.Background(), s, storage.Object{ID: id, Data: json.RawMessage(data)})
	if err != nil {
		t.Fatalf("Create %s: %v", id, err)
	}
	return o
}

func ids(objs []storage.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID
	}
	return out
}

func TestWritesKeepTimestampsUniqueAndIncreasing(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	before, err := b.Timestamp(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := b.Timestamp(ctx, s)
	if again != before {
		t.Fatalf("reading the timestamp changed it: %d then %d", before, again)
	}
	a := mustCreate(t, b, s, "a", `{"x":1,"id":"ignored","last_modified":3}`)
	if a.LastModified <= before {
		t.Fatalf("create timestamp %d not above collection timestamp %d", a.LastModified, before)
	}
	if string(a.Data) != `{"x":1}` {
		t.Fatalf("protocol fields kept in data: %s", a.Data)
	}
	u, err := b.Update(ctx, s, storage.Object{ID: "a", Data: json.RawMessage(`{"x":2}`)}, storage.Condition{})
	if err != nil || u.LastModified <= a.LastModified {
		t.Fatalf("Update = %+v, %v; want timestamp above %d", u, err, a.LastModified)
	}
	d, err := b.Delete(ctx, s, "a", 0, storage.Condition{})
	if err != nil || !d.Deleted || d.LastModified <= u.LastModified {
		t.Fatalf("Delete = %+v, %v", d, err)
	}
	ts, _ := b.Timestamp(ctx, s)
	if ts != d.LastModified {
		t.Fatalf("collection timestamp %d, want the tombstone's %d", ts, d.LastModified)
	}
	if _, err := b.Get(ctx, s, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get of a tombstone: %v, want ErrNotFound", err)
	}
	if _, err := b.Delete(ctx, s, "a", 0, storage.Condition{}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("second Delete: %v, want ErrNotFound", err)
	}
	// Re-creating replaces the tombstone.
	c := mustCreate(t, b, s, "a", `{"x":3}`)
	if _, err := b.Create(ctx, s, storage.Object{ID: "a"}); !errors.As(err, new(*storage.UnicityError)) {
		t.Fatalf("duplicate Create: %v, want *UnicityError", err)
	} else {
		var ue *storage.UnicityError
		errors.As(err, &ue)
		if ue.Existing.LastModified != c.LastModified {
			t.Fatalf("UnicityError.Existing = %+v, want %+v", ue.Existing, c)
		}
	}
	all, err := b.List(ctx, s, storage.ListOptions{IncludeDeleted: true})
	if err != nil || len(all) != 1 || all[0].Deleted {
		t.Fatalf("List = %+v, %v; want only the re-created object", all, err)
	}
}

func TestForcedTimestampsStayUnique(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	old, err := b.Create(ctx, s, storage.Object{ID: "old", LastModified: 1000})
	if err != nil || old.LastModified != 1000 {
		t.Fatalf("forced create = %+v, %v; want timestamp 1000 kept", old, err)
	}
	ts, _ := b.Timestamp(ctx, s)
	if ts < 1000 {
		t.Fatalf("collection timestamp %d below the forced 1000", ts)
	}
	// The same forced value again must not collide.
	dup, err := b.Create(ctx, s, storage.Object{ID: "dup", LastModified: 1000})
	if err != nil || dup.LastModified == 1000 {
		t.Fatalf("colliding forced create = %+v, %v; want a fresh timestamp", dup, err)
	}
	future := time.Now().Add(time.Hour).UnixMilli()
	f, err := b.Create(ctx, s, storage.Object{ID: "future", LastModified: future})
	if err != nil || f.LastModified != future {
		t.Fatalf("future create = %+v, %v", f, err)
	}
	if ts, _ := b.Timestamp(ctx, s); ts != future {
		t.Fatalf("collection timestamp %d, want the forced %d", ts, future)
	}
	next := mustCreate(t, b, s, "next", `{}`)
	if next.LastModified != future+1 {
		t.Fatalf("next write %d, want %d", next.LastModified, future+1)
	}
	// Update: a forced value not above the stored one is dropped.
	u, err := b.Update(ctx, s, storage.Object{ID: "next", LastModified: next.LastModified}, storage.Condition{})
	if err != nil || u.LastModified <= next.LastModified {
		t.Fatalf("update with stale forced timestamp = %+v, %v", u, err)
	}
	u2, err := b.Update(ctx, s, storage.Object{ID: "next", LastModified: u.LastModified + 50}, storage.Condition{})
	if err != nil || u2.LastModified != u.LastModified+50 {
		t.Fatalf("update with newer forced timestamp = %+v, %v", u2, err)
	}
	d, err := b.Delete(ctx, s, "next", u2.LastModified+10, storage.Condition{})
	if err != nil || d.LastModified != u2.LastModified+10 {
		t.Fatalf("delete with forced timestamp = %+v, %v", d, err)
	}
}

func TestDeleteAllGivesDistinctTimestampsInSortOrder(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	for i := range 5 {
		mustCreate(t, b, s, fmt.Sprintf("o%d", i), fmt.Sprintf(`{"rank":%d,"keep":%t}`, 5-i, i == 2))
	}
	tomb, err := b.DeleteAll(ctx, s, storage.ListOptions{
		Filters: []storage.Filter{{Field: "keep", Op: storage.EQ, Value: false}},
		Sort:    []storage.Sort{{Field: "rank"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(ids(tomb)); got != "[o4 o3 o1 o0]" {
		t.Fatalf("DeleteAll ids = %s", got)
	}
	for i := 1; i < len(tomb); i++ {
		if tomb[i].LastModified <= tomb[i-1].LastModified || !tomb[i].Deleted {
			t.Fatalf("tombstones %+v not strictly increasing", tomb)
		}
	}
	ts, _ := b.Timestamp(ctx, s)
	if ts != tomb[len(tomb)-1].LastModified {
		t.Fatalf("collection timestamp %d, want last tombstone %d", ts, tomb[len(tomb)-1].LastModified)
	}
	none, err := b.DeleteAll(ctx, s, storage.ListOptions{Filters: []storage.Filter{{Field: "keep", Op: storage.EQ, Value: false}}})
	if err != nil || len(none) != 0 {
		t.Fatalf("second DeleteAll = %v, %v", none, err)
	}
	if ts2, _ := b.Timestamp(ctx, s); ts2 != ts {
		t.Fatalf("deleting nothing moved the timestamp from %d to %d", ts, ts2)
	}
	n, err := b.PurgeDeleted(ctx, s, tomb[2].LastModified)
	if err != nil || n != 2 {
		t.Fatalf("PurgeDeleted(before) = %d, %v; want 2", n, err)
	}
	n, err = b.PurgeDeleted(ctx, s, 0)
	if err != nil || n != 2 {
		t.Fatalf("PurgeDeleted(all) = %d, %v; want 2", n, err)
	}
	if c, _ := b.Count(ctx, s, nil); c != 1 {
		t.Fatalf("Count = %d, want 1", c)
	}
}

func TestFiltersAndSortsFollowJSONBOrdering(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	docs := map[string]string{
		"null": `{"v":null,"tags":["a","b"]}`, "str": `{"v":"abc","tags":["b"],"n":{"k":"Hello World"}}`,
		"num": `{"v":2.5}`, "bool": `{"v":true}`, "arr": `{"v":[1]}`, "obj": `{"v":{"a":1},"list":[0]}`, "none": `{"x":1}`,
	}
	for _, id := range []string{"null", "str", "num", "bool", "arr", "obj", "none"} {
		mustCreate(t, b, s, id, docs[id])
	}
	tests := []struct {
		name string
		opt  storage.ListOptions
		want string
	}{
		{"ascending order puts absent last", storage.ListOptions{Sort: []storage.Sort{{Field: "v"}}}, "[null str num bool arr obj none]"},
		{"descending order puts absent first", storage.ListOptions{Sort: []storage.Sort{{Field: "v", Desc: true}}}, "[none obj arr bool num str null]"},
		{"gt includes absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.GT, Value: true}}, Sort: []storage.Sort{{Field: "id"}}}, "[arr none obj]"},
		{"lt excludes absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.LT, Value: 3}}, Sort: []storage.Sort{{Field: "id"}}}, "[null num str]"},
		{"not matches absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.NOT, Value: nil}}, Sort: []storage.Sort{{Field: "id"}}}, "[arr bool none num obj str]"},
		{"in compares whole values", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.IN, Value: []any{2.5, "abc", []any{1.0}}}}, Sort: []storage.Sort{{Field: "id"}}}, "[arr num str]"},
		{"exclude matches absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.EXCLUDE, Value: []any{2.5, nil}}}, Sort: []storage.Sort{{Field: "id"}}}, "[arr bool none obj str]"},
		{"like is anchored and case-insensitive", storage.ListOptions{Filters: []storage.Filter{{Field: "n.k", Op: storage.LIKE, Value: "hello*"}}}, "[str]"},
		{"like without wildcard is exact", storage.ListOptions{Filters: []storage.Filter{{Field: "n.k", Op: storage.LIKE, Value: "hello"}}}, "[]"},
		{"has false matches absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.HAS, Value: false}}}, "[none]"},
		{"has true counts null as present", storage.ListOptions{Filters: []storage.Filter{{Field: "tags", Op: storage.HAS, Value: true}}, Sort: []storage.Sort{{Field: "id"}}}, "[null str]"},
		{"contains wants every value", storage.ListOptions{Filters: []storage.Filter{{Field: "tags", Op: storage.CONTAINS, Value: []any{"a", "b"}}}}, "[null]"},
		{"contains any wants one value", storage.ListOptions{Filters: []storage.Filter{{Field: "tags", Op: storage.CONTAINS_ANY, Value: []any{"b", "z"}}}, Sort: []storage.Sort{{Field: "id"}}}, "[null str]"},
		{"numeric id values compare as strings", storage.ListOptions{Filters: []storage.Filter{{Field: "id", Op: storage.IN, Value: []any{1.0, "num"}}}}, "[num]"},
		{"numeric path segments do not index arrays", storage.ListOptions{Filters: []storage.Filter{{Field: "list.0", Op: storage.HAS, Value: true}}}, "[]"},
		{"missing value with eq keeps absent fields", storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.EQ, Value: storage.Missing}}}, "[none]"},
		{"pagination groups are or-ed", storage.ListOptions{Pagination: [][]storage.Filter{{{Field: "id", Op: storage.EQ, Value: "num"}}, {{Field: "v", Op: storage.EQ, Value: true}}}, Sort: []storage.Sort{{Field: "id"}}}, "[bool num]"},
		{"limit cuts the sorted list", storage.ListOptions{Sort: []storage.Sort{{Field: "id", Desc: true}}, Limit: 2}, "[str obj]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.List(ctx, s, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			if g := fmt.Sprint(ids(got)); g != tt.want {
				t.Fatalf("got %s, want %s", g, tt.want)
			}
			n, err := b.Count(ctx, s, tt.opt.Filters)
			if err != nil {
				t.Fatal(err)
			}
			if tt.opt.Pagination == nil && tt.opt.Limit == 0 && n != len(got) {
				t.Fatalf("Count = %d, List returned %d", n, len(got))
			}
		})
	}
}

func TestMaxFetchSizeCapsUnlimitedLists(t *testing.T) {
	b := newTestBackend(t, Options{MaxFetchSize: 3})
	s := scope(t)
	for i := range 5 {
		mustCreate(t, b, s, fmt.Sprint(i), `{}`)
	}
	got, err := b.List(context.Background(), s, storage.ListOptions{})
	if err != nil || len(got) != 3 {
		t.Fatalf("List = %d objects, %v; want 3", len(got), err)
	}
	got, err = b.List(context.Background(), s, storage.ListOptions{Limit: 4})
	if err != nil || len(got) != 4 {
		t.Fatalf("List(limit 4) = %d objects, %v; want 4", len(got), err)
	}
}

func TestUnitOfWorkStartsAtFirstWriteAndRollsBack(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	mustCreate(t, b, s, "before", `{}`)

	txCtx, tx, _ := b.Begin(ctx)
	u := b.unitFrom(txCtx)
	if _, err := b.List(txCtx, s, storage.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if u.tx != nil {
		t.Fatal("a read started the transaction")
	}
	if _, err := b.Create(txCtx, s, storage.Object{ID: "inside"}); err != nil {
		t.Fatal(err)
	}
	if u.tx == nil {
		t.Fatal("the first write did not start the transaction")
	}
	if _, err := b.Get(txCtx, s, "inside"); err != nil {
		t.Fatalf("read after write does not see it: %v", err)
	}
	if _, err := b.Get(ctx, s, "inside"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("uncommitted write visible outside: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatalf("second Rollback: %v", err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatalf("Commit after Rollback: %v", err)
	}
	if _, err := b.Get(ctx, s, "inside"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("rolled back write persisted: %v", err)
	}

	txCtx, tx, _ = b.Begin(ctx)
	if _, err := b.Create(txCtx, s, storage.Object{ID: "committed"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, s, "committed"); err != nil {
		t.Fatalf("committed write missing: %v", err)
	}
}

func TestUnreachableServerGivesBackendError(t *testing.T) {
	b, err := New(context.Background(), Options{URL: "postgres://postgres@" + testenv.FreeAddr(t) + "/x?sslmode=disable", PoolTimeout: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	start := time.Now()
	_, err = b.List(context.Background(), storage.Scope{Resource: "r"}, storage.ListOptions{})
	var be *storage.BackendError
	if !errors.As(err, &be) || be.Backend != "postgresql" || be.Op != "list" {
		t.Fatalf("List error = %v, want *storage.BackendError{postgresql, list}", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("failure took %s", d)
	}
	if err := b.Ping(context.Background(), true); !errors.As(err, &be) {
		t.Fatalf("Ping = %v", err)
	}
}

func TestFactoryReadsSettings(t *testing.T) {
	newTestBackend(t, Options{}) // the schema
	dsn := testDatabase(t, "storage_pg_test")
	s := config.MustFromMap(map[string]string{
		"storage_url": dsn, "storage_pool_size": "3", "storage_pool_timeout": "2.5", "storage_max_fetch_size": "7",
	}, config.Options{Env: []string{}})
	be, err := storage.Open(context.Background(), "kinto.core.storage.postgresql", s)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	b := be.(*Backend)
	if b.pool.Config().MaxConns != 3 || b.poolTimeout != 2500*time.Millisecond || b.maxFetch != 7 {
		t.Fatalf("settings not applied: maxConns %d, timeout %s, maxFetch %d", b.pool.Config().MaxConns, b.poolTimeout, b.maxFetch)
	}
	if err := b.Ping(context.Background(), false); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := storage.Open(context.Background(), "postgresql", s.With("storage_url", "")); err == nil {
		t.Fatal("empty storage_url accepted")
	}
}
