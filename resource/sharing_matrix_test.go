package resource_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/permission/postgresql"
	"github.com/cliquet-go/cliquet/permission/redis"
	"github.com/cliquet-go/cliquet/resource"
	storagememory "github.com/cliquet-go/cliquet/storage/memory"
)

const testSecret = "test-secret"

// principalOf is the prefixed user id of a test user (password "secret").
func principalOf(user string) string {
	return "basicauth:" + authn.HMACUserID(testSecret, user+":secret")
}

// newShareServer registers a shareable schemaless "article" resource whose permissions live
// in perms; authenticated users may create articles.
func newShareServer(t *testing.T, perms permission.Backend, settings map[string]string, sharing *resource.Sharing) *server {
	t.Helper()
	values := map[string]string{"userid_hmac_secret": testSecret, "article_create_principals": "system.Authenticated"}
	for k, v := range settings {
		values[k] = v
	}
	app := newAppWith(t, cliquet.Config{Storage: storagememory.New(nil), Permission: perms}, values)
	if sharing == nil {
		sharing = &resource.Sharing{}
	}
	articles, err := resource.Register(app, resource.Spec[resource.Object]{Name: "article", Sharing: sharing})
	if err != nil {
		t.Fatal(err)
	}
	return &server{t: t, app: app, h: app.Handler(), articles: articles}
}

func TestSharingMatrixMemory(t *testing.T) {
	runSharingMatrix(t, memory.New())
}

func TestSharingMatrixPostgreSQL(t *testing.T) {
	// perm_matrix_test is the database of this test, created when missing.
	u := testenv.PostgresDatabase(t, "perm_matrix_test")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := postgresql.New(ctx, postgresql.Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	runSharingMatrix(t, b)
}

func TestSharingMatrixRedis(t *testing.T) {
	b, err := redis.New(redis.Options{URL: testenv.RedisURL(t, 4), Prefix: testenv.UniquePrefix(t, "perm_matrix_test:")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Flush(context.Background())
		b.Close()
	})
	runSharingMatrix(t, b)
}

// The matrix: who (anonymous, alice the author, bob, carol who is in alice's group) does
// what (every method on the plural and the object URLs) to an object alice created
// private, shared for reading or shared for writing.

type sharingCase int

const (
	private sharingCase = iota
	sharedRead
	sharedWrite
)

func (c sharingCase) String() string { return [...]string{"private", "shared-read", "shared-write"}[c] }

// acl is what alice sends when creating the object of each case.
func (c sharingCase) acl() map[string]any {
	switch c {
	case sharedRead:
		return map[string]any{"read": []string{principalOf("bob"), "/groups/friends"}}
	case sharedWrite:
		return map[string]any{"write": []string{principalOf("bob"), "/groups/friends"}}
	}
	return map[string]any{}
}

func canRead(user string, c sharingCase) bool {
	return user == "alice" || (user == "bob" || user == "carol") && c != private
}

func canWrite(user string, c sharingCase) bool {
	return user == "alice" || (user == "bob" || user == "carol") && c == sharedWrite
}

// denied is the status of a refused request: 401 for anonymous users, 403 otherwise.
func denied(user string) int {
	if user == "" {
		return 401
	}
	return 403
}

// matrixWorld is the state every cell starts from: alice's object of the case (obj), one
// private object of alice (mine) and one of bob (bobs).
type matrixWorld struct {
	s               *server
	perms           permission.Backend
	obj, mine, bobs string
}

func newWorld(t *testing.T, perms permission.Backend, c sharingCase) *matrixWorld {
	ctx := context.Background()
	if err := perms.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := perms.AddUserPrincipal(ctx, principalOf("carol"), "/groups/friends"); err != nil {
		t.Fatal(err)
	}
	s := newShareServer(t, perms, nil, nil)
	w := &matrixWorld{s: s, perms: perms}
	w.obj = s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice",
		Body: map[string]any{"data": map[string]any{"title": "shared"}, "permissions": c.acl()}}).data()["id"].(string)
	w.mine = s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice",
		Body: map[string]any{"data": map[string]any{"title": "mine"}}}).data()["id"].(string)
	w.bobs = s.must(201, req{Method: "POST", Path: "/v1/articles", User: "bob",
		Body: map[string]any{"data": map[string]any{"title": "bob's"}}}).data()["id"].(string)
	return w
}

