package postgresql_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/permissiontest"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// testURL returns the URL of this package's own database, permission_test, created from
// CLIQUET_TEST_POSTGRES_DSN when missing. It skips (or fails when CI is set) without a DSN.
func testURL(t *testing.T) string {
	t.Helper()
	return testenv.PostgresDatabase(t, "permission_test")
}

func open(ctx context.Context, t *testing.T, opts postgresql.Options) *postgresql.Backend {
	t.Helper()
	b, err := postgresql.New(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type harness struct{ url string }

func (h harness) New(ctx context.Context, t *testing.T) permission.Backend {
	b := open(ctx, t, postgresql.Options{URL: h.url, PoolSize: 10})
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return b
}

// Lacks declares that the PostgreSQL backend provides every optional capability: the suite
// fails if one is missing.
func (harness) Lacks() []permissiontest.Capability { return nil }

func (h harness) Broken(ctx context.Context, t *testing.T) permission.Backend {
	// Nothing listens on RefusedAddr.
	return open(ctx, t, postgresql.Options{URL: "postgres://postgres@" + testenv.RefusedAddr + "/none?connect_timeout=2", PoolTimeout: 2 * time.Second})
}

func TestConformance(t *testing.T) { permissiontest.Run(t, harness{url: testURL(t)}) }

// PostgreSQL-specific tests.

func TestRegisteredAsPostgreSQL(t *testing.T) {
	u := testURL(t)
	s := config.MustFromMap(map[string]string{"permission_url": u, "permission_pool_size": "3"}, config.Options{Env: []string{}})
	for _, name := range []string{"postgresql", "kinto.core.permission.postgresql"} {
		b, err := permission.Open(context.Background(), name, s)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, ok := b.(*postgresql.Backend); !ok {
			t.Errorf("Open(%q) = %T, want *postgresql.Backend", name, b)
		}
		b.Close()
	}
}

func TestFromSettingsRejectsBadValues(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
	}{
		{"an empty permission_url is refused", map[string]string{"permission_url": ""}},
		{"a pool size that is not a number is refused", map[string]string{"permission_url": "postgres://x@127.0.0.1/db", "permission_pool_size": "many"}},
		{"a pool timeout that is not a number is refused", map[string]string{"permission_url": "postgres://x@127.0.0.1/db", "permission_pool_timeout": "soon"}},
		{"a negative pool size is refused", map[string]string{"permission_url": "postgres://x@127.0.0.1/db", "permission_pool_size": "-1"}},
		{"an unparsable URL is refused", map[string]string{"permission_url": "postgres://x@127.0.0.1:notaport/db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.MustFromMap(tt.settings, config.Options{Env: []string{}})
			if b, err := postgresql.FromSettings(context.Background(), s); err == nil {
				b.Close()
				t.Fatal("FromSettings succeeded, want an error")
			}
		})
	}
}

func TestSQLAlchemyURLIsAccepted(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	b := open(ctx, t, postgresql.Options{URL: "postgresql+psycopg2" + u[len("postgres"):]})
	defer b.Close()
	if err := b.Ping(ctx, true); err != nil {
		t.Fatal(err)
	}
}

// TestMigratesKintoVersion1Schema builds kinto's first schema (no metadata row) in a private
// PostgreSQL schema and checks that InitializeSchema migrates it, keeping the data.
func TestMigratesKintoVersion1Schema(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const schema = "permission_migration_v1"
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	if _, err := conn.Exec(ctx, `
		CREATE TABLE `+schema+`.user_principals (user_id TEXT, principal TEXT, PRIMARY KEY (user_id, principal));
		CREATE TABLE `+schema+`.access_control_entries (object_id TEXT, permission TEXT, principal TEXT,
			PRIMARY KEY (object_id, permission, principal));
		INSERT INTO `+schema+`.access_control_entries VALUES ('/a_b/1', 'read', 'alice');
		INSERT INTO `+schema+`.user_principals VALUES ('alice', 'group');`); err != nil {
		t.Fatal(err)
	}
	b := open(ctx, t, postgresql.Options{URL: testenv.WithSearchPath(t, u, schema)})
	defer b.Close()

	if err := b.InitializeSchema(ctx, true); err != nil {
		t.Fatalf("dry run: %v", err)
	}
	var hasMetadata bool
	if err := conn.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, schema+".metadata").Scan(&hasMetadata); err != nil {
		t.Fatal(err)
	}
	if hasMetadata {
		t.Fatal("a dry run created the metadata table")
	}

	for i := 0; i < 2; i++ {
		if err := b.InitializeSchema(ctx, false); err != nil {
			t.Fatalf("InitializeSchema #%d: %v", i+1, err)
		}
	}
	var versions []string
	rows, err := conn.Query(ctx, `SELECT value FROM `+schema+`.metadata WHERE name = 'permission_schema_version'`)
	if err != nil {
		t.Fatal(err)
	}
	if versions, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if len(versions) != 1 || versions[0] != "3" {
		t.Errorf("schema versions = %q, want exactly [3]", versions)
	}
	got, err := b.AccessibleObjects(ctx, []string{"alice"}, []permission.Binding{{ObjectID: "/a_b/*", Permission: "read"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || len(got["/a_b/1"]) != 1 {
		t.Errorf("AccessibleObjects after migration = %v, want /a_b/1: [read]", got)
	}
	groups, err := b.UserPrincipals(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 1 || groups[0] != "group" {
		t.Errorf("UserPrincipals after migration = %q, want [group]", groups)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const schema = "permission_migration_future"
	if _, err := conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE; CREATE SCHEMA `+schema+`;
		CREATE TABLE `+schema+`.metadata (name VARCHAR(128) NOT NULL, value VARCHAR(512) NOT NULL);
		INSERT INTO `+schema+`.metadata VALUES ('permission_schema_version', '99');`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`) })
	b := open(ctx, t, postgresql.Options{URL: testenv.WithSearchPath(t, u, schema)})
	defer b.Close()
	err = b.InitializeSchema(ctx, false)
	var be *permission.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("InitializeSchema on a newer schema = %v, want a *permission.BackendError", err)
	}
}

func TestPoolTimeoutBoundsTheWaitForAConnection(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	b := open(ctx, t, postgresql.Options{URL: u, PoolSize: 1, PoolTimeout: 300 * time.Millisecond})
	defer b.Close()
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Another session holds the lock that serialises replacements of /pool-timeout, so the
	// replacement below keeps the pool's only connection busy.
	other, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(ctx)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('permission:/pool-timeout', 0))`); err != nil {
		t.Fatal(err)
	}
	replaced := make(chan error, 1)
	go func() {
		_, err := b.ReplaceObjectPermissions(ctx, "/pool-timeout", permission.Set{"read": {"u"}})
		replaced <- err
	}()
	time.Sleep(200 * time.Millisecond) // let the replacement take the connection

	start := time.Now()
	_, err = b.UserPrincipals(ctx, "u")
	var be *permission.BackendError
	if !errors.As(err, &be) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("UserPrincipals with an exhausted pool = %v, want a *permission.BackendError wrapping context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("waited %v for a connection, want about the 300ms pool timeout", d)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-replaced; err != nil {
		t.Fatalf("the blocked replacement failed: %v", err)
	}
	got, err := b.ObjectPermissions(ctx, "/pool-timeout")
	if err != nil {
		t.Fatal(err)
	}
	if len(got["read"]) != 1 {
		t.Errorf("ObjectPermissions = %v, want read: [u]", got)
	}
	if err := b.DeleteObjectPermissions(ctx, "/pool-timeout"); err != nil {
		t.Fatal(err)
	}
}

// TestUnstorableInputIsInvalidNotABackendFailure: PostgreSQL refuses a NUL character or
// invalid UTF-8 in text; that is the caller's input, reported as permission.ErrInvalid (a 400
// for the protocol), not a *permission.BackendError (a 503 that clients would retry forever).
func TestUnstorableInputIsInvalidNotABackendFailure(t *testing.T) {
	ctx := context.Background()
	b := harness{url: testURL(t)}.New(ctx, t).(*postgresql.Backend)
	defer b.Close()
	for _, bad := range []string{"a\x00b", "\x00", "a\xffb", "\xc3"} {
		calls := map[string]func() error{
			"AddPrincipalToACE (principal)": func() error { return b.AddPrincipalToACE(ctx, "/o", "read", bad) },
			"AddPrincipalToACE (object)":    func() error { return b.AddPrincipalToACE(ctx, "/o"+bad, "read", "p") },
			"AddUserPrincipal":              func() error { return b.AddUserPrincipal(ctx, "u", bad) },
			"ReplaceObjectPermissions": func() error {
				_, err := b.ReplaceObjectPermissions(ctx, "/o", permission.Set{"read": {"p", bad}})
				return err
			},
		}
		for name, call := range calls {
			err := call()
			var be *permission.BackendError
			if !errors.Is(err, permission.ErrInvalid) || errors.As(err, &be) {
				t.Errorf("%s with %q = %v, want permission.ErrInvalid and no *permission.BackendError", name, bad, err)
			}
		}
	}
	if s, err := b.ObjectPermissions(ctx, "/o"); err != nil || len(s) != 0 {
		t.Errorf("ObjectPermissions(/o) after the refused calls = %v, %v; want nothing stored", s, err)
	}
}
