package postgresql_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/cache/cachetest"
	"github.com/cliquet-go/cliquet/cache/postgresql"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
)

// testURL returns the URL of this package's own database, cache_test (created when missing),
// so that our tests never touch the tables of other packages' tests. It skips without a
// server, except in CI.
func testURL(t *testing.T) string {
	t.Helper()
	return testenv.PostgresDatabase(t, "cache_test")
}

// privateSchema creates an empty schema, dropped at the end of the test, and returns a URL
// whose search_path points at it, with a connection to inspect it.
func privateSchema(t *testing.T) (string, *pgx.Conn) {
	t.Helper()
	base := testURL(t)
	schema := testenv.UniquePrefix(t, "cachetest_")
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testenv.WithSearchPath(t, base, schema))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := conn.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		conn.Close(context.Background())
	})
	return testenv.WithSearchPath(t, base, schema), conn
}

func open(t *testing.T, opts postgresql.Options) *postgresql.Backend {
	t.Helper()
	b, err := postgresql.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type harness struct{ url string }

func (h harness) New(ctx context.Context, t *testing.T, prefix string) cache.Backend {
	b, err := postgresql.New(ctx, postgresql.Options{URL: h.url, Prefix: prefix, PoolSize: 10})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// Lacks declares that the PostgreSQL backend provides every optional capability: the suite
// fails if one is missing.
func (harness) Lacks() []cachetest.Capability { return nil }

func (harness) Broken(ctx context.Context, t *testing.T) cache.Backend {
	// Nothing listens on RefusedAddr: every connection is refused.
	b, err := postgresql.New(ctx, postgresql.Options{
		URL:         "postgres://postgres@" + testenv.RefusedAddr + "/none?sslmode=disable&connect_timeout=2",
		PoolTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) {
	u := testURL(t)
	b := open(t, postgresql.Options{URL: u})
	if err := b.InitializeSchema(context.Background(), false); err != nil {
		t.Fatalf("InitializeSchema: %v", err)
	}
	cachetest.Run(t, harness{url: u})
}

// PostgreSQL-specific tests.

var ctx = context.Background()

func wantBackendError(t *testing.T, err error, op string) *cache.BackendError {
	t.Helper()
	var be *cache.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("error %v (%T), want a *cache.BackendError", err, err)
	}
	if be.Backend != "postgresql" || be.Op != op {
		t.Fatalf("BackendError{Backend: %q, Op: %q}, want {postgresql, %s}", be.Backend, be.Op, op)
	}
	return be
}

func TestClosedPoolReturnsBackendErrors(t *testing.T) {
	u := testURL(t)
	owner := open(t, postgresql.Options{URL: u})
	b := open(t, postgresql.Options{Pool: owner.Pool(), Prefix: "closed_"})
	owner.Pool().Close()
	_, err := b.Get(ctx, "k")
	wantBackendError(t, err, "get")
	wantBackendError(t, b.Set(ctx, "k", []byte("v"), time.Minute), "set")
	wantBackendError(t, b.Ping(ctx), "ping")
	wantBackendError(t, b.InitializeSchema(ctx, false), "initialize_schema")
}

func TestCallsBeforeInitializeSchemaSayWhatToDo(t *testing.T) {
	u, _ := privateSchema(t)
	b := open(t, postgresql.Options{URL: u})
	_, err := b.Get(ctx, "k")
	be := wantBackendError(t, err, "get")
	if !strings.Contains(be.Error(), "InitializeSchema") {
		t.Fatalf("error %q should tell to run InitializeSchema", be)
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "42P01" {
		t.Fatalf("error %v should wrap the server's undefined_table error", err)
	}
}

func TestPingWritesAndDeletesTheHeartbeatKey(t *testing.T) {
	t.Run("an unmigrated database fails the ping", func(t *testing.T) {
		u, _ := privateSchema(t)
		b := open(t, postgresql.Options{URL: u})
		be := wantBackendError(t, b.Ping(ctx), "ping")
		if !strings.Contains(be.Error(), "InitializeSchema") {
			t.Errorf("error %q should tell to run InitializeSchema", be)
		}
	})
	t.Run("a migrated database passes and keeps no heartbeat key", func(t *testing.T) {
		u, conn := privateSchema(t)
		b := open(t, postgresql.Options{URL: u, Prefix: "app_"})
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatal(err)
		}
		if err := b.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		var rows int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM cache`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		if rows != 0 {
			t.Errorf("rows after Ping = %d, want 0", rows)
		}
	})
	t.Run("a read-only cache table fails the ping", func(t *testing.T) {
		u, conn := privateSchema(t)
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatal(err)
		}
		// A trigger refusing writes: a connection that could read but not write.
		if _, err := conn.Exec(ctx, `
			CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'read-only'; END $$;
			CREATE TRIGGER refuse BEFORE INSERT OR UPDATE ON cache FOR EACH ROW EXECUTE FUNCTION refuse()`); err != nil {
			t.Fatal(err)
		}
		wantBackendError(t, b.Ping(ctx), "ping")
	})
}

func TestInitializeSchema(t *testing.T) {
	version := func(t *testing.T, conn *pgx.Conn) string {
		t.Helper()
		var v string
		if err := conn.QueryRow(ctx, `SELECT value FROM cache_metadata WHERE name = 'cache_schema_version'`).Scan(&v); err != nil {
			t.Fatalf("read version: %v", err)
		}
		return v
	}
	valueType := func(t *testing.T, conn *pgx.Conn) string {
		t.Helper()
		var typ string
		err := conn.QueryRow(ctx, `SELECT format_type(atttypid, atttypmod) FROM pg_attribute
			WHERE attrelid = to_regclass('cache') AND attname = 'value'`).Scan(&typ)
		if err != nil {
			t.Fatalf("read the type of cache.value: %v", err)
		}
		return typ
	}

	t.Run("creates the tables on an empty database and records version 1", func(t *testing.T) {
		u, conn := privateSchema(t)
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatal(err)
		}
		if got := version(t, conn); got != "1" {
			t.Fatalf("version = %s, want 1", got)
		}
		if err := b.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a dry run changes nothing", func(t *testing.T) {
		u, conn := privateSchema(t)
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, true); err != nil {
			t.Fatal(err)
		}
		var exists bool
		if err := conn.QueryRow(ctx, `SELECT to_regclass('cache') IS NOT NULL`).Scan(&exists); err != nil || exists {
			t.Fatalf("cache table exists after a dry run: %v, %v", exists, err)
		}
	})

	t.Run("replaces kinto.core's cache table", func(t *testing.T) {
		u, conn := privateSchema(t)
		_, err := conn.Exec(ctx, `
			CREATE TABLE cache (key VARCHAR(256) PRIMARY KEY, value TEXT NOT NULL, ttl TIMESTAMP DEFAULT NULL);
			CREATE INDEX IF NOT EXISTS idx_cache_ttl ON cache(ttl);
			CREATE FUNCTION sec2ttl(seconds FLOAT) RETURNS TIMESTAMP AS $$
			BEGIN RETURN now() + (seconds || ' SECOND')::INTERVAL; END; $$ LANGUAGE plpgsql;
			INSERT INTO cache VALUES ('old', '"json"', sec2ttl(60));`)
		if err != nil {
			t.Fatal(err)
		}
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, true); err != nil {
			t.Fatal(err)
		}
		if got := valueType(t, conn); got != "text" {
			t.Fatalf("a dry run changed the legacy table: value is %s", got)
		}
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatal(err)
		}
		if got := valueType(t, conn); got != "bytea" {
			t.Fatalf("value column is %s after migration, want bytea", got)
		}
		if got := version(t, conn); got != "1" {
			t.Fatalf("version = %s, want 1", got)
		}
		if _, err := b.Get(ctx, "old"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Get(old) after migration: %v, want ErrNotFound", err)
		}
		if err := b.Set(ctx, "new", []byte{0, 1, 2}, time.Minute); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("refuses a newer schema version", func(t *testing.T) {
		u, conn := privateSchema(t)
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `UPDATE cache_metadata SET value = '99' WHERE name = 'cache_schema_version'`); err != nil {
			t.Fatal(err)
		}
		err := b.InitializeSchema(ctx, false)
		if err == nil || !strings.Contains(err.Error(), "99") {
			t.Fatalf("InitializeSchema over version 99: %v, want an error naming the version", err)
		}
	})

	t.Run("refuses an unrelated table named cache", func(t *testing.T) {
		u, conn := privateSchema(t)
		if _, err := conn.Exec(ctx, `CREATE TABLE cache (id INT, value JSONB)`); err != nil {
			t.Fatal(err)
		}
		b := open(t, postgresql.Options{URL: u})
		if err := b.InitializeSchema(ctx, false); err == nil {
			t.Fatal("InitializeSchema succeeded over an unrelated cache table, want an error")
		}
		var n int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM information_schema.columns WHERE table_name = 'cache' AND column_name = 'id'`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("the unrelated table was changed: %d, %v", n, err)
		}
	})

	t.Run("concurrent calls all succeed", func(t *testing.T) {
		u, conn := privateSchema(t)
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				b, err := postgresql.New(ctx, postgresql.Options{URL: u, PoolSize: 1})
				if err != nil {
					errs[i] = err
					return
				}
				defer b.Close()
				errs[i] = b.InitializeSchema(ctx, false)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("call %d: %v", i, err)
			}
		}
		if got := version(t, conn); got != "1" {
			t.Fatalf("version = %s, want 1", got)
		}
	})
}

