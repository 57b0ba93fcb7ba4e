package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/storage"
)

// whileLocked runs write (a write of the backend, or a raw statement, in autocommit mode)
// while another transaction holds the collection's clock row and, once write waits for
// it, changes the collection with change: write's statement then starts from a snapshot
// older than the change, the case assertCTE guards. It returns write's error.
func whileLocked(t *testing.T, be *Backend, s storage.Scope, change func(tx pgx.Tx) error, write func() error) error {
	t.Helper()
	ctx := context.Background()
	tx, err := be.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
	if _, err := tx.Exec(ctx, lockSQL, s.Resource, s.Parent); err != nil {
		t.Fatal(err)
	}
	var waiting int
	if err := be.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- write() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
		var n int
		if err := be.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the write did not wait for the clock row: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the write never waited for the clock row")
		}
	}
	if err := change(tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return <-done
}

// exec runs a write statement after lockSQL in tx, as the backend does in a unit of work.
func exec(ctx context.Context, tx pgx.Tx, sql string, args ...any) error {
	if _, err := tx.Exec(ctx, lockSQL, args[0], args[1]); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, sql, args...)
	return err
}

// mine3 is the data of the write under test in TestWritesFromAStaleSnapshotFailAndChangeNothing.
const mine3 = `{"n":3}`

