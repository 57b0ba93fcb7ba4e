package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/testenv"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// perfDSN returns the DSN of the perf_test database (created when missing, with the C.UTF-8
// collation), or skips without a server (fails in CI).
func perfDSN(t *testing.T) string {
	t.Helper()
	return testenv.PostgresDatabaseC(t, "perf_test")
}

// observedStore is the PostgreSQL backend, recording after each write whether another
// connection already sees it (autocommitted), and failing the creation of objects named
// "fail" with a backend error (503) after writing them.
type observedStore struct {
	*postgresql.Backend
	obs *pgx.Conn

	mu      sync.Mutex
	visible map[string]bool // by object name: committed when the write returned
}

func (o *observedStore) record(ctx context.Context, obj storage.Object, err error) error {
	if err != nil {
		return err
	}
	var data struct{ Name string }
	json.Unmarshal(obj.Data, &data) //nolint:errcheck // tombstones have no data
	if data.Name == "" {
		data.Name = "tombstone:" + obj.ID
	}
	var n int
	o.mu.Lock()
	defer o.mu.Unlock()
	if qerr := o.obs.QueryRow(ctx, `SELECT count(*) FROM objects WHERE id = $1 AND last_modified = $2`,
		obj.ID, obj.LastModified).Scan(&n); qerr != nil {
		return qerr
	}
	o.visible[data.Name] = n == 1
	if data.Name == "fail" {
		return &storage.BackendError{Backend: "observed", Op: "create", Err: errors.New("told to fail")}
	}
	return nil
}

func (o *observedStore) seen(name string) (visible, written bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	visible, written = o.visible[name]
	return visible, written
}

func (o *observedStore) Create(ctx context.Context, s storage.Scope, obj storage.Object) (storage.Object, error) {
	out, err := o.Backend.Create(ctx, s, obj)
	return out, o.record(ctx, out, err)
}

func (o *observedStore) Update(ctx context.Context, s storage.Scope, obj storage.Object, cond storage.Condition) (storage.Object, error) {
	out, err := o.Backend.Update(ctx, s, obj, cond)
	return out, o.record(ctx, out, err)
}

func (o *observedStore) Delete(ctx context.Context, s storage.Scope, id string, lm int64, cond storage.Condition) (storage.Object, error) {
	out, err := o.Backend.Delete(ctx, s, id, lm, cond)
	return out, o.record(ctx, out, err)
}

// TestSingleWriteRequestsAutocommit checks, through the app on PostgreSQL with
// transaction_per_request, which requests run their write in autocommit mode (committed
// when the storage call returns, so that the collection's clock row is not held across the
// COMMIT round trip): the single write of a POST, PUT, PATCH or DELETE without before-commit
// listeners. A batch keeps one transaction for all its sub-requests (rolled back whole by a
// failing sub-request), and so does a request when a ResourceChanged listener is subscribed
// (its failure rolls the write back).
func TestSingleWriteRequestsAutocommit(t *testing.T) {
	dsn := perfDSN(t)
	ctx := context.Background()
	pg := pgStore(t, dsn, 4)
	obs, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close(context.Background()) })
	store := &observedStore{Backend: pg, obs: obs, visible: map[string]bool{}}

	newServer := func(t *testing.T, listener bool) *server {
		app := newAppOn(t, store, nil)
		if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
			t.Fatal(err)
		}
		if listener {
			app.Subscribe(events.ResourceChanged, func(context.Context, events.Event) error { return nil })
		}
		return &server{t: t, app: app, h: app.Handler()}
	}
	plain := newServer(t, false)
	user := fmt.Sprintf("final-%d", time.Now().UnixNano()) // a fresh collection
	body := func(name string) map[string]any { return map[string]any{"data": map[string]any{"name": name}} }
	patched := plain.create(user, map[string]any{"name": "to patch"})
	doomed := plain.create(user, map[string]any{"name": "to delete"})
	batch := func(names ...string) req {
		var subs []any
		for _, n := range names {
			subs = append(subs, map[string]any{"body": body(n)})
		}
		return req{Method: "POST", Path: "/v1/batch", User: user, Body: map[string]any{
			"defaults": map[string]any{"method": "POST", "path": "/mushrooms"}, "requests": subs}}
	}

	tests := []struct {
		name     string
		listener bool
		req      req
		status   int
		// written: object name → whether its write was committed when the call returned.
		written map[string]bool
		stored  map[string]bool // object name → present afterwards
	}{
		{"a POST autocommits its write", false,
			req{Method: "POST", Path: "/v1/mushrooms", User: user, Body: body("posted")}, 201,
			map[string]bool{"posted": true}, map[string]bool{"posted": true}},
		{"a PUT autocommits its write", false,
			req{Method: "PUT", Path: "/v1/mushrooms/00000000-0000-4000-8000-000000000001", User: user, Body: body("put")}, 201,
			map[string]bool{"put": true}, map[string]bool{"put": true}},
		{"a PATCH autocommits its write", false,
			req{Method: "PATCH", Path: "/v1/mushrooms/" + patched["id"].(string), User: user, Body: body("patched")}, 200,
			map[string]bool{"patched": true}, map[string]bool{"patched": true}},
		{"a DELETE autocommits its write", false,
			req{Method: "DELETE", Path: "/v1/mushrooms/" + doomed["id"].(string), User: user}, 200,
			map[string]bool{"tombstone:" + doomed["id"].(string): true}, map[string]bool{"to delete": false}},
		{"a POST with a ResourceChanged listener keeps its transaction", true,
			req{Method: "POST", Path: "/v1/mushrooms", User: user, Body: body("listened")}, 201,
			map[string]bool{"listened": false}, map[string]bool{"listened": true}},
		{"a batch keeps one transaction and commits it", false, batch("first", "second"), 200,
			map[string]bool{"first": false, "second": false}, map[string]bool{"first": true, "second": true}},
		{"a batch whose second write fails rolls the first back", false, batch("before failure", "fail"), 503,
			map[string]bool{"before failure": false, "fail": false}, map[string]bool{"before failure": false, "fail": false}},
		{"a single write that fails after writing is answered 503 and stays (autocommitted)", false,
			req{Method: "POST", Path: "/v1/mushrooms", User: user, Body: body("fail")}, 503,
			map[string]bool{"fail": true}, map[string]bool{"fail": true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := plain
			if tt.listener {
				s = newServer(t, true)
			}
			s.t = t
			if r := s.do(tt.req); r.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.status, r.Raw)
			}
			for name, want := range tt.written {
				got, ok := store.seen(name)
				if !ok {
					t.Fatalf("no write of %q", name)
				}
				if got != want {
					t.Errorf("write of %q committed when the storage call returned = %v, want %v", name, got, want)
				}
			}
			list := s.must(200, req{Method: "GET", Path: "/v1/mushrooms", User: user}).list()
			for name, want := range tt.stored {
				found := false
				for _, o := range list {
					found = found || o["name"] == name
				}
				if found != want {
					t.Errorf("%q stored = %v, want %v", name, found, want)
				}
			}
			store.mu.Lock()
			clear(store.visible)
			store.mu.Unlock()
		})
	}
}

