package postgresql

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/cliquet-go/cliquet/permission"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/storage"
)

// jointShape is what the text of GetManyAccess's statement depends on: the number of keys
// and the shape of the Access statement.
type jointShape struct {
	keys   int
	access permpg.AccessShape
}

// jointSQLs caches the statements of GetManyAccess by jointShape.
var jointSQLs sync.Map

// jointSQL returns the statement of GetManyAccess for a shape: GetMany's rows for the keys
// (as in getManyValuesSQL, parameters $1 to $3n) and the permission backend's Access rows
// (permpg.AccessSQL, parameters from $3n+1), joined by UNION ALL with the common columns
//
//	kind text      'o' an object, else the Access row's kind ('g', 'h', 'f')
//	n int          the object's key position (from 1); 0 for Access rows
//	last_modified  the object's; 0 for Access rows
//	data text      the object's (readData); NULL for Access rows
//	x, y text      '' for objects; the Access row's two values
//
// Each part keeps the tricks that keep its own generic plan (the number of keys, objects
// and principals is part of the text), so the statement keeps its generic plan too. The
// shapes are few: up to getManyMaxValues keys, permpg.MaxScalars objects and principals,
// and whether the statement reads the user's groups.
func jointSQL(shape jointShape) string {
	if sql, ok := jointSQLs.Load(shape); ok {
		return sql.(string)
	}
	with, union := permpg.AccessSQL(3*shape.keys+1, "0, 0::bigint, NULL::text,", shape.access)
	var sb strings.Builder
	if with != "" {
		sb.WriteString("WITH ")
		sb.WriteString(with)
		sb.WriteString("\n")
	}
	sb.WriteString("SELECT 'o', k.n, o.last_modified, " + readData("o.") + ", '', ''\n")
	sb.WriteString(getManyFrom(shape.keys))
	sb.WriteString("\nUNION ALL\n")
	sb.WriteString(union)
	sql, _ := jointSQLs.LoadOrStore(shape, sb.String())
	return sql.(string)
}

// jointArgs returns the shape of the joint statement for the keys sent (pos) and the Access
// statement st, and its arguments, with room for extra more.
func jointArgs(keys []storage.Key, pos []int, st *permpg.AccessStatement, extra int) (jointShape, []any) {
	shape := jointShape{keys: len(pos), access: st.Shape()}
	args := appendKeyArgs(make([]any, 0, 3*len(pos)+3+max(shape.access.Objects+shape.access.Principals, 2)+extra), keys, pos)
	return shape, st.AppendArgs(args)
}

// GetManyAccess answers GetMany(ctx, keys) and perms.Access(ctx, q) together, in one
// statement (one round trip, one execution; see jointSQL), when perms is a PostgreSQL
// permission backend ([permpg.Backend], found under its decorators by permission.As) on the
// same database as b ([permpg.Backend.SameDatabase]). It runs in the unit of work ctx
// carries, as GetMany does: the permission rows are then read in its transaction, which
// sees every committed permission change (READ COMMITTED), as the permission backend's own
// connection would.
//
// It returns storage.ErrNotSupported, without touching the database, when perms is not such
// a backend, or when there are no keys PostgreSQL can hold or more than a VALUES list
// takes: the caller then makes the two calls. Otherwise err is the failure of the joint
// read (a *storage.BackendError for a failure of the database). Decorators of perms that
// change what Access answers must not expose the backend through Unwrap: the joint read
// bypasses them (the permission journal and the monitoring decorator only forward Access).
func (b *Backend) GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, error) {
	p := b.jointBackend(perms)
	if p == nil {
		return nil, permission.Access{}, storage.ErrNotSupported
	}
	pos := storableKeys(keys) // pos[j]: the index in keys of the j-th key sent
	if len(pos) == 0 || len(pos) > getManyMaxValues {
		return nil, permission.Access{}, storage.ErrNotSupported
	}
	st := p.AccessStatement(q)
	if !st.Needed() {
		out, err := b.GetMany(ctx, keys)
		if err != nil {
			return nil, permission.Access{}, err
		}
		a, err := st.Access()
		return out, a, err
	}
	out := make([]storage.Object, len(keys))
	var a permission.Access
	err := b.run(ctx, "get_many_access", false, func(qr querier) (err error) {
		a, err = st.Run(func(st *permpg.AccessStatement) error {
			clear(out) // a second run reads again what the first read
			shape, args := jointArgs(keys, pos, st, 0)
			return jointRows(ctx, qr, jointSQL(shape), args, func(r *jointRow) error {
				if r.kind != "o" {
					st.Row(r.kind, r.x, r.y)
					return nil
				}
				return placeRow(out, keys, pos, r.n, r.lm, r.data)
			})
		})
		return err
	})
	if err != nil {
		return nil, permission.Access{}, err
	}
	return out, a, nil
}

