package cliquet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/internal/forwardtest"
	"github.com/cliquet-go/cliquet/permission"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
)

// unlisted is a backend that cannot list the extent of its bulk changes: its
// MatchingObjects and PrincipalUsers answer permission.ErrNotSupported.
type unlisted struct{ permission.Backend }

func (unlisted) MatchingObjects(context.Context, string) ([]string, error) {
	return nil, permission.ErrNotSupported
}

func (unlisted) PrincipalUsers(context.Context, string) ([]string, error) {
	return nil, permission.ErrNotSupported
}

// failingReplace fails every ReplaceObjectPermissions (an undo that cannot restore).
type failingReplace struct{ *permmemory.Backend }

var errReplace = errors.New("replace refused")

func (failingReplace) ReplaceObjectPermissions(context.Context, string, permission.Set) (permission.Set, error) {
	return nil, errReplace
}

// inUnit returns a context inside a unit of work, as the Transaction middleware builds it,
// and its state.
func inUnit() (context.Context, *txState) {
	st := &txState{}
	ctx := context.WithValue(context.Background(), txKey{}, st)
	ctx, st.denyFinal = finalwrite.Allow(ctx)
	return ctx, st
}

func mustACL(t *testing.T, b permission.Backend, id string) permission.Set {
	t.Helper()
	set, err := b.ObjectPermissions(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range set {
		slices.Sort(v)
	}
	return set
}

func mustPrincipals(t *testing.T, b permission.Backend, user string) []string {
	t.Helper()
	ps, err := b.UserPrincipals(context.Background(), user)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(ps)
	return ps
}

func equalSets(a, b permission.Set) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestPermissionJournal(t *testing.T) {
	bg := context.Background()
	discard := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))

	t.Run("every kind of ACL change is undone, including ACEs that did not exist", func(t *testing.T) {
		inner := permmemory.New()
		inner.AddPrincipalToACE(bg, "/a/1", "write", "alice")
		inner.AddPrincipalToACE(bg, "/a/1", "read", "bob")
		inner.AddPrincipalToACE(bg, "/a/2", "write", "alice")
		before1 := mustACL(t, inner, "/a/1")
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddPrincipalToACE(ctx, "/a/1", "read", permission.Everyone)
		b.RemovePrincipalFromACE(ctx, "/a/1", "read", "bob")
		b.ReplaceObjectPermissions(ctx, "/a/1", permission.Set{"write": {"carol"}, "share": {"dan"}})
		b.ReplaceObjectPermissions(ctx, "/a/new", permission.Set{"read": {permission.Everyone}})
		b.DeleteObjectPermissions(ctx, "/a/2")
		if got := mustACL(t, b, "/a/1"); !equalSets(got, permission.Set{"write": {"carol"}, "share": {"dan"}, "read": {permission.Everyone}}) {
			t.Fatalf("the changes are not visible inside the unit: %v", got)
		}
		if err := st.journal.undo(bg, discard, nil); err != nil {
			t.Fatal(err)
		}
		if got := mustACL(t, inner, "/a/1"); !equalSets(got, before1) {
			t.Errorf("/a/1 = %v, want %v", got, before1)
		}
		if got := mustACL(t, inner, "/a/new"); len(got) != 0 {
			t.Errorf("/a/new = %v, want no ACE", got)
		}
		if got := mustACL(t, inner, "/a/2"); !equalSets(got, permission.Set{"write": {"alice"}}) {
			t.Errorf("/a/2 = %v, want write alice back", got)
		}
	})

	t.Run("user principals are restored by adding and removing the differences", func(t *testing.T) {
		inner := permmemory.New()
		inner.AddUserPrincipal(bg, "alice", "/groups/old")
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddUserPrincipal(ctx, "alice", "/groups/new")
		b.RemoveUserPrincipal(ctx, "alice", "/groups/old")
		b.AddUserPrincipal(ctx, "bob", "/groups/new")
		st.journal.undo(bg, discard, nil)
		if got := mustPrincipals(t, inner, "alice"); !slices.Equal(got, []string{"/groups/old"}) {
			t.Errorf("alice = %v", got)
		}
		if got := mustPrincipals(t, inner, "bob"); len(got) != 0 {
			t.Errorf("bob = %v", got)
		}
	})

	t.Run("RemovePrincipal and wildcard deletions are undone through the memory backend's MatchingObjects and PrincipalUsers", func(t *testing.T) {
		inner := permmemory.New()
		inner.AddUserPrincipal(bg, "alice", "/b/1/groups/g")
		inner.AddUserPrincipal(bg, "bob", "/b/1/groups/g")
		inner.AddPrincipalToACE(bg, "/b/1/c/1", "read", "/b/1/groups/g")
		inner.AddPrincipalToACE(bg, "/b/1/c/2", "write", "alice")
		inner.AddPrincipalToACE(bg, "/b/2/c/1", "write", "bob")
		b := JournalPermission(inner)
		ctx, st := inUnit()
		if err := b.RemovePrincipal(ctx, "/b/1/groups/g"); err != nil {
			t.Fatal(err)
		}
		if err := b.DeleteObjectPermissions(ctx, "/b/1/*"); err != nil {
			t.Fatal(err)
		}
		if got := mustACL(t, inner, "/b/1/c/2"); len(got) != 0 {
			t.Fatalf("the deletion is not applied: %v", got)
		}
		st.journal.undo(bg, discard, nil)
		for _, u := range []string{"alice", "bob"} {
			if got := mustPrincipals(t, inner, u); !slices.Equal(got, []string{"/b/1/groups/g"}) {
				t.Errorf("%s = %v", u, got)
			}
		}
		if got := mustACL(t, inner, "/b/1/c/1"); !equalSets(got, permission.Set{"read": {"/b/1/groups/g"}}) {
			t.Errorf("/b/1/c/1 = %v", got)
		}
		if got := mustACL(t, inner, "/b/1/c/2"); !equalSets(got, permission.Set{"write": {"alice"}}) {
			t.Errorf("/b/1/c/2 = %v", got)
		}
	})

	t.Run("an undone RemovePrincipal gives back the direct grants of users who also held the principal through system.Authenticated", func(t *testing.T) {
		inner := permmemory.New()
		for _, u := range []string{"alice", permission.Authenticated, "bob"} {
			inner.AddUserPrincipal(bg, u, "/groups/g")
		}
		inner.AddUserPrincipal(bg, "alice", "/groups/h")
		b := JournalPermission(inner)
		ctx, st := inUnit()
		for _, step := range []func() error{
			func() error { return b.AddUserPrincipal(ctx, "carol", "/groups/h") }, // gained in the unit
			func() error { return b.RemovePrincipal(ctx, "/groups/g") },
			func() error { return b.RemovePrincipal(ctx, "/groups/h") },
			func() error { return b.AddUserPrincipal(ctx, "dan", "/groups/g") }, // gained after the revocation
		} {
			if err := step(); err != nil {
				t.Fatal(err)
			}
		}
		if err := st.journal.undo(bg, discard, nil); err != nil {
			t.Fatal(err)
		}
		for principal, want := range map[string][]string{
			"/groups/g": {"alice", "bob", permission.Authenticated},
			"/groups/h": {"alice"},
		} {
			users, err := inner.PrincipalUsers(bg, principal)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(users, want) {
				t.Errorf("holders of %s after the undo = %v, want %v", principal, users, want)
			}
		}
	})

	t.Run("when the backend cannot list their extent the bulk changes are logged as not undone", func(t *testing.T) {
		inner := permmemory.New()
		inner.AddUserPrincipal(bg, "alice", "/groups/g")
		inner.AddPrincipalToACE(bg, "/b/1/c/1", "write", "alice")
		b := JournalPermission(unlisted{inner})
		ctx, st := inUnit()
		b.RemovePrincipal(ctx, "/groups/g")
		b.DeleteObjectPermissions(ctx, "/b/1/*")
		var logs bytes.Buffer
		if err := st.journal.undo(bg, slog.New(slog.NewTextHandler(&logs, nil)), nil); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`RemovePrincipal(\"/groups/g\")`, `DeleteObjectPermissions(\"/b/1/*\")`} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("log %q does not mention %s", logs.String(), want)
			}
		}
	})

	t.Run("an undo failure is logged and reported, and the other records are still restored", func(t *testing.T) {
		inner := failingReplace{permmemory.New()}
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddPrincipalToACE(ctx, "/a/1", "read", "bob")
		b.AddUserPrincipal(ctx, "alice", "/groups/g")
		var logs bytes.Buffer
		var reported error
		err := st.journal.undo(bg, slog.New(slog.NewTextHandler(&logs, nil)), func(err error) { reported = err })
		if !errors.Is(err, errReplace) || !errors.Is(reported, errReplace) {
			t.Errorf("undo returned %v, reported %v", err, reported)
		}
		if !strings.Contains(logs.String(), "permission rollback failed") || !strings.Contains(logs.String(), "/a/1") {
			t.Errorf("log = %s", logs.String())
		}
		if got := mustPrincipals(t, inner, "alice"); len(got) != 0 {
			t.Errorf("alice = %v, want her principal removed despite the other failure", got)
		}
	})

	t.Run("two journaled backends used by one unit are each restored", func(t *testing.T) {
		in1, in2 := permmemory.New(), permmemory.New()
		in2.AddPrincipalToACE(bg, "/a/1", "write", "bob")
		b1, b2 := JournalPermission(in1), JournalPermission(in2)
		ctx, st := inUnit()
		b1.AddPrincipalToACE(ctx, "/a/1", "read", "alice")
		b2.DeleteObjectPermissions(ctx, "/a/1")
		st.journal.undo(bg, discard, nil)
		if got := mustACL(t, in1, "/a/1"); len(got) != 0 {
			t.Errorf("first backend: /a/1 = %v", got)
		}
		if got := mustACL(t, in2, "/a/1"); !equalSets(got, permission.Set{"write": {"bob"}}) {
			t.Errorf("second backend: /a/1 = %v", got)
		}
	})

	t.Run("a committed unit keeps its changes and forgets them", func(t *testing.T) {
		inner := permmemory.New()
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddPrincipalToACE(ctx, "/a/1", "read", "bob")
		st.journal.reset()
		st.journal.undo(bg, discard, nil)
		if got := mustACL(t, inner, "/a/1"); !equalSets(got, permission.Set{"read": {"bob"}}) {
			t.Errorf("/a/1 = %v", got)
		}
	})

	t.Run("outside a unit of work changes are not recorded", func(t *testing.T) {
		inner := permmemory.New()
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddPrincipalToACE(bg, "/a/1", "read", "bob") // no unit in bg
		st.journal.undo(ctx, discard, nil)
		if got := mustACL(t, inner, "/a/1"); !equalSets(got, permission.Set{"read": {"bob"}}) {
			t.Errorf("/a/1 = %v", got)
		}
	})

	t.Run("a permission change keeps the unit's final write, and RollbackUnit undoes it", func(t *testing.T) {
		inner := permmemory.New()
		b := JournalPermission(inner)
		ctx, st := inUnit()
		final := finalwrite.Mark(ctx)
		b.AddPrincipalToACE(ctx, "/a/1", "read", "bob")
		if !finalwrite.Allowed(final) {
			t.Error("a permission change withdrew the final write that follows it")
		}
		if !RollbackUnit(ctx) || !st.veto {
			t.Fatal("RollbackUnit did not mark the unit for rollback")
		}
		st.journal.undo(ctx, discard, nil)
		if got := mustACL(t, inner, "/a/1"); len(got) != 0 {
			t.Errorf("/a/1 = %v after the undo", got)
		}
		if RollbackUnit(bg) {
			t.Error("RollbackUnit reports a unit of work outside one")
		}
	})
}

