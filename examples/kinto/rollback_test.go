package main

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	_ "github.com/cliquet-go/cliquet/permission/redis" // permission_backend = redis
	"github.com/cliquet-go/cliquet/resource"
)

// rollbackDatabase is the database of these tests: PostgreSQL storage and permissions.
const rollbackDatabase = "kinto_rollback_test"

// rollbackServer is the example on PostgreSQL storage (so each request, and each batch, is
// one unit of work that a 5xx rolls back) with two test additions: an "explosion" resource
// whose every write fails with a 500, and a ResourceChanged listener that fails with a 500
// on the creation of a record named "boom", after the example's own listeners ran for the
// events before it (the cascade of a deletion earlier in the same batch).
type rollbackServer struct {
	client
	app *cliquet.App

	mu   sync.Mutex
	seen func(ctx context.Context) // called by the failing listener before it fails
}

// newRollbackServer starts the example with permission_backend = perms (memory, postgresql
// or redis) on its own PostgreSQL storage, with the settings of extra on top of the
// example's defaults.
func newRollbackServer(t *testing.T, perms string, extra ...map[string]string) *rollbackServer {
	t.Helper()
	ctx := context.Background()
	dsn := testenv.PostgresDatabase(t, rollbackDatabase)
	values := defaultSettings()
	for _, e := range extra {
		for k, v := range e {
			values[k] = v
		}
	}
	values["storage_backend"] = "postgresql"
	values["storage_url"] = dsn
	values["permission_backend"] = perms
	switch perms {
	case "postgresql":
		values["permission_url"] = dsn
	case "redis":
		values["permission_url"] = testenv.RedisURL(t, 14)
		values["permission_prefix"] = testenv.UniquePrefix(t, "kinto_rollback_test:")
	}
	settings, err := config.FromMap(nil, config.Options{ProjectName: projectName, Env: []string{}, Defaults: values})
	if err != nil {
		t.Fatal(err)
	}
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: settings, ProjectName: projectName, ProjectVersion: projectVersion, Logger: quiet(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if perms == "redis" {
			_ = app.Permission.Flush(context.Background()) // this test's prefix only
		}
		app.Close()
	})
	if err := cliquet.Migrate(ctx, app, false); err != nil {
		t.Fatal(err)
	}
	if err := register(app); err != nil {
		t.Fatal(err)
	}
	s := &rollbackServer{app: app}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "explosion",
		Process: func(context.Context, *http.Request, resource.Object, *resource.Object) (resource.Object, error) {
			return nil, errors.New("the explosion went off")
		},
	}); err != nil {
		t.Fatal(err)
	}
	app.Subscribe(events.ResourceChanged, func(ctx context.Context, e events.Event) error {
		for _, imp := range e.Impacted {
			if imp.Old == nil && imp.New != nil && imp.New.ID == "boom" {
				s.mu.Lock()
				seen := s.seen
				s.mu.Unlock()
				if seen != nil {
					seen(ctx)
				}
				return errors.New("the boom listener is down")
			}
		}
		return nil
	}, events.ForResources("record"), events.ForActions(events.ActionCreate))
	s.client = client{t: t, h: app.Handler(), user: "alice"}
	return s
}

// rollbackFixture is a bucket of alice's with collection c (records r1 and r2) and two
// groups: g (member bob), which may read c, and all (member system.Authenticated), which may
// read r2; r1 also has an ACE of bob's own. Another bucket of alice's holds collection x, the
// home of the "boom" records.
type rollbackFixture struct {
	bucket, other  string
	bob, carol     client
	bobID, carolID string
	objects        []string // the URIs with an ACL
}