func TestEmptyPrefixStoresKeysUnprefixed(t *testing.T) {
	u, conn := privateSchema(t)
	plain := open(t, postgresql.Options{URL: u})
	if err := plain.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := open(t, postgresql.Options{URL: u, Prefix: "prefix_"}).Set(ctx, "key", []byte("foo"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := plain.Get(ctx, "prefix_key"); err != nil || string(v) != "foo" {
		t.Fatalf("Get(prefix_key) with no prefix = %q, %v; want foo", v, err)
	}
	if err := plain.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM cache`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d rows after flushing the empty prefix (%v), want 0", n, err)
	}
}

func TestSetPurgesExpiredRows(t *testing.T) {
	u := testURL(t)
	b := open(t, postgresql.Options{URL: u, Prefix: "purge_test_"})
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Flush(context.Background()) })
	for _, k := range []string{"a", "b", "c"} {
		if err := b.Set(ctx, k, []byte("v"), time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(20 * time.Millisecond)
	if err := b.Set(ctx, "fresh", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	var n int
	err := b.Pool().QueryRow(ctx, `SELECT count(*) FROM cache WHERE key LIKE 'purge\_test\_%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Fatalf("%d rows under the prefix after a Set, want 1 (expired rows purged)", n)
	}
}

func TestPoolTimeoutBoundsTheWaitForAConnection(t *testing.T) {
	u := testURL(t)
	b := open(t, postgresql.Options{URL: u, PoolSize: 1, PoolTimeout: 100 * time.Millisecond})
	held, err := b.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	start := time.Now()
	_, err = b.Get(ctx, "k")
	elapsed := time.Since(start)
	wantBackendError(t, err, "get")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v should wrap context.DeadlineExceeded", err)
	}
	if elapsed > 2*time.Second {
		t.Fatalf("Get waited %v for a connection, want about 100ms", elapsed)
	}
}