// TestShareableCreatesAutocommitAfterTheirACL: on a shareable resource inside a unit of
// work, a creation saves the object's ACL first and then autocommits the object (the
// collection's clock is held by that one statement); when the write fails, the unit rolls
// back and the ACL is undone. An object written and then reported failed (ambiguous, as a
// connection lost after the commit) stays without its ACL: closed to everyone but the
// global principals.
func TestShareableCreatesAutocommitAfterTheirACL(t *testing.T) {
	dsn := perfDSN(t)
	ctx := context.Background()
	pg := pgStore(t, dsn, 4)
	obs, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { obs.Close(context.Background()) })
	store := &observedStore{Backend: pg, obs: obs, visible: map[string]bool{}}
	perms := permmemory.New()
	app := newAppWith(t, cliquet.Config{Storage: store, Permission: perms}, map[string]string{"poster_create_principals": "system.Authenticated"})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "poster", Sharing: &resource.Sharing{}}); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: app, h: app.Handler()}
	reader := "basicauth:" + authn.HMACUserID("test-secret", "bob:secret")
	post := func(name string) *response {
		return s.do(req{Method: "POST", Path: "/v1/posters", User: "alice", Body: map[string]any{
			"data": map[string]any{"name": name}, "permissions": map[string]any{"read": []string{reader}}}})
	}

	r := post("ok")
	if r.Code != 201 {
		t.Fatalf("status %d: %s", r.Code, r.Raw)
	}
	if committed, _ := store.seen("ok"); !committed {
		t.Error("the shareable creation was not autocommitted")
	}
	set, err := perms.ObjectPermissions(ctx, "/posters/"+r.data()["id"].(string))
	if err != nil || len(set["read"]) != 1 || len(set["write"]) != 1 {
		t.Errorf("ACL after the creation: %v %v", set, err)
	}

	// observedStore fails the creation of "fail" after writing it; the query finds this
	// run's object by its timestamp, newer than the first creation.
	if r := post("fail"); r.Code != 503 {
		t.Fatalf("status %d, want 503: %s", r.Code, r.Raw)
	}
	var id string
	if err := obs.QueryRow(ctx, `SELECT id FROM objects WHERE resource_name = 'poster' AND data->>'name' = 'fail' AND last_modified > $1`,
		int64(r.data()["last_modified"].(float64))).Scan(&id); err != nil {
		t.Fatalf("the autocommitted object: %v", err)
	}
	if set, err := perms.ObjectPermissions(ctx, "/posters/"+id); err != nil || len(set) != 0 {
		t.Errorf("the failed creation's ACL was not undone: %v %v", set, err)
	}
	s.must(403, req{Method: "GET", Path: "/v1/posters/" + id, User: "bob"})
}
