package memory_test

// Benchmarks of the memory backend's list pages and creates (measured, not asserted;
// BenchmarkGet and BenchmarkListFiltered are in memory_test.go):
//
//	go test -run '^$' -bench . -benchmem ./storage/memory

import (
	"context"
	"fmt"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// seeded returns a backend whose collection holds n records.
func seeded(b *testing.B, n int) (*memory.Backend, storage.Scope, []storage.Object) {
	b.Helper()
	be := memory.New(nil)
	scope := storage.Scope{Resource: "bookmark", Parent: "alice"}
	objs := make([]storage.Object, n)
	for i := range n {
		o, err := be.Create(context.Background(), scope, storage.Object{
			ID:   fmt.Sprintf("id-%06d", i),
			Data: fmt.Appendf(nil, `{"title":"Bookmark %d","score":%d,"unread":%t}`, i, (i*7919)%1000, i%2 == 0),
		})
		if err != nil {
			b.Fatal(err)
		}
		objs[i] = o
	}
	return be, scope, objs
}

// BenchmarkListPages lists pages of 21 (the resource asks for one more than the page size) from a
// collection of 1,000 records.
func BenchmarkListPages(b *testing.B) {
	be, scope, objs := seeded(b, 1000)
	ctx := context.Background()
	byDate := []storage.Sort{{Field: "last_modified", Desc: true}}
	cases := []struct {
		name string
		opt  storage.ListOptions
		want int
	}{
		{"first page", storage.ListOptions{Sort: byDate, Limit: 21}, 21},
		{"filter and sort", storage.ListOptions{
			Filters: []storage.Filter{{Field: "unread", Op: storage.EQ, Value: true}},
			Sort:    []storage.Sort{{Field: "score", Desc: true}, {Field: "last_modified", Desc: true}},
			Limit:   21,
		}, 21},
		{"since 100", storage.ListOptions{
			Filters:        []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: objs[899].LastModified}},
			Sort:           byDate,
			IncludeDeleted: true,
		}, 100},
		{"keyset page", storage.ListOptions{
			Sort:       byDate,
			Pagination: [][]storage.Filter{{{Field: "last_modified", Op: storage.LT, Value: objs[500].LastModified}}},
			Limit:      21,
		}, 21},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				got, err := be.List(ctx, scope, c.opt)
				if err != nil || len(got) != c.want {
					b.Fatalf("%d objects, %v; want %d", len(got), err, c.want)
				}
			}
		})
	}
}

func BenchmarkCreateObject(b *testing.B) {
	be := memory.New(nil)
	ctx := context.Background()
	scope := storage.Scope{Resource: "bookmark", Parent: "alice"}
	data := []byte(`{"title":"Bookmark","score":7,"unread":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := be.Create(ctx, scope, storage.Object{Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}
