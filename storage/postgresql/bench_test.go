package postgresql

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/storage"
)

// BenchmarkHotCollection measures writes into one collection from 50 concurrent writers
// (25 goroutines per GOMAXPROCS on the 2-core reference machine).
func BenchmarkHotCollection(b *testing.B) {
	be := newTestBackend(b, Options{URL: testDatabase(b, "storage_pg_test_bench"), PoolSize: 50})
	s := storage.Scope{Resource: "hot", Parent: fmt.Sprint(time.Now().UnixNano())}
	var n atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		for pb.Next() {
			if _, err := be.Create(ctx, s, storage.Object{Data: []byte(`{"hot":true}`)}); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "writes/s")
}

// benchRows is the size of the collection the read benchmarks query.
const benchRows = 100_000

var benchScope = storage.Scope{Resource: "bench", Parent: "100k"}

// loadBench fills benchScope with benchRows objects (with COPY) unless it is already there.
func loadBench(b *testing.B) *Backend {
	be := newTestBackend(b, Options{URL: testDatabase(b, "storage_pg_test_bench")})
	ctx := context.Background()
	n, err := be.Count(ctx, benchScope, nil)
	if err != nil {
		b.Fatal(err)
	}
	if n == benchRows {
		return be
	}
	if _, err := be.DeleteAll(ctx, benchScope, storage.ListOptions{}); err != nil {
		b.Fatal(err)
	}
	if _, err := be.PurgeDeleted(ctx, benchScope, 0); err != nil {
		b.Fatal(err)
	}
	base := time.Now().Add(-time.Hour).UnixMilli()
	rows := make([][]any, benchRows)
	for i := range rows {
		rows[i] = []any{benchScope.Resource, benchScope.Parent, fmt.Sprintf("o%07d", i), base + int64(i), false,
			fmt.Sprintf(`{"rank":%d,"title":"object %d"}`, (i*7919)%benchRows, i)}
	}
	if _, err := be.pool.CopyFrom(ctx, pgx.Identifier{"objects"},
		[]string{"resource_name", "parent_id", "id", "last_modified", "deleted", "data"}, pgx.CopyFromRows(rows)); err != nil {
		b.Fatal(err)
	}
	if _, err := be.pool.Exec(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified, live) VALUES ($1, $2, $3, $4)
		ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = EXCLUDED.last_modified, live = EXCLUDED.live`,
		benchScope.Resource, benchScope.Parent, base+benchRows, benchRows); err != nil {
		b.Fatal(err)
	}
	if _, err := be.pool.Exec(ctx, `ANALYZE objects`); err != nil {
		b.Fatal(err)
	}
	return be
}

// BenchmarkList measures reads on a 100k-object collection: the first page of the default
// order, a deep keyset page, a _since poll returning 100 objects, a count, and a sort on an
// unindexed JSON field.
func BenchmarkList(b *testing.B) {
	be := loadBench(b)
	ctx := context.Background()
	latest, err := be.Timestamp(ctx, benchScope)
	if err != nil {
		b.Fatal(err)
	}
	byLM := []storage.Sort{{Field: "last_modified", Desc: true}}
	cases := []struct {
		name string
		run  func() (int, error)
		want int
	}{
		{"FirstPage", func() (int, error) {
			l, err := be.List(ctx, benchScope, storage.ListOptions{Sort: byLM, Limit: 100})
			return len(l), err
		}, 100},
		{"DeepKeysetPage", func() (int, error) {
			l, err := be.List(ctx, benchScope, storage.ListOptions{Sort: byLM, Limit: 100,
				Pagination: [][]storage.Filter{{{Field: "last_modified", Op: storage.LT, Value: latest - 90_000}}}})
			return len(l), err
		}, 100},
		{"Since100", func() (int, error) {
			l, err := be.List(ctx, benchScope, storage.ListOptions{Sort: []storage.Sort{{Field: "last_modified"}}, IncludeDeleted: true,
				Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: latest - 101}}})
			return len(l), err
		}, 100},
		{"Count", func() (int, error) { return be.Count(ctx, benchScope, nil) }, benchRows},
		{"SortByJSONField", func() (int, error) {
			l, err := be.List(ctx, benchScope, storage.ListOptions{Sort: []storage.Sort{{Field: "rank"}}, Limit: 100})
			return len(l), err
		}, 100},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				n, err := c.run()
				if err != nil || n != c.want {
					b.Fatalf("got %d, %v; want %d", n, err, c.want)
				}
			}
		})
	}
}

// BenchmarkListWithTimestamp compares the two ways the resource layer can read a page and
// the collection timestamp on the 100k-object collection: Timestamp then List (two round
// trips) and ListWithTimestamp (one statement).
func BenchmarkListWithTimestamp(b *testing.B) {
	be := loadBench(b)
	ctx := context.Background()
	latest, err := be.Timestamp(ctx, benchScope)
	if err != nil {
		b.Fatal(err)
	}
	pages := []struct {
		name string
		opt  storage.ListOptions
		want int
	}{
		{"FirstPage", storage.ListOptions{Sort: []storage.Sort{{Field: "last_modified", Desc: true}}, Limit: 21}, 21},
		{"Since100", storage.ListOptions{Sort: []storage.Sort{{Field: "last_modified", Desc: true}}, IncludeDeleted: true, Limit: 101,
			Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: latest - 101}}}, 100},
	}
	for _, p := range pages {
		b.Run(p.name+"/TimestampThenList", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := be.Timestamp(ctx, benchScope); err != nil {
					b.Fatal(err)
				}
				l, err := be.List(ctx, benchScope, p.opt)
				if err != nil || len(l) != p.want {
					b.Fatalf("got %d, %v; want %d", len(l), err, p.want)
				}
			}
		})
		b.Run(p.name+"/ListWithTimestamp", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				l, ts, err := be.ListWithTimestamp(ctx, benchScope, p.opt)
				if err != nil || len(l) != p.want || ts != latest {
					b.Fatalf("got %d at %d, %v; want %d at %d", len(l), ts, err, p.want, latest)
				}
			}
		})
	}
}

// BenchmarkGetMany compares the two ways the resource layer can read an object with its
// parents (Kinto's bucket → collection → record): three Gets (three round trips) and one
// GetMany of the three keys (one statement). The record is one of the 100k-object collection.
func BenchmarkGetMany(b *testing.B) {
	be := loadBench(b)
	ctx := context.Background()
	bucket := storage.Scope{Resource: "bench-bucket", Parent: ""}
	coll := storage.Scope{Resource: "bench-collection", Parent: "/buckets/b"}
	for _, w := range []struct {
		s  storage.Scope
		id string
	}{{bucket, "b"}, {coll, "c"}} {
		if _, err := be.Update(ctx, w.s, storage.Object{ID: w.id, Data: []byte(`{"title":"parent"}`)}, storage.Condition{}); err != nil {
			b.Fatal(err)
		}
	}
	keys := []storage.Key{{Scope: bucket, ID: "b"}, {Scope: coll, ID: "c"}, {Scope: benchScope, ID: "o0050000"}}
	b.Run("ThreeGets", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			for _, k := range keys {
				if o, err := be.Get(ctx, k.Scope, k.ID); err != nil || o.ID != k.ID {
					b.Fatalf("Get(%v, %q) = %+v, %v", k.Scope, k.ID, o, err)
				}
			}
		}
	})
	b.Run("GetMany3", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			objs, err := be.GetMany(ctx, keys)
			if err != nil || len(objs) != len(keys) || objs[2].ID != keys[2].ID {
				b.Fatalf("GetMany = %+v, %v", objs, err)
			}
		}
	})
}

// reportCPU reports the process's user+system CPU time per operation ("cpu-ns/op": what a
// server pays for the call, whereas ns/op is mostly waiting for PostgreSQL) from the call to
// the call of the function it returns.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
