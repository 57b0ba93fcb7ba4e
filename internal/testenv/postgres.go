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

// PostgresDatabase returns the DSN of the database name on the test server, creating it with
// the server's defaults when it is missing. Concurrent creations, by parallel tests or test
// processes, are harmless. It skips or fails like [PostgresDSN] without a server, and fails
// the test when the database cannot be created.
func PostgresDatabase(t testing.TB, name string) string {
	t.Helper()
	return postgresDatabase(t, name, "")
}

// PostgresDatabaseC is [PostgresDatabase] for tests whose expectations depend on how text
// sorts: a missing database is created from template0 with the UTF8 encoding and the C.UTF-8
// collation and character classes (code point order), whatever the server's default locale.
// An existing database is used as it is.
func PostgresDatabaseC(t testing.TB, name string) string {
	t.Helper()
	return postgresDatabase(t, name, ` TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8'`)
}

// postgresDatabase creates the database name when missing, with the CREATE DATABASE options
// in with, and returns its DSN.
func postgresDatabase(t testing.TB, name, with string) string {
	t.Helper()
	if name == "" {
		t.Fatal("testenv: empty database name")
	}
	dsn := PostgresDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("%s: %v", PostgresDSNVar, err)
	}
	if err := createDatabase(dsn, name, with); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	u.Path = "/" + name
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
