package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// GetManyAccessList answers what GetManyAccess and ListWithTimestamp answer, for the pages
// it reads (ordered by last_modified first), and declines the others.
func TestGetManyAccessListEqualsTheSeparateReads(t *testing.T) {
	b, p := newJointBackends(t, "storage_pg_test_joint", Options{})
	keys, queries := jointFixture(t, b, p)
	ctx := context.Background()
	recs := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
	for i := range 30 {
		data := `{"n":` + strconv.Itoa(i%7) + `,"title":"r` + strconv.Itoa(i) + `"}`
		if _, err := b.Create(ctx, recs, storage.Object{ID: "x" + strconv.Itoa(i), Data: json.RawMessage(data)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"x3", "x17"} {
		if _, err := b.Delete(ctx, recs, id, 0, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	desc := []storage.Sort{{Field: "last_modified", Desc: true}}
	all, err := b.List(ctx, recs, storage.ListOptions{Sort: desc})
	if err != nil || len(all) < 20 {
		t.Fatalf("List = %d objects, %v", len(all), err)
	}
	pages := []storage.ListOptions{
		{Sort: desc, Limit: 11},
		{Sort: []storage.Sort{{Field: "last_modified"}}, Limit: 5},
		{Sort: []storage.Sort{{Field: "last_modified", Desc: true}, {Field: "n"}}, Limit: 50},
		{Sort: desc, Limit: 6, Filters: []storage.Filter{{Field: "n", Op: storage.GT, Value: 2}}},
		{Sort: desc, Limit: 4, IncludeDeleted: true, Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: all[15].LastModified}}},
		{Sort: desc, Limit: 3, Pagination: [][]storage.Filter{{{Field: "last_modified", Op: storage.LT, Value: all[4].LastModified}}}},
		{Sort: desc, Limit: 3, Filters: []storage.Filter{{Field: "title", Op: storage.EQ, Value: "none"}}}, // an empty page
		{Sort: desc}, // no limit
	}
	for _, k := range keys {
		if len(storableKeys(k)) != len(k) {
			continue // declined: see below
		}
		for _, q := range queries {
			if !p.AccessStatement(q).Needed() {
				continue
			}
			for _, opt := range pages {
				objs, acc, page, ts, err := b.GetManyAccessList(ctx, k, p, q, recs, opt)
				if err != nil {
					t.Fatalf("GetManyAccessList(%v, %+v, %+v) = %v", k, q, opt, err)
				}
				wantObjs, wantAcc, err := b.GetManyAccess(ctx, k, p, q)
				if err != nil {
					t.Fatal(err)
				}
				wantPage, wantTS, err := b.ListWithTimestamp(ctx, recs, opt)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(objs, wantObjs) || !reflect.DeepEqual(acc, wantAcc) {
					t.Errorf("keys %v, query %+v: objects and access\n%+v\n%+v\nwant\n%+v\n%+v", k, q, objs, acc, wantObjs, wantAcc)
				}
				if ts != wantTS || !reflect.DeepEqual(page, wantPage) {
					t.Errorf("page %+v: timestamp %d, page\n%+v\nwant %d,\n%+v", opt, ts, page, wantTS, wantPage)
				}
			}
		}
	}
	t.Run("the pages are not trivial", func(t *testing.T) {
		_, _, page, _, err := b.GetManyAccessList(ctx, keys[0], p, queries[0], recs, pages[4])
		if err != nil || len(page) != 4 || !page[0].Deleted && !page[1].Deleted && !page[2].Deleted && !page[3].Deleted {
			t.Errorf("a page with tombstones: %+v, %v", page, err)
		}
	})
	t.Run("a collection without a timestamp", func(t *testing.T) {
		never := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/never"}
		objs, _, page, ts, err := b.GetManyAccessList(ctx, keys[0], p, queries[0], never, pages[0])
		if err != nil || page != nil || ts != 0 || objs[2].ID != "r" {
			t.Errorf("GetManyAccessList = %+v, %+v, %d, %v; want the objects and no page", objs, page, ts, err)
		}
	})
	t.Run("declined", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			keys []storage.Key
			q    permission.AccessQuery
			s    storage.Scope
			opt  storage.ListOptions
		}{
			{"ordered by a field first", keys[0], queries[0], recs, storage.ListOptions{Sort: []storage.Sort{{Field: "n"}}}},
			{"unordered", keys[0], queries[0], recs, storage.ListOptions{Limit: 3}},
			{"an unstorable scope", keys[0], queries[0], storage.Scope{Resource: "record", Parent: "c\x00"}, pages[0]},
			{"an unstorable key", keys[4], queries[0], recs, pages[0]},
			{"nothing to ask of the permissions", keys[0], permission.AccessQuery{Principals: []string{permission.Everyone}}, recs, pages[0]},
		} {
			if _, _, _, _, err := b.GetManyAccessList(ctx, tc.keys, p, tc.q, tc.s, tc.opt); !errors.Is(err, storage.ErrNotSupported) {
				t.Errorf("%s: %v; want it declined (storage.ErrNotSupported)", tc.name, err)
			}
		}
	})
}