func TestRegisteredFactory(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantErr  string
		check    func(t *testing.T, b *postgresql.Backend)
	}{
		{
			name:     "reads the pool size and the prefix",
			settings: map[string]string{"cache_url": "postgres://u@127.0.0.1:1/db", "cache_pool_size": "7", "cache_prefix": "app_"},
			check: func(t *testing.T, b *postgresql.Backend) {
				if got := b.Pool().Config().MaxConns; got != 7 {
					t.Errorf("MaxConns = %d, want 7", got)
				}
				if b.Prefix() != "app_" {
					t.Errorf("prefix = %q, want app_", b.Prefix())
				}
			},
		},
		{
			name:     "defaults to 25 connections",
			settings: map[string]string{"cache_url": "postgres://u@127.0.0.1:1/db"},
			check: func(t *testing.T, b *postgresql.Backend) {
				if got := b.Pool().Config().MaxConns; got != 25 {
					t.Errorf("MaxConns = %d, want 25", got)
				}
			},
		},
		{name: "requires a URL", settings: map[string]string{}, wantErr: "cache_url"},
		{name: "rejects a malformed URL", settings: map[string]string{"cache_url": "postgres://u@127.0.0.1:notaport/db"}, wantErr: "cache_url"},
		{name: "rejects a bad pool size", settings: map[string]string{"cache_url": "postgres://u@h/db", "cache_pool_size": "many"}, wantErr: "cache_pool_size"},
		{name: "rejects a bad pool timeout", settings: map[string]string{"cache_url": "postgres://u@h/db", "cache_pool_timeout": "soon"}, wantErr: "cache_pool_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.MustFromMap(tt.settings, config.Options{Env: []string{}})
			b, err := cache.Open(ctx, "kinto.core.cache.postgresql", s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			tt.check(t, b.(*postgresql.Backend))
		})
	}
}
