package postgresql

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/storage"
)

// BenchmarkClockVariants compares, over 1,000 collections and 50 concurrent writers, the
// statements a create can use: createSQL (clock upsert, forced timestamps) and createNowSQL
// (UPDATE of the clock row, what Create runs first), each with the timestamps table at fillfactor 100 and 50, and a raw INSERT into
// objects with a client-side timestamp (no clock, no uniqueness of timestamps: not a
// candidate, the reference). Each reports writes/s; run with -benchtime 5s.
func BenchmarkClockVariants(b *testing.B) {
	be := newTestBackend(b, Options{URL: testDatabase(b, "storage_pg_test_bench"), PoolSize: 50})
	ctx := context.Background()
	const collections = 1000
	run := func(b *testing.B, resource string, exec func(ctx context.Context, parent, id string) error) {
		spreadWrites(b, be, resource, collections, func(ctx context.Context, s storage.Scope) error {
			return exec(ctx, s.Parent, uuid.NewString())
		})
	}
	data := `{"url":"https://example.com","title":"a bookmark"}`
	for _, ff := range []int{100, 50} {
		for _, q := range []string{fmt.Sprintf(`ALTER TABLE timestamps SET (fillfactor = %d)`, ff), `VACUUM FULL timestamps`} {
			if _, err := be.pool.Exec(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
		suffix := fmt.Sprintf("/fillfactor%d", ff)
		b.Run("createSQL"+suffix, func(b *testing.B) {
			res := fmt.Sprintf("cv-upsert-%d-%d", ff, time.Now().UnixNano())
			run(b, res, func(ctx context.Context, parent, id string) error {
				_, err := be.pool.Exec(ctx, createSQL, res, parent, id, int64(0), data)
				return err
			})
		})
		b.Run("createNowSQL"+suffix, func(b *testing.B) {
			res := fmt.Sprintf("cv-update-%d-%d", ff, time.Now().UnixNano())
			run(b, res, func(ctx context.Context, parent, id string) error {
				tag, err := be.pool.Exec(ctx, createNowSQL, res, parent, id, int64(0), data)
				if err == nil && tag.RowsAffected() != 1 {
					err = fmt.Errorf("update-first wrote %d rows", tag.RowsAffected())
				}
				return err
			})
		})
	}
	if _, err := be.pool.Exec(ctx, `ALTER TABLE timestamps RESET (fillfactor)`); err != nil {
		b.Fatal(err)
	}
	b.Run("rawINSERT", func(b *testing.B) {
		res := fmt.Sprintf("cv-raw-%d", time.Now().UnixNano())
		run(b, res, func(ctx context.Context, parent, id string) error {
			_, err := be.pool.Exec(ctx, `INSERT INTO objects (resource_name, parent_id, id, last_modified, deleted, data)
				VALUES ($1, $2, $3, `+nowMS+` * 1000 + (random() * 999)::int, FALSE, $4::text::jsonb)`, res, parent, id, data)
			return err
		})
	})
}

// spreadWrites runs write from 50 goroutines (25 per core on the 2-core reference machine)
// spread round-robin over the first collections of resource, whose clock rows it creates
// first (as in a warm service), and reports writes/s.
func spreadWrites(b *testing.B, be *Backend, resource string, collections int, write func(ctx context.Context, s storage.Scope) error) {
	ctx := context.Background()
	for i := range collections {
		if _, err := be.Timestamp(ctx, scopeOf(resource, i)); err != nil {
			b.Fatal(err)
		}
	}
	var n, next atomic.Int64
	b.SetParallelism(25)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := write(ctx, scopeOf(resource, int(next.Add(1)%int64(collections)))); err != nil {
				b.Error(err)
				return
			}
			n.Add(1)
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "writes/s")
}

// scopeOf is collection i of resource.
func scopeOf(resource string, i int) storage.Scope {
	return storage.Scope{Resource: resource, Parent: fmt.Sprintf("c%04d", i)}
}
