package postgresql_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// SameDatabase compares what the connection strings say: the server, database, user and
// run-time parameters; not the password, the pool or the timeouts.
func TestSameDatabase(t *testing.T) {
	const base = "postgres://alice:secret@db.example:5432/kinto?sslmode=disable"
	b, err := postgresql.New(context.Background(), postgresql.Options{URL: base})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for _, tc := range []struct {
		url  string
		same bool
	}{
		{base, true},
		{"postgresql://alice:other@db.example/kinto?sslmode=disable&pool_max_conns=3&connect_timeout=5", true},
		{"host=db.example port=5432 dbname=kinto user=alice sslmode=disable", true},
		{"postgres://alice@db.example:5433/kinto?sslmode=disable", false},
		{"postgres://alice@other.example:5432/kinto?sslmode=disable", false},
		{"postgres://alice@db.example:5432/storage?sslmode=disable", false},
		{"postgres://bob@db.example:5432/kinto?sslmode=disable", false},
		{"postgres://alice@db.example:5432/kinto?sslmode=disable&search_path=other", false},
		{"postgres://alice@db.example:5432/kinto?sslmode=disable&statement_timeout=30000", true},
		{"postgres://alice@db.example:5432/kinto?sslmode=disable&application_name=web", true},
		{"postgres://alice@db.example:5432,db2.example:5432/kinto?sslmode=disable", false},
	} {
		cfg, err := pgxpool.ParseConfig(tc.url) // as the storage backend reads its URL
		if err != nil {
			t.Fatal(err)
		}
		if got := b.SameDatabase(cfg.ConnConfig); got != tc.same {
			t.Errorf("SameDatabase(%s) = %v, want %v", tc.url, got, tc.same)
		}
	}
	if b.SameDatabase(nil) {
		t.Error("SameDatabase(nil) = true")
	}
}
