package cliquet_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// bulkServer is a batch server with a shareable "article" resource (whose Process hook
// fails on {"fail": "500"}, like failingPut's) and a ResourceChanged listener that, when an
// article is deleted, does what kinto does for a deleted group and bucket through the app's
// journaled permission backend: it revokes the group principal "<article>/readers" from
// every user (RemovePrincipal) and deletes the ACLs below the article ("<article>/*"). The
// same listener fails with a plain error (a 500) on the creation of an article whose id is
// in failing, after calling seen: events are delivered in the order of the sub-requests, so
// a batch deleting an article then creating such an article rolls back after the cascade.
type bulkServer struct {
	*aclTxServer
	mu   sync.Mutex
	seen func(ctx context.Context)
}

func newBulkServer(t *testing.T, store storage.Backend, perms permission.Backend) *bulkServer {
	t.Helper()
	s := &bulkServer{aclTxServer: &aclTxServer{perms: perms}}
	s.batchServer = newBatchServer(t, batchOptions{
		store:    store,
		perms:    perms,
		settings: map[string]string{"article_create_principals": permission.Authenticated},
		extra: func(t testing.TB, app *cliquet.App) {
			_, err := resource.Register(app, resource.Spec[resource.Object]{
				Name:    "article",
				Sharing: &resource.Sharing{},
				Process: func(_ context.Context, _ *http.Request, n resource.Object, _ *resource.Object) (resource.Object, error) {
					if n["fail"] == "500" {
						return nil, errors.New("the article is cursed")
					}
					return n, nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			app.Subscribe(events.ResourceChanged, func(ctx context.Context, e events.Event) error {
				for _, imp := range e.Impacted {
					if imp.New == nil {
						continue
					}
					if _, fail := s.failing.Load(imp.New.ID); fail && imp.Old == nil {
						s.mu.Lock()
						seen := s.seen
						s.mu.Unlock()
						if seen != nil {
							seen(ctx)
						}
						return errors.New("the listener is down")
					}
					if !imp.New.Deleted {
						continue
					}
					uri := "/articles/" + imp.New.ID
					if err := app.Permission.RemovePrincipal(ctx, uri+"/readers"); err != nil {
						return err
					}
					if err := app.Permission.DeleteObjectPermissions(ctx, uri+"/*"); err != nil {
						return err
					}
				}
				return nil
			}, events.ForResources("article"))
		},
	})
	return s
}

// bulkState is what the bulk changes touch: the ACLs of the objects below an article (and of
// a sibling whose id only shares its prefix) and the principals of the users.
type bulkState struct {
	acls       map[string]permission.Set
	principals map[string][]string
}

func readBulkState(t *testing.T, b permission.Backend, objects, users []string) bulkState {
	t.Helper()
	ctx := context.Background()
	st := bulkState{acls: map[string]permission.Set{}, principals: map[string][]string{}}
	for _, obj := range objects {
		set, err := b.ObjectPermissions(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range set {
			slices.Sort(v)
			set[k] = v
		}
		st.acls[obj] = set
	}
	for _, u := range users {
		ps, err := b.UserPrincipals(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ps)
		st.principals[u] = ps
	}
	return st
}

// TestPermissionJournalUndoesBulkChanges checks, on PostgreSQL storage and each built-in
// permission backend (all list the extent of their bulk changes), that a rolled-back request
// restores every membership RemovePrincipal revoked and every ACL a '/*'
// DeleteObjectPermissions deleted, including those the request had not touched before; and
// that a committed request keeps both changes. (A batch whose sub-request answers a 5xx
// delivers no ResourceChanged event, so its rollback has no cascade to undo: the failure
// here comes from a listener, after the cascade.)
func TestPermissionJournalUndoesBulkChanges(t *testing.T) {
	store := aclTxStore(t)
	for name, open := range aclTxBackends(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			perms := open(t)
			if _, err := perms.MatchingObjects(ctx, "/articles/*"); err != nil {
				t.Fatalf("the %s backend does not list the objects a pattern matches: %v", name, err)
			}
			s := newBulkServer(t, store, perms)
			alice := "alice-" + uuid.NewString()
			id := uuid.NewString()
			uri := "/articles/" + id
			group := uri + "/readers"
			bob, carol := "basicauth:bob-"+uuid.NewString(), "basicauth:carol-"+uuid.NewString()
			other := "/articles/" + uuid.NewString() + "/readers"

			if r := s.do("PUT", "/v1"+uri, alice, map[string]any{
				"data": map[string]any{"title": "folder"}, "permissions": map[string]any{"read": []string{group}},
			}); r.Code != 201 {
				t.Fatalf("PUT answered %d %s", r.Code, r.Raw)
			}
			children := []string{uri + "/notes/1", uri + "/notes/2", uri + "/notes/2/comments/_%\\"}
			sibling := uri + "x/notes/1" // shares the article's id as a prefix, not its path
			for _, g := range []struct{ obj, perm, principal string }{
				{children[0], "read", group},
				{children[0], "write", bob},
				{children[1], "read", permission.Everyone},
				{children[2], "write", carol},
				{sibling, "read", group},
			} {
				if err := perms.AddPrincipalToACE(ctx, g.obj, g.perm, g.principal); err != nil {
					t.Fatal(err)
				}
			}
			for _, m := range []struct{ user, principal string }{
				{bob, group}, {carol, group}, {carol, other}, {permission.Authenticated, group},
			} {
				if err := perms.AddUserPrincipal(ctx, m.user, m.principal); err != nil {
					t.Fatal(err)
				}
			}
			objects := append([]string{uri, sibling}, children...)
			users := []string{bob, carol, permission.Authenticated}
			before := readBulkState(t, perms, objects, users)
			for _, obj := range objects {
				if len(before.acls[obj]) == 0 {
					t.Fatalf("fixture: %s has no ACL", obj)
				}
			}

			t.Run("a batch DELETE whose cascade ran before a listener failed restores the revoked memberships and the deleted ACLs", func(t *testing.T) {
				boom := uuid.NewString()
				s.failing.Store(boom, true)
				var during *bulkState
				s.mu.Lock()
				s.seen = func(context.Context) { st := readBulkState(t, perms, objects, users); during = &st }
				s.mu.Unlock()
				r := s.batch(alice, map[string]any{"requests": []any{
					map[string]any{"method": "DELETE", "path": uri},
					map[string]any{"method": "PUT", "path": "/articles/" + boom, "body": map[string]any{"data": map[string]any{"title": "boom"}}},
				}})
				if r.Code != 500 {
					t.Fatalf("batch answered %d %s", r.Code, r.Raw)
				}
				if during == nil {
					t.Fatal("the failing listener did not run")
				}
				for _, u := range users {
					if slices.Contains(during.principals[u], group) {
						t.Errorf("%s still held the group when the listener failed: the cascade did not run first", u)
					}
				}
				for _, obj := range append([]string{uri}, children...) {
					if len(during.acls[obj]) != 0 {
						t.Errorf("%s still had its ACL %v when the listener failed", obj, during.acls[obj])
					}
				}
				if !s.stored(t, id) {
					t.Fatal("the article is gone after the rollback")
				}
				if s.stored(t, boom) {
					t.Fatal("the failing article is stored")
				}
				after := readBulkState(t, perms, objects, users)
				for _, obj := range objects {
					if !sameACL(after.acls[obj], before.acls[obj]) {
						t.Errorf("ACL of %s after the rollback = %v, want %v", obj, after.acls[obj], before.acls[obj])
					}
				}
				for _, u := range users {
					if !slices.Equal(after.principals[u], before.principals[u]) {
						t.Errorf("principals of %s after the rollback = %v, want %v", u, after.principals[u], before.principals[u])
					}
				}
				members, err := perms.PrincipalUsers(ctx, group)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(members)
				if want := []string{bob, carol, permission.Authenticated}; !slices.Equal(members, bulkSorted(want)) {
					t.Errorf("PrincipalUsers(group) after the rollback = %v, want %v", members, bulkSorted(want))
				}
			})

			t.Run("the same DELETE committed revokes the memberships and deletes the ACLs below the article only", func(t *testing.T) {
				if r := s.do("DELETE", "/v1"+uri, alice, nil); r.Code != 200 {
					t.Fatalf("DELETE answered %d %s", r.Code, r.Raw)
				}
				after := readBulkState(t, perms, objects, users)
				for _, obj := range append([]string{uri}, children...) {
					if len(after.acls[obj]) != 0 {
						t.Errorf("ACL of %s after the DELETE = %v, want none", obj, after.acls[obj])
					}
				}
				if !sameACL(after.acls[sibling], before.acls[sibling]) {
					t.Errorf("ACL of the sibling %s = %v, want %v", sibling, after.acls[sibling], before.acls[sibling])
				}
				for _, u := range users {
					if slices.Contains(after.principals[u], group) {
						t.Errorf("principals of %s after the DELETE = %v, still holding the group", u, after.principals[u])
					}
				}
				if want := []string{other}; !slices.Equal(after.principals[carol], want) {
					t.Errorf("principals of carol after the DELETE = %v, want %v", after.principals[carol], want)
				}
			})
		})
	}
}

func bulkSorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