func (s *rollbackServer) fixture(t *testing.T) rollbackFixture {
	t.Helper()
	alice := s.client
	f := rollbackFixture{
		bucket: "b" + strings.ReplaceAll(uuid.NewString(), "-", ""),
		other:  "o" + strings.ReplaceAll(uuid.NewString(), "-", ""),
		bob:    alice.as("bob"),
		carol:  alice.as("carol"),
	}
	f.bobID, f.carolID = f.bob.userID(), f.carol.userID()
	b := "/buckets/" + f.bucket
	alice.must(201, "PUT", b, nil)
	alice.must(201, "PUT", b+"/groups/g", map[string]any{"data": map[string]any{"members": []string{f.bobID}}})
	alice.must(201, "PUT", b+"/groups/all", map[string]any{"data": map[string]any{"members": []string{permission.Authenticated}}})
	alice.must(201, "PUT", b+"/collections/c", map[string]any{"permissions": map[string]any{"read": []string{b + "/groups/g"}}})
	alice.must(201, "PUT", b+"/collections/c/records/r1", map[string]any{
		"data": map[string]any{"n": 1}, "permissions": map[string]any{"write": []string{f.bobID}},
	})
	alice.must(201, "PUT", b+"/collections/c/records/r2", map[string]any{
		"data": map[string]any{"n": 2}, "permissions": map[string]any{"read": []string{b + "/groups/all"}},
	})
	alice.must(201, "PUT", "/buckets/"+f.other, nil)
	alice.must(201, "PUT", "/buckets/"+f.other+"/collections/x", nil)
	f.objects = []string{b, b + "/groups/g", b + "/groups/all", b + "/collections/c", b + "/collections/c/records/r1", b + "/collections/c/records/r2"}
	return f
}

// permState is what the cascades change in the permission backend: the ACLs of the
// fixture's objects and the principals of its users (and of system.Authenticated).
type permState struct {
	acls       map[string]permission.Set
	principals map[string][]string
}

