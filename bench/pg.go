package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
)

// benchDSN returns the DSN of the benchmark database: CLIQUET_BENCH_POSTGRES_DSN, or the
// test DSN (CLIQUET_TEST_POSTGRES_DSN) with its database replaced by benchdb.
func benchDSN() string {
	if v := os.Getenv("CLIQUET_BENCH_POSTGRES_DSN"); v != "" {
		return v
	}
	v := os.Getenv("CLIQUET_TEST_POSTGRES_DSN")
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil {
		return ""
	}
	u.Path = "/benchdb"
	return u.String()
}

// migrate opens the storage backend by name from settings, as the app does, and runs its
// InitializeSchema.
func migrate(ctx context.Context, dsn string) error {
	s, err := config.FromMap(map[string]string{"storage_backend": "postgresql", "storage_url": dsn}, config.Options{Env: []string{}})
	if err != nil {
		return err
	}
	b, err := storage.Open(ctx, "postgresql", s)
	if err != nil {
		return err
	}
	defer b.Close()
	return b.InitializeSchema(ctx, false)
}

func openPool(ctx context.Context, dsn string, size int) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = int32(size)
	return pgxpool.NewWithConfig(ctx, pc)
}

// dropCollections removes the objects and clocks of the bookmark collections of parents.
func dropCollections(ctx context.Context, pool *pgxpool.Pool, parents []string) error {
	if _, err := pool.Exec(ctx, `DELETE FROM objects WHERE resource_name = $1 AND parent_id = ANY($2)`, resourceName, parents); err != nil {
		return err
	}
	_, err := pool.Exec(ctx, `DELETE FROM timestamps WHERE resource_name = $1 AND parent_id = ANY($2)`, resourceName, parents)
	return err
}

// loadCollection makes the bookmark collection of parent hold exactly the records seedID(0..n-1)
// with timestamps base+i, loading them with COPY unless they are already there (reload
// forces it). It returns base and how long the load took (0 when reused).
func loadCollection(ctx context.Context, pool *pgxpool.Pool, parent string, n int, reload bool) (int64, time.Duration, error) {
	var count, dead int64
	var minTS int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT deleted), count(*) FILTER (WHERE deleted),
		COALESCE(min(last_modified), 0) FROM objects WHERE resource_name = $1 AND parent_id = $2`,
		resourceName, parent).Scan(&count, &dead, &minTS); err != nil {
		return 0, 0, err
	}
	if !reload && count == int64(n) && dead == 0 {
		var maxTS int64
		if err := pool.QueryRow(ctx, `SELECT max(last_modified) FROM objects WHERE resource_name = $1 AND parent_id = $2`,
			resourceName, parent).Scan(&maxTS); err != nil {
			return 0, 0, err
		}
		if maxTS == minTS+int64(n)-1 {
			return minTS, 0, nil
		}
	}
	start := time.Now()
	if err := dropCollections(ctx, pool, []string{parent}); err != nil {
		return 0, 0, err
	}
	base := time.Now().UnixMilli() - int64(n) - 60_000
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	i := 0
	copied, err := conn.Conn().CopyFrom(ctx, pgx.Identifier{"objects"},
		[]string{"resource_name", "parent_id", "id", "last_modified", "deleted", "data"},
		pgx.CopyFromFunc(func() ([]any, error) {
			if i >= n {
				return nil, nil
			}
			row := []any{resourceName, parent, seedID(i), base + int64(i), false, string(recordData(i))}
			i++
			return row, nil
		}))
	if err != nil {
		return 0, 0, fmt.Errorf("bench: COPY: %w", err)
	}
	if copied != int64(n) {
		return 0, 0, fmt.Errorf("bench: COPY wrote %d rows, want %d", copied, n)
	}
	// The clock row, with the live counter the backend keeps (an unfiltered count reads it).
	if _, err := conn.Exec(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified, live) VALUES ($1, $2, $3, $4)
		ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = EXCLUDED.last_modified, live = EXCLUDED.live`,
		resourceName, parent, base+int64(n)-1, n); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, `ANALYZE objects`); err != nil {
		return 0, 0, err
	}
	return base, time.Since(start), nil
}

// rawTable is a table like objects, without the unique timestamp index (nothing assigns
// unique timestamps here), for the raw INSERT rate.
const rawTable = `CREATE TABLE IF NOT EXISTS bench_raw_objects (
    resource_name TEXT COLLATE "C" NOT NULL,
    parent_id     TEXT COLLATE "C" NOT NULL,
    id            TEXT COLLATE "C" NOT NULL,
    last_modified BIGINT NOT NULL,
    deleted       BOOLEAN NOT NULL DEFAULT FALSE,
    data          JSONB,
    PRIMARY KEY (resource_name, parent_id, id)
);
CREATE INDEX IF NOT EXISTS bench_raw_objects_lm_idx ON bench_raw_objects (resource_name, parent_id, last_modified DESC)`

const rawInsertSQL = `INSERT INTO bench_raw_objects (resource_name, parent_id, id, last_modified, deleted, data)
VALUES ($1, $2, $3, floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint, FALSE, $4::text::jsonb)`
