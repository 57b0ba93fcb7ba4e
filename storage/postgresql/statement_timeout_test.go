package postgresql_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// TestStatementTimeout checks storage_statement_timeout: a statement that waits longer (here
// on a table another connection holds locked, as a stuck database would keep it) is
// cancelled by PostgreSQL, the backend returns a *storage.BackendError, and the request
// answers 503 errno 201 with Retry-After instead of waiting as long as the database does.
func TestStatementTimeout(t *testing.T) {
	dsn := testenv.PostgresDatabaseC(t, "storage_pg_statement_timeout")
	ctx := context.Background()
	settings := config.MustFromMap(map[string]string{
		"storage_url": dsn, "storage_pool_timeout": "10", "storage_statement_timeout": "0.3",
	}, config.Options{Env: []string{}})
	opened, err := postgresql.Open(ctx, settings)
	if err != nil {
		t.Fatal(err)
	}
	pg := opened.(*postgresql.Backend)
	t.Cleanup(func() { pg.Close() })
	if err := pg.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := pg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	srv := newHostileServer(t, "postgresql", pg, nil)
	if r := srv.do(t, "PUT", "/v1/things/a", []byte(`{"data": {"v": 1}}`)); r.code != 201 {
		t.Fatalf("PUT: %d %s", r.code, r.raw)
	}

	// Another connection locks the objects table until it rolls back.
	locker, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { locker.Close(ctx) })
	tx, err := locker.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rollback := func() { _ = tx.Rollback(ctx) }
	t.Cleanup(rollback)
	if _, err := tx.Exec(ctx, `LOCK TABLE objects IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	t.Run("a request waiting on the lock answers 503 errno 201 with Retry-After", func(t *testing.T) {
		for _, q := range []struct{ method, path, body string }{
			{"GET", "/v1/things", ""},
			{"GET", "/v1/things/a", ""},
			{"PUT", "/v1/things/b", `{"data": {"v": 2}}`},
		} {
			answered := make(chan *httptest.ResponseRecorder, 1)
			go func() {
				r := httptest.NewRequest(q.method, q.path, strings.NewReader(q.body))
				if q.body != "" {
					r.Header.Set("Content-Type", "application/json")
				}
				r.SetBasicAuth("alice", "pw")
				rec := httptest.NewRecorder()
				srv.h.ServeHTTP(rec, r)
				answered <- rec
			}()
			select {
			case rec := <-answered:
				var m map[string]any
				_ = json.Unmarshal(rec.Body.Bytes(), &m)
				if rec.Code != 503 || m["errno"] != float64(201) || rec.Header().Get("Retry-After") == "" {
					t.Errorf("%s %s: %d %s (Retry-After %q), want 503 errno 201 with Retry-After",
						q.method, q.path, rec.Code, rec.Body, rec.Header().Get("Retry-After"))
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("%s %s: no answer in 10 s: the request waits as long as the lock", q.method, q.path)
			}
		}
	})

	t.Run("the backend returns a *storage.BackendError for SQLSTATE 57014", func(t *testing.T) {
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second) // without the timeout, List would wait for the lock
		defer cancel()
		_, err := pg.List(lctx, storage.Scope{Resource: "thing", Parent: "x"}, storage.ListOptions{})
		var be *storage.BackendError
		var pgErr *pgconn.PgError
		if !errors.As(err, &be) || !errors.As(err, &pgErr) || pgErr.Code != "57014" {
			t.Fatalf("List: %v, want a *storage.BackendError wrapping SQLSTATE 57014 (query_canceled)", err)
		}
	})

	rollback()
	if r := srv.do(t, "GET", "/v1/things", nil); r.code != 200 || len(r.objects) != 1 {
		t.Fatalf("GET after the lock is released: %d %s", r.code, r.raw)
	}
}
