package postgresql_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// heads opens n backends on one fresh database, as n web heads would.
func heads(ctx context.Context, t *testing.T, database string, n int) []*postgresql.Backend {
	t.Helper()
	u := testenv.PostgresDatabase(t, database)
	out := make([]*postgresql.Backend, n)
	for i := range out {
		out[i] = open(ctx, t, postgresql.Options{URL: u, PoolSize: 8})
		t.Cleanup(func() { out[i].Close() })
	}
	if err := out[0].InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := out[0].Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

// connect opens a connection of its own to the database, closed when the test ends.
func connect(ctx context.Context, t *testing.T, database string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, testenv.PostgresDatabase(t, database))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Every way of writing user_principals, the backend's or plain SQL, changes the membership
// version of each user whose rows it changed, and of no other: a head that kept a user's
// groups then reads them again.
func TestMembershipVersionsFollowEveryWrite(t *testing.T) {
	ctx := context.Background()
	b := heads(ctx, t, "permission_test_versions", 1)[0]
	conn := connect(ctx, t, "permission_test_versions")
	versions := func() map[string]int64 {
		rows, err := conn.Query(ctx, `SELECT user_id, version FROM user_principals_versions`)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int64{}
		var u string
		var v int64
		if _, err := pgx.ForEachRow(rows, []any{&u, &v}, func() error { out[u] = v; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sql := func(q string) func() error {
		return func() error { _, err := conn.Exec(ctx, q); return err }
	}
	steps := []struct {
		what    string
		write   func() error
		changed []string // the users whose version must increase; the others' stay
	}{
		{"AddUserPrincipal", func() error { return b.AddUserPrincipal(ctx, "alice", "g1") }, []string{"alice"}},
		{"AddUserPrincipal again (no row changes)", func() error { return b.AddUserPrincipal(ctx, "alice", "g1") }, nil},
		{"INSERT of two users", sql(`INSERT INTO user_principals VALUES ('bob', 'g1'), ('carol', 'g2'), ('bob', 'g2')`), []string{"bob", "carol"}},
		{"RemoveUserPrincipal", func() error { return b.RemoveUserPrincipal(ctx, "bob", "g2") }, []string{"bob"}},
		{"RemoveUserPrincipal of a missing row", func() error { return b.RemoveUserPrincipal(ctx, "bob", "none") }, nil},
		{"RemovePrincipal", func() error { return b.RemovePrincipal(ctx, "g1") }, []string{"alice", "bob"}},
		{"UPDATE of a user id", sql(`UPDATE user_principals SET user_id = 'dave' WHERE user_id = 'carol'`), []string{"carol", "dave"}},
		{"UPDATE of a principal", sql(`UPDATE user_principals SET principal = 'g3' WHERE user_id = 'dave'`), []string{"dave"}},
		{"AddUserPrincipal to Authenticated", func() error { return b.AddUserPrincipal(ctx, permission.Authenticated, "g4") }, []string{permission.Authenticated}},
		{"TRUNCATE", sql(`TRUNCATE user_principals`), []string{"alice", "bob", "carol", "dave", permission.Authenticated}},
		{"AddUserPrincipal after TRUNCATE", func() error { return b.AddUserPrincipal(ctx, "alice", "g1") }, []string{"alice"}},
		{"Flush", func() error { return b.Flush(ctx) }, []string{"alice"}},
	}
	before := versions()
	for _, st := range steps {
		if err := st.write(); err != nil {
			t.Fatalf("%s: %v", st.what, err)
		}
		after := versions()
		for _, u := range []string{"alice", "bob", "carol", "dave", permission.Authenticated} {
			switch {
			case slices.Contains(st.changed, u) && after[u] <= before[u]:
				t.Errorf("%s: the version of %s went from %d to %d, want an increase", st.what, u, before[u], after[u])
			case !slices.Contains(st.changed, u) && after[u] != before[u]:
				t.Errorf("%s: the version of %s went from %d to %d, want no change", st.what, u, before[u], after[u])
			}
		}
		before = after
	}
}

// Heads that keep groups never answer from groups a committed change made stale: while
// writers elsewhere move users between groups, each read that starts after a change
// was committed sees it, and every answer's Held matches its Groups (never the held
// permissions of groups the user has no longer).
func TestKeptGroupsFollowChangesMadeOnOtherHeads(t *testing.T) {
	ctx := context.Background()
	hs := heads(ctx, t, "permission_test_kept_groups", 3)
	const users = 4
	for g := range 2 {
		group := fmt.Sprintf("/groups/g%d", g)
		if err := hs[0].AddPrincipalToACE(ctx, "/buckets/b", []string{"read", "write"}[g], group); err != nil {
			t.Fatal(err)
		}
	}
	query := func(u int) permission.AccessQuery {
		user := fmt.Sprintf("user%d", u)
		return permission.AccessQuery{UserID: user, Principals: []string{user, permission.Everyone, permission.Authenticated},
			Objects: []string{"/buckets/b"}}
	}
	// started[u] and done[u] count the changes of user u begun and committed: with no
	// change in flight during a read, the user is in group g(done % 2).
	var started, done [users]atomic.Int64
	for u := range users {
		if err := hs[1].AddUserPrincipal(ctx, query(u).UserID, "/groups/g0"); err != nil {
			t.Fatal(err)
		}
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	var reads atomic.Int64
	for r := range 8 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			head := hs[r%3]
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				u := (r + i) % users
				before := done[u].Load()
				a, err := head.Access(ctx, query(u))
				if err != nil {
					t.Error(err)
					return
				}
				quiet := started[u].Load() == before // no change began before the read ended
				reads.Add(1)
				if len(a.Groups) != 1 {
					// A change moves a user in one transaction: never in none or two groups.
					t.Errorf("user%d: groups %q", u, a.Groups)
					return
				}
				g := int64(a.Groups[0][len(a.Groups[0])-1] - '0')
				if quiet && g != before%2 {
					t.Errorf("user%d: read groups %q after %d changes were committed", u, a.Groups, before)
					return
				}
				if held := a.Held["/buckets/b"]; len(held) != 1 || held[0] != []string{"read", "write"}[g] {
					t.Errorf("user%d in %q holds %q", u, a.Groups, held)
					return
				}
			}
		}()
	}
	var writers sync.WaitGroup
	for w := range 2 {
		writers.Add(1)
		// Each writer writes with SQL of its own, as another head's backend would.
		conn := connect(ctx, t, "permission_test_kept_groups")
		go func() {
			defer writers.Done()
			for i := range 150 {
				u := w + 2*(i%(users/2)) // each writer has users of its own
				k := done[u].Load()
				started[u].Add(1)
				err := moveUser(ctx, conn, query(u).UserID, fmt.Sprintf("/groups/g%d", k%2), fmt.Sprintf("/groups/g%d", 1-k%2))
				if err != nil {
					t.Error(err)
					return
				}
				done[u].Add(1)
			}
		}()
	}
	writers.Wait()
	close(stop)
	readers.Wait()
	if reads.Load() < 100 {
		t.Errorf("only %d reads ran", reads.Load())
	}
}

// moveUser moves user from one group to another in one transaction.
func moveUser(ctx context.Context, conn *pgx.Conn, user, from, to string) error {
	return pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM user_principals WHERE user_id = $1 AND principal = $2`, user, from); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO user_principals (user_id, principal) VALUES ($1, $2)`, user, to)
		return err
	})
}