func (s *rollbackServer) state(ctx context.Context, t *testing.T, f rollbackFixture) permState {
	t.Helper()
	st := permState{acls: map[string]permission.Set{}, principals: map[string][]string{}}
	for _, obj := range f.objects {
		set, err := s.app.Permission.ObjectPermissions(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range set {
			slices.Sort(v)
		}
		st.acls[obj] = set
	}
	for _, u := range []string{f.bobID, f.carolID, permission.Authenticated} {
		ps, err := s.app.Permission.UserPrincipals(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ps)
		st.principals[u] = ps
	}
	return st
}

// diff describes how got differs from want ("" when equal).
func (st permState) diff(want permState) []string {
	var out []string
	for obj, w := range want.acls {
		g := st.acls[obj]
		same := len(g) == len(w)
		for perm, principals := range w {
			same = same && slices.Equal(g[perm], principals)
		}
		if !same {
			out = append(out, "ACL of "+obj+": "+fmtSet(g)+", want "+fmtSet(w))
		}
	}
	for u, w := range want.principals {
		if g := st.principals[u]; !slices.Equal(g, w) {
			out = append(out, "principals of "+u+": ["+strings.Join(g, " ")+"], want ["+strings.Join(w, " ")+"]")
		}
	}
	slices.Sort(out)
	return out
}

func fmtSet(s permission.Set) string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+"=["+strings.Join(s[k], " ")+"]")
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// TestRolledBackDeletionsKeepACLsAndMemberships checks, on PostgreSQL storage with each
// permission backend, that a batch deleting a bucket (or a collection and a group) that
// rolls back with a 5xx leaves the deleted objects' children, their ACLs and the groups'
// memberships as they were: both when the failing sub-request comes before the cascade runs
// (a 5xx sub-request: no ResourceChanged listener runs) and when a listener fails after the
// cascade revoked the groups (RemovePrincipal) and deleted the children's ACLs
// (DeleteObjectPermissions with "/*"), which the permission journal then undoes.
func TestRolledBackDeletionsKeepACLsAndMemberships(t *testing.T) {
	for _, perms := range []string{"memory", "postgresql", "redis"} {
		t.Run(perms, func(t *testing.T) {
			ctx := context.Background()
			s := newRollbackServer(t, perms)
			f := s.fixture(t)
			b := "/buckets/" + f.bucket
			boom := map[string]any{"method": "PUT", "path": "/buckets/" + f.other + "/collections/x/records/boom", "body": map[string]any{"data": map[string]any{}}}
			before := s.state(ctx, t, f)
			if !slices.Contains(before.principals[f.bobID], b+"/groups/g") || !slices.Contains(before.principals[f.carolID], b+"/groups/all") {
				t.Fatalf("fixture: principals %v", before.principals)
			}

			// intact checks the state and what the users may do with it.
			intact := func(t *testing.T) {
				t.Helper()
				if d := s.state(ctx, t, f).diff(before); len(d) > 0 {
					t.Errorf("the permissions changed:\n%s", strings.Join(d, "\n"))
				}
				if got := ids(s.must(200, "GET", b+"/collections/c/records", nil)); !slices.Equal(got, []string{"r1", "r2"}) {
					t.Errorf("alice lists the records %v", got)
				}
				if got := ids(s.must(200, "GET", b+"/groups", nil)); !slices.Equal(got, []string{"all", "g"}) {
					t.Errorf("alice lists the groups %v", got)
				}
				f.bob.must(200, "GET", b+"/collections/c/records/r1", nil)                                              // through group g
				f.bob.must(200, "PATCH", b+"/collections/c/records/r1", map[string]any{"data": map[string]any{"n": 1}}) // his own ACE
				f.carol.must(200, "GET", b+"/collections/c/records/r2", nil)                                            // through group all
				f.carol.must(403, "GET", b+"/collections/c/records/r1", nil)
			}

			cases := []struct {
				name     string
				requests []any
				cascade  bool // the cascade ran (and the journal undid it) before the failure
			}{
				{"a batch deleting the bucket whose next sub-request fails with a 5xx keeps everything", []any{
					map[string]any{"method": "DELETE", "path": b},
					map[string]any{"method": "PUT", "path": "/explosions/" + uuid.NewString(), "body": map[string]any{"data": map[string]any{}}},
				}, false},
				{"a batch deleting the bucket whose next sub-request's listener fails with a 5xx after the cascade restores the children's ACLs and the groups' members", []any{
					map[string]any{"method": "DELETE", "path": b},
					boom,
				}, true},
				{"a batch deleting the collection and a group before a failing listener restores the records' ACLs and the group's members", []any{
					map[string]any{"method": "DELETE", "path": b + "/collections/c"},
					map[string]any{"method": "DELETE", "path": b + "/groups/g"},
					boom,
				}, true},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					var during *permState
					s.mu.Lock()
					s.seen = func(ctx context.Context) { st := s.state(ctx, t, f); during = &st }
					s.mu.Unlock()
					code, out := s.do("POST", "/batch", map[string]any{"requests": tc.requests})
					if code != 500 {
						t.Fatalf("batch answered %d %v", code, out)
					}
					if tc.cascade {
						// The failing listener ran after the cascade: the memberships were revoked
						// and the records' ACLs deleted when it failed.
						if during == nil {
							t.Fatal("the failing listener did not run")
						}
						if slices.Contains(during.principals[f.bobID], b+"/groups/g") {
							t.Errorf("bob still held group g when the listener failed: %v", during.principals[f.bobID])
						}
						if acl := during.acls[b+"/collections/c/records/r1"]; len(acl) != 0 {
							t.Errorf("r1 still had its ACL when the listener failed: %v", acl)
						}
					} else if during != nil {
						t.Error("a listener ran although a sub-request failed with a 5xx")
					}
					intact(t)
				})
			}

			t.Run("the bucket deletion committed revokes the memberships and deletes the ACLs", func(t *testing.T) {
				s.must(200, "DELETE", b, nil)
				after := s.state(ctx, t, f)
				for _, obj := range f.objects {
					if len(after.acls[obj]) != 0 {
						t.Errorf("ACL of %s after the deletion: %v", obj, after.acls[obj])
					}
				}
				for u, ps := range after.principals {
					for _, p := range ps {
						if strings.HasPrefix(p, b+"/") {
							t.Errorf("%s still holds %s", u, p)
						}
					}
				}
			})
		})
	}
}
