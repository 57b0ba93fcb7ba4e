package postgresql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// versionKey is the metadata row holding the schema version.
const versionKey = "storage_schema_version"

// migrationLock is the advisory lock key that serialises concurrent migrate runs.
const migrationLock = 0x636c69717565 // "clique"

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations, ordered by version.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("storage/postgresql: bad migration file name %q", e.Name())
		}
		body, err := migrationFS.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("storage/postgresql: migration %s out of sequence", m.name)
		}
	}
	return ms, nil
}

// SchemaVersion is the version of the schema this package creates (the number of its
// embedded migrations).
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // embedded files: a build-time defect
	}
	return len(ms)
}

// InitializeSchema implements storage.Backend: it applies the migrations the database lacks,
// in one transaction, under an advisory lock (concurrent runs wait for each other). Running
// it again is a no-op. With dryRun it logs what it would apply and changes nothing. It also
// warns when the database collation is not byte-wise ("C", "POSIX" or "C.UTF-8").
func (b *Backend) InitializeSchema(ctx context.Context, dryRun bool) error {
	_, err := b.migrate(ctx, dryRun, 0)
	return err
}

// migrate brings the schema to version target (0: the latest) and returns the versions it
// applied (or would apply, with dryRun).
func (b *Backend) migrate(ctx context.Context, dryRun bool, target int) ([]int, error) {
	ms, err := migrations()
	if err != nil {
		return nil, err
	}
	if target <= 0 || target > len(ms) {
		target = len(ms)
	}
	var applied []int
	err = b.run(ctx, "initialize_schema", false, func(q querier) error {
		conn, ok := q.(interface {
			Begin(context.Context) (pgx.Tx, error)
		})
		if !ok {
			return errors.New("cannot migrate inside a unit of work")
		}
		tx, err := conn.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx) //nolint:errcheck // no-op after Commit
		// A migration may rewrite a large table, and waits for another process's migration:
		// the connection's statement_timeout (Options.StatementTimeout) is not for it.
		if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrationLock)); err != nil {
			return err
		}
		current, err := schemaVersion(ctx, tx)
		if err != nil {
			return err
		}
		if current > len(ms) {
			return result(fmt.Errorf("storage/postgresql: database schema version %d is newer than this program's (%d)", current, len(ms)))
		}
		b.warnCollation(ctx, tx)
		if current >= target {
			b.log.Info("storage schema is up to date", "version", current)
			return nil
		}
		for _, m := range ms[current:target] {
			applied = append(applied, m.version)
			if dryRun {
				b.log.Info("storage schema: would apply migration (dry run)", "migration", m.name, "from", current)
				continue
			}
			b.log.Info("storage schema: applying migration", "migration", m.name)
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if dryRun {
			return nil
		}
		if _, err := tx.Exec(ctx, `INSERT INTO metadata (name, value) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`, versionKey, strconv.Itoa(target)); err != nil {
			return err
		}
		return tx.Commit(ctx)
	})
	return applied, err
}

// schemaVersion reads the stored version: 0 when there is no metadata table or no row.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var exists bool
	if err := q.QueryRow(ctx, `SELECT to_regclass('metadata') IS NOT NULL`).Scan(&exists); err != nil {
		return 0, err
	}
	if !exists {
		return 0, nil
	}
	var v string
	err := q.QueryRow(ctx, `SELECT value FROM metadata WHERE name = $1`, versionKey).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("metadata %s = %q is not a number", versionKey, v)
	}
	return n, nil
}

// CurrentSchemaVersion returns the schema version stored in the database (0 when it has
// none).
func (b *Backend) CurrentSchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := b.run(ctx, "schema_version", false, func(q querier) error {
		var err error
		v, err = schemaVersion(ctx, q)
		return err
	})
	return v, err
}

func (b *Backend) warnCollation(ctx context.Context, q querier) {
	var coll string
	if err := q.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = current_database()`).Scan(&coll); err != nil {
		return
	}
	switch strings.ToLower(coll) {
	case "c", "posix", "c.utf-8", "c.utf8":
		return
	}
	b.log.Warn("storage: the database collation is not byte-wise; strings inside JSON will sort differently from other backends",
		"collation", coll)
}

// Ping implements storage.Backend. readonly runs a SELECT; otherwise it also writes and
// removes a clock row in the reserved collection ("__heartbeat__", "").
func (b *Backend) Ping(ctx context.Context, readonly bool) error {
	return b.run(ctx, "ping", false, func(q querier) error {
		if readonly {
			_, err := q.Exec(ctx, `SELECT 1`)
			return err
		}
		_, err := q.Exec(ctx, `INSERT INTO timestamps (resource_name, parent_id, last_modified)
			VALUES ('__heartbeat__', '', 0) ON CONFLICT (resource_name, parent_id) DO UPDATE SET last_modified = 0`)
		if err != nil {
			return err
		}
		_, err = q.Exec(ctx, `DELETE FROM timestamps WHERE resource_name = '__heartbeat__' AND parent_id = ''`)
		return err
	})
}

// Flush implements storage.Backend: it removes every object, tombstone and collection
// timestamp (the schema version is kept).
func (b *Backend) Flush(ctx context.Context) error {
	return b.run(ctx, "flush", true, func(q querier) error {
		_, err := q.Exec(ctx, `DELETE FROM objects; DELETE FROM timestamps`)
		return err
	})
}
