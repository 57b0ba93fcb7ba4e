package postgresql

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/storage"
)

// purgeSQL removes the tombstones of collection ($1, $2) older than $3 (all when $3 <= 0),
// raises the collection's horizon to the newest of them and returns how many it removed,
// in one statement. It runs after lockSQL, as every write does (lockedRow): it waits for
// the writers in flight and sees what they wrote, so a tombstone being written, or brought
// back by a create, is either purged and counted in the horizon or left in place. The clock
// and the live counter do not move (a clock row is created for tombstones that have none).
const purgeSQL = `WITH purged AS (
	DELETE FROM objects
	WHERE resource_name = $1 AND parent_id = $2 AND deleted AND ($3::bigint <= 0 OR last_modified < $3::bigint)
	RETURNING last_modified),
raised AS (
	INSERT INTO timestamps AS t (resource_name, parent_id, last_modified, horizon)
	SELECT $1, $2, p.newest, p.newest FROM (SELECT max(last_modified) AS newest FROM purged) AS p
	WHERE p.newest IS NOT NULL
	ON CONFLICT (resource_name, parent_id) DO UPDATE SET horizon = GREATEST(t.horizon, EXCLUDED.horizon))
SELECT count(*) FROM purged`

// tombstonedSQL lists the collections holding tombstones older than $1 (all when $1 <= 0),
// from the partial index on tombstones.
const tombstonedSQL = `SELECT DISTINCT resource_name, parent_id FROM objects
	WHERE deleted AND ($1::bigint <= 0 OR last_modified < $1::bigint)`

// PurgeTombstones implements storage.Backend: it lists the collections holding tombstones
// older than before (tombstonedSQL), then purges each (lockSQL and purgeSQL), each
// collection in a transaction of its own on one pooled connection (never in the unit of work ctx may carry), so
// that each collection's clock row is locked only for its own purge.
func (b *Backend) PurgeTombstones(ctx context.Context, before int64) (int, error) {
	conn, err := b.acquire(ctx)
	if err != nil {
		return 0, b.wrap("purge_tombstones", err)
	}
	defer conn.Release()
	rows, err := conn.Query(ctx, tombstonedSQL, before)
	if err != nil {
		return 0, b.wrap("purge_tombstones", err)
	}
	scopes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Scope, error) {
		var s storage.Scope
		err := r.Scan(&s.Resource, &s.Parent)
		return s, err
	})
	if err != nil {
		return 0, b.wrap("purge_tombstones", err)
	}
	total := 0
	for _, s := range scopes {
		var n int64
		if err := lockedRow(ctx, conn, s, purgeSQL, []any{s.Resource, s.Parent, before}, &n); err != nil {
			return total, b.wrap("purge_tombstones", err)
		}
		total += int(n)
	}
	return total, nil
}

// Horizon implements storage.Backend: the horizon column of the collection's clock row (0
// without a row).
func (b *Backend) Horizon(ctx context.Context, s storage.Scope) (int64, error) {
	return b.clockColumn(ctx, "horizon", s, `SELECT horizon FROM timestamps WHERE resource_name = $1 AND parent_id = $2`)
}

// liveCount is Count without filters: the live counter of the collection's clock row (0
// without a row), which every write moves in the statement that moves the clock.
func (b *Backend) liveCount(ctx context.Context, s storage.Scope) (int, error) {
	n, err := b.clockColumn(ctx, "count", s, `SELECT live FROM timestamps WHERE resource_name = $1 AND parent_id = $2`)
	return int(n), err
}

// clockColumn reads one column of the collection's clock row with sql ($1 resource, $2
// parent): 0 when the collection has no clock row.
func (b *Backend) clockColumn(ctx context.Context, op string, s storage.Scope, sql string) (int64, error) {
	var v int64
	err := b.run(ctx, op, false, func(q querier) error {
		err := q.QueryRow(ctx, sql, s.Resource, s.Parent).Scan(&v)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	return v, err
}
