package cliquet_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	permredis "github.com/cliquet-go/cliquet/permission/redis"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// aclTxDatabase is the database of these tests: storage and PostgreSQL permissions.
const aclTxDatabase = "acl_tx_test"

// aclTxBackends opens each permission backend the tests run against: memory, PostgreSQL on
// acl_tx_test and Redis database 7 under a prefix of this run.
func aclTxBackends(t *testing.T) map[string]func(t *testing.T) permission.Backend {
	return map[string]func(t *testing.T) permission.Backend{
		"memory": func(*testing.T) permission.Backend { return permmemory.New() },
		"postgresql": func(t *testing.T) permission.Backend {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			b, err := permpg.New(ctx, permpg.Options{URL: testenv.PostgresDatabase(t, aclTxDatabase), PoolSize: 4})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			if err := b.InitializeSchema(ctx, false); err != nil {
				t.Fatal(err)
			}
			return b
		},
		"redis": func(t *testing.T) permission.Backend {
			b, err := permredis.New(permredis.Options{URL: testenv.RedisURL(t, 7), Prefix: testenv.UniquePrefix(t, "acl_tx_test:")})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				b.Flush(context.Background()) // only this run's prefix
				b.Close()
			})
			return b
		},
	}
}

// aclTxStore returns a migrated PostgreSQL storage backend on acl_tx_test.
func aclTxStore(t *testing.T) *postgresql.Backend {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgresql.New(ctx, postgresql.Options{URL: testenv.PostgresDatabase(t, aclTxDatabase)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	return b
}

// aclTxServer is a batch server with a shareable "article" resource whose Process hook
// fails like the mushrooms' ({"fail": "500"}) and a ResourceChanged listener that fails for
// the article ids put in failing (with a plain error, or a 403 when the value says so).
type aclTxServer struct {
	*batchServer
	perms   permission.Backend // the backend given to Initialize, not journaled
	failing sync.Map           // article id → error returned by the listener
}

func newACLTxServer(t *testing.T, store storage.Backend, perms permission.Backend) *aclTxServer {
	t.Helper()
	s := &aclTxServer{perms: perms}
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
			app.Subscribe(events.ResourceChanged, func(_ context.Context, e events.Event) error {
				for _, imp := range e.Impacted {
					if imp.New == nil {
						continue
					}
					if err, ok := s.failing.Load(imp.New.ID); ok {
						return err.(error)
					}
				}
				return nil
			}, events.ForResources("article"))
		},
	})
	return s
}

// acl returns the ACEs of article id, read from the permission backend directly.
func (s *aclTxServer) acl(t *testing.T, id string) permission.Set {
	t.Helper()
	set, err := s.perms.ObjectPermissions(context.Background(), "/articles/"+id)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range set {
		slices.Sort(v)
		set[k] = v
	}
	return set
}

