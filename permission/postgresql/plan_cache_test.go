package postgresql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
)

// The reads of the permission backend are planned once per connection, not once per
// execution. pgx prepares every statement; PostgreSQL keeps a prepared statement's generic
// plan (after five executions with custom plans) only when it costs no more than the custom
// plans made for each execution's values plus their planning. A statement whose estimated
// cost grows with the length of an array parameter is replanned on every execution that
// passes a shorter array than the ten elements the generic plan assumes: each statement
// below hides those lengths from the planner (see the comments of the methods).
func TestReadsKeepTheirGenericPlans(t *testing.T) {
	ctx := context.Background()
	b, err := New(ctx, Options{URL: testenv.PostgresDatabase(t, "permission_test_plans"), PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	reading, err := New(ctx, Options{URL: testenv.PostgresDatabase(t, "permission_test_plans"), PoolSize: 1, GroupsCacheSize: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reading.Close() })
	// Statistics that see many ACEs, group memberships and users.
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || (i % 100) || '/collections/c' || i, p, 'basicauth:u' || (i % 500)
		  FROM generate_series(1, 5000) i, unnest(ARRAY['read', 'write']) p;
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || i, 'read', 'system.Everyone' FROM generate_series(1, 50) i;
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 500) i, generate_series(1, 3) k;
		INSERT INTO user_principals_versions (user_id, version)
		SELECT 'basicauth:v' || i, 1 FROM generate_series(1, 5000) i ON CONFLICT DO NOTHING;
		ANALYZE access_control_entries, user_principals, user_principals_versions;`); err != nil {
		t.Fatal(err)
	}
	objects := make([]string, 10)
	var bound, patterns []permission.Binding
	for i := range objects {
		objects[i] = fmt.Sprintf("/buckets/b1/collections/c%d", i)
		bound = append(bound, permission.Binding{ObjectID: objects[i], Permission: "write"})
		patterns = append(patterns, permission.Binding{ObjectID: fmt.Sprintf("/buckets/b%d/collections/*", i), Permission: "read"})
	}
	principals := []string{permission.Everyone, permission.Authenticated, "basicauth:u7", "basicauth:u8", "basicauth:u9"}
	// Requests of every size, anonymous ones among them.
	sizes := []int{2, 10, 1, 3, 10, 5, 2, 10, 1, 7, 4, 10}
	user := func(i int) string {
		if i%3 == 0 {
			return ""
		}
		return "basicauth:u7"
	}
	few := func(n int) []string { return principals[:1+n%len(principals)] }
	many := make([]string, MaxScalars+10)
	for i := range many {
		many[i] = fmt.Sprintf("/buckets/b2/collections/c%d", i)
	}
	// access calls perms.Access for the i-th request, of size n, with the user, principals
	// and objects these functions give, and Full on every other request.
	access := func(perms *Backend, user func(i int) string, prins, objs func(n int) []string) func(i, n int) error {
		return func(i, n int) error {
			q := permission.AccessQuery{UserID: user(i), Principals: prins(n), Objects: objs(n)}
			if i%2 == 0 {
				q.Full = objects[n-1]
			}
			_, err := perms.Access(ctx, q)
			return err
		}
	}
	u7 := func(int) string { return "basicauth:u7" }
	anonymous := func(int) string { return "" }
	one := func(n int) []string { return principals[n%3 : n%3+1] }
	three := func(n int) []string { return principals[n%3 : n%3+3] }
	four := func(n int) []string { return objects[n%7 : n%7+4] }
	beyond := func(n int) []string { return many[:MaxScalars+n] }
	tests := []struct {
		name string
		// first is the number of the first executions that run another statement (the
		// user's first one, which reads the groups).
		first int
		perms *Backend
		// fragments, and the absence of others, identify the statement in
		// pg_prepared_statements.
		fragments, others []string
		call              func(i, n int) error
	}{
		// Access has one statement per number of objects and principals (up to
		// MaxScalars), and per way of taking the groups: read, or kept from the user's
		// first statement and checked. One shape each here, with values that change.
		{"Access", 0, reading, []string{"groups AS (", "SELECT 'h'", "(VALUES"}, nil, access(reading, u7, three, four)},
		{"AccessKeepingGroups", 1, b, []string{"SELECT 'h'", "(VALUES"}, []string{"groups AS ("}, access(b, u7, three, four)},
		{"AccessOfAnonymous", 0, b, []string{"SELECT 'h'", "IN ($7::text)"}, []string{"groups AS ("}, access(b, anonymous, one, four)},
		// Beyond, one statement whatever their number (anonymous users' too, when the
		// groups are kept).
		{"AccessOfManyObjects", 0, reading, []string{"groups AS (", "SELECT 'h'", "unnest((SELECT"}, nil, access(reading, u7, few, beyond)},
		{"AccessOfManyObjectsKeepingGroups", 1, b, []string{"SELECT 'h'", "unnest((SELECT"}, []string{"groups AS ("}, access(b, user, few, beyond)},
		{"CheckPermission", 0, b, []string{"SELECT EXISTS"}, nil, func(i, n int) error {
			_, err := b.CheckPermission(ctx, few(n), bound[:n])
			return err
		}},
		{"AuthorizedPrincipals", 0, b, []string{"SELECT DISTINCT a.principal"}, nil, func(i, n int) error {
			_, err := b.AuthorizedPrincipals(ctx, bound[:n])
			return err
		}},
		{"UserPrincipals", 0, b, []string{"SELECT DISTINCT principal FROM user_principals"}, nil, func(i, n int) error {
			_, err := b.UserPrincipals(ctx, user(i))
			return err
		}},
		{"ObjectPermissions", 0, b, []string{"FROM access_control_entries WHERE object_id = $1 ORDER"}, nil, func(i, n int) error {
			_, err := b.ObjectPermissions(ctx, objects[n-1])
			return err
		}},
		{"ObjectPermissionsOf", 0, b, []string{"FROM access_control_entries WHERE object_id = $1 AND"}, nil, func(i, n int) error {
			_, err := b.ObjectPermissions(ctx, objects[n-1], "read", "write")
			return err
		}},
		{"AccessibleObjects", 0, b, []string{"a.object_id LIKE"}, nil, func(i, n int) error {
			_, err := b.AccessibleObjects(ctx, few(n), patterns[:n])
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, n := range sizes {
				if err := tt.call(i, n); err != nil {
					t.Fatal(err)
				}
			}
			var where []string
			var args []any
			for _, f := range tt.fragments {
				args = append(args, f)
				where = append(where, fmt.Sprintf("strpos(statement, $%d) > 0", len(args)))
			}
			for _, f := range tt.others {
				args = append(args, f)
				where = append(where, fmt.Sprintf("strpos(statement, $%d) = 0", len(args)))
			}
			rows, err := tt.perms.pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
				WHERE `+strings.Join(where, " AND ")+` AND statement NOT LIKE '%pg_prepared_statements%'`, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			found := 0
			for rows.Next() {
				var stmt string
				var generic, custom int64
				if err := rows.Scan(&stmt, &generic, &custom); err != nil {
					t.Fatal(err)
				}
				found++
				t.Logf("%d generic and %d custom plans", generic, custom)
				if custom > 5 || generic+custom < int64(len(sizes)-tt.first) {
					t.Errorf("%d generic and %d custom plans for %d executions of\n%s", generic, custom, len(sizes), strings.TrimSpace(stmt))
				}
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			if found != 1 {
				t.Fatalf("%d prepared statements match %q, want 1", found, tt.fragments)
			}
		})
	}
}