// checkCount fails unless the collection's live counter equals its live objects.
func checkCount(t *testing.T, be *Backend, s storage.Scope, want int) {
	t.Helper()
	ctx := context.Background()
	n, err := be.Count(ctx, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var real int
	if err := be.pool.QueryRow(ctx, `SELECT count(*) FROM objects WHERE resource_name = $1 AND parent_id = $2 AND NOT deleted`,
		s.Resource, s.Parent).Scan(&real); err != nil {
		t.Fatal(err)
	}
	if n != real || real != want {
		t.Errorf("live counter %d, live objects %d, want %d", n, real, want)
	}
}

// A write sent alone (autocommit mode) whose snapshot predates a change of its object fails
// with a unique violation and changes nothing, whatever the change; the same write through
// the backend then runs again after the lock, and succeeds with the counter exact.
func TestWritesFromAStaleSnapshotFailAndChangeNothing(t *testing.T) {
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_counter"), WriteWorkers: -1})
	ctx := context.Background()
	data := `{"n":1}` // the objects before
	w := mine3        // what the write under test writes
	deleteObject := func(id string) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			return exec(ctx, tx, deleteForms.locked.lean, "stale", "", id, int64(0))
		}
	}
	purgeObject := func(id string) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			if err := deleteObject(id)(tx); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, purgeSQL, "stale", "", int64(0)) // after deleteObject's lock
			return err
		}
	}
	createObject := func(id string) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			return exec(ctx, tx, createNow.lean, "stale", "", id, int64(0), data)
		}
	}
	upsertArgs := func(id string) func(int64) []any { // the arguments of the upsert under test
		return func(int64) []any { return []any{id, int64(0), w} }
	}
	update := func(id string) func(int64) error { // the upsert under test, through the backend
		return func(int64) error {
			_, err := be.Update(ctx, storage.Scope{Resource: "stale"}, storage.Object{ID: id, Data: json.RawMessage(w)}, storage.Condition{})
			return err
		}
	}
	replaceObject := func(id string) func(tx pgx.Tx) error {
		return func(tx pgx.Tx) error {
			return exec(ctx, tx, updateForms.locked.lean, "stale", "", id, int64(0), `{"n":2}`)
		}
	}
	tests := []struct {
		name    string
		live    []string              // the live objects before
		change  func(tx pgx.Tx) error // the concurrent change
		sql     string                // the statement sent alone
		args    func(lm int64) []any  // its arguments after the collection (lm: the object's timestamp)
		backend func(lm int64) error  // the same write through the backend
		fails   bool                  // the statement alone fails
		alone   int                   // live objects after the statement alone
		want    int                   // live objects after the write through the backend
	}{
		{"an update of an object deleted meanwhile", []string{"x"}, deleteObject("x"), updateForms.auto.lean,
			upsertArgs("x"),
			update("x"),
			true, 0, 1},
		{"an update of an object deleted and purged meanwhile", []string{"x"}, purgeObject("x"), updateForms.auto.lean,
			upsertArgs("x"),
			update("x"),
			true, 0, 1},
		{"an update creating an object created meanwhile", nil, createObject("y"), updateForms.auto.lean,
			upsertArgs("y"),
			update("y"),
			true, 1, 1},
		{"an update of an object replaced meanwhile succeeds", []string{"x"}, replaceObject("x"), updateForms.auto.lean,
			upsertArgs("x"),
			update("x"),
			false, 1, 1},
		{"a delete of an object deleted meanwhile", []string{"x", "z"}, deleteObject("x"), deleteForms.auto.lean,
			func(int64) []any { return []any{"x", int64(0)} },
			func(int64) error {
				_, err := be.Delete(ctx, storage.Scope{Resource: "stale"}, "x", 0, storage.Condition{})
				if errors.Is(err, storage.ErrNotFound) {
					return nil
				}
				return fmt.Errorf("Delete = %v, want ErrNotFound", err)
			},
			true, 1, 1},
		{"a create of an id created meanwhile", nil, createObject("y"), createForms.auto.lean,
			func(int64) []any { return []any{"y", int64(1_000), w} },
			func(int64) error {
				_, err := be.Create(ctx, storage.Scope{Resource: "stale"}, storage.Object{ID: "y", LastModified: 1_000})
				var ue *storage.UnicityError
				if errors.As(err, &ue) {
					return nil
				}
				return fmt.Errorf("Create = %v, want a UnicityError", err)
			},
			true, 1, 1},
		{"a conditional update of an object replaced meanwhile", []string{"x"}, replaceObject("x"), updateIfForms.auto.lean,
			func(lm int64) []any { return []any{"x", int64(0), w, lm} },
			func(lm int64) error {
				_, err := be.Update(ctx, storage.Scope{Resource: "stale"}, storage.Object{ID: "x", Data: json.RawMessage(w)}, storage.Condition{LastModified: lm})
				if errors.Is(err, storage.ErrModified) {
					return nil
				}
				return fmt.Errorf("Update = %v, want ErrModified", err)
			},
			true, 1, 1},
		{"a conditional delete of an object replaced meanwhile", []string{"x"}, replaceObject("x"), deleteIfForms.auto.lean,
			func(lm int64) []any { return []any{"x", int64(0), lm} },
			func(lm int64) error {
				_, err := be.Delete(ctx, storage.Scope{Resource: "stale"}, "x", 0, storage.Condition{LastModified: lm})
				if errors.Is(err, storage.ErrModified) {
					return nil
				}
				return fmt.Errorf("Delete = %v, want ErrModified", err)
			},
			true, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, viaBackend := range []bool{false, true} {
				s := storage.Scope{Resource: "stale", Parent: ""}
				if err := be.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				var lm int64
				for _, id := range tt.live {
					o, err := be.Create(ctx, s, storage.Object{ID: id, Data: json.RawMessage(data)})
					if err != nil {
						t.Fatal(err)
					}
					lm = o.LastModified
				}
				if tt.live == nil {
					if _, err := be.Timestamp(ctx, s); err != nil { // the clock row
						t.Fatal(err)
					}
				}
				err := whileLocked(t, be, s, tt.change, func() error {
					if viaBackend {
						return tt.backend(lm)
					}
					_, err := be.pool.Exec(ctx, tt.sql, append([]any{s.Resource, s.Parent}, tt.args(lm)...)...)
					return err
				})
				switch {
				case viaBackend && err != nil:
					t.Errorf("through the backend: %v", err)
				case !viaBackend && tt.fails && !uniqueViolation(err):
					t.Errorf("the statement alone: %v, want a unique violation", err)
				case !viaBackend && !tt.fails && err != nil:
					t.Errorf("the statement alone: %v", err)
				}
				want := tt.want
				if !viaBackend {
					want = tt.alone
				}
				checkCount(t, be, s, want)
				var mine int // rows the write under test wrote: none when it failed
				if err := be.pool.QueryRow(ctx, `SELECT count(*) FROM objects WHERE data = $1::jsonb`, mine3).Scan(&mine); err != nil {
					t.Fatal(err)
				}
				if !viaBackend && tt.fails && mine != 0 {
					t.Errorf("the failed statement left %d rows", mine)
				}
			}
		})
	}
}
