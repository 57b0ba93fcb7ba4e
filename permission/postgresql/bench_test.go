package postgresql_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// BenchmarkCheckUserPermission compares CheckUserPermission (one statement) with the two
// calls it replaces, UserPrincipals then CheckPermission, for the shape of a record request:
// 10 bindings (the record, its collection and its bucket, with the permissions that imply
// the one asked) and 3 principals (Everyone, Authenticated, the user), the user having 3
// groups of its own and 1 through Authenticated. The tables hold 40,000 other ACEs and
// 10,000 other group memberships. "denied" reads every binding; "group" is granted by the
// user's group on the bucket.
func BenchmarkCheckUserPermission(b *testing.B) {
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

	const user = "basicauth:alice"
	for _, g := range []string{"/buckets/b1/groups/readers", "/buckets/b2/groups/editors", "/buckets/b3/groups/admins"} {
		if err := be.AddUserPrincipal(ctx, user, g); err != nil {
			b.Fatal(err)
		}
	}
	if err := be.AddUserPrincipal(ctx, permission.Authenticated, "/buckets/b9/groups/everybody"); err != nil {
		b.Fatal(err)
	}
	principals := []string{permission.Everyone, permission.Authenticated, user}
	bindings := func(bucket string) []permission.Binding {
		coll := bucket + "/collections/c1"
		rec := coll + "/records/r1"
		return []permission.Binding{
			{ObjectID: rec, Permission: "read"}, {ObjectID: rec, Permission: "write"},
			{ObjectID: coll, Permission: "read"}, {ObjectID: coll, Permission: "write"},
			{ObjectID: coll, Permission: "record:create"},
			{ObjectID: bucket, Permission: "read"}, {ObjectID: bucket, Permission: "write"},
			{ObjectID: bucket, Permission: "collection:create"}, {ObjectID: bucket, Permission: "group:create"},
			{ObjectID: bucket, Permission: "record:create"},
		}
	}
	// Granted: the user's group /buckets/b2/groups/editors holds write on the bucket.
	if err := be.AddPrincipalToACE(ctx, "/buckets/b2", "write", "/buckets/b2/groups/editors"); err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name  string
		bound []permission.Binding
		want  bool
	}{
		{"denied", bindings("/buckets/b1"), false},
		{"group", bindings("/buckets/b2"), true},
	}
	for _, c := range cases {
		if len(c.bound) != 10 {
			b.Fatalf("%d bindings, want 10", len(c.bound))
		}
		b.Run(fmt.Sprintf("%s/CheckUserPermission", c.name), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ok, err := be.CheckUserPermission(ctx, user, principals, c.bound)
				if err != nil || ok != c.want {
					b.Fatalf("CheckUserPermission = %v, %v; want %v", ok, err, c.want)
				}
			}
		})
		b.Run(fmt.Sprintf("%s/UserPrincipals+CheckPermission", c.name), func(b *testing.B) {
			all := make([]string, 0, 8)
			for i := 0; i < b.N; i++ {
				groups, err := be.UserPrincipals(ctx, user)
				if err != nil {
					b.Fatal(err)
				}
				all = append(append(all[:0], principals...), groups...)
				ok, err := be.CheckPermission(ctx, all, c.bound)
				if err != nil || ok != c.want {
					b.Fatalf("CheckPermission = %v, %v; want %v", ok, err, c.want)
				}
			}
		})
	}
}
