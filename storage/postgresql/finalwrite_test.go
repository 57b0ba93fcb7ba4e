package postgresql

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

// perfDatabase is the database of the final-write tests; no other package uses it.
const perfDatabase = "perf_test"

// perfBackend opens a backend on perf_test (created when missing, with the C.UTF-8
// collation) with an up-to-date schema, and a separate connection to observe it.
func perfBackend(t testing.TB, poolSize int) (*Backend, *pgx.Conn) {
	t.Helper()
	u := testenv.PostgresDatabaseC(t, perfDatabase)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := New(ctx, Options{URL: u, PoolSize: poolSize, PoolTimeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatalf("InitializeSchema: %v", err)
	}
	obs, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatalf("connect observer: %v", err)
	}
	t.Cleanup(func() { obs.Close(context.Background()) })
	return b, obs
}

// committed reports whether the object is visible to another connection, that is committed.
func committed(t *testing.T, obs *pgx.Conn, s storage.Scope, id string) bool {
	t.Helper()
	var n int
	err := obs.QueryRow(context.Background(), `SELECT count(*) FROM objects
		WHERE resource_name = $1 AND parent_id = $2 AND id = $3 AND NOT deleted`, s.Resource, s.Parent, id).Scan(&n)
	if err != nil {
		t.Fatalf("observe: %v", err)
	}
	return n == 1
}

// clockLocked reports whether another transaction holds the collection's clock row.
func clockLocked(t *testing.T, obs *pgx.Conn, s storage.Scope) bool {
	t.Helper()
	ctx := context.Background()
	tx, err := obs.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only probe
	_, err = tx.Exec(ctx, `SELECT 1 FROM timestamps WHERE resource_name = $1 AND parent_id = $2 FOR UPDATE NOWAIT`,
		s.Resource, s.Parent)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
		return true
	}
	if err != nil {
		t.Fatalf("probe clock lock: %v", err)
	}
	return false
}

