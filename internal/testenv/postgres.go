package testenv

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// PostgresDSN returns the DSN of the test PostgreSQL server (CLIQUET_TEST_POSTGRES_DSN). When
// it is unset it skips the test, or fails it when CI is set.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	return lookup(t, PostgresDSNVar, "PostgreSQL")
}

// PostgresDatabase returns the DSN of this test process's own database called name on the
// test server: the database is named name followed by [ProcessSuffix] (e.g.
// "cache_test__3fa9c1_48211_1k2f9x"), so that two test runs sharing the server (a developer's
// and CI's, or two engineers') never see each other's rows. It is created with the server's
// defaults on first use; concurrent creations by parallel tests are harmless. Creating it
// first drops the databases left by test processes of this machine that are gone (killed
// runs, runs without [Main]); [Main] drops the process's own databases when its tests end.
// name must leave room for the suffix within PostgreSQL's 63 bytes (41 bytes are always
// enough). It skips or fails like [PostgresDSN] without a server, and fails the test when the
// database cannot be created.
func PostgresDatabase(t testing.TB, name string) string {
	t.Helper()
	return postgresDatabase(t, name, "")
}

// PostgresDatabaseC is [PostgresDatabase] for tests whose expectations depend on how text
// sorts: a missing database is created from template0 with the UTF8 encoding and the C.UTF-8
// collation and character classes (code point order), whatever the server's default locale.
func PostgresDatabaseC(t testing.TB, name string) string {
	t.Helper()
	return postgresDatabase(t, name, ` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`)
}

// postgresDatabase creates this process's database name (name + ProcessSuffix) when missing,
// with the CREATE DATABASE options in with, and returns its DSN.
func postgresDatabase(t testing.TB, name, with string) string {
	t.Helper()
	if name == "" {
		t.Fatal("testenv: empty database name")
	}
	full := name + ProcessSuffix()
	if len(full) > maxIdentifier {
		t.Fatalf("testenv: database name %q is %d bytes long, over PostgreSQL's %d: shorten %q", full, len(full), maxIdentifier, name)
	}
	dsn := PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", PostgresDSNVar, err)
	}
	if err := createDatabase(dsn, full, with); err != nil {
		t.Fatalf("create database %s: %v", full, err)
	}
	u.Path = "/" + full
	return u.String()
}

func createDatabase(dsn, name, with string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	dropStaleDatabases(ctx, conn)
	_, err = conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()+with)
	var pgErr *pgconn.PgError
	// 42P04 duplicate_database, or 23505 unique_violation on pg_database's name index: another
	// test created it between our check and our CREATE.
	if errors.As(err, &pgErr) && (pgErr.Code == "42P04" || pgErr.Code == "23505") {
		return nil
	}
	return err
}

// WithSearchPath returns dsn with its search_path parameter set to schema, so that a
// connection opened with it sees the tables of that schema only (a test's private schema in
// a shared database).
func WithSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("parse DSN: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
