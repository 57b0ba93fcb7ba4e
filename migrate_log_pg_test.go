package cliquet

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	_ "github.com/cliquet-go/cliquet/cache/postgresql"
	"github.com/cliquet-go/cliquet/internal/testenv"
	_ "github.com/cliquet-go/cliquet/permission/postgresql"
	_ "github.com/cliquet-go/cliquet/storage/postgresql"
)

// A migrate --dry-run on backends opened from the settings reports, through the app's logger,
// what each backend would apply on an empty schema, and that each schema is current once
// migrated.
func TestMigrateDryRunLogsThroughTheAppLogger(t *testing.T) {
	ctx := context.Background()
	base := testenv.PostgresDatabase(t, "migrate_log")
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS dryrun CASCADE; CREATE SCHEMA dryrun`); err != nil {
		t.Fatal(err)
	}
	url := testenv.WithSearchPath(t, base, "dryrun")
	var log testenv.Buffer
	app := newApp(t, map[string]string{
		"storage_backend": "postgresql", "storage_url": url,
		"cache_backend": "postgresql", "cache_url": url,
		"permission_backend": "postgresql", "permission_url": url,
	}, Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})

	if err := Migrate(ctx, app, true); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`would apply the cache schema file (dry run)" file=schema/schema.sql`,
		`storage schema: would apply migration (dry run)" migration=`,
		`permission schema: would apply (dry run)" file=schema.sql`,
	} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("dry run on an empty schema: log lacks %q:\n%s", want, log.String())
		}
	}
	var tables int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'dryrun'`).Scan(&tables); err != nil {
		t.Fatal(err)
	}
	if tables != 0 {
		t.Fatalf("the dry run created %d tables", tables)
	}

	if err := Migrate(ctx, app, false); err != nil {
		t.Fatal(err)
	}
	before := len(log.String())
	if err := Migrate(ctx, app, true); err != nil {
		t.Fatal(err)
	}
	current := log.String()[before:]
	for _, want := range []string{
		`"PostgreSQL cache schema is up-to-date"`,
		`"storage schema is up to date"`,
		`"permission schema is up to date"`,
	} {
		if !strings.Contains(current, want) {
			t.Errorf("dry run on a current schema: log lacks %q:\n%s", want, current)
		}
	}
	if strings.Contains(current, "would apply") {
		t.Errorf("dry run on a current schema would apply something:\n%s", current)
	}
}

// Backends without a schema are named in the migrate report rather than left out.
func TestMigrateLogsBackendsWithoutSchema(t *testing.T) {
	var log testenv.Buffer
	app := newApp(t, map[string]string{"storage_backend": "memory", "permission_backend": "memory", "cache_backend": "memory"},
		Config{Logger: slog.New(slog.NewTextHandler(&log, nil))})
	if err := Migrate(context.Background(), app, true); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"cache", "storage", "permission"} {
		if !strings.Contains(log.String(), `"backend has no schema to migrate" backend=`+b) {
			t.Errorf("log lacks %s:\n%s", b, log.String())
		}
	}
}
