package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/storage"
)

// newJointBackends opens a storage and a permission backend on one database, both migrated
// and empty.
func newJointBackends(t testing.TB, database string, opts Options) (*Backend, *permpg.Backend) {
	t.Helper()
	ctx := context.Background()
	opts.URL = testDatabase(t, database)
	b := newTestBackend(t, opts)
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	p, err := permpg.New(ctx, permpg.Options{URL: opts.URL, PoolSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	if err := p.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return b, p
}

// decorated is a permission decorator that exposes its backend, as the journal and the
// monitoring decorators do.
type decorated struct{ permission.Backend }

func (d decorated) Unwrap() permission.Backend { return d.Backend }

// answered splits the error of a joint call as the tests check it: ok is false, and err
// nil, when the backend declined the call (storage.ErrNotSupported).
func answered(err error) (ok bool, _ error) {
	if errors.Is(err, storage.ErrNotSupported) {
		return false, nil
	}
	return true, err
}

// jointFixture stores Kinto's shape (a bucket, a collection, records, one deleted) and
// permissions on it: groups given to the user and to every authenticated user, ACEs on
// several objects, held through principals and through groups. It returns the keys and
// queries to read them with.
func jointFixture(t testing.TB, b *Backend, p *permpg.Backend) ([][]storage.Key, []permission.AccessQuery) {
	t.Helper()
	ctx := context.Background()
	bucket := storage.Scope{Resource: "bucket", Parent: ""}
	coll := storage.Scope{Resource: "collection", Parent: "/buckets/b"}
	recs := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
	for _, w := range []struct {
		s      storage.Scope
		id, js string
	}{{bucket, "b", `{"title":"bucket"}`}, {coll, "c", `{"schema":{"type":"object"}}`}, {recs, "r", `{"n":1}`}, {recs, "dead", `{"n":2}`}} {
		if _, err := b.Update(ctx, w.s, storage.Object{ID: w.id, Data: json.RawMessage(w.js)}, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Delete(ctx, recs, "dead", 0, storage.Condition{}); err != nil { // a tombstone
		t.Fatal(err)
	}
	const (
		alice  = "basicauth:alice"
		record = "/buckets/b/collections/c/records/r"
	)
	for _, g := range [][2]string{{alice, "/buckets/b/groups/readers"}, {alice, "/buckets/b/groups/both"},
		{permission.Authenticated, "/buckets/b/groups/everybody"}, {permission.Authenticated, "/buckets/b/groups/both"},
		{"basicauth:bob", "/buckets/b/groups/bobs"}} {
		if err := p.AddUserPrincipal(ctx, g[0], g[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, ace := range [][3]string{
		{"/buckets/b", "write", "basicauth:bob"}, {"/buckets/b", "read", "/buckets/b/groups/readers"},
		{"/buckets/b", "collection:create", "/buckets/b/groups/both"},
		{"/buckets/b/collections/c", "write", alice}, {"/buckets/b/collections/c", "record:create", permission.Authenticated},
		{"/buckets/b/collections/c", "read", "/buckets/b/groups/everybody"},
		{record, "read", permission.Everyone}, {record, "write", "/buckets/b/groups/bobs"}, {record, "write", alice},
		{"/buckets/b/collections/c/records/dead", "read", permission.Everyone},
	} {
		if err := p.AddPrincipalToACE(ctx, ace[0], ace[1], ace[2]); err != nil {
			t.Fatal(err)
		}
	}
	bk, ck := storage.Key{Scope: bucket, ID: "b"}, storage.Key{Scope: coll, ID: "c"}
	keys := [][]storage.Key{
		{bk, ck, {Scope: recs, ID: "r"}},
		{bk, ck, {Scope: recs, ID: "dead"}},                              // a tombstone
		{bk, {Scope: coll, ID: "nope"}, {Scope: recs, ID: "r"}},          // a missing key
		{{Scope: bucket, ID: "nope"}, ck},                                // a missing ancestor
		{bk, ck, {Scope: recs, ID: "r\x00"}, {Scope: recs, ID: "r"}, bk}, // unstorable and repeated keys
		{bk},
	}
	objects := []string{"/buckets/b", "/buckets/b/collections/c", record, "/buckets/b/collections/c/records"}
	everyone := []string{permission.Everyone}
	user := []string{permission.Everyone, permission.Authenticated, alice}
	queries := []permission.AccessQuery{
		{UserID: alice, Principals: user, Objects: objects, Full: record},
		{UserID: alice, Principals: user, Objects: objects},
		{UserID: "basicauth:bob", Principals: []string{permission.Everyone, permission.Authenticated, "basicauth:bob"}, Objects: objects, Full: record},
		{Principals: everyone, Objects: objects, Full: record},                                                                                 // anonymous
		{Principals: everyone, Objects: append(objects[:2:2], objects[1], "/buckets/none")},                                                    // repeated, without ACEs
		{Principals: everyone, Objects: objects[:2], Full: "/buckets/b/collections/c/records/none"},                                            // a Full without ACEs
		{UserID: alice, Principals: user},                                                                                                      // the groups alone
		{UserID: alice, Objects: objects},                                                                                                      // held through groups alone
		{UserID: alice, Principals: user, Objects: append(slices.Repeat([]string{"/buckets/x"}, permpg.MaxScalars), objects...), Full: record}, // arrays
		{Principals: everyone}, // nothing to ask
	}
	return keys, queries
}

// GetManyAccess answers exactly what GetMany and Access answer.
func TestGetManyAccessEqualsGetManyAndAccess(t *testing.T) {
	b, p := newJointBackends(t, "storage_pg_test_joint", Options{})
	keys, queries := jointFixture(t, b, p)
	ctx := context.Background()
	check := func(t *testing.T, ctx context.Context, perms permission.Backend) {
		t.Helper()
		for _, k := range keys {
			for _, q := range queries {
				objs, acc, err := b.GetManyAccess(ctx, k, perms, q)
				ok, err := answered(err)
				if err != nil || !ok {
					t.Fatalf("GetManyAccess(%v, %+v) = ok %v, %v", k, q, ok, err)
				}
				wantObjs, err := b.GetMany(ctx, k)
				if err != nil {
					t.Fatal(err)
				}
				wantAcc, err := p.Access(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(objs, wantObjs) {
					t.Errorf("keys %v: objects\n%+v\nwant (GetMany)\n%+v", k, objs, wantObjs)
				}
				if !reflect.DeepEqual(acc, wantAcc) {
					t.Errorf("query %+v: access\n%+v\nwant (Access)\n%+v", q, acc, wantAcc)
				}
			}
		}
	}
	t.Run("backend", func(t *testing.T) { check(t, ctx, p) })
	t.Run("decorated", func(t *testing.T) { check(t, ctx, decorated{decorated{p}}) })
	t.Run("in a unit of work's transaction", func(t *testing.T) {
		uctx, tx, _ := b.Begin(ctx)
		defer tx.Rollback(ctx)
		// A write opens the transaction; the reads then run in it, and see it.
		if _, err := b.Update(uctx, storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"},
			storage.Object{ID: "r", Data: json.RawMessage(`{"n":3}`)}, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
		// A permission change made after the transaction started is committed: it is seen.
		if err := p.AddPrincipalToACE(ctx, "/buckets/b", "read", permission.Everyone); err != nil {
			t.Fatal(err)
		}
		defer p.RemovePrincipalFromACE(ctx, "/buckets/b", "read", permission.Everyone)
		check(t, uctx, p)
		objs, acc, err := b.GetManyAccess(uctx, keys[0], p, queries[3])
		if err != nil || string(objs[2].Data) != `{"n":3}` || !reflect.DeepEqual(acc.Held["/buckets/b"], []string{"read"}) {
			t.Errorf("in the unit: %+v %+v %v", objs, acc, err)
		}
	})
	t.Run("the fixture is not trivial", func(t *testing.T) {
		objs, acc, err := b.GetManyAccess(ctx, keys[0], p, queries[0])
		if err != nil || objs[2].ID != "r" || len(acc.Groups) != 3 || len(acc.Held) != 3 || len(acc.ACEs["write"]) != 2 {
			t.Errorf("GetManyAccess = %+v %+v %v", objs, acc, err)
		}
	})
}

// The joint reads keep the user's groups between statements, as the permission backend's
// Access does: a change of the groups made elsewhere (another head's backend, which keeps
// none here) is seen by the next read, in GetManyAccess and in GetManyAccessList alike, and
// their answers stay those of the separate reads.
func TestJointReadsSeeGroupsChangedElsewhere(t *testing.T) {
	b, p := newJointBackends(t, "storage_pg_test_joint_groups", Options{})
	keys, queries := jointFixture(t, b, p)
	ctx := context.Background()
	other, err := permpg.New(ctx, permpg.Options{URL: b.pool.Config().ConnConfig.ConnString(), PoolSize: 2, GroupsCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	recs := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
	page := storage.ListOptions{Sort: []storage.Sort{{Field: "last_modified", Desc: true}}, Limit: 5}
	q := queries[1] // alice, no Full
	const group = "/buckets/b/groups/late"
	if err := other.AddPrincipalToACE(ctx, "/buckets/b/collections/c", "record:create", group); err != nil {
		t.Fatal(err)
	}
	changes := []struct {
		what   string
		change func() error
		member bool
	}{
		{"nothing", func() error { return nil }, false},
		{"alice added", func() error { return other.AddUserPrincipal(ctx, "basicauth:alice", group) }, true},
		{"alice removed", func() error { return other.RemoveUserPrincipal(ctx, "basicauth:alice", group) }, false},
		{"Authenticated added", func() error { return other.AddUserPrincipal(ctx, permission.Authenticated, group) }, true},
		{"the group removed", func() error { return other.RemovePrincipal(ctx, group) }, false},
	}
	for _, c := range changes {
		if err := c.change(); err != nil {
			t.Fatal(err)
		}
		want, err := other.Access(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(want.Groups, group); got != c.member {
			t.Fatalf("after %s: Access(alice).Groups = %q", c.what, want.Groups)
		}
		for i := range 2 { // the second read takes the groups the first kept
			_, a, err := b.GetManyAccess(ctx, keys[0], p, q)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, want) {
				t.Errorf("after %s, GetManyAccess %d: access\n%+v\nwant\n%+v", c.what, i+1, a, want)
			}
			_, a, _, _, err = b.GetManyAccessList(ctx, keys[0], p, q, recs, page)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, want) {
				t.Errorf("after %s, GetManyAccessList %d: access\n%+v\nwant\n%+v", c.what, i+1, a, want)
			}
		}
	}
}

// GetManyAccess declines, without a statement, when the permissions are elsewhere: another
// kind of backend, another database, no keys it can send.
func TestGetManyAccessDeclines(t *testing.T) {
	b, p := newJointBackends(t, "storage_pg_test_joint", Options{})
	ctx := context.Background()
	other, err := permpg.New(ctx, permpg.Options{URL: testenv.PostgresDatabase(t, "storage_pg_test_joint_other")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	key := storage.Key{Scope: storage.Scope{Resource: "bucket"}, ID: "b"}
	many := make([]storage.Key, getManyMaxValues+1)
	for i := range many {
		many[i] = key
	}
	q := permission.AccessQuery{UserID: "basicauth:alice", Principals: []string{permission.Everyone}}
	for _, tc := range []struct {
		name  string
		perms permission.Backend
		keys  []storage.Key
	}{
		{"memory", memory.New(), []storage.Key{key}},
		{"another database", other, []storage.Key{key}},
		{"another database, decorated", decorated{other}, []storage.Key{key}},
		{"a decorator that hides its backend", struct{ permission.Backend }{p}, []storage.Key{key}},
		{"nil", nil, []storage.Key{key}},
		{"no keys", p, nil},
		{"no storable key", p, []storage.Key{{Scope: key.Scope, ID: "\x00"}}},
		{"too many keys", p, many},
	} {
		objs, _, err := b.GetManyAccess(ctx, tc.keys, tc.perms, q)
		ok, err := answered(err)
		if ok || err != nil || objs != nil {
			t.Errorf("%s: GetManyAccess = %v, ok %v, %v; want ok false", tc.name, objs, ok, err)
		}
	}
}

// The joint statement is planned once per connection and number of keys, as GetMany's and
// Access's are.
func TestGetManyAccessStatementKeepsItsGenericPlan(t *testing.T) {
	b, p := newJointBackends(t, "storage_pg_test_joint_plans", Options{PoolSize: 1, WriteWorkers: -1})
	keys, queries := jointFixture(t, b, p)
	ctx := context.Background()
	// Statistics that see large tables: many objects, ACEs, group memberships and users.
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO objects (resource_name, parent_id, id, last_modified, data)
		SELECT 'record', '/buckets/b/collections/big', 'o' || i, i, '{"n":1}' FROM generate_series(1, 5000) AS i
		ON CONFLICT DO NOTHING;
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || (i % 100) || '/collections/c' || i, p, 'basicauth:u' || (i % 500)
		  FROM generate_series(1, 5000) i, unnest(ARRAY['read', 'write']) p;
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 500) i, generate_series(1, 3) k;
		INSERT INTO user_principals_versions (user_id, version)
		SELECT 'basicauth:v' || i, 1 FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING;
		ANALYZE objects, access_control_entries, user_principals, user_principals_versions`); err != nil {
		t.Fatal(err)
	}
	// A second permission backend keeps no groups: its statements read them.
	reading, err := permpg.New(ctx, permpg.Options{URL: b.pool.Config().ConnConfig.ConnString(), PoolSize: 1, GroupsCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer reading.Close()
	// Four shapes: 4 objects and the principals as parameters of their own, or more objects
	// than permpg.MaxScalars, as arrays of varying lengths; the groups read, or kept (alice
	// and bob have 3 groups each). Within a shape, the user, Full (or none), the values and
	// the keys change.
	many := make([]string, permpg.MaxScalars+4)
	for i := range many {
		many[i] = "/buckets/b/collections/c" + strconv.Itoa(i)
	}
	scalars := func(i int) permission.AccessQuery {
		q := queries[[]int{0, 2}[i%2]] // alice's and bob's
		if i%4 >= 2 {
			q.Full = ""
		}
		return q
	}
	arrays := func(i int) permission.AccessQuery {
		q := queries[[]int{0, 2}[i%2]]
		q.Objects = many[:permpg.MaxScalars+1+i%4]
		return q
	}
	shapes := []struct {
		name     string
		perms    *permpg.Backend
		fragment string // identifies the statement in pg_prepared_statements
		query    func(i int) permission.AccessQuery
	}{
		{"scalars, groups read", reading, "groups AS (%(VALUES ($12::text)", scalars},
		{"arrays, groups read", reading, "groups AS (%unnest((SELECT", arrays},
		{"scalars, groups kept", p, "SELECT 'v'%(VALUES ($12::text)", scalars},
		{"arrays, groups kept", p, "SELECT 'v'%unnest((SELECT", arrays},
	}
	const runs = 12
	for _, sh := range shapes {
		for i := range runs {
			if _, _, err := b.GetManyAccess(ctx, keys[i%2], sh.perms, sh.query(i)); err != nil {
				t.Fatal(err)
			}
		}
		rows, err := b.pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
			WHERE statement LIKE '%JOIN objects%' AND statement LIKE '%' || $1 || '%'
			AND (statement LIKE '%groups AS (%') = ($1 LIKE 'groups AS (%')
			AND statement NOT LIKE '%pg_prepared_statements%'`, sh.fragment)
		if err != nil {
			t.Fatal(err)
		}
		type prepared struct {
			Stmt            string
			Generic, Custom int64
		}
		found, err := pgx.CollectRows(rows, pgx.RowToStructByPos[prepared])
		if err != nil {
			t.Fatal(err)
		}
		if len(found) != 1 {
			t.Fatalf("%s: %d prepared statements, want 1", sh.name, len(found))
		}
		// A shape whose groups are kept reads them at each user's first statement.
		if st := found[0]; st.Custom > 5 || st.Generic+st.Custom < runs-2 {
			t.Errorf("%s: %d generic and %d custom plans for %d executions of\n%s", sh.name, st.Generic, st.Custom, runs, strings.TrimSpace(st.Stmt))
		} else {
			t.Logf("%s: %d generic and %d custom plans", sh.name, st.Generic, st.Custom)
		}
	}

	// The generic plans probe the primary keys: of objects once per key, of
	// access_control_entries once per object and for Full, of user_principals_versions for
	// the versions, and of user_principals when they read the groups.
	conn, err := pgx.Connect(ctx, b.pool.Config().ConnConfig.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	for i, st := range []*permpg.AccessStatement{reading.AccessStatement(queries[0]), p.AccessStatement(queries[0])} {
		name := "joint" + strconv.Itoa(i)
		shape := jointShape{keys: len(keys[0]), access: st.Shape()}
		if shape.access.ReadGroups != (i == 0) {
			t.Fatalf("statement %d: ReadGroups = %v", i, shape.access.ReadGroups)
		}
		if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+jointSQL(shape)); err != nil {
			t.Fatal(err)
		}
		args := []any{}
		for _, k := range keys[0] {
			args = append(args, k.Scope.Resource, k.Scope.Parent, k.ID)
		}
		args = st.AppendArgs(args)
		params := make([]string, len(args))
		for i := range params {
			params[i] = "$" + strconv.Itoa(i+1)
		}
		// The simple protocol writes the arguments into the text: EXECUTE takes no parameters.
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) EXECUTE "+name+"("+strings.Join(params, ", ")+")",
			append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("EXPLAIN output %s: %v", raw, err)
		}
		probed := map[string]bool{}
		plans[0].Plan.walk(func(n planNode) {
			switch n.NodeType {
			case "Index Scan", "Index Only Scan", "Bitmap Index Scan":
				probed[n.IndexName] = true
			case "Seq Scan":
				t.Errorf("statement %d: sequential scan of %s", i, n.RelationName)
			}
		})
		for _, index := range []string{"objects_pkey", "access_control_entries_pkey", "user_principals_versions_pkey", "user_principals_pkey"} {
			if want := index != "user_principals_pkey" || i == 0; probed[index] != want {
				t.Errorf("statement %d: scan of %s: %v, want %v", i, index, probed[index], want)
			}
		}
	}
	if t.Failed() {
		t.Logf("generic plan: %s", raw)
	}
}
