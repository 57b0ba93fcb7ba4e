package postgresql

import (
	"context"
	"errors"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// testDSN returns the server DSN from CLIQUET_TEST_POSTGRES_DSN, skipping the test when it
// is unset (failing in CI).
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("CLIQUET_TEST_POSTGRES_DSN")
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CLIQUET_TEST_POSTGRES_DSN is not set (required in CI)")
		}
		t.Skip("CLIQUET_TEST_POSTGRES_DSN is not set; run eval \"$(bash scripts/services.sh)\"")
	}
	return dsn
}

var createdDBs sync.Map // database name → error of its creation

// testDatabase creates (once) the database name on the test server and returns its DSN.
// Databases of this package are named storage_pg_test*, so they never collide with other
// packages' tests.
func testDatabase(t testing.TB, name string) string {
	t.Helper()
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	v, _ := createdDBs.LoadOrStore(name, &sync.Once{})
	once := v.(*sync.Once)
	var cerr error
	once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			cerr = err
			return
		}
		defer conn.Close(ctx)
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
			cerr = err
			return
		}
		if !exists {
			_, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+
				` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`)
			var pgErr *pgconn.PgError
			if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "42P04") { // duplicate_database
				cerr = err
			}
		}
	})
	if cerr != nil {
		createdDBs.Delete(name)
		t.Fatalf("create database %s: %v", name, cerr)
	}
	u.Path = "/" + name
	return u.String()
}

// newTestBackend opens a backend on this package's test database with an up-to-date schema.
func newTestBackend(t testing.TB, opts Options) *Backend {
	t.Helper()
	if opts.URL == "" {
		opts.URL = testDatabase(t, "storage_pg_test")
	}
	if opts.PoolTimeout == 0 {
		opts.PoolTimeout = 10 * time.Second
	}
	b, err := New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(context.Background(), false); err != nil {
		t.Fatalf("InitializeSchema: %v", err)
	}
	return b
}
