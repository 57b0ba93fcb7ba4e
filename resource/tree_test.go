package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	permpg "github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	storagememory "github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// treeServer is Kinto's shape: folders under shelves, notes under folders, all shareable,
// with the folders' "schema" field validating their notes.
type treeServer struct {
	*server
	perms   permission.Backend
	store   storage.Backend
	mu      sync.Mutex
	stamped []string // the ancestors' ids the notes' Process hook saw, last call
}

func newTreeServer(t *testing.T, store storage.Backend, perms permission.Backend) *treeServer {
	t.Helper()
	app := newAppWith(t, cliquet.Config{Storage: store, Permission: perms}, map[string]string{
		"userid_hmac_secret": testSecret, "shelf_create_principals": "system.Authenticated",
	})
	ts := &treeServer{perms: perms, store: store}
	shelves, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "shelf", Path: "/shelves", IDGenerator: resource.NameGenerator{},
		Sharing: &resource.Sharing{Permissions: []string{"read", "write", "folder:create"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	folders, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "folder", IDGenerator: resource.NameGenerator{}, Under: shelves,
		Sharing: &resource.Sharing{Permissions: []string{"read", "write", "note:create"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = resource.Register(app, resource.Spec[resource.Object]{
		Name: "note", IDGenerator: resource.NameGenerator{}, Under: folders,
		Sharing: &resource.Sharing{},
		ParentSchema: func(folder storage.Object) ([]byte, error) {
			var f struct {
				Schema json.RawMessage `json:"schema"`
			}
			if err := json.Unmarshal(folder.Data, &f); err != nil || len(f.Schema) == 0 {
				return nil, err
			}
			return f.Schema, nil
		},
		Process: func(ctx context.Context, _ *http.Request, n resource.Object, _ *resource.Object) (resource.Object, error) {
			ts.mu.Lock()
			defer ts.mu.Unlock()
			ts.stamped = ts.stamped[:0]
			for _, a := range resource.Ancestors(ctx) {
				ts.stamped = append(ts.stamped, a.ID)
			}
			return n, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ts.server = &server{t: t, app: app, h: app.Handler()}
	return ts
}

func TestTreeMemory(t *testing.T) {
	runTree(t, func(t *testing.T) (storage.Backend, permission.Backend) {
		return storagememory.New(nil), memory.New()
	})
}

func TestTreePostgreSQL(t *testing.T) {
	u := testenv.PostgresDatabase(t, "resource_tree_test")
	var stores []*countingStore
	open := func(t *testing.T) (*countingStore, *countingAccess) {
		pg, perms := pgTreeBackends(t, u, 8)
		store := &countingStore{Backend: pg}
		stores = append(stores, store)
		return store, &countingAccess{Backend: perms}
	}
	runTree(t, func(t *testing.T) (storage.Backend, permission.Backend) { return open(t) })
	// The storage and permission backends share the database: the authorization step reads
	// both in one statement, never in two calls.
	for _, s := range stores {
		if s.getMany.Load() != 0 || s.joint.Load() == 0 {
			t.Errorf("the authorization step made %d GetMany calls and %d joint reads", s.getMany.Load(), s.joint.Load())
		}
	}

	t.Run("a POST writes the object and its ACL in one statement", func(t *testing.T) {
		store, perms := open(t)
		s := newTreeServer(t, store, perms)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
		r := s.must(201, req{Method: "POST", Path: "/v1/shelves/s1/folders/f1/notes", User: "alice",
			Body: map[string]any{"permissions": map[string]any{"read": []string{principalOf("bob")}}}})
		if store.jointCreate.Load() != 1 {
			t.Errorf("%d joint creations, want 1", store.jointCreate.Load())
		}
		if w, _ := r.Body["permissions"].(map[string]any)["write"].([]any); len(w) != 1 || w[0] != principalOf("alice") {
			t.Errorf("the note's ACEs are not rendered: %s", r.Raw)
		}
		s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes/" + r.data()["id"].(string), User: "bob"})
	})

	t.Run("a POST is authorized and written by one statement once the ancestors are known", func(t *testing.T) {
		store, perms := open(t)
		s := newTreeServer(t, store, perms)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
		folder := "/v1/shelves/s1/folders/f1"
		s.must(201, req{Method: "PUT", Path: folder, User: "alice", Body: `{"data": {"schema": {"type": "object", "required": ["title"]}}}`})
		if err := perms.AddPrincipalToACE(context.Background(), "/shelves/s1/folders/f1", "note:create", principalOf("bob")); err != nil {
			t.Fatal(err)
		}
		notes := folder + "/notes"
		s.must(201, req{Method: "POST", Path: notes, User: "bob", Body: `{"data": {"title": "one"}}`}) // learns the ancestors
		r := s.must(201, req{Method: "POST", Path: notes, User: "bob", Body: `{"data": {"title": "two"}, "permissions": {"read": ["system.Everyone"]}}`})
		if store.guarded.Load() != 1 {
			t.Fatalf("%d guarded creations, want 1", store.guarded.Load())
		}
		if p := r.Body["permissions"].(map[string]any); len(p["write"].([]any)) != 1 || len(p["read"].([]any)) != 1 {
			t.Errorf("the ACL of a guarded creation: %s", r.Raw)
		}
		s.must(200, req{Method: "GET", Path: notes + "/" + r.data()["id"].(string)}) // read by everyone
		if len(s.stamped) != 2 {
			t.Errorf("the Process hook saw the ancestors %v", s.stamped)
		}
		// The folder's schema changes: what the old one accepted is refused.
		s.must(200, req{Method: "PUT", Path: folder, User: "alice", Body: `{"data": {"schema": {"type": "object", "required": ["n"]}}}`})
		expectError(t, s.do(req{Method: "POST", Path: notes, User: "bob", Body: `{"data": {"title": "three"}}`}), 400, 107, "", "")
		s.must(201, req{Method: "POST", Path: notes, User: "bob", Body: `{"data": {"n": 3}}`})
		// Bob loses the permission: refused, nothing written.
		before := len(s.must(200, req{Method: "GET", Path: notes, User: "alice"}).list())
		if err := perms.RemovePrincipalFromACE(context.Background(), "/shelves/s1/folders/f1", "note:create", principalOf("bob")); err != nil {
			t.Fatal(err)
		}
		expectError(t, s.do(req{Method: "POST", Path: notes, User: "bob", Body: `{"data": {"n": 4}}`}), 403, 121, "", "")
		if after := len(s.must(200, req{Method: "GET", Path: notes, User: "alice"}).list()); after != before {
			t.Errorf("%d notes after a refused creation, %d before", after, before)
		}
		// The folder is deleted: 404 for alice, who may read the shelf.
		s.must(200, req{Method: "DELETE", Path: folder, User: "alice"})
		expectError(t, s.do(req{Method: "POST", Path: notes, User: "alice", Body: `{"data": {"n": 5}}`}), 404, 110, "", "")
	})

	t.Run("a list of a nested collection reads its page with the authorization data", func(t *testing.T) {
		store, perms := open(t)
		s := newTreeServer(t, store, perms)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
		for _, id := range []string{"n1", "n2", "n3"} {
			s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/" + id, User: "alice", Body: map[string]any{}})
		}
		ctx := context.Background()
		if err := perms.AddPrincipalToACE(ctx, "/shelves/s1/folders/f1/notes/n2", "read", principalOf("bob")); err != nil {
			t.Fatal(err)
		}
		store.jointList.Store(0)
		notes := "/v1/shelves/s1/folders/f1/notes"
		r := s.must(200, req{Method: "GET", Path: notes + "?_limit=2", User: "alice"})
		if l := r.list(); len(l) != 2 || l[0]["id"] != "n3" || l[1]["id"] != "n2" || r.Header.Get("Next-Page") == "" {
			t.Errorf("alice's first page: %s (Next-Page %q)", r.Raw, r.Header.Get("Next-Page"))
		}
		if store.jointList.Load() != 1 {
			t.Errorf("%d joint list reads for one list, want 1", store.jointList.Load())
		}
		// Bob reads one note only: the page read ahead is dropped, his list is restricted.
		if l := s.must(200, req{Method: "GET", Path: notes, User: "bob"}).list(); len(l) != 1 || l[0]["id"] != "n2" {
			t.Errorf("bob's list: %v", l)
		}
		expectError(t, s.do(req{Method: "GET", Path: notes, User: "carol"}), 403, 121, "", "")
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/nope/notes", User: "alice"}), 404, 110, "", "")
		// Ordered by another field first, with preconditions, or HEAD: two reads.
		store.jointList.Store(0)
		s.must(200, req{Method: "GET", Path: notes + "?_sort=id", User: "alice"})
		s.must(200, req{Method: "HEAD", Path: notes, User: "alice"})
		if store.jointList.Load() != 0 {
			t.Errorf("%d joint list reads for lists it cannot answer", store.jointList.Load())
		}
	})

	t.Run("a GET of a nested object reads storage and permissions in one statement", func(t *testing.T) {
		store, perms := open(t)
		s := newTreeServer(t, store, perms)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice", Body: map[string]any{}})
		ctx := context.Background()
		if err := perms.AddUserPrincipal(ctx, principalOf("bob"), "/shelves/s1/groups/readers"); err != nil {
			t.Fatal(err)
		}
		if err := perms.AddPrincipalToACE(ctx, "/shelves/s1/folders/f1", "read", "/shelves/s1/groups/readers"); err != nil {
			t.Fatal(err)
		}
		store.getMany.Store(0)
		store.joint.Store(0)
		perms.access.Store(0)
		note := "/v1/shelves/s1/folders/f1/notes/n1"
		r := s.must(200, req{Method: "GET", Path: note, User: "alice"})
		if w, _ := r.Body["permissions"].(map[string]any)["write"].([]any); len(w) != 1 || w[0] != principalOf("alice") {
			t.Errorf("the note's ACEs are not rendered: %s", r.Raw)
		}
		s.must(200, req{Method: "GET", Path: note, User: "bob"}) // through a group
		expectError(t, s.do(req{Method: "GET", Path: note, User: "carol"}), 403, 121, "", "")
		expectError(t, s.do(req{Method: "GET", Path: note}), 401, 104, "", "")
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/nope/notes/n1", User: "alice"}), 404, 110, "", "")
		if got := store.joint.Load(); got != 5 || store.getMany.Load() != 0 || perms.access.Load() != 0 {
			t.Errorf("5 GETs made %d joint reads, %d GetMany and %d Access calls; want 5, 0, 0", got, store.getMany.Load(), perms.access.Load())
		}
	})
}

// countingStore counts the storage reads of the authorization step: GetMany calls, and the
// GetManyAccess calls that read storage and permissions together.
type countingStore struct {
	*postgresql.Backend
	getMany, joint, jointList, jointCreate, guarded atomic.Int64
}

func (s *countingStore) CreateGuarded(ctx context.Context, sc storage.Scope, o storage.Object, perms permission.Backend, uri string, aces permission.Set, keys []storage.Key, versions []int64, hold permission.HoldQuery) (storage.Object, error) {
	out, err := s.Backend.CreateGuarded(ctx, sc, o, perms, uri, aces, keys, versions, hold)
	if err == nil {
		s.guarded.Add(1)
	}
	return out, err
}

func (s *countingStore) GetManyAccessList(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery, sc storage.Scope, opt storage.ListOptions) ([]storage.Object, permission.Access, []storage.Object, int64, error) {
	objs, a, page, ts, err := s.Backend.GetManyAccessList(ctx, keys, perms, q, sc, opt)
	if !errors.Is(err, storage.ErrNotSupported) {
		s.jointList.Add(1)
	}
	return objs, a, page, ts, err
}

func (s *countingStore) CreateWithACEs(ctx context.Context, sc storage.Scope, o storage.Object, perms permission.Backend, uri string, aces permission.Set) (storage.Object, error) {
	out, err := s.Backend.CreateWithACEs(ctx, sc, o, perms, uri, aces)
	if !errors.Is(err, storage.ErrNotSupported) {
		s.jointCreate.Add(1)
	}
	return out, err
}

func (s *countingStore) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	s.getMany.Add(1)
	return s.Backend.GetMany(ctx, keys)
}

func (s *countingStore) GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, error) {
	objs, a, err := s.Backend.GetManyAccess(ctx, keys, perms, q)
	if !errors.Is(err, storage.ErrNotSupported) {
		s.joint.Add(1)
	}
	return objs, a, err
}

// countingAccess counts Access calls. It exposes its backend through Unwrap, as the
// journal and monitoring decorators do, so that a joint read finds it (permission.As).
type countingAccess struct {
	permission.Backend
	access atomic.Int64
}

func (p *countingAccess) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	p.access.Add(1)
	return p.Backend.Access(ctx, q)
}

func (p *countingAccess) Unwrap() permission.Backend { return p.Backend }

// pgTreeBackends opens the PostgreSQL storage and permission backends on the database u,
// both emptied, closed when the test ends.
func pgTreeBackends(t *testing.T, u string, poolSize int) (*postgresql.Backend, *permpg.Backend) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	store := pgStore(t, u, poolSize)
	perms, err := permpg.New(ctx, permpg.Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { perms.Close() })
	if err := perms.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(perms.Flush(ctx), store.Flush(ctx)); err != nil {
		t.Fatal(err)
	}
	return store, perms
}

func runTree(t *testing.T, open func(t *testing.T) (storage.Backend, permission.Backend)) {
	setup := func(t *testing.T) *treeServer {
		store, perms := open(t)
		s := newTreeServer(t, store, perms)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice", Body: map[string]any{"data": map[string]any{"text": "one"}}})
		return s
	}
	grant := func(s *treeServer, uri, perm, user string) {
		s.t.Helper()
		if err := s.perms.AddPrincipalToACE(context.Background(), uri, perm, principalOf(user)); err != nil {
			s.t.Fatal(err)
		}
	}

	t.Run("objects keep the key order their writers gave them", func(t *testing.T) {
		s := setup(t)
		// The order of the keys in the response's "data", read from its text.
		order := func(r *response, keys ...string) {
			t.Helper()
			data := string(r.Raw[strings.Index(string(r.Raw), `"data"`):])
			last := -1
			for _, k := range keys {
				i := strings.Index(data, `"`+k+`"`)
				if i < 0 || i < last {
					t.Fatalf("keys %v out of order in %s", keys, r.Raw)
				}
				last = i
			}
		}
		const schema = `{"data": {"schema": {"type": "object", "properties": {"zeta": {"type": "string"}, "alpha": {"type": "number"}, "mid": {"type": "boolean"}}}, "displayFields": ["zeta"]}}`
		folder := "/v1/shelves/s1/folders/f2"
		order(s.must(201, req{Method: "PUT", Path: folder, User: "alice", Body: schema}), "schema", "type", "properties", "zeta", "alpha", "mid", "displayFields")
		order(s.must(200, req{Method: "GET", Path: folder, User: "alice"}), "schema", "type", "properties", "zeta", "alpha", "mid", "displayFields")
		r := s.must(201, req{Method: "POST", Path: folder + "/notes", User: "alice", Body: `{"data": {"zeta": "z", "alpha": 1, "mid": true}}`})
		note := folder + "/notes/" + r.data()["id"].(string)
		order(r, "zeta", "alpha", "mid")
		order(s.must(200, req{Method: "GET", Path: note, User: "alice"}), "zeta", "alpha", "mid")
		order(s.must(200, req{Method: "GET", Path: folder + "/notes", User: "alice"}), "zeta", "alpha", "mid")
		// A merge keeps the existing keys in place and adds the new ones after them.
		order(s.must(200, req{Method: "PATCH", Path: note, User: "alice", Body: `{"data": {"new": 1, "alpha": 2}}`}), "zeta", "alpha", "mid", "new")
		order(s.must(200, req{Method: "PATCH", Path: note, User: "alice", Body: `[{"op": "add", "path": "/data/beta", "value": 3}]`,
			Header: map[string]string{"Content-Type": "application/json-patch+json"}}), "zeta", "alpha", "mid", "new", "beta")
		order(s.must(200, req{Method: "GET", Path: note, User: "alice"}), "zeta", "alpha", "mid", "new", "beta")
	})

	t.Run("the default paths nest the parents' ids and the hook sees the ancestors", func(t *testing.T) {
		s := setup(t)
		r := s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice"})
		if r.data()["text"] != "one" {
			t.Fatalf("note: %s", r.Raw)
		}
		if w, _ := r.Body["permissions"].(map[string]any)["write"].([]any); len(w) != 1 || w[0] != principalOf("alice") {
			t.Errorf("the author's write is not rendered: %s", r.Raw)
		}
		if len(s.stamped) != 2 || s.stamped[0] != "s1" || s.stamped[1] != "f1" {
			t.Errorf("Ancestors in Process = %v, want [s1 f1]", s.stamped)
		}
		got, err := s.store.Get(context.Background(), storage.Scope{Resource: "note", Parent: "/shelves/s1/folders/f1"}, "n1")
		if err != nil || got.ID != "n1" {
			t.Errorf("the note is not stored under its folder's URI: %v", err)
		}
	})

	t.Run("a missing ancestor is 401 anonymous, 404 to readers of its parent, 403 otherwise", func(t *testing.T) {
		s := setup(t)
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/nope/folders/f1/notes/n1"}), 401, 104, "", "")
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/nope/folders/f1/notes/n1", User: "alice"}), 403, 121, "", "")
		r := s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/nope/notes/n1", User: "alice"})
		expectError(t, r, 404, 110, "", "")
		if d, _ := r.Body["details"].(map[string]any); d["id"] != "nope" || d["resource_name"] != "folder" {
			t.Errorf("404 details: %s", r.Raw)
		}
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/nope/notes", User: "bob"}), 403, 121, "", "")
		expectError(t, s.do(req{Method: "POST", Path: "/v1/shelves/s1/folders/nope/notes", User: "alice", Body: map[string]any{}}), 404, 110, "", "")
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes/nope", User: "alice"}), 404, 110, "", "")
	})

	t.Run("permissions are inherited down the tree", func(t *testing.T) {
		s := setup(t)
		note := "/v1/shelves/s1/folders/f1/notes/n1"
		expectError(t, s.do(req{Method: "GET", Path: note, User: "bob"}), 403, 121, "", "")
		expectError(t, s.do(req{Method: "POST", Path: "/v1/shelves/s1/folders/f1/notes", User: "bob", Body: map[string]any{}}), 403, 121, "", "")

		grant(s, "/shelves/s1", "read", "bob")
		s.must(200, req{Method: "GET", Path: note, User: "bob"})
		if l := s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes", User: "bob"}).list(); len(l) != 1 {
			t.Errorf("bob, a reader of the shelf, lists %d notes", len(l))
		}
		expectError(t, s.do(req{Method: "PATCH", Path: note, User: "bob", Body: map[string]any{"data": map[string]any{"x": 1}}}), 403, 121, "", "")

		grant(s, "/shelves/s1/folders/f1", "note:create", "bob")
		s.must(201, req{Method: "POST", Path: "/v1/shelves/s1/folders/f1/notes", User: "bob", Body: map[string]any{}})
		expectError(t, s.do(req{Method: "POST", Path: "/v1/shelves/s1/folders", User: "bob", Body: map[string]any{}}), 403, 121, "", "")
		grant(s, "/shelves/s1", "folder:create", "bob")
		s.must(201, req{Method: "POST", Path: "/v1/shelves/s1/folders", User: "bob", Body: map[string]any{}})

		grant(s, "/shelves/s1", "write", "carol")
		s.must(200, req{Method: "PATCH", Path: note, User: "carol", Body: map[string]any{"data": map[string]any{"x": 1}}})
		s.must(201, req{Method: "POST", Path: "/v1/shelves/s1/folders/f1/notes", User: "carol", Body: map[string]any{}})
	})

	t.Run("a list without read on the parent shows the objects shared with the user", func(t *testing.T) {
		s := setup(t)
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/n2", User: "alice", Body: map[string]any{}})
		grant(s, "/shelves/s1/folders/f1/notes/n2", "read", "bob")
		l := s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes", User: "bob"}).list()
		if len(l) != 1 || l[0]["id"] != "n2" {
			t.Errorf("bob's list: %v", l)
		}
	})

	t.Run("deleting a parent deletes its descendants and their ACLs, without tombstones", func(t *testing.T) {
		s := setup(t)
		grant(s, "/shelves/s1/folders/f1/notes/n1", "read", "bob")
		s.must(200, req{Method: "DELETE", Path: "/v1/shelves/s1/folders/f1", User: "alice"})
		ctx := context.Background()
		if set, err := s.perms.ObjectPermissions(ctx, "/shelves/s1/folders/f1/notes/n1"); err != nil || len(set) != 0 {
			t.Errorf("the note's ACL outlives its folder: %v %v", set, err)
		}
		objs, err := s.store.List(ctx, storage.Scope{Resource: "note", Parent: "/shelves/s1/folders/f1"}, storage.ListOptions{IncludeDeleted: true})
		if err != nil || len(objs) != 0 {
			t.Errorf("notes left under the deleted folder: %v %v", objs, err)
		}
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
		if l := s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes", User: "alice"}).list(); len(l) != 0 {
			t.Errorf("a recreated folder shows its predecessor's notes: %v", l)
		}
		s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice", Body: map[string]any{}})
		s.must(200, req{Method: "DELETE", Path: "/v1/shelves", User: "alice"})
		expectError(t, s.do(req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice"}), 403, 121, "", "")
		if objs, _ := s.store.List(ctx, storage.Scope{Resource: "folder", Parent: "/shelves/s1"}, storage.ListOptions{IncludeDeleted: true}); len(objs) != 0 {
			t.Errorf("folders left under the deleted shelf: %v", objs)
		}
	})

	t.Run("a parent's schema validates its children, compiled again when the parent changes", func(t *testing.T) {
		s := setup(t)
		notes := "/v1/shelves/s1/folders/f1/notes"
		schema := map[string]any{"type": "object", "properties": map[string]any{"text": map[string]any{"type": "string"}}, "required": []string{"text"}}
		s.must(200, req{Method: "PATCH", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{"data": map[string]any{"schema": schema}}})
		expectError(t, s.do(req{Method: "POST", Path: notes, User: "alice", Body: map[string]any{"data": map[string]any{"text": 3}}}), 400, 107, "body", "data.text")
		s.must(201, req{Method: "POST", Path: notes, User: "alice", Body: map[string]any{"data": map[string]any{"text": "ok"}}})
		expectError(t, s.do(req{Method: "PATCH", Path: notes + "/n1", User: "alice", Body: map[string]any{"data": map[string]any{"text": nil}}}), 400, 107, "", "")
		s.must(200, req{Method: "PATCH", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{"data": map[string]any{"schema": map[string]any{"type": "object"}}}})
		s.must(201, req{Method: "POST", Path: notes, User: "alice", Body: map[string]any{"data": map[string]any{"text": 3}}})
	})

	t.Run("a cascade reports each collection's deletion with its own URI and parameters", func(t *testing.T) {
		s := setup(t)
		var got []events.Event
		s.app.Subscribe(events.ResourceChanged, func(_ context.Context, e events.Event) error {
			got = append(got, e)
			return nil
		}, events.ForResources("note"))
		s.must(200, req{Method: "DELETE", Path: "/v1/shelves/s1", User: "alice"})
		if len(got) != 1 {
			t.Fatalf("%d note events, want 1: %+v", len(got), got)
		}
		e := got[0]
		if e.Action != events.ActionDelete || e.URI != "/shelves/s1/folders/f1/notes" ||
			e.Params["shelf_id"] != "s1" || e.Params["folder_id"] != "f1" || len(e.Params) != 2 ||
			len(e.Impacted) != 1 || e.Impacted[0].New.ID != "n1" || !e.Impacted[0].New.Deleted {
			t.Errorf("cascade event: %+v", e)
		}
	})

	t.Run("a batch sub-request whose shareable create fails leaves the others committed", func(t *testing.T) {
		s := setup(t)
		r := s.must(200, req{Method: "POST", Path: "/v1/batch", User: "alice", Body: map[string]any{
			"requests": []any{
				map[string]any{"method": "PUT", "path": "/shelves/s1/folders/f1/notes/n2", "body": map[string]any{}},
				map[string]any{"method": "PUT", "path": "/shelves/s1/folders/f1/notes/n1", "body": map[string]any{},
					"headers": map[string]any{"If-None-Match": "*"}},
			}}})
		subs, _ := r.Body["responses"].([]any)
		if len(subs) != 2 || subs[0].(map[string]any)["status"] != 201.0 || subs[1].(map[string]any)["status"] != 412.0 {
			t.Fatalf("batch: %s", r.Raw)
		}
		s.must(200, req{Method: "GET", Path: "/v1/shelves/s1/folders/f1/notes/n2", User: "alice"})
		set, err := s.perms.ObjectPermissions(context.Background(), "/shelves/s1/folders/f1/notes/n2")
		if err != nil || len(set["write"]) != 1 {
			t.Errorf("n2's ACL: %v %v", set, err)
		}
	})

	t.Run("a batch that creates then changes or deletes an object leaves the right ACL", func(t *testing.T) {
		s := setup(t)
		r := s.must(200, req{Method: "POST", Path: "/v1/batch", User: "alice", Body: map[string]any{
			"requests": []any{
				map[string]any{"method": "POST", "path": "/shelves", "body": map[string]any{"data": map[string]any{"id": "s2"}}},
				map[string]any{"method": "PATCH", "path": "/shelves/s2", "body": map[string]any{"permissions": map[string]any{"read": []string{principalOf("bob")}}}},
				map[string]any{"method": "POST", "path": "/shelves", "body": map[string]any{"data": map[string]any{"id": "s3"},
					"permissions": map[string]any{"read": []string{principalOf("eve")}}}},
				map[string]any{"method": "DELETE", "path": "/shelves/s3"},
			}}})
		for i, sub := range r.Body["responses"].([]any) {
			if st := sub.(map[string]any)["status"].(float64); st >= 300 {
				t.Fatalf("sub-request %d: %v", i, sub)
			}
		}
		ctx := context.Background()
		if set, err := s.perms.ObjectPermissions(ctx, "/shelves/s2"); err != nil || len(set["read"]) != 1 || len(set["write"]) != 1 {
			t.Errorf("s2's ACL: %v %v", set, err)
		}
		if set, err := s.perms.ObjectPermissions(ctx, "/shelves/s3"); err != nil || len(set) != 0 {
			t.Errorf("the deleted s3 left an ACL: %v %v", set, err)
		}
	})

	t.Run("concurrent creations of one id leave the winner's ACL", func(t *testing.T) {
		s := setup(t)
		users := []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"}
		statuses := make([]int, len(users))
		parallel(t, len(users), func(i int) error {
			r, err := call(s.h, req{Method: "PUT", Path: "/v1/shelves/race", User: users[i], Body: map[string]any{}})
			if err != nil {
				return err
			}
			statuses[i] = r.Code
			return nil
		})
		winner := ""
		for i, st := range statuses {
			if st == 201 {
				if winner != "" {
					t.Fatalf("two creations: %v", statuses)
				}
				winner = users[i]
			}
		}
		if winner == "" {
			t.Fatalf("no creation: %v", statuses)
		}
		set, err := s.perms.ObjectPermissions(context.Background(), "/shelves/race")
		if err != nil || len(set["write"]) != 1 || set["write"][0] != principalOf(winner) {
			t.Errorf("the ACL of %s's shelf: %v %v (statuses %v)", winner, set, err, statuses)
		}
	})

	t.Run("a failed create leaves no ACL behind", func(t *testing.T) {
		s := setup(t)
		// The note exists: If-None-Match: * makes the PUT fail after the authorization.
		s.must(412, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1/notes/n1", User: "alice",
			Header: map[string]string{"If-None-Match": "*"},
			Body:   map[string]any{"permissions": map[string]any{"read": []string{"system.Everyone"}}}})
		set, err := s.perms.ObjectPermissions(context.Background(), "/shelves/s1/folders/f1/notes/n1")
		if err != nil || len(set["read"]) != 0 {
			t.Errorf("the refused PUT changed the ACL: %v %v", set, err)
		}
	})
}

func TestUnderChecksTheTree(t *testing.T) {
	app := newAppWith(t, cliquet.Config{Storage: storagememory.New(nil), Permission: memory.New()}, map[string]string{"userid_hmac_secret": testSecret})
	parent, err := resource.Register(app, resource.Spec[resource.Object]{Name: "shelf", Sharing: &resource.Sharing{}})
	if err != nil {
		t.Fatal(err)
	}
	private, err := resource.Register(app, resource.Spec[resource.Object]{Name: "diary"})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		spec resource.Spec[resource.Object]
	}{
		{"a private child", resource.Spec[resource.Object]{Name: "a", Under: parent}},
		{"a private parent", resource.Spec[resource.Object]{Name: "b", Under: private, Sharing: &resource.Sharing{}}},
		{"a path without the parent's parameter", resource.Spec[resource.Object]{Name: "c", Under: parent, Path: "/cs", Sharing: &resource.Sharing{}}},
		{"a path outside the parent's", resource.Spec[resource.Object]{Name: "d", Under: parent, Path: "/other/{x}/ds", Sharing: &resource.Sharing{}}},
		{"Under with a Parent hook", resource.Spec[resource.Object]{Name: "e", Under: parent, Sharing: &resource.Sharing{},
			Parent: func(*http.Request) (string, error) { return "", nil }}},
		{"ParentSchema without Under", resource.Spec[resource.Object]{Name: "f", Sharing: &resource.Sharing{},
			ParentSchema: func(storage.Object) ([]byte, error) { return nil, nil }}},
	}
	for _, c := range cases {
		if _, err := resource.Register(app, c.spec); err == nil {
			t.Errorf("%s: Register accepted it", c.name)
		}
	}
}

// TestTreeConcurrentCreatesOnPostgreSQL: 50 writers create records in one nested shareable
// collection (the ACL written with each) while a poller follows it with _since: every
// create succeeds, timestamps are unique, and the poller sees each record exactly once, in
// increasing timestamp order.
func TestTreeConcurrentCreatesOnPostgreSQL(t *testing.T) {
	store, perms := pgTreeBackends(t, testenv.PostgresDatabase(t, "resource_tree_test"), 30)
	s := newTreeServer(t, store, perms)
	s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1", User: "alice", Body: map[string]any{}})
	s.must(201, req{Method: "PUT", Path: "/v1/shelves/s1/folders/f1", User: "alice", Body: map[string]any{}})
	notes := "/v1/shelves/s1/folders/f1/notes"

	const perWriter = 8
	var (
		done    atomic.Bool
		seen    = map[string]int64{}
		pollErr error
		polled  = make(chan struct{})
	)
	go func() { // the poller
		defer close(polled)
		since := int64(0)
		for {
			last := done.Load()
			r, err := call(s.h, req{Method: "GET", Path: fmt.Sprintf("%s?_sort=last_modified&_since=%d", notes, since), User: "alice"})
			if err != nil || r.Code != 200 {
				pollErr = fmt.Errorf("poll: %v %v", err, r)
				return
			}
			for _, o := range r.list() {
				lm := int64(o["last_modified"].(float64))
				if lm <= since {
					pollErr = fmt.Errorf("timestamp %d after %d: not increasing", lm, since)
					return
				}
				if _, dup := seen[o["id"].(string)]; dup {
					pollErr = fmt.Errorf("record %s seen twice", o["id"])
					return
				}
				seen[o["id"].(string)], since = lm, lm
			}
			if last {
				return
			}
		}
	}()
	var mu sync.Mutex
	created := map[string]int64{}
	parallel(t, goroutines, func(i int) error {
		for range perWriter {
			r, err := call(s.h, req{Method: "POST", Path: notes, User: "alice", Body: map[string]any{"data": map[string]any{"w": i}}})
			if err != nil {
				return err
			}
			if r.Code != 201 {
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			mu.Lock()
			created[r.data()["id"].(string)] = int64(r.data()["last_modified"].(float64))
			mu.Unlock()
		}
		return nil
	})
	done.Store(true)
	<-polled
	if pollErr != nil {
		t.Fatal(pollErr)
	}
	stamps := map[int64]bool{}
	for id, lm := range created {
		if stamps[lm] {
			t.Errorf("timestamp %d given twice", lm)
		}
		stamps[lm] = true
		if seen[id] != lm {
			t.Errorf("record %s (%d): the poller saw %d", id, lm, seen[id])
		}
	}
	if len(created) != goroutines*perWriter || len(seen) != len(created) {
		t.Errorf("%d created, %d seen, want %d", len(created), len(seen), goroutines*perWriter)
	}
}

// TestTreeRefusesUnstorableAncestorIDs: an ancestor id the generator accepts but no
// backend can store, or that would be a pattern in an ACL's URI, is a 400 naming it.
func TestTreeRefusesUnstorableAncestorIDs(t *testing.T) {
	app := newAppWith(t, cliquet.Config{Storage: storagememory.New(nil), Permission: memory.New()}, map[string]string{"userid_hmac_secret": testSecret})
	parents, err := resource.Register(app, resource.Spec[resource.Object]{Name: "box", Path: "/boxes", IDGenerator: anyID{}, Sharing: &resource.Sharing{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "item", Under: parents, Sharing: &resource.Sharing{}}); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: app, h: app.Handler()}
	// (A percent-encoded byte such as %ff or %2F reaches chi as the literal "%ff": chi
	// routes on the raw path, so it is a storable id.)
	for _, id := range []string{"%00", "a*"} {
		expectError(t, s.do(req{Method: "GET", Path: "/v1/boxes/" + id + "/items", User: "alice"}), 400, 107, "path", "box_id")
	}
}

// anyID accepts every non-empty id.
type anyID struct{ resource.NameGenerator }

func (anyID) Valid(id string) bool { return id != "" }

// TestSharedIDsRefuseWildcards: on a shareable resource, an object id holding '*' or '/' is
// a 400 in the URL and in a POST body, whatever the id generator accepts: '*' would be a
// pattern for the permission backend, so that deleting the object's ACL would delete its
// siblings'.
func TestSharedIDsRefuseWildcards(t *testing.T) {
	app := newAppWith(t, cliquet.Config{Storage: storagememory.New(nil), Permission: memory.New()},
		map[string]string{"userid_hmac_secret": testSecret, "box_create_principals": "system.Authenticated"})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "box", Path: "/boxes", IDGenerator: anyID{}, Sharing: &resource.Sharing{}}); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: app, h: app.Handler()}
	s.must(201, req{Method: "PUT", Path: "/v1/boxes/a", User: "alice", Body: map[string]any{}})
	expectError(t, s.do(req{Method: "PUT", Path: "/v1/boxes/*", User: "alice", Body: map[string]any{}}), 400, 107, "path", "id")
	expectError(t, s.do(req{Method: "DELETE", Path: "/v1/boxes/*", User: "alice"}), 400, 107, "path", "id")
	for _, id := range []string{"*", "a/b"} {
		expectError(t, s.do(req{Method: "POST", Path: "/v1/boxes", User: "alice", Body: map[string]any{"data": map[string]any{"id": id}}}), 400, 107, "body", "data.id")
	}
	s.must(200, req{Method: "GET", Path: "/v1/boxes/a", User: "alice"})
}