// visibleIDs lists what user may read among the world's objects.
func (w *matrixWorld) visibleIDs(user string, c sharingCase, writable bool) []string {
	var ids []string
	check := canRead
	if writable {
		check = canWrite
	}
	if check(user, c) {
		ids = append(ids, w.obj)
	}
	if user == "alice" {
		ids = append(ids, w.mine)
	}
	if user == "bob" {
		ids = append(ids, w.bobs)
	}
	sort.Strings(ids)
	return ids
}

func listIDs(r *response) []string {
	var ids []string
	for _, o := range r.list() {
		ids = append(ids, o["id"].(string))
	}
	sort.Strings(ids)
	return ids
}

func runSharingMatrix(t *testing.T, perms permission.Backend) {
	users := []string{"", "alice", "bob", "carol"}
	name := func(u string) string {
		if u == "" {
			return "anonymous"
		}
		return u
	}
	type cell struct {
		method, what string
		run          func(t *testing.T, w *matrixWorld, user string, c sharingCase)
	}
	cells := []cell{
		{"GET", "the plural URL lists only readable objects", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "GET", Path: "/v1/articles", User: user})
			if user == "" {
				expectError(t, r, 401, 104, "", "")
				return
			}
			if r.Code != 200 || !slices.Equal(listIDs(r), w.visibleIDs(user, c, false)) {
				t.Fatalf("status %d ids %v, want 200 %v", r.Code, listIDs(r), w.visibleIDs(user, c, false))
			}
			for _, o := range r.list() {
				if _, ok := o["permissions"]; ok {
					t.Fatalf("permissions in a list: %s", r.Raw)
				}
			}
			if _, ok := r.Body["permissions"]; ok {
				t.Fatalf("permissions in a list: %s", r.Raw)
			}
		}},
		{"HEAD", "the plural URL counts only readable objects", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "HEAD", Path: "/v1/articles", User: user})
			if user == "" {
				if r.Code != 401 {
					t.Fatalf("status %d", r.Code)
				}
				return
			}
			if want := strconv.Itoa(len(w.visibleIDs(user, c, false))); r.Code != 200 || r.Header.Get("Total-Objects") != want {
				t.Fatalf("status %d Total-Objects %q, want %s", r.Code, r.Header.Get("Total-Objects"), want)
			}
		}},
		{"POST", "the plural URL creates for authenticated users", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "POST", Path: "/v1/articles", User: user, Body: map[string]any{"data": map[string]any{"title": "new"}}})
			if user == "" {
				expectError(t, r, 401, 104, "", "")
				return
			}
			p, _ := r.Body["permissions"].(map[string]any)
			if r.Code != 201 || fmt.Sprint(p["write"]) != "["+principalOf(user)+"]" {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
		}},
		{"POST", "with the object's id returns it to readers", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "POST", Path: "/v1/articles", User: user, Body: map[string]any{"data": map[string]any{"id": w.obj, "title": "hijack"}}})
			if !canRead(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				return
			}
			if r.Code != 200 || r.data()["title"] != "shared" {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
		}},
		{"DELETE", "the plural URL deletes only writable objects", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "DELETE", Path: "/v1/articles", User: user})
			if user == "" {
				expectError(t, r, 401, 104, "", "")
				return
			}
			want := w.visibleIDs(user, c, true)
			if r.Code != 200 || !slices.Equal(listIDs(r), want) {
				t.Fatalf("status %d deleted %v, want %v", r.Code, listIDs(r), want)
			}
			left := listIDs(w.s.must(200, req{Method: "GET", Path: "/v1/articles", User: "alice"}))
			for _, id := range want {
				if slices.Contains(left, id) {
					t.Fatalf("%s still listed after deletion", id)
				}
			}
			if user != "alice" && len(left) < 1 {
				t.Fatalf("alice's objects were deleted by %s", user)
			}
			// The bulk deletion removed the ACLs of the deleted objects, and only theirs: an
			// id re-created by someone else inherits no principal.
			for _, id := range []string{w.obj, w.mine, w.bobs} {
				set, err := w.perms.ObjectPermissions(context.Background(), "/articles/"+id)
				if err != nil {
					t.Fatal(err)
				}
				if deleted := slices.Contains(want, id); deleted != (len(set) == 0) {
					t.Fatalf("%s (deleted: %v) has the ACEs %v", id, deleted, set)
				}
			}
			if len(want) > 0 {
				id := want[0]
				r := w.s.do(req{Method: "PUT", Path: "/v1/articles/" + id, User: "dave", Body: map[string]any{"data": map[string]any{"title": "dave's"}}})
				p, _ := r.Body["permissions"].(map[string]any)
				if r.Code != 201 || len(p) != 1 || fmt.Sprint(p["write"]) != "["+principalOf("dave")+"]" {
					t.Fatalf("re-creation by dave: status %d: %s", r.Code, r.Raw)
				}
			}
		}},
		{"GET", "the object answers readers and hides it from others", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "GET", Path: "/v1/articles/" + w.obj, User: user})
			if !canRead(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				return
			}
			if r.Code != 200 || r.data()["id"] != w.obj {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
			p, ok := r.Body["permissions"].(map[string]any)
			if !ok || canWrite(user, c) != (len(p) > 0) {
				t.Fatalf("permissions shown to writers only: %s", r.Raw)
			}
		}},
		{"GET", "a missing object is forbidden, not 404", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "GET", Path: "/v1/articles/" + uuid.NewString(), User: user})
			expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
		}},
		{"HEAD", "the object answers readers", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "HEAD", Path: "/v1/articles/" + w.obj, User: user})
			if want := map[bool]int{true: 200, false: denied(user)}[canRead(user, c)]; r.Code != want {
				t.Fatalf("status %d, want %d", r.Code, want)
			}
		}},
		{"PUT", "replaces the object for writers", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PUT", Path: "/v1/articles/" + w.obj, User: user, Body: map[string]any{"data": map[string]any{"title": "replaced"}}})
			if !canWrite(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				return
			}
			if r.Code != 200 || r.data()["title"] != "replaced" {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
		}},
		{"PUT", "creates a new object for users who may create", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PUT", Path: "/v1/articles/" + uuid.NewString(), User: user, Body: map[string]any{"data": map[string]any{"title": "put"}}})
			if user == "" {
				expectError(t, r, 401, 104, "", "")
				return
			}
			if r.Code != 201 {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
		}},
		{"PUT", "with If-None-Match: * on the object is a 412 for creators only after authorization", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PUT", Path: "/v1/articles/" + w.obj, User: user, Header: map[string]string{"If-None-Match": "*"},
				Body: map[string]any{"data": map[string]any{"title": "x"}}})
			if user == "" {
				expectError(t, r, 401, 104, "", "")
				return
			}
			// Every authenticated user may create, so the precondition answers; details
			// carry the object only for its readers, and never its permissions.
			if r.Code != 412 {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
			d, _ := r.Body["details"].(map[string]any)
			raw, present := d["existing"]
			if !canRead(user, c) {
				if present {
					t.Fatalf("details.existing shown to a user who cannot read the object: %s", r.Raw)
				}
				return
			}
			ex, _ := raw.(map[string]any)
			if ex["id"] != w.obj || ex["title"] != "shared" {
				t.Fatalf("details.existing is not the object: %s", r.Raw)
			}
			if _, hasPerms := ex["permissions"]; hasPerms {
				t.Fatalf("permissions in 412 details: %s", r.Raw)
			}
		}},
		{"PATCH", "changes the object for writers", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PATCH", Path: "/v1/articles/" + w.obj, User: user, Body: map[string]any{"data": map[string]any{"title": "patched"}}})
			if !canWrite(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				got := w.s.must(200, req{Method: "GET", Path: "/v1/articles/" + w.obj, User: "alice"})
				if got.data()["title"] != "shared" {
					t.Fatalf("refused PATCH changed the object: %s", got.Raw)
				}
				return
			}
			if r.Code != 200 || r.data()["title"] != "patched" {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
		}},
		{"PATCH", "with a stale If-Match answers 412 to writers only", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PATCH", Path: "/v1/articles/" + w.obj, User: user, Header: map[string]string{"If-Match": `"1"`},
				Body: map[string]any{"data": map[string]any{"title": "patched"}}})
			if !canWrite(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				return
			}
			d, _ := r.Body["details"].(map[string]any)
			ex, _ := d["existing"].(map[string]any)
			if r.Code != 412 || ex["id"] != w.obj {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
			if _, hasPerms := ex["permissions"]; hasPerms {
				t.Fatalf("permissions in 412 details: %s", r.Raw)
			}
		}},
		{"PATCH", "a missing object is forbidden", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "PATCH", Path: "/v1/articles/" + uuid.NewString(), User: user, Body: map[string]any{"data": map[string]any{"a": 1}}})
			expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
		}},
		{"DELETE", "deletes the object for writers, with its ACL", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "DELETE", Path: "/v1/articles/" + w.obj, User: user})
			if !canWrite(user, c) {
				expectError(t, r, denied(user), map[int]int{401: 104, 403: 121}[denied(user)], "", "")
				w.s.must(200, req{Method: "GET", Path: "/v1/articles/" + w.obj, User: "alice"})
				return
			}
			if r.Code != 200 || r.data()["deleted"] != true {
				t.Fatalf("status %d: %s", r.Code, r.Raw)
			}
			if _, ok := r.Body["permissions"]; ok {
				t.Fatalf("permissions in a DELETE response: %s", r.Raw)
			}
			// The ACL went with the object: even alice cannot read the id any more.
			expectError(t, w.s.do(req{Method: "GET", Path: "/v1/articles/" + w.obj, User: "alice"}), 403, 121, "", "")
		}},
		{"POST", "a batch authorizes each sub-request", func(t *testing.T, w *matrixWorld, user string, c sharingCase) {
			r := w.s.do(req{Method: "POST", Path: "/v1/batch", User: user, Body: map[string]any{"requests": []any{
				map[string]any{"method": "GET", "path": "/articles/" + w.obj},
				map[string]any{"method": "GET", "path": "/articles"},
			}}})
			if r.Code != 200 {
				t.Fatalf("batch status %d: %s", r.Code, r.Raw)
			}
			subs := r.Body["responses"].([]any)
			one := subs[0].(map[string]any)
			if want := map[bool]int{true: 200, false: denied(user)}[canRead(user, c)]; int(one["status"].(float64)) != want {
				t.Fatalf("sub-request GET object: status %v, want %d", one["status"], want)
			}
			list := subs[1].(map[string]any)
			if user == "" {
				if list["status"].(float64) != 401 {
					t.Fatalf("anonymous batch list: %v", list)
				}
				return
			}
			var ids []string
			for _, o := range list["body"].(map[string]any)["data"].([]any) {
				ids = append(ids, o.(map[string]any)["id"].(string))
			}
			sort.Strings(ids)
			if !slices.Equal(ids, w.visibleIDs(user, c, false)) {
				t.Fatalf("batch list %v, want %v", ids, w.visibleIDs(user, c, false))
			}
		}},
	}
	for _, c := range []sharingCase{private, sharedRead, sharedWrite} {
		for _, user := range users {
			for _, cl := range cells {
				t.Run(fmt.Sprintf("%s: %s %s on a %s object", name(user), cl.method, cl.what, c), func(t *testing.T) {
					cl.run(t, newWorld(t, perms, c), user, c)
				})
			}
		}
	}
	t.Run("tombstones of _since never show objects the user could not read", func(t *testing.T) {
		w := newWorld(t, perms, sharedRead)
		since := etag(w.s.must(200, req{Method: "GET", Path: "/v1/articles", User: "alice"}))
		w.s.must(200, req{Method: "DELETE", Path: "/v1/articles/" + w.mine, User: "alice"})
		w.s.must(200, req{Method: "DELETE", Path: "/v1/articles/" + w.obj, User: "alice"})
		for _, user := range []string{"bob", "carol"} {
			r := w.s.must(200, req{Method: "GET", Path: "/v1/articles?_since=" + url.QueryEscape(since), User: user})
			for _, o := range r.list() {
				if o["id"] == w.mine || o["id"] == w.obj {
					t.Fatalf("%s sees %v", user, o)
				}
			}
		}
	})
}
