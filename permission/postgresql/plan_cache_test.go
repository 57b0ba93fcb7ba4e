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
	// Statistics that see many ACEs and group memberships.
	if _, err := b.pool.Exec(ctx, `
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || (i % 100) || '/collections/c' || i, p, 'basicauth:u' || (i % 500)
		  FROM generate_series(1, 5000) i, unnest(ARRAY['read', 'write']) p;
		INSERT INTO access_control_entries (object_id, permission, principal)
		SELECT '/buckets/b' || i, 'read', 'system.Everyone' FROM generate_series(1, 50) i;
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 500) i, generate_series(1, 3) k;
		ANALYZE access_control_entries, user_principals;`); err != nil {
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
	tests := []struct {
		name string
		// fragments identify the statement in pg_prepared_statements.
		fragments []string
		call      func(i, n int) error
	}{
		// Access has one statement per number of objects and principals (up to
		// MaxScalars): one shape here, with values that change.
		{"Access", []string{"SELECT 'h'", "(VALUES"}, func(i, n int) error {
			q := permission.AccessQuery{UserID: user(i), Principals: principals[n%3 : n%3+3], Objects: objects[n%7 : n%7+4]}
			if i%2 == 0 {
				q.Full = objects[n-1]
			}
			_, err := b.Access(ctx, q)
			return err
		}},
		// Beyond, one statement whatever their number.
		{"AccessOfManyObjects", []string{"SELECT 'h'", "unnest((SELECT"}, func(i, n int) error {
			q := permission.AccessQuery{UserID: user(i), Principals: few(n), Objects: many[:MaxScalars+n]}
			if i%2 == 0 {
				q.Full = objects[n-1]
			}
			_, err := b.Access(ctx, q)
			return err
		}},
		{"CheckPermission", []string{"SELECT EXISTS"}, func(i, n int) error {
			_, err := b.CheckPermission(ctx, few(n), bound[:n])
			return err
		}},
		{"AuthorizedPrincipals", []string{"SELECT DISTINCT a.principal"}, func(i, n int) error {
			_, err := b.AuthorizedPrincipals(ctx, bound[:n])
			return err
		}},
		{"UserPrincipals", []string{"SELECT DISTINCT principal FROM user_principals"}, func(i, n int) error {
			_, err := b.UserPrincipals(ctx, user(i))
			return err
		}},
		{"ObjectPermissions", []string{"FROM access_control_entries WHERE object_id = $1 ORDER"}, func(i, n int) error {
			_, err := b.ObjectPermissions(ctx, objects[n-1])
			return err
		}},
		{"ObjectPermissionsOf", []string{"FROM access_control_entries WHERE object_id = $1 AND"}, func(i, n int) error {
			_, err := b.ObjectPermissions(ctx, objects[n-1], "read", "write")
			return err
		}},
		{"AccessibleObjects", []string{"a.object_id LIKE"}, func(i, n int) error {
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
			where := make([]string, len(tt.fragments))
			args := make([]any, len(tt.fragments))
			for i, f := range tt.fragments {
				where[i] = fmt.Sprintf("strpos(statement, $%d) > 0", i+1)
				args[i] = f
			}
			rows, err := b.pool.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
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
				if custom > 5 || generic < int64(len(sizes))-5 {
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
