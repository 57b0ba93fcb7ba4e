package postgresql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
)

// CheckUserPermission's statement is planned once per connection, not once per execution:
// PostgreSQL keeps a prepared statement's generic plan only when it costs no more than the
// plans made for each execution's values, whatever the number of bindings (see
// CheckUserPermission).
func TestCheckUserPermissionKeepsItsGenericPlan(t *testing.T) {
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
		INSERT INTO user_principals (user_id, principal)
		SELECT 'basicauth:u' || i, '/buckets/b' || (i % 100) || '/groups/g' || k
		  FROM generate_series(1, 500) i, generate_series(1, 3) k;
		ANALYZE access_control_entries, user_principals;`); err != nil {
		t.Fatal(err)
	}
	var bound []permission.Binding
	for i := range 10 {
		bound = append(bound, permission.Binding{ObjectID: fmt.Sprintf("/buckets/b1/collections/c%d", i), Permission: "write"})
	}
	// Requests of every size, anonymous ones among them.
	sizes := []int{2, 10, 1, 3, 10, 5, 2, 10, 1, 7, 4, 10}
	for i, n := range sizes {
		user := "basicauth:u7"
		if i%3 == 0 {
			user = ""
		}
		if _, err := b.CheckUserPermission(ctx, user, []string{permission.Everyone, "basicauth:u7"}, bound[:n]); err != nil {
			t.Fatal(err)
		}
	}
	var stmt string
	var generic, custom int64
	err = b.pool.QueryRow(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%FROM user_principals%' AND statement NOT LIKE '%pg_prepared_statements%'`,
	).Scan(&stmt, &generic, &custom)
	if err != nil {
		t.Fatal(err)
	}
	if custom > 5 || generic < int64(len(sizes))-5 {
		t.Errorf("%d generic and %d custom plans for %d executions of\n%s", generic, custom, len(sizes), strings.TrimSpace(stmt))
	}
}
