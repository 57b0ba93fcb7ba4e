package postgresql

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// schemaLockKey identifies the advisory lock that serialises concurrent InitializeSchema
// calls (several processes running migrate at once).
const schemaLockKey = 0x63616368 // "cach"

// noSchema is the detected version when the cache tables do not exist yet.
const noSchema = -1

// InitializeSchema creates the cache tables, or upgrades them to CurrentSchemaVersion, in one
// transaction guarded by an advisory lock; it does nothing when they are up to date, so it is
// idempotent. With dryRun it only logs what it would do. It fails when the database holds a
// newer schema version than this package knows, or an unrelated table named cache.
func (b *Backend) InitializeSchema(ctx context.Context, dryRun bool) error {
	c, err := b.conn(ctx)
	if err != nil {
		return fail("initialize_schema", err)
	}
	defer c.Release()
	tx, err := c.Begin(ctx)
	if err != nil {
		return fail("initialize_schema", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, schemaLockKey); err != nil {
		return fail("initialize_schema", err)
	}
	version, err := schemaVersion(ctx, tx)
	if err != nil {
		return err
	}
	var files []string
	switch {
	case version == CurrentSchemaVersion:
		b.logger.InfoContext(ctx, "PostgreSQL cache schema is up-to-date", "version", version)
		return nil
	case version > CurrentSchemaVersion:
		return fmt.Errorf("cache: postgresql: schema version %d is newer than this program's (%d)", version, CurrentSchemaVersion)
	case version == noSchema:
		files = []string{"schema/schema.sql"}
	default:
		for v := version; v < CurrentSchemaVersion; v++ {
			files = append(files, fmt.Sprintf("schema/migration_%03d_%03d.sql", v, v+1))
		}
	}
	for _, name := range files {
		if dryRun {
			b.logger.InfoContext(ctx, "would apply the cache schema file (dry run)", "file", name)
			continue
		}
		sql, err := schemaFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("cache: postgresql: %w", err)
		}
		// Exec without arguments uses the simple protocol, which runs several statements.
		if _, err := tx.Exec(ctx, string(sql)); err != nil {
			return fail("initialize_schema", fmt.Errorf("%s: %w", name, err))
		}
		b.logger.InfoContext(ctx, "applied the cache schema file", "file", name)
	}
	if dryRun {
		return nil
	}
	if err := tx.Commit(ctx); err != nil {
		return fail("initialize_schema", err)
	}
	return nil
}

// schemaVersion reads the version from cache_metadata, or infers it: noSchema when there is no
// cache table (or when ours lacks its version row), 0 for kinto.core's table.
func schemaVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var hasMeta, hasCache bool
	err := tx.QueryRow(ctx, `SELECT to_regclass('cache_metadata') IS NOT NULL, to_regclass('cache') IS NOT NULL`).
		Scan(&hasMeta, &hasCache)
	if err != nil {
		return 0, fail("initialize_schema", err)
	}
	if hasMeta {
		var v string
		err := tx.QueryRow(ctx, `SELECT value FROM cache_metadata WHERE name = 'cache_schema_version'`).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return noSchema, nil
		}
		if err != nil {
			return 0, fail("initialize_schema", err)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("cache: postgresql: cache_metadata holds a bad cache_schema_version %q", v)
		}
		return n, nil
	}
	if !hasCache {
		return noSchema, nil
	}
	var valueType string
	err = tx.QueryRow(ctx, `
		SELECT coalesce(max(format_type(atttypid, atttypmod)) FILTER (WHERE attname = 'value'), '')
		FROM pg_attribute
		WHERE attrelid = to_regclass('cache') AND attnum > 0 AND NOT attisdropped`).Scan(&valueType)
	if err != nil {
		return 0, fail("initialize_schema", err)
	}
	switch valueType {
	case "text":
		return 0, nil // kinto.core's cache table
	case "bytea":
		return noSchema, nil // ours without its metadata: schema.sql is idempotent
	}
	return 0, errors.New("cache: postgresql: a table named cache exists but is not a cache table (its value column is not text or bytea)")
}