// GetManyAccessList is GetManyAccess that also reads, in the same statement, what
// ListWithTimestamp(ctx, s, opt) reads: a page of the collection s and its timestamp. A
// nested list's authorization read (its ancestors, the user's groups and rights) and its
// page then cost one round trip and one execution; the caller reads the page speculatively,
// before it knows that the user may read the whole collection, and drops it otherwise.
//
// It returns storage.ErrNotSupported, as GetManyAccess does, and also when the page is not
// ordered by last_modified first or its scope cannot be stored: the caller then makes its
// calls separately. Otherwise, page is nil when the collection has no timestamp yet (never
// read nor written), or when opt.Since is older than its tombstone horizon: the caller
// then lists it on its own, which stores the timestamp, or fails with the horizon's error.
//
// The statement is GetManyAccess's, followed by two more SELECTs in its UNION ALL:
//
//	'p', rank, last_modified, data, id, 't' or ''   the page's objects, ranked by the
//	                                                page's order ('t': a tombstone)
//	'c', 0, the collection's timestamp, NULL, its tombstone horizon, ''
//
// Only pages ordered by last_modified first are read this way: their plan is the same for
// every collection (see scopeCond), so the statement keeps its generic plan.
func (b *Backend) GetManyAccessList(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery, s storage.Scope, opt storage.ListOptions) (objs []storage.Object, a permission.Access, page []storage.Object, ts int64, err error) {
	if len(opt.Sort) == 0 || opt.Sort[0].Field != "last_modified" || !storable(s.Resource) || !storable(s.Parent) {
		return nil, permission.Access{}, nil, 0, storage.ErrNotSupported
	}
	p := b.jointBackend(perms)
	if p == nil {
		return nil, permission.Access{}, nil, 0, storage.ErrNotSupported
	}
	st := p.AccessStatement(q)
	pos := storableKeys(keys) // pos[j]: the index in keys of the j-th key sent
	if !st.Needed() || len(pos) == 0 || len(pos) > getManyMaxValues || len(pos) != len(keys) {
		return nil, permission.Access{}, nil, 0, storage.ErrNotSupported
	}

	// statement writes the joint read, then the page's SELECTs, numbered after the joint
	// read's parameters.
	statement := func(st *permpg.AccessStatement) (*query, error) {
		shape, args := jointArgs(keys, pos, st, 2)
		pq := &query{args: args}
		resource, parent := pq.arg(s.Resource), pq.arg(s.Parent)
		order := pq.orderText(opt.Sort)
		pq.w(jointSQL(shape), `
UNION ALL
SELECT 'p', row_number() OVER (`, order,
			`), p.last_modified, `+readData("p.")+`, p.id, CASE WHEN p.deleted THEN 't' ELSE '' END FROM (
	SELECT id, last_modified, deleted, data, raw FROM objects WHERE resource_name = (SELECT `, resource,
			`::text) AND parent_id = (SELECT `, parent, `::text)`)
		if err := b.listTail(pq, opt, order); err != nil {
			return nil, err
		}
		pq.w(`) AS p
UNION ALL
SELECT 'c', 0, last_modified, NULL::text, horizon::text, '' FROM timestamps WHERE resource_name = `, resource, ` AND parent_id = `, parent)
		return pq, nil
	}

	out := make([]storage.Object, len(keys))
	var (
		ranks   []int64
		horizon string
	)
	err = b.run(ctx, "get_many_access_list", false, func(qr querier) (err error) {
		a, err = st.Run(func(st *permpg.AccessStatement) error {
			pq, err := statement(st)
			if err != nil {
				return result(err)
			}
			// A second run reads again what the first read.
			clear(out)
			page, ranks, ts, horizon = nil, ranks[:0], 0, "0"
			return jointRows(ctx, qr, pq.sb.String(), pq.args, func(r *jointRow) error {
				switch r.kind {
				case "o":
					return placeRow(out, keys, pos, r.n, r.lm, r.data)
				case "p":
					page = append(page, storage.Object{ID: r.x, LastModified: r.lm, Deleted: r.y == "t", Data: r.data})
					ranks = append(ranks, r.n)
				case "c":
					ts, horizon = r.lm, r.x
				default:
					st.Row(r.kind, r.x, r.y)
				}
				return nil
			})
		})
		return err
	})
	if err != nil {
		return nil, permission.Access{}, nil, 0, err
	}
	if ts == 0 {
		return out, a, nil, 0, nil
	}
	hz, err := strconv.ParseInt(horizon, 10, 64)
	if err != nil {
		return nil, permission.Access{}, nil, 0, b.wrap("list", err)
	}
	if storage.CheckHorizon(s, opt.Since, hz) != nil {
		// A delta from before the horizon: no page, so that the caller answers once it has
		// authorized the request (a list then fails with the horizon's error).
		return out, a, nil, 0, nil
	}
	if !sort.IsSorted(byRank{page, ranks}) { // SQL does not promise the union keeps the page's order
		sort.Sort(byRank{page, ranks})
	}
	if page == nil {
		page = []storage.Object{}
	}
	return out, a, page, ts, nil
}

// jointRow is one row of a joint statement (see jointSQL for its columns).
type jointRow struct {
	kind, x, y string
	n, lm      int64
	data       []byte // pgx scans each row's data into a new slice
}

// jointRows runs a joint statement and hands each of its rows to fn (the same *jointRow,
// refilled).
func jointRows(ctx context.Context, qr querier, sql string, args []any, fn func(*jointRow) error) error {
	rs, err := qr.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rs.Close()
	var r jointRow
	dest := []any{&r.kind, &r.n, &r.lm, &r.data, &r.x, &r.y} // one set of destinations for every row
	for rs.Next() {
		if err := rs.Scan(dest...); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return rs.Err()
}

// jointBackend returns perms, under its decorators (permission.As), when it is a PostgreSQL
// permission backend on b's database; nil otherwise. The comparison is made once per
// permission backend.
func (b *Backend) jointBackend(perms permission.Backend) *permpg.Backend {
	p, ok := permission.As[*permpg.Backend](perms)
	if !ok {
		return nil
	}
	if same, ok := b.joint.Load(p); ok {
		if same.(bool) {
			return p
		}
		return nil
	}
	same := p.SameDatabase(b.pool.Config().ConnConfig)
	b.joint.Store(p, same)
	if same {
		return p
	}
	return nil
}