// The journal forwards every capability of the backend it wraps, the declined ones as
// declined, and permission.As finds that backend under it.
func TestJournalPermissionKeepsEveryCapability(t *testing.T) {
	ctx := context.Background()
	mem := permmemory.New()
	cases := []struct {
		name             string
		inner            permission.Backend
		schema, listings bool
	}{
		{"a memory backend lists the extent of its bulk changes and has no schema", mem, false, true},
		{"a backend with a schema keeps it", withSchema{mem}, true, true},
		{"a backend that cannot list still cannot", unlisted{mem}, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := JournalPermission(tc.inner)
			if err := b.Ping(ctx, true); err != nil {
				t.Errorf("Ping: %v", err)
			}
			err := b.InitializeSchema(ctx, true)
			if declined := errors.Is(err, permission.ErrNotSupported); declined == tc.schema || !declined && err != nil {
				t.Errorf("InitializeSchema = %v; want a schema: %v", err, tc.schema)
			}
			_, err = b.MatchingObjects(ctx, "/a/*")
			_, uerr := b.PrincipalUsers(ctx, "g")
			for _, err := range []error{err, uerr} {
				if declined := errors.Is(err, permission.ErrNotSupported); declined == tc.listings || !declined && err != nil {
					t.Errorf("MatchingObjects or PrincipalUsers = %v; want listings: %v", err, tc.listings)
				}
			}
			if u, ok := b.(interface{ Unwrap() permission.Backend }); !ok || u.Unwrap() != tc.inner {
				t.Error("Unwrap does not return the wrapped backend")
			}
			if got, ok := permission.As[*permmemory.Backend](b); ok != (tc.inner == mem) || ok && got != mem {
				t.Errorf("permission.As found %v, %v; want the memory backend only when the journal wraps it", got, ok)
			}
		})
	}
	if JournalPermission(nil) != nil {
		t.Error("JournalPermission(nil) is not nil")
	}
}