// stored reports whether article id is live in storage (under the articles' parent "").
func (s *aclTxServer) stored(t *testing.T, id string) bool {
	t.Helper()
	_, err := s.store.Get(context.Background(), storage.Scope{Resource: "article"}, id)
	if errors.Is(err, storage.ErrNotFound) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

func sameACL(a, b permission.Set) bool {
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

// failingPut is a sub-request that fails with a 500 after the others were written.
func failingPut() map[string]any {
	return map[string]any{"method": "PUT", "path": "/articles/" + uuid.NewString(), "body": map[string]any{"data": map[string]any{"fail": "500"}}}
}

// TestPermissionsRollBackWithTheUnitOfWork checks, on PostgreSQL storage and each permission
// backend, that the ACL changes of a rolled-back request are undone and those of a
// committed one kept.
func TestPermissionsRollBackWithTheUnitOfWork(t *testing.T) {
	store := aclTxStore(t)
	for name, open := range aclTxBackends(t) {
		t.Run(name, func(t *testing.T) {
			perms := open(t)
			s := newACLTxServer(t, store, perms)
			alice, carol := "alice-"+uuid.NewString(), "carol-"+uuid.NewString()
			aliceID := batchUserID(alice)

			t.Run("a batch PUT with permissions followed by a failing sub-request leaves no ACL", func(t *testing.T) {
				id := uuid.NewString()
				r := s.batch(alice, map[string]any{"requests": []any{
					map[string]any{"method": "PUT", "path": "/articles/" + id, "body": map[string]any{
						"data": map[string]any{"title": "draft"}, "permissions": map[string]any{"read": []string{permission.Everyone}},
					}},
					failingPut(),
				}})
				if r.Code != 500 {
					t.Fatalf("batch answered %d %s", r.Code, r.Raw)
				}
				if s.stored(t, id) {
					t.Fatal("the article survived the rollback")
				}
				if got := s.acl(t, id); len(got) != 0 {
					t.Fatalf("ACL left after the rollback: %v", got)
				}
				if r := s.do("PUT", "/v1/articles/"+id, carol, map[string]any{"data": map[string]any{"title": "carol's"}}); r.Code != 201 {
					t.Fatalf("carol's PUT answered %d %s", r.Code, r.Raw)
				}
				if r := s.do("GET", "/v1/articles/"+id, "", nil); r.Code != 401 {
					t.Errorf("anonymous GET of carol's article answered %d %s", r.Code, r.Raw)
				}
				if r := s.do("PATCH", "/v1/articles/"+id, alice, map[string]any{"data": map[string]any{"title": "alice's"}}); r.Code != 403 {
					t.Errorf("alice's PATCH of carol's article answered %d %s", r.Code, r.Raw)
				}
				if got, want := s.acl(t, id), (permission.Set{"write": {batchUserID(carol)}}); !sameACL(got, want) {
					t.Errorf("ACL of carol's article = %v, want %v", got, want)
				}
			})

			t.Run("a batch DELETE followed by a failing sub-request restores the object and its ACL", func(t *testing.T) {
				id := uuid.NewString()
				r := s.do("PUT", "/v1/articles/"+id, alice, map[string]any{
					"data": map[string]any{"title": "kept"}, "permissions": map[string]any{"read": []string{permission.Authenticated}},
				})
				if r.Code != 201 {
					t.Fatalf("PUT answered %d %s", r.Code, r.Raw)
				}
				before := s.acl(t, id)
				if want := (permission.Set{"read": {permission.Authenticated}, "write": {aliceID}}); !sameACL(before, want) {
					t.Fatalf("ACL after the PUT = %v, want %v", before, want)
				}
				r = s.batch(alice, map[string]any{"requests": []any{
					map[string]any{"method": "DELETE", "path": "/articles/" + id},
					failingPut(),
				}})
				if r.Code != 500 {
					t.Fatalf("batch answered %d %s", r.Code, r.Raw)
				}
				if !s.stored(t, id) {
					t.Fatal("the article is gone after the rollback")
				}
				if got := s.acl(t, id); !sameACL(got, before) {
					t.Errorf("ACL after the rollback = %v, want %v", got, before)
				}
				if r := s.do("GET", "/v1/articles/"+id, alice, nil); r.Code != 200 {
					t.Errorf("alice's GET answered %d %s", r.Code, r.Raw)
				}
			})

			for _, tc := range []struct {
				name string
				err  error
				code int
			}{
				{"a ResourceChanged listener failing with a plain error after a PATCH of permissions restores them", errors.New("listener down"), 500},
				{"a ResourceChanged listener refusing a PATCH of permissions with a 403 restores them", protocol.NewError(403, protocol.ErrnoForbidden, "refused"), 403},
			} {
				t.Run(tc.name, func(t *testing.T) {
					id := uuid.NewString()
					if r := s.do("PUT", "/v1/articles/"+id, alice, map[string]any{"data": map[string]any{"title": "private"}}); r.Code != 201 {
						t.Fatalf("PUT answered %d %s", r.Code, r.Raw)
					}
					before := s.acl(t, id)
					s.failing.Store(id, tc.err)
					defer s.failing.Delete(id)
					r := s.do("PATCH", "/v1/articles/"+id, alice, map[string]any{
						"permissions": map[string]any{"read": []string{permission.Everyone}, "write": []string{aliceID, batchUserID(carol)}},
					})
					if r.Code != tc.code {
						t.Fatalf("PATCH answered %d %s, want %d", r.Code, r.Raw, tc.code)
					}
					if got := s.acl(t, id); !sameACL(got, before) {
						t.Errorf("ACL after the rollback = %v, want %v", got, before)
					}
					if r := s.do("GET", "/v1/articles/"+id, "", nil); r.Code != 401 {
						t.Errorf("anonymous GET answered %d %s", r.Code, r.Raw)
					}
				})
			}

			t.Run("a committed batch keeps its objects, ACL changes and ACL deletions", func(t *testing.T) {
				kept, gone := uuid.NewString(), uuid.NewString()
				if r := s.do("PUT", "/v1/articles/"+gone, alice, map[string]any{"data": map[string]any{"title": "to delete"}}); r.Code != 201 {
					t.Fatalf("PUT answered %d %s", r.Code, r.Raw)
				}
				items := s.batch(alice, map[string]any{"requests": []any{
					map[string]any{"method": "PUT", "path": "/articles/" + kept, "body": map[string]any{
						"data": map[string]any{"title": "public"}, "permissions": map[string]any{"read": []string{permission.Everyone}},
					}},
					map[string]any{"method": "DELETE", "path": "/articles/" + gone},
					map[string]any{"method": "GET", "path": "/articles/" + uuid.NewString()}, // a 403 (unknown id) commits
				}}).items(t)
				for i, want := range []int{201, 200, 403} {
					if items[i].Status != want {
						t.Errorf("item %d: status %d, want %d", i+1, items[i].Status, want)
					}
				}
				if !s.stored(t, kept) || s.stored(t, gone) {
					t.Errorf("stored: kept %v, deleted %v", s.stored(t, kept), s.stored(t, gone))
				}
				if got, want := s.acl(t, kept), (permission.Set{"read": {permission.Everyone}, "write": {aliceID}}); !sameACL(got, want) {
					t.Errorf("ACL of the created article = %v, want %v", got, want)
				}
				if got := s.acl(t, gone); len(got) != 0 {
					t.Errorf("ACL of the deleted article = %v, want none", got)
				}
				if r := s.do("GET", "/v1/articles/"+kept, "", nil); r.Code != 200 {
					t.Errorf("anonymous GET of the public article answered %d %s", r.Code, r.Raw)
				}
			})
		})
	}
}
