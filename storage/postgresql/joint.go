package postgresql

import (
	"context"
	"strings"
	"sync"

	"github.com/cliquet-go/cliquet/permission"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/storage"
)

// jointShape is what the text of GetManyAccess's statement depends on: the number of keys
// and the shape of the Access query (permpg.AccessShape).
type jointShape struct{ keys, objects, principals int }

// jointSQLs caches the statements of GetManyAccess by jointShape.
var jointSQLs sync.Map

// jointSQL returns the statement of GetManyAccess for a shape: GetMany's rows for the keys
// (as in getManyValuesSQL, parameters $1 to $3n) and the permission backend's Access rows
// (permpg.AccessSQL, parameters from $3n+1), joined by UNION ALL with the common columns
//
//	kind text      'o' an object, else the Access row's kind ('g', 'h', 'f')
//	n int          the object's key position (from 1); 0 for Access rows
//	last_modified  the object's; 0 for Access rows
//	data jsonb     the object's; NULL for Access rows
//	x, y text      '' for objects; the Access row's two values
//
// Each part keeps the tricks that keep its own generic plan (the number of keys, objects
// and principals is part of the text), so the statement keeps its generic plan too. The
// shapes are few: up to getManyMaxValues keys, and permpg.MaxScalars objects and principals.
func jointSQL(shape jointShape) string {
	if sql, ok := jointSQLs.Load(shape); ok {
		return sql.(string)
	}
	with, union := permpg.AccessSQL(3*shape.keys+1, "0, 0::bigint, NULL::jsonb,", shape.objects, shape.principals)
	var sb strings.Builder
	sb.WriteString("WITH ")
	sb.WriteString(with)
	sb.WriteString("\nSELECT 'o', k.n, o.last_modified, o.data, '', ''\n")
	sb.WriteString(getManyFrom(shape.keys))
	sb.WriteString("\nUNION ALL\n")
	sb.WriteString(union)
	sql, _ := jointSQLs.LoadOrStore(shape, sb.String())
	return sql.(string)
}

// GetManyAccess answers GetMany(ctx, keys) and perms.Access(ctx, q) together, in one
// statement (one round trip, one execution; see jointSQL), when perms is a PostgreSQL
// permission backend ([permpg.Backend], found through the Unwrap() permission.Backend
// methods of its decorators) on the same database as b ([permpg.Backend.SameDatabase]). It
// runs in the unit of work ctx carries, as GetMany does: the permission rows are then read
// in its transaction, which sees every committed permission change (READ COMMITTED), as
// the permission backend's own connection would.
//
// It returns ok false, without touching the database, when perms is not such a backend, or
// when there are no keys PostgreSQL can hold or more than a VALUES list takes: the caller
// then makes the two calls. With ok true, err is the failure of the joint read (a
// *storage.BackendError for a failure of the database). Decorators of perms that change
// what Access answers must not expose the backend through Unwrap: the joint read bypasses
// them (the permission journal and the monitoring decorator only forward Access).
func (b *Backend) GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, bool, error) {
	if !b.sameDatabase(perms) {
		return nil, permission.Access{}, false, nil
	}
	pos := storableKeys(keys) // pos[j]: the index in keys of the j-th key sent
	if len(pos) == 0 || len(pos) > getManyMaxValues {
		return nil, permission.Access{}, false, nil
	}
	access := permpg.NewAccessReader(q)
	if !permpg.AccessNeeded(q) {
		out, err := b.GetMany(ctx, keys)
		if err != nil {
			return nil, permission.Access{}, true, err
		}
		return out, access.Access(), true, nil
	}
	shape := jointShape{keys: len(pos)}
	shape.objects, shape.principals = permpg.AccessShape(q)
	args := appendKeyArgs(make([]any, 0, 3*len(pos)+3+max(shape.objects+shape.principals, 2)), keys, pos)
	args = permpg.AppendAccessArgs(args, q)
	out := make([]storage.Object, len(keys))
	err := b.run(ctx, "get_many_access", false, func(qr querier) error {
		rs, err := qr.Query(ctx, jointSQL(shape), args...)
		if err != nil {
			return err
		}
		defer rs.Close()
		var (
			kind, x, y string
			n, lm      int64
			data       []byte // pgx scans each row's data into a new slice
		)
		dest := []any{&kind, &n, &lm, &data, &x, &y} // one set of destinations for every row
		for rs.Next() {
			if err := rs.Scan(dest...); err != nil {
				return err
			}
			if kind != "o" {
				access.Row(kind, x, y)
				continue
			}
			if err := placeRow(out, keys, pos, n, lm, data); err != nil {
				return err
			}
		}
		return rs.Err()
	})
	if err != nil {
		return nil, permission.Access{}, true, err
	}
	return out, access.Access(), true, nil
}

// sameDatabase reports whether perms is, under its decorators, a PostgreSQL permission
// backend on b's database. The comparison is made once per permission backend.
func (b *Backend) sameDatabase(perms permission.Backend) bool {
	for perms != nil {
		if p, ok := perms.(*permpg.Backend); ok {
			if same, ok := b.joint.Load(p); ok {
				return same.(bool)
			}
			same := p.SameDatabase(b.pool.Config().ConnConfig)
			b.joint.Store(p, same)
			return same
		}
		u, ok := perms.(interface{ Unwrap() permission.Backend })
		if !ok {
			return false
		}
		perms = u.Unwrap()
	}
	return false
}