// Groups read by a statement inside a transaction that changed them, then rolled back, are
// kept, but never trusted: the version they were read at is never given to a committed
// state, even when the next committed change is the first one since.
func TestGroupsOfARolledBackTransactionAreNeverTrusted(t *testing.T) {
	ctx := context.Background()
	b := heads(ctx, t, "permission_test_rollback", 1)[0]
	conn := connect(ctx, t, "permission_test_rollback")
	for _, ace := range [][2]string{{"read", "/groups/rolled-back"}, {"write", "/groups/committed"}} {
		if err := b.AddPrincipalToACE(ctx, "/b", ace[0], ace[1]); err != nil {
			t.Fatal(err)
		}
	}
	q := permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"/b"}}
	if _, err := b.Access(ctx, q); err != nil { // keeps alice's groups: none
		t.Fatal(err)
	}

	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO user_principals (user_id, principal) VALUES ('alice', '/groups/rolled-back')`); err != nil {
		t.Fatal(err)
	}
	// The statement, run in the transaction as a joint read would: it finds the kept groups
	// stale, reads them again, and keeps what it read.
	run := func(st *postgresql.AccessStatement) (permission.Access, error) {
		with, union := postgresql.AccessSQL(1, "", st.Shape())
		sql := union
		if with != "" {
			sql = "WITH " + with + "\n" + union
		}
		rows, err := tx.Query(ctx, sql, st.AppendArgs(nil)...)
		if err != nil {
			t.Fatal(err)
		}
		var kind, x, y string
		if _, err := pgx.ForEachRow(rows, []any{&kind, &x, &y}, func() error { st.Row(kind, x, y); return nil }); err != nil {
			t.Fatal(err)
		}
		return st.Access()
	}
	st := b.AccessStatement(q)
	if _, err := run(st); !errors.Is(err, postgresql.ErrStaleGroups) {
		t.Fatalf("in the transaction, with the groups kept before it: %v, want ErrStaleGroups", err)
	}
	a, err := run(st.ReadingGroups())
	if err != nil || !slices.Equal(a.Groups, []string{"/groups/rolled-back"}) {
		t.Fatalf("in the transaction: groups %q, %v", a.Groups, err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}

	// The first committed change of alice's groups since.
	if err := b.AddUserPrincipal(ctx, "alice", "/groups/committed"); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		a, err := b.Access(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Groups, []string{"/groups/committed"}) || !slices.Equal(a.Held["/b"], []string{"write"}) {
			t.Errorf("read %d after the rollback and a committed change: groups %q, held %q", i+1, a.Groups, a.Held["/b"])
		}
	}
}
