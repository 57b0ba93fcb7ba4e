package postgresql_test

import (
	"context"
	"reflect"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// BenchmarkAccess compares Access (one statement) with the calls it replaces, UserPrincipals
// then ObjectPermissions on each object, for the shape of a record request: 4 objects (the
// bucket, the collection, the record and the plural URI of the records), the record's ACEs
// wanted in full, and 3 principals (Everyone, Authenticated, the user), the user having 3
// groups of its own and 1 through Authenticated. The tables hold 40,000 other ACEs and
// 10,000 other group memberships. Both compute the same answer (checked once).
func BenchmarkAccess(b *testing.B) {
	ctx := context.Background()
	u := testenv.PostgresDatabase(b, "permission_test_bench")
	be, err := postgresql.New(ctx, postgresql.Options{URL: u, PoolSize: 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { be.Close() })
	if err := be.InitializeSchema(ctx, false); err != nil {
		b.Fatal(err)
	}
	if err := be.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || (i % 100) || '/collections/c' || (i % 1000) || '/records/r' || i, p, 'basicauth:u' || (i % 5000)
		  FROM generate_series(1, 20000) i, unnest(ARRAY['read', 'write']) p;
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 5000) i, generate_series(1, 2) k;
		ANALYZE access_control_entries, user_principals;`); err != nil {
		b.Fatal(err)
	}

	const (
		user   = "basicauth:alice"
		bucket = "/buckets/b1"
		coll   = bucket + "/collections/c1"
		plural = coll + "/records"
		record = plural + "/r1"
	)
	for _, g := range []string{"/buckets/b1/groups/readers", "/buckets/b2/groups/editors", "/buckets/b3/groups/admins"} {
		if err := be.AddUserPrincipal(ctx, user, g); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.AddUserPrincipal(ctx, permission.Authenticated, "/buckets/b9/groups/everybody"); err != nil {
		b.Fatal(err)
	}
	for _, ace := range [][3]string{
		{bucket, "write", "basicauth:bob"}, {bucket, "read", "/buckets/b1/groups/readers"},
		{coll, "write", user}, {coll, "record:create", permission.Authenticated},
		{record, "read", "/buckets/b9/groups/everybody"},
	} {
		if err := be.AddPrincipalToACE(ctx, ace[0], ace[1], ace[2]); err != nil {
			b.Fatal(err)
		}
	}
	q := permission.AccessQuery{
		UserID:     user,
		Principals: []string{permission.Everyone, permission.Authenticated, user},
		Objects:    []string{bucket, coll, record, plural},
		Full:       record,
	}
	// replaced answers q as the authorization step did before Access: UserPrincipals, then
	// ObjectPermissions on each object, matched against the principals in Go.
	replaced := func() (permission.Access, error) {
		groups, err := be.UserPrincipals(ctx, q.UserID)
		if err != nil {
			return permission.Access{}, err
		}
		mine := map[string]bool{}
		for _, p := range append(slices.Clone(q.Principals), groups...) {
			mine[p] = true
		}
		out := permission.Access{Groups: groups, Held: map[string][]string{}}
		for _, obj := range q.Objects {
			set, err := be.ObjectPermissions(ctx, obj)
			if err != nil {
				return permission.Access{}, err
			}
			for perm, principals := range set {
				if slices.ContainsFunc(principals, func(p string) bool { return mine[p] }) {
					out.Held[obj] = append(out.Held[obj], perm)
				}
			}
			slices.Sort(out.Held[obj])
			if obj == q.Full {
				out.ACEs = set
			}
		}
		return out, nil
	}
	got, err := be.Access(ctx, q)
	if err != nil {
		b.Fatal(err)
	}
	want, err := replaced()
	if err != nil {
		b.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || len(got.Held) != 3 || len(got.Groups) != 4 {
		b.Fatalf("Access = %+v\nUserPrincipals then ObjectPermissions = %+v", got, want)
	}
	b.Run("Access", func(b *testing.B) {
		for b.Loop() {
			if _, err := be.Access(ctx, q); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UserPrincipals+4ObjectPermissions", func(b *testing.B) {
		for b.Loop() {
			if _, err := replaced(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