// The journal forwards every method of permission.Backend outside a unit of work, and
// returns the backend's answers: a journaled backend keeps every capability of the one it
// wraps.
func TestJournalPermissionForwardsEveryMethod(t *testing.T) {
	inner, state := forwardtest.Permission()
	forwardtest.Check(t, reflect.TypeFor[permission.Backend](), JournalPermission(inner), state)
}

// withSchema is a backend with a schema step.
type withSchema struct{ *permmemory.Backend }

func (withSchema) InitializeSchema(context.Context, bool) error { return nil }

func ExampleJournalPermission() {
	ctx := context.Background()
	inner := permmemory.New()
	perms := JournalPermission(inner)

	// Outside a unit of work (no Transaction middleware), changes go straight through.
	perms.AddPrincipalToACE(ctx, "/articles/a1", "write", "basicauth:alice")

	// Inside one, they apply at once and are undone when the unit rolls back. (inUnit and
	// undo stand for what the Transaction middleware does around a request's handlers.)
	unit, st := inUnit()
	perms.AddPrincipalToACE(unit, "/articles/a1", "read", permission.Everyone)
	during, _ := inner.ObjectPermissions(ctx, "/articles/a1")
	st.journal.undo(ctx, slog.New(slog.DiscardHandler), nil)
	after, _ := inner.ObjectPermissions(ctx, "/articles/a1")
	fmt.Println(len(during), during["read"], "→", len(after), after["write"])
	// Output: 2 [system.Everyone] → 1 [basicauth:alice]
}

