package redis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

// The benchmarks measure; they assert nothing. Run them with
//
//	go test -run '^$' -bench . ./storage/redis/

// BenchmarkCreate50Writers creates objects in one collection from 50 goroutines.
func BenchmarkCreate50Writers(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b, "")
	s := storage.Scope{Resource: "record", Parent: "bench"}
	var n atomic.Int64
	b.SetParallelism(max(1, 50/runtimeProcs()))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("o%d", n.Add(1))
			if _, err := be.Create(ctx, s, storage.Object{ID: id, Data: json.RawMessage(`{"title":"x","n":1}`)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "writes/s")
}

// BenchmarkGet reads one object (one HGET).
func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b, "")
	s := storage.Scope{Resource: "record", Parent: "bench"}
	o, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(`{"title":"x","n":1}`)})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := be.Get(ctx, s, o.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkListFirst20Of10k lists the 20 most recent objects of a 10,000-object collection,
// sorted by a metadata field (data not decoded) and by a data field (data decoded).
func BenchmarkListFirst20Of10k(b *testing.B) {
	ctx := context.Background()
	be := newBackend(b, "")
	s := storage.Scope{Resource: "record", Parent: "bench"}
	for i := range 10000 {
		d := json.RawMessage(fmt.Sprintf(`{"title":"object %d","n":%d,"tags":["a","b"]}`, i, i%97))
		if _, err := be.Create(ctx, s, storage.Object{Data: d}); err != nil {
			b.Fatal(err)
		}
	}
	for _, sort := range []string{"last_modified", "n"} {
		b.Run("sort="+sort, func(b *testing.B) {
			for b.Loop() {
				objs, err := be.List(ctx, s, storage.ListOptions{Sort: []storage.Sort{{Field: sort, Desc: true}}, Limit: 20})
				if err != nil || len(objs) != 20 {
					b.Fatal(len(objs), err)
				}
			}
		})
	}
}

func runtimeProcs() int { return runtime.GOMAXPROCS(0) }
