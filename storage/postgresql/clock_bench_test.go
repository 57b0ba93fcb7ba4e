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
// statements a create can use: the auto form of the general create (clock upsert, forced
// timestamps) and createFast (UPDATE of the clock row, what Create runs first), each with the timestamps table at fillfactor 100 and 50, and a raw INSERT into
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
		b.Run("create"+suffix, func(b *testing.B) {
			res := fmt.Sprintf("cv-upsert-%d-%d", ff, time.Now().UnixNano())
			run(b, res, func(ctx context.Context, parent, id string) error {
				_, err := be.pool.Exec(ctx, createForms.auto.full, res, parent, id, int64(0), data)
				return err
			})
		})
		b.Run("createFast"+suffix, func(b *testing.B) {
			res := fmt.Sprintf("cv-update-%d-%d", ff, time.Now().UnixNano())
			run(b, res, func(ctx context.Context, parent, id string) error {
				tag, err := be.pool.Exec(ctx, createFast.full, res, parent, id, int64(0), data)
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

// previousCreateNowSQL is the common create as it was before the live counter: the clock
// row bumped by a plain UPDATE first, then the INSERT. It is kept here as the reference of
// BenchmarkLiveCounterCost only (it does not maintain the counter).
const previousCreateNowSQL = `WITH clock AS (
	UPDATE timestamps AS t SET last_modified = GREATEST(t.last_modified + 1, ` + nowMS + `)
	WHERE t.resource_name = $1 AND t.parent_id = $2 AND $4::bigint = 0 AND NOT EXISTS (SELECT 1 FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted)
	RETURNING last_modified)
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data)
SELECT $1, $2, $3, clock.last_modified, FALSE, ` + dataExpr + `
FROM clock
ON CONFLICT (resource_name, parent_id, id) DO UPDATE
	SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data
	WHERE o.deleted
RETURNING last_modified`

// previousUpdateSQL is the upsert as it was before the live counter (lean): the clock row
// upserted, then the object; the reference of BenchmarkLiveCounterCost's updates.
const previousUpdateSQL = `WITH clock AS (
	INSERT INTO timestamps AS t (resource_name, parent_id, last_modified)
	SELECT $1, $2, CASE WHEN f.v > 0 THEN f.v ELSE ` + nowMS + ` END
	FROM (SELECT CASE WHEN $4::bigint > ` + storedTS + ` THEN $4::bigint ELSE 0 END AS v) AS f
	ON CONFLICT (resource_name, parent_id) DO UPDATE
		SET last_modified = GREATEST(t.last_modified + 1, EXCLUDED.last_modified)
	RETURNING last_modified)
INSERT INTO objects AS o (resource_name, parent_id, id, last_modified, deleted, data)
SELECT $1, $2, $3, CASE WHEN $4::bigint > ` + storedTS + ` AND NOT EXISTS (SELECT 1 FROM objects x
	WHERE x.resource_name = $1 AND x.parent_id = $2 AND x.last_modified = $4::bigint AND x.id <> $3)
	THEN $4::bigint ELSE clock.last_modified END, FALSE, ` + dataExpr + `
FROM clock
ON CONFLICT (resource_name, parent_id, id) DO UPDATE
	SET last_modified = EXCLUDED.last_modified, deleted = FALSE, data = EXCLUDED.data
RETURNING last_modified`

// BenchmarkLiveCounterCost compares the statements of a common create with the one they
// replaced (previousCreateNowSQL): the autocommit one (createFast.lean: the clock and the
// live counter moved by a plain UPDATE, then a plain INSERT) and the one of a transaction
// (createNow.lean after lockSQL, in one round trip: see lockedRow), over
// 1,000 collections and over one hot collection, from 50 concurrent writers; and, the same
// way, the upsert it replaced (previousUpdateSQL) with Update (without the write pipeline,
// so that each write has a pooled connection, as the SQL loops do). Each set runs twice in
// alternation to even out a shared machine. Compare writes/s; run with -benchtime 5s.
func BenchmarkLiveCounterCost(b *testing.B) {
	be := newTestBackend(b, Options{URL: testDatabase(b, "storage_pg_test_bench"), PoolSize: 50, WriteWorkers: -1})
	data := `{"url":"https://example.com","title":"a bookmark"}`
	for round := range 2 {
		for _, collections := range []int{1000, 1} {
			for _, v := range []struct{ name, sql string }{{"previous", previousCreateNowSQL}, {"fast", createFast.lean}, {"locked", createNow.lean}} {
				b.Run(fmt.Sprintf("create/%s/collections=%d/round=%d", v.name, collections, round), func(b *testing.B) {
					res := fmt.Sprintf("lc-%s-%d", v.name, time.Now().UnixNano())
					spreadWrites(b, be, res, collections, func(ctx context.Context, s storage.Scope) error {
						var lm int64
						args := []any{res, s.Parent, uuid.NewString(), int64(0), data}
						if v.name == "locked" {
							conn, err := be.pool.Acquire(ctx)
							if err != nil {
								return err
							}
							defer conn.Release()
							return lockedRow(ctx, conn, s, v.sql, args, &lm)
						}
						return be.pool.QueryRow(ctx, v.sql, args...).Scan(&lm)
					})
				})
			}
			// Updates of 200 objects per collection: the statement replaced, then
			// updateLeanSQL as Update runs it (alone, again after lockSQL when it meets a
			// race: see racing).
			for _, name := range []string{"previous", "counter"} {
				b.Run(fmt.Sprintf("update/%s/collections=%d/round=%d", name, collections, round), func(b *testing.B) {
					res := fmt.Sprintf("lu-%s-%d", name, time.Now().UnixNano())
					var n, raced atomic.Int64
					spreadWrites(b, be, res, collections, func(ctx context.Context, s storage.Scope) error {
						var lm int64
						args := []any{res, s.Parent, fmt.Sprint(n.Add(1) % 200), int64(0), data}
						if name == "previous" {
							return be.pool.QueryRow(ctx, previousUpdateSQL, args...).Scan(&lm)
						}
						conn, err := be.pool.Acquire(ctx)
						if err != nil {
							return err
						}
						defer conn.Release()
						return racing(conn, s, func(lock *storage.Scope) error {
							if lock == nil {
								return conn.QueryRow(ctx, updateForms.auto.lean, args...).Scan(&lm)
							}
							raced.Add(1)
							return lockedRow(ctx, conn, *lock, updateForms.locked.lean, args, &lm)
						})
					})
					b.ReportMetric(float64(raced.Load())/float64(b.N), "raced/write")
				})
			}
		}
	}
}
