package postgresql

import (
	"context"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// testDatabase returns the DSN of the database name on the test server, created when missing
// with the C.UTF-8 collation (the orderings the tests expect). Databases of this package are
// named storage_pg_test*, so they never collide with other packages' tests. It skips without
// a server, except in CI.
func testDatabase(t testing.TB, name string) string {
	t.Helper()
	return testenv.PostgresDatabaseC(t, name)
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