// TestFinalWrite checks when a unit of work runs a write in autocommit mode (package
// internal/finalwrite): only the unit's first write, marked with finalwrite.Mark, under a
// permission from finalwrite.Allow that was not withdrawn. Then the write is committed,
// once, when the call returns, and the clock row is free before Commit; otherwise the unit holds everything until
// Commit and a Rollback undoes every write.
func TestFinalWrite(t *testing.T) {
	b, obs := perfBackend(t, 4)
	tests := []struct {
		name string
		// allow calls finalwrite.Allow; deny withdraws it before the writes.
		allow, deny bool
		// final marks each write (in order) with finalwrite.Mark.
		final []bool
		// autocommitted is, per write, whether it must be committed at once.
		autocommitted []bool
	}{
		{"an allowed and marked only write is autocommitted", true, false, []bool{true}, []bool{true}},
		{"a marked write without the permission stays in the transaction", false, false, []bool{true}, []bool{false}},
		{"a marked write after the permission was withdrawn (batch, listener) stays in the transaction", true, true, []bool{true}, []bool{false}},
		{"an allowed but unmarked write stays in the transaction", true, false, []bool{false}, []bool{false}},
		{"a marked second write joins the transaction of the first", true, false, []bool{false, true}, []bool{false, false}},
		{"a write after an autocommitted one opens a transaction of its own", true, false, []bool{true, true}, []bool{true, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storage.Scope{Resource: "final", Parent: uuid.NewString()}
			// A committed clock row, so that the observer can see whether a write locks it.
			if _, err := b.Timestamp(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			ctx, tx, _ := b.Begin(context.Background())
			t.Cleanup(func() { tx.Rollback(context.Background()) }) //nolint:errcheck // after a failure
			if tt.allow {
				var deny func()
				ctx, deny = finalwrite.Allow(ctx)
				if tt.deny {
					deny()
				}
			}
			var ids []string
			for i, final := range tt.final {
				wctx := ctx
				if final {
					wctx = finalwrite.Mark(ctx)
				}
				o, err := b.Create(wctx, s, storage.Object{Data: []byte(`{"n":1}`)})
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				ids = append(ids, o.ID)
				if got := committed(t, obs, s, o.ID); got != tt.autocommitted[i] {
					t.Fatalf("write %d committed before Commit = %v, want %v", i, got, tt.autocommitted[i])
				}
				if got, want := clockLocked(t, obs, s), !tt.autocommitted[i]; got != want {
					t.Fatalf("clock row locked after write %d = %v, want %v", i, got, want)
				}
			}
			if err := tx.Rollback(context.Background()); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			for i, id := range ids {
				if got := committed(t, obs, s, id); got != tt.autocommitted[i] {
					t.Errorf("write %d present after Rollback = %v, want %v (only autocommitted writes stay)", i, got, tt.autocommitted[i])
				}
			}
			if clockLocked(t, obs, s) {
				t.Error("the clock row is still locked after Rollback")
			}
		})
	}
}

// TestFinalWriteCommitsOnce checks that an autocommitted final write is written exactly once
// and that the unit's Commit then has nothing to commit: the object and the clock keep the
// write's timestamp, and the next write of the collection gets a larger one.
func TestFinalWriteCommitsOnce(t *testing.T) {
	b, obs := perfBackend(t, 4)
	s := storage.Scope{Resource: "final", Parent: uuid.NewString()}
	ctx, tx, _ := b.Begin(context.Background())
	t.Cleanup(func() { tx.Rollback(context.Background()) }) //nolint:errcheck // after a failure
	ctx, _ = finalwrite.Allow(ctx)
	o, err := b.Create(finalwrite.Mark(ctx), s, storage.Object{ID: "only", Data: []byte(`{"n":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(context.Background()); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	var rows int
	var clock int64
	if err := obs.QueryRow(context.Background(), `SELECT count(*), max(last_modified) FROM objects
		WHERE resource_name = $1 AND parent_id = $2`, s.Resource, s.Parent).Scan(&rows, &clock); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || clock != o.LastModified {
		t.Fatalf("objects: %d rows, latest timestamp %d; want 1 row at %d", rows, clock, o.LastModified)
	}
	ts, err := b.Timestamp(context.Background(), s)
	if err != nil || ts != o.LastModified {
		t.Fatalf("collection timestamp %d, %v; want the write's %d", ts, err, o.LastModified)
	}
	next, err := b.Create(context.Background(), s, storage.Object{})
	if err != nil || next.LastModified <= o.LastModified {
		t.Fatalf("next write at %d (%v); want after %d", next.LastModified, err, o.LastModified)
	}
}

// BenchmarkHotCollectionUnits measures writes into one collection from 50 concurrent writers
// (25 goroutines per GOMAXPROCS on the 2-core reference machine), each write in its own unit
// of work as under transaction_per_request: a transaction (BEGIN, write, COMMIT, the clock
// row locked until the COMMIT) against a final write (autocommit, locked for the statement).
func BenchmarkHotCollectionUnits(b *testing.B) {
	be, _ := perfBackend(b, 50)
	for _, final := range []bool{false, true} {
		name := "transaction"
		if final {
			name = "final write"
		}
		b.Run(name, func(b *testing.B) {
			s := storage.Scope{Resource: "hot", Parent: fmt.Sprint(time.Now().UnixNano())}
			var n atomic.Int64
			b.SetParallelism(25)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ctx, tx, _ := be.Begin(context.Background())
					ctx, _ = finalwrite.Allow(ctx)
					if final {
						ctx = finalwrite.Mark(ctx)
					}
					_, err := be.Create(ctx, s, storage.Object{Data: []byte(`{"hot":true}`)})
					if err == nil {
						err = tx.Commit(ctx)
					}
					if err != nil {
						tx.Rollback(context.Background()) //nolint:errcheck // the write error matters
						b.Error(err)
						return
					}
					n.Add(1)
				}
			})
			b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "writes/s")
		})
	}
}