// aclReads counts ObjectPermissions calls.
type aclReads struct {
	*permmemory.Backend
	n int
}

func (a *aclReads) ObjectPermissions(ctx context.Context, id string, perms ...string) (permission.Set, error) {
	a.n++
	return a.Backend.ObjectPermissions(ctx, id, perms...)
}

func TestJournalKnownACL(t *testing.T) {
	discard := slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil))
	bg := context.Background()
	type known interface {
		KnownACL(ctx context.Context, objectID string, set permission.Set)
	}
	t.Run("a known ACL spares the read before the change, and the undo restores it", func(t *testing.T) {
		inner := &aclReads{Backend: permmemory.New()}
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.(known).KnownACL(ctx, "/a/1", permission.Set{})
		if _, err := b.ReplaceObjectPermissions(ctx, "/a/1", permission.Set{"write": {"alice"}}); err != nil {
			t.Fatal(err)
		}
		if inner.n != 0 {
			t.Errorf("the journal read the ACL %d times", inner.n)
		}
		st.journal.undo(ctx, discard, nil)
		if got := mustACL(t, inner, "/a/1"); len(got) != 0 {
			t.Errorf("/a/1 = %v after the undo", got)
		}
	})
	t.Run("an ACL already recorded is kept", func(t *testing.T) {
		inner := &aclReads{Backend: permmemory.New()}
		inner.AddPrincipalToACE(bg, "/a/1", "read", "bob")
		b := JournalPermission(inner)
		ctx, st := inUnit()
		b.AddPrincipalToACE(ctx, "/a/1", "read", "carol")
		b.(known).KnownACL(ctx, "/a/1", permission.Set{"read": {"carol"}})
		st.journal.undo(ctx, discard, nil)
		if got := mustACL(t, inner, "/a/1"); !equalSets(got, permission.Set{"read": {"bob"}}) {
			t.Errorf("/a/1 = %v", got)
		}
	})
	t.Run("outside a unit of work it records nothing", func(t *testing.T) {
		b := JournalPermission(permmemory.New())
		b.(known).KnownACL(bg, "/a/1", permission.Set{}) // no panic, no effect
	})
}
