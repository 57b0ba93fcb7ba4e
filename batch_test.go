package cliquet_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

const batchSecret = "batch-secret"

// batchServer is an app with a schemaless "mushroom" resource whose Process hook fails on
// demand: data {"fail": "500"} returns a plain Go error (500), {"fail": "400"} a 400, and
// {"fail": "panic"} panics.
type batchServer struct {
	t     testing.TB
	app   *cliquet.App
	store storage.Backend
}

type batchOptions struct {
	settings map[string]string
	store    storage.Backend
	router   chi.Router                         // nil: a fresh one
	extra    func(t testing.TB, a *cliquet.App) // registers more routes
	perms    permission.Backend                 // nil: the permission_backend setting
	authn    []authn.Authenticator              // extra authentication policies
}

func newBatchServer(t testing.TB, opts batchOptions) *batchServer {
	t.Helper()
	values := map[string]string{"userid_hmac_secret": batchSecret, "project_name": "myapp", "project_version": "1.0.0"}
	for k, v := range opts.settings {
		values[k] = v
	}
	if opts.store == nil {
		opts.store = memory.New(nil)
	}
	if opts.router == nil {
		opts.router = chi.NewRouter()
	}
	app, err := cliquet.TryAppOn(opts.router, values, cliquet.Config{
		Storage:        opts.store,
		Permission:     opts.perms,
		Authenticators: opts.authn,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	_, err = resource.Register(app, resource.Spec[resource.Object]{
		Name: "mushroom",
		Process: func(_ context.Context, _ *http.Request, n resource.Object, _ *resource.Object) (resource.Object, error) {
			switch n["fail"] {
			case "500":
				return nil, errors.New("the mushroom is poisonous")
			case "400":
				return nil, protocol.InvalidParam("body", "data.fail", "this mushroom is refused")
			case "panic":
				panic("mushroom panic")
			}
			return n, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.extra != nil {
		opts.extra(t, app)
	}
	return &batchServer{t: t, app: app, store: opts.store}
}

// batchReply is a decoded answer of the server.
type batchReply struct {
	Code   int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

type batchItem struct {
	Status  int               `json:"status"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

func (r *batchReply) items(t *testing.T) []batchItem {
	t.Helper()
	var out struct{ Responses []batchItem }
	if err := json.Unmarshal(r.Raw, &out); err != nil || r.Code != 200 {
		t.Fatalf("batch answered %d %s (%v)", r.Code, r.Raw, err)
	}
	return out.Responses
}

func (it batchItem) body(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(it.Body, &m); err != nil {
		t.Fatalf("sub-response body %s is not an object: %v", it.Body, err)
	}
	return m
}

// do sends method target with body (a string is sent as is, anything else as JSON) as
// user ("" is anonymous); header holds name, value pairs.
func (s *batchServer) do(method, target, user string, body any, header ...string) *batchReply {
	s.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, target, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, "secret")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	s.app.Handler().ServeHTTP(rec, req)
	out := &batchReply{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	_ = json.Unmarshal(out.Raw, &out.Body)
	return out
}

func (s *batchServer) batch(user string, body any, header ...string) *batchReply {
	s.t.Helper()
	return s.do("POST", "/v1/batch", user, body, header...)
}

// stored returns the ids of the live mushrooms of user, read from storage directly.
func (s *batchServer) stored(user string) []string {
	s.t.Helper()
	objs, err := s.store.List(context.Background(), storage.Scope{Resource: "mushroom", Parent: batchUserID(user)}, storage.ListOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	ids := make([]string, 0, len(objs))
	for _, o := range objs {
		ids = append(ids, o.ID)
	}
	slices.Sort(ids)
	return ids
}

func batchUserID(user string) string {
	return "basicauth:" + authn.HMACUserID(batchSecret, user+":secret")
}

// putRequests returns n PUT sub-requests with fresh ids; fail[i] sets data.fail of item i.
func putRequests(n int, fail map[int]string) (reqs []any, ids []string) {
	for i := range n {
		id := uuid.NewString()
		data := map[string]any{"name": fmt.Sprintf("mushroom %d", i+1)}
		if f, ok := fail[i]; ok {
			data["fail"] = f
		}
		reqs = append(reqs, map[string]any{"method": "PUT", "path": "/mushrooms/" + id, "body": map[string]any{"data": data}})
		ids = append(ids, id)
	}
	return reqs, ids
}

func sortedCopy(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	if out == nil {
		out = []string{}
	}
	return out
}

func hasDetail(body map[string]any, name, desc string) bool {
	details, _ := body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		if m["location"] == "body" && m["name"] == name && strings.Contains(fmt.Sprint(m["description"]), desc) {
			return true
		}
	}
	return false
}

// TestBatchValidation covers protocol.md 10.3 item 29 and the schema rules of 1.6.
func TestBatchValidation(t *testing.T) {
	many := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = `{"path": "/"}`
		}
		return `{"requests": [` + strings.Join(items, ",") + `]}`
	}
	tests := []struct {
		name     string
		settings map[string]string
		body     string
		detail   string // name of an expected detail
		desc     string // part of its description
	}{
		{"requests is mandatory", nil, `{}`, "requests", "missing"},
		{"an empty body lacks requests", nil, ``, "requests", "missing"},
		{"requests must be a list", nil, `{"requests": {}}`, "requests", "list"},
		{"unknown top-level keys are rejected", nil, `{"requests": [], "unknown": 42}`, "unknown", "not allowed"},
		{"each request must be an object", nil, `{"requests": [42]}`, "requests.0", "object"},
		{"the path is mandatory", nil, `{"requests": [{"method": "HEAD"}]}`, "requests.0.path", "missing"},
		{"the path must start with a slash", nil, `{"requests": [{"path": "http://localhost"}]}`, "requests.0.path", "start with /"},
		{"the path must be a string", nil, `{"requests": [{"path": 12}]}`, "requests.0.path", "string"},
		{"the method must be uppercase", nil, `{"requests": [{"path": "/", "method": "get"}]}`, "requests.0.method", "one of GET"},
		{"the method must be a known verb", nil, `{"requests": [{"path": "/", "method": "CONNECT"}]}`, "requests.0.method", "one of GET"},
		{"header values must be strings", nil, `{"requests": [{"path": "/", "headers": {"Accept": 3.14}}]}`, "requests.0.headers", `"Accept"`},
		{"header values cannot be objects", nil, `{"requests": [{"path": "/", "headers": {"Accept": {"sub": "dict"}}}]}`, "requests.0.headers", "non string"},
		{"headers must be an object", nil, `{"requests": [{"path": "/", "headers": ["Accept"]}]}`, "requests.0.headers", "object"},
		{"the body must be an object", nil, `{"requests": [{"path": "/", "body": "text"}]}`, "requests.0.body", "object"},
		{"unknown request keys are rejected", nil, `{"requests": [{"path": "/", "foo": 42}]}`, "requests.0.foo", "not allowed"},
		{"the second request is named by its index", nil, `{"requests": [{"path": "/"}, {"path": "x"}]}`, "requests.1.path", "start with /"},
		{"defaults must be an object", nil, `{"requests": [{"path": "/"}], "defaults": 42}`, "defaults", "object"},
		{"defaults follow the request schema", nil, `{"requests": [{"path": "/"}], "defaults": {"body": 3}}`, "defaults.body", "object"},
		{"unknown defaults keys are rejected", nil, `{"requests": [{"path": "/"}], "defaults": {"foo": "bar"}}`, "defaults.foo", "not allowed"},
		{"a default path must start with a slash", nil, `{"requests": [{}], "defaults": {"path": "http://localhost"}}`, "defaults.path", "start with /"},
		{"an unparsable path is rejected", nil, `{"requests": [{"path": "/%zz"}]}`, "requests.0.path", "not a valid URL"},
		{"26 requests exceed the default limit of 25", nil, many(26), "requests", "Number of requests is limited to 25"},
		{"batch_max_requests sets the limit", map[string]string{"batch_max_requests": "22"}, many(23), "requests", "Number of requests is limited to 22"},
		{"a recursive call on /batch is forbidden", nil, `{"requests": [{"method": "POST", "path": "/v1/batch", "body": {"requests": [{"path": "/"}]}}]}`, "requests", "Recursive call on /batch endpoint is forbidden."},
		{"a recursive call without prefix is forbidden", nil, `{"requests": [{"method": "POST", "path": "/batch"}]}`, "requests", "Recursive"},
		{"an escaped recursive call is forbidden", nil, `{"requests": [{"method": "POST", "path": "/%62atch"}]}`, "requests", "Recursive"},
		{"invalid JSON is a 400", nil, `{"requests": [{"path": "/"},]}`, "", "Invalid JSON"},
		{"a JSON array is a 400", nil, `[]`, "", "JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newBatchServer(t, batchOptions{settings: tt.settings})
			r := s.batch("", tt.body)
			if r.Code != 400 || r.Body["errno"] != float64(protocol.ErrnoInvalidParameters) {
				t.Fatalf("answered %d %s, want 400 errno 107", r.Code, r.Raw)
			}
			if !hasDetail(r.Body, tt.detail, tt.desc) {
				t.Errorf("details %v lack {body, %q, ...%q...}", r.Body["details"], tt.detail, tt.desc)
			}
		})
	}

	t.Run("every violation is reported", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{})
		r := s.batch("", `{"requests": [{"path": "x", "method": "get", "headers": {"A": 1}}]}`)
		for _, name := range []string{"requests.0.path", "requests.0.method", "requests.0.headers"} {
			if !hasDetail(r.Body, name, "") {
				t.Errorf("no detail for %s in %s", name, r.Raw)
			}
		}
	})
	t.Run("a body that is not JSON is a 415", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{})
		r := s.batch("", `{"requests": []}`, "Content-Type", "text/plain")
		if r.Code != 415 || r.Body["errno"] != float64(107) {
			t.Errorf("answered %d %s", r.Code, r.Raw)
		}
	})
	t.Run("the limit allows exactly 25 requests", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{})
		if got := len(s.batch("", many(25)).items(t)); got != 25 {
			t.Errorf("%d responses", got)
		}
	})
	t.Run("batch_max_requests None means unlimited", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{settings: map[string]string{"batch_max_requests": "None"}})
		if got := len(s.batch("", many(30)).items(t)); got != 30 {
			t.Errorf("%d responses", got)
		}
	})
	t.Run("an empty list answers an empty list of responses", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{})
		r := s.batch("", `{"requests": []}`)
		if r.Code != 200 || string(r.Raw) != `{"responses":[]}` {
			t.Errorf("answered %d %s", r.Code, r.Raw)
		}
	})
	t.Run("only POST is allowed", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{})
		for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
			if r := s.do(m, "/v1/batch", "", nil); r.Code != 405 || r.Body["errno"] != float64(115) {
				t.Errorf("%s answered %d %s", m, r.Code, r.Raw)
			}
		}
	})
}

// TestBatchSubrequests covers protocol.md 10.3 item 30 and the construction of sub-requests.
func TestBatchSubrequests(t *testing.T) {
	t.Parallel()
	echo := func(t testing.TB, a *cliquet.App) {
		a.Router.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			protocol.WriteJSON(w, 200, map[string]any{
				"method": r.Method, "query": r.URL.Query(), "body": string(b),
				"authorization": r.Header.Get("Authorization"), "content_type": r.Header.Get("Content-Type"),
				"content_length": r.ContentLength, "x_outer": r.Header.Get("X-Outer"), "x_sub": r.Header.Get("X-Sub"),
				"user": authn.IdentityFrom(r.Context()).UserID, "subrequest": monitoring.IsSubrequest(r.Context()),
				"in_transaction": cliquet.InTransaction(r.Context()),
			})
		})
		a.Router.Get("/text", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, "plain text")
		})
		a.Router.Get("/teapot", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "short and stout", http.StatusTeapot)
		})
	}
	s := newBatchServer(t, batchOptions{extra: echo})

	t.Run("the version prefix is added and the hello view answers", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/"}]}`).items(t)
		if items[0].Status != 200 || items[0].Path != "/v1/" || items[0].body(t)["project_name"] != "myapp" {
			t.Errorf("got %+v", items[0])
		}
		if !strings.Contains(items[0].Headers["Content-Type"], "application/json") {
			t.Errorf("headers = %v", items[0].Headers)
		}
	})
	t.Run("a path that has the prefix is not prefixed twice", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/v1/__heartbeat__"}]}`).items(t)
		if items[0].Status != 200 || items[0].Path != "/v1/__heartbeat__" {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("sub-requests are GET by default", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/echo"}]}`).items(t)
		if items[0].body(t)["method"] != "GET" {
			t.Errorf("got %s", items[0].Body)
		}
	})
	t.Run("the querystring is dispatched and left out of the response path", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/echo?param=©&x=a%20b"}]}`).items(t)
		q, _ := items[0].body(t)["query"].(map[string]any)
		if items[0].Path != "/v1/echo" || fmt.Sprint(q["param"]) != "[©]" || fmt.Sprint(q["x"]) != "[a b]" {
			t.Errorf("got path %q body %s", items[0].Path, items[0].Body)
		}
	})
	t.Run("the response path is URL-decoded", func(t *testing.T) {
		items := s.batch("alice", `{"requests": [{"path": "/mushrooms/caf%C3%A9%20noir"}]}`).items(t)
		if items[0].Path != "/v1/mushrooms/café noir" {
			t.Errorf("path = %q", items[0].Path)
		}
	})
	t.Run("HEAD sub-responses have an empty body and their headers", func(t *testing.T) {
		items := s.batch("alice", `{"requests": [{"method": "HEAD", "path": "/mushrooms"}]}`).items(t)
		if items[0].Status != 200 || string(items[0].Body) != `""` || items[0].Headers["ETag"] == "" {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("a non-JSON body is returned as a string", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/text"}]}`).items(t)
		if items[0].Status != 200 || string(items[0].Body) != `"plain text"` {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("a non-JSON error is turned into a JSON error", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/teapot"}]}`).items(t)
		b := items[0].body(t)
		if items[0].Status != 418 || b["code"] != float64(418) || b["errno"] != float64(999) || b["message"] != "short and stout" {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("unknown URLs answer a JSON 404", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/unknown"}]}`).items(t)
		if items[0].Status != 404 || items[0].body(t)["errno"] != float64(111) {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("a redirect is followed", func(t *testing.T) {
		items := s.batch("alice", `{"requests": [{"path": "/mushrooms/"}]}`).items(t)
		if items[0].Status != 200 || items[0].Path != "/v1/mushrooms" || string(items[0].Body) != `{"data":[]}` {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("the method, headers and body are re-sent when following a redirect", func(t *testing.T) {
		id := uuid.NewString()
		r := s.batch("bob", map[string]any{"requests": []any{map[string]any{
			"method": "PUT", "path": "/mushrooms/" + id + "/",
			"body": map[string]any{"data": map[string]any{"name": "Trompette de la mort"}},
		}}})
		it := r.items(t)[0]
		data, _ := it.body(t)["data"].(map[string]any)
		if it.Status != 201 || it.Path != "/v1/mushrooms/"+id || data["name"] != "Trompette de la mort" {
			t.Errorf("got %+v", it)
		}
		if got := s.stored("bob"); !slices.Contains(got, id) {
			t.Errorf("stored = %v", got)
		}
	})
	t.Run("the version prefix redirect is followed", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/v1"}]}`).items(t)
		if items[0].Status != 200 || items[0].Path != "/v1/" {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("headers are inherited from the batch request and overridden by the sub-request", func(t *testing.T) {
		r := s.batch("carol", `{"requests": [
			{"path": "/echo"},
			{"path": "/echo", "headers": {"X-Outer": "sub value", "X-Sub": "only here"}}]}`, "X-Outer", "outer value")
		items := r.items(t)
		first, second := items[0].body(t), items[1].body(t)
		if !strings.HasPrefix(fmt.Sprint(first["authorization"]), "Basic ") || first["user"] != batchUserID("carol") {
			t.Errorf("Authorization not inherited: %v", first)
		}
		if first["x_outer"] != "outer value" || second["x_outer"] != "sub value" || second["x_sub"] != "only here" || first["x_sub"] != "" {
			t.Errorf("headers: %v / %v", first, second)
		}
	})
	t.Run("the Authorization of a sub-request wins and authenticates it", func(t *testing.T) {
		auth := "Basic " + basicToken("dave", "secret")
		r := s.batch("carol", map[string]any{"requests": []any{map[string]any{"path": "/echo", "headers": map[string]any{"Authorization": auth}}}})
		if got := r.items(t)[0].body(t)["user"]; got != batchUserID("dave") {
			t.Errorf("user = %v", got)
		}
	})
	t.Run("an anonymous batch gets 401 on protected sub-requests only", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/mushrooms"}, {"path": "/"}]}`).items(t)
		if items[0].Status != 401 || items[0].body(t)["errno"] != float64(104) || items[1].Status != 200 {
			t.Errorf("got %d %d", items[0].Status, items[1].Status)
		}
	})
	t.Run("a body is sent as JSON without the outer Content-Length", func(t *testing.T) {
		r := s.batch("", `{"requests": [{"method": "POST", "path": "/echo", "body": {"json": "😂", "url": "a/b"}}]}`)
		b := r.items(t)[0].body(t)
		if b["body"] != `{"json":"😂","url":"a/b"}` || b["content_type"] != "application/json; charset=utf-8" || b["content_length"] != float64(len(`{"json":"😂","url":"a/b"}`)) {
			t.Errorf("got %v", b)
		}
	})
	t.Run("sub-requests are flagged for the monitoring and join the batch's context", func(t *testing.T) {
		b := s.batch("", `{"requests": [{"path": "/echo"}]}`).items(t)[0].body(t)
		if b["subrequest"] != true {
			t.Errorf("got %v", b)
		}
	})
	t.Run("defaults are merged without overwriting request values", func(t *testing.T) {
		id1, id2 := uuid.NewString(), uuid.NewString()
		r := s.batch("erin", map[string]any{
			"defaults": map[string]any{
				"method":  "PUT",
				"headers": map[string]any{"X-Outer": "from defaults", "X-Sub": "default sub"},
				"body":    map[string]any{"data": map[string]any{"color": "red", "size": 3}},
			},
			"requests": []any{
				map[string]any{"path": "/mushrooms/" + id1, "body": map[string]any{"data": map[string]any{"name": "a", "color": "blue"}}},
				map[string]any{"path": "/mushrooms/" + id2},
				map[string]any{"path": "/echo", "method": "POST", "headers": map[string]any{"X-Sub": "mine"}},
			},
		})
		items := r.items(t)
		d1, _ := items[0].body(t)["data"].(map[string]any)
		d2, _ := items[1].body(t)["data"].(map[string]any)
		if items[0].Status != 201 || d1["name"] != "a" || d1["color"] != "blue" || d1["size"] != float64(3) {
			t.Errorf("first = %+v", items[0])
		}
		if items[1].Status != 201 || d2["color"] != "red" || d2["size"] != float64(3) {
			t.Errorf("second = %+v", items[1])
		}
		echoed := items[2].body(t)
		if echoed["method"] != "POST" || echoed["x_sub"] != "mine" || echoed["x_outer"] != "from defaults" ||
			!strings.Contains(fmt.Sprint(echoed["body"]), `"color":"red"`) {
			t.Errorf("third = %v", echoed)
		}
	})
	t.Run("a default method applies to requests without one", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"path": "/"}], "defaults": {"method": "POST"}}`).items(t)
		if items[0].Status != 405 {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("a default path applies to requests without one", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"method": "GET"}], "defaults": {"path": "/__lbheartbeat__"}}`).items(t)
		if items[0].Status != 200 || items[0].Path != "/v1/__lbheartbeat__" {
			t.Errorf("got %+v", items[0])
		}
	})
	t.Run("the batch does not require authentication", func(t *testing.T) {
		if r := s.batch("", `{"requests": []}`); r.Code != 200 {
			t.Errorf("answered %d", r.Code)
		}
	})
}

func basicToken(user, pass string) string {
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth(user, pass)
	return strings.TrimPrefix(r.Header.Get("Authorization"), "Basic ")
}

// TestBatchErrors covers protocol.md 10.3 item 31 on a backend without transactions.
func TestBatchErrors(t *testing.T) {
	t.Parallel()
	s := newBatchServer(t, batchOptions{extra: func(t testing.TB, a *cliquet.App) {
		a.Router.Get("/bad-gateway", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "upstream is down", http.StatusBadGateway)
		})
		a.Router.Post("/to-batch", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/v1/batch", http.StatusTemporaryRedirect)
		})
	}})

	t.Run("a redirect to /batch is refused as a recursive call", func(t *testing.T) {
		items := s.batch("", `{"requests": [{"method": "POST", "path": "/to-batch", "body": {"requests": []}}]}`).items(t)
		b := items[0].body(t)
		if items[0].Status != 400 || items[0].Path != "/v1/batch" || !strings.Contains(fmt.Sprint(b["message"]), "Recursive") {
			t.Errorf("got %+v", items[0])
		}
	})

	t.Run("a 4xx sub-response neither stops the batch nor undoes earlier writes", func(t *testing.T) {
		reqs, ids := putRequests(3, map[int]string{1: "400"})
		items := s.batch("frank", map[string]any{"requests": reqs}).items(t)
		if len(items) != 3 || items[0].Status != 201 || items[1].Status != 400 || items[2].Status != 201 {
			t.Fatalf("got %+v", items)
		}
		if b := items[1].body(t); b["errno"] != float64(107) || !strings.Contains(fmt.Sprint(b["message"]), "this mushroom is refused") {
			t.Errorf("4xx body = %v", b)
		}
		if got, want := s.stored("frank"), sortedCopy([]string{ids[0], ids[2]}); !slices.Equal(got, want) {
			t.Errorf("stored = %v, want %v", got, want)
		}
	})
	t.Run("412 responses are forwarded", func(t *testing.T) {
		req := map[string]any{"method": "PUT", "path": "/mushrooms/" + uuid.NewString(),
			"headers": map[string]any{"If-None-Match": "*"}, "body": map[string]any{"data": map[string]any{"name": "x"}}}
		items := s.batch("frank", map[string]any{"requests": []any{req, req}}).items(t)
		if items[0].Status != 201 || items[1].Status != 412 {
			t.Errorf("got %d %d", items[0].Status, items[1].Status)
		}
	})
	t.Run("a 5xx sub-response fails the whole batch with its JSON error", func(t *testing.T) {
		reqs, ids := putRequests(3, map[int]string{1: "500"})
		r := s.batch("grace", map[string]any{"requests": reqs})
		if r.Code != 500 || r.Body["errno"] != float64(999) || r.Body["code"] != float64(500) || r.Header.Get("Content-Type") != protocol.ContentTypeJSON {
			t.Fatalf("answered %d %s", r.Code, r.Raw)
		}
		if _, ok := r.Body["responses"]; ok {
			t.Error("a failed batch lists responses")
		}
		// The memory backend has no transactions: the first write stays, the third never ran.
		if got, want := s.stored("grace"), []string{ids[0]}; !slices.Equal(got, want) {
			t.Errorf("stored = %v, want %v", got, want)
		}
	})
	t.Run("a panic in a sub-request fails the whole batch with a 500", func(t *testing.T) {
		reqs, _ := putRequests(2, map[int]string{0: "panic"})
		r := s.batch("heidi", map[string]any{"requests": reqs})
		if r.Code != 500 || r.Body["errno"] != float64(999) {
			t.Fatalf("answered %d %s", r.Code, r.Raw)
		}
		if got := s.stored("heidi"); len(got) != 0 {
			t.Errorf("stored = %v", got)
		}
	})
	t.Run("a non-JSON 5xx fails the batch with a JSON error of the same status", func(t *testing.T) {
		r := s.batch("", `{"requests": [{"path": "/"}, {"path": "/bad-gateway"}]}`)
		if r.Code != 502 || r.Body["code"] != float64(502) || r.Body["message"] != "upstream is down" {
			t.Errorf("answered %d %s", r.Code, r.Raw)
		}
	})
}

// txStore is a memory backend with a recording unit of work: it checks that every write of
// a batch joins the unit started for the batch request.
type txStore struct {
	storage.Backend
	mu      sync.Mutex
	calls   []string
	outside int // writes made without the unit
}

type txUnitKey struct{}

func (s *txStore) record(c string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *txStore) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, " ")
}

func (s *txStore) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	s.record("begin")
	return context.WithValue(ctx, txUnitKey{}, true), txRecorder{s}, nil
}

func (s *txStore) write(ctx context.Context) {
	if ctx.Value(txUnitKey{}) == nil {
		s.mu.Lock()
		s.outside++
		s.mu.Unlock()
	}
}

func (s *txStore) Create(ctx context.Context, sc storage.Scope, o storage.Object) (storage.Object, error) {
	s.write(ctx)
	return s.Backend.Create(ctx, sc, o)
}

func (s *txStore) Update(ctx context.Context, sc storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	s.write(ctx)
	return s.Backend.Update(ctx, sc, o, cond)
}

type txRecorder struct{ s *txStore }

func (r txRecorder) Commit(context.Context) error   { r.s.record("commit"); return nil }
func (r txRecorder) Rollback(context.Context) error { r.s.record("rollback"); return nil }

// TestBatchUnitOfWork checks that a batch is one unit of work, with a recording backend.
func TestBatchUnitOfWork(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		fail      map[int]string
		wantCode  int
		wantCalls string
	}{
		{"a successful batch commits one unit of work", nil, 200, "begin commit"},
		{"a batch with a 4xx sub-response commits", map[int]string{1: "400"}, 200, "begin commit"},
		{"a batch with a 5xx sub-response rolls back", map[int]string{1: "500"}, 500, "begin rollback"},
		{"a batch with a panicking sub-request rolls back", map[int]string{2: "panic"}, 500, "begin rollback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st := &txStore{Backend: memory.New(nil)}
			s := newBatchServer(t, batchOptions{store: st})
			reqs, _ := putRequests(4, tt.fail)
			r := s.batch("ivan", map[string]any{"requests": reqs})
			if r.Code != tt.wantCode {
				t.Fatalf("answered %d %s", r.Code, r.Raw)
			}
			if got := st.String(); got != tt.wantCalls {
				t.Errorf("calls = %q, want %q", got, tt.wantCalls)
			}
			if st.outside != 0 {
				t.Errorf("%d writes ran outside the batch's unit of work", st.outside)
			}
		})
	}
	t.Run("a batch of reads still runs in one unit", func(t *testing.T) {
		st := &txStore{Backend: memory.New(nil)}
		s := newBatchServer(t, batchOptions{store: st})
		s.batch("ivan", `{"requests": [{"path": "/mushrooms"}, {"path": "/"}]}`).items(t)
		if got := st.String(); got != "begin commit" {
			t.Errorf("calls = %q", got)
		}
	})
}

// TestBatchOuterRequestOnly documents which middleware act on the batch request itself.
func TestBatchOuterRequestOnly(t *testing.T) {
	t.Parallel()
	t.Run("a past end of service refuses the batch before any sub-request", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{settings: map[string]string{"eos": "2001-01-01"}})
		reqs, _ := putRequests(1, nil)
		r := s.batch("judy", map[string]any{"requests": reqs})
		if r.Code != 410 || r.Body["errno"] != float64(202) || len(s.stored("judy")) != 0 {
			t.Errorf("answered %d %s", r.Code, r.Raw)
		}
	})
	t.Run("the soft end-of-service alert and Backoff are on the batch response", func(t *testing.T) {
		eos := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
		s := newBatchServer(t, batchOptions{settings: map[string]string{"eos": eos, "eos_message": "bye", "backoff": "10"}})
		r := s.batch("", `{"requests": [{"path": "/"}]}`)
		if r.Code != 200 || !strings.Contains(r.Header.Get("Alert"), "soft-eol") || r.Header.Get("Backoff") != "10" {
			t.Errorf("answered %d %v", r.Code, r.Header)
		}
	})
	t.Run("sub-responses carry neither the end-of-service Alert nor Backoff", func(t *testing.T) {
		eos := time.Now().AddDate(1, 0, 0).Format("2006-01-02")
		s := newBatchServer(t, batchOptions{settings: map[string]string{"eos": eos, "eos_message": "bye", "backoff": "10"}})
		items := s.batch("kim", `{"requests": [{"path": "/"}, {"path": "/mushrooms"}, {"path": "/nowhere"}]}`).items(t)
		for _, it := range items {
			if _, ok := it.Headers["Alert"]; ok {
				t.Errorf("%s (%d): Alert %q on a sub-response", it.Path, it.Status, it.Headers["Alert"])
			}
			if _, ok := it.Headers["Backoff"]; ok {
				t.Errorf("%s (%d): Backoff %q on a sub-response", it.Path, it.Status, it.Headers["Backoff"])
			}
		}
		if len(items) != 3 || items[0].Status != 200 || items[1].Status != 200 || items[2].Status != 404 {
			t.Errorf("items = %+v, want 200, 200, 404", items)
		}
	})
	t.Run("a backoff percentage applies to the batch response only", func(t *testing.T) {
		s := newBatchServer(t, batchOptions{settings: map[string]string{"backoff": "7", "backoff_percentage": "99"}})
		seen := 0
		for range 20 {
			r := s.batch("", `{"requests": [{"path": "/"}, {"path": "/"}]}`)
			if r.Header.Get("Backoff") == "7" {
				seen++
			}
			for _, it := range r.items(t) {
				if it.Headers["Backoff"] != "" {
					t.Fatalf("Backoff %q on a sub-response", it.Headers["Backoff"])
				}
			}
		}
		if seen == 0 {
			t.Errorf("no batch response carried Backoff at 99%%")
		}
	})
}

// TestBatchReadOnly: in readonly mode the batch endpoint is served, and each sub-request is
// checked on its own.
func TestBatchReadOnly(t *testing.T) {
	t.Parallel()
	s := newBatchServer(t, batchOptions{settings: map[string]string{"readonly": "true"}})
	t.Run("a batch of reads is served", func(t *testing.T) {
		items := s.batch("lea", `{"requests": [{"path": "/"}, {"path": "/mushrooms"}, {"method": "HEAD", "path": "/mushrooms"}]}`).items(t)
		if len(items) != 3 {
			t.Fatalf("%d items, want 3", len(items))
		}
		for _, it := range items {
			if it.Status != 200 {
				t.Errorf("%s answered %d %s, want 200", it.Path, it.Status, it.Body)
			}
		}
	})
	t.Run("a write sub-request gets its own 405 errno 115 and the batch goes on", func(t *testing.T) {
		reqs, _ := putRequests(1, nil)
		reqs = append(reqs,
			map[string]any{"method": "POST", "path": "/mushrooms", "body": map[string]any{"data": map[string]any{}}},
			map[string]any{"method": "DELETE", "path": "/mushrooms"},
			map[string]any{"path": "/"})
		items := s.batch("lea", map[string]any{"requests": reqs}).items(t)
		if len(items) != 4 {
			t.Fatalf("%d items, want 4", len(items))
		}
		for _, it := range items[:3] {
			if b := it.body(t); it.Status != 405 || b["errno"] != float64(115) {
				t.Errorf("%s answered %d %v, want 405 errno 115", it.Path, it.Status, b)
			}
		}
		if items[3].Status != 200 {
			t.Errorf("the read after the refused writes answered %d", items[3].Status)
		}
		if got := s.stored("lea"); len(got) != 0 {
			t.Errorf("stored %v in readonly mode", got)
		}
	})
	t.Run("other methods on the batch path are still refused", func(t *testing.T) {
		if r := s.do("PUT", "/v1/batch", "lea", `{"requests": []}`); r.Code != 405 || r.Body["errno"] != float64(115) {
			t.Errorf("PUT /v1/batch answered %d %s, want 405 errno 115", r.Code, r.Raw)
		}
	})
}

// countingPerms is the memory permission backend counting the lookups of a user's groups:
// UserPrincipals calls, and Access calls for a user.
type countingPerms struct {
	*permmemory.Backend
	calls atomic.Int64
}

func (c *countingPerms) UserPrincipals(ctx context.Context, userID string) ([]string, error) {
	c.calls.Add(1)
	return c.Backend.UserPrincipals(ctx, userID)
}

func (c *countingPerms) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	if q.UserID != "" {
		c.calls.Add(1)
	}
	return c.Backend.Access(ctx, q)
}

// apiKeyAuth authenticates the X-Api-Key header: an Authenticator reading another header
// than Authorization.
type apiKeyAuth struct{}

func (apiKeyAuth) Name() string { return "apikey" }

func (apiKeyAuth) Authenticate(r *http.Request) (string, bool, error) {
	k := r.Header.Get("X-Api-Key")
	return k, k != "", nil
}

// TestBatchPrincipalsComputedOnce: the identity of the batch request is reused by the
// sub-requests carrying the same credentials; the others are authenticated on their own.
func TestBatchPrincipalsComputedOnce(t *testing.T) {
	t.Parallel()
	perms := &countingPerms{Backend: permmemory.New()}
	s := newBatchServer(t, batchOptions{perms: perms, authn: []authn.Authenticator{apiKeyAuth{}}})
	if err := perms.AddUserPrincipal(context.Background(), batchUserID("mia"), "group:fungi"); err != nil {
		t.Fatal(err)
	}
	helloUser := func(t *testing.T, it batchItem) (string, []any) {
		t.Helper()
		u, _ := it.body(t)["user"].(map[string]any)
		id, _ := u["id"].(string)
		ps, _ := u["principals"].([]any)
		return id, ps
	}
	t.Run("sub-requests with the batch's credentials reuse its principals", func(t *testing.T) {
		perms.calls.Store(0)
		reqs, ids := putRequests(1, nil)
		reqs[0].(map[string]any)["headers"] = map[string]any{"If-None-Match": "*"}
		reqs = append(reqs, map[string]any{"path": "/"}, map[string]any{"path": "/mushrooms"})
		items := s.batch("mia", map[string]any{"requests": reqs}).items(t)
		if n := perms.calls.Load(); n != 1 {
			t.Errorf("UserPrincipals called %d times, want 1 for the whole batch", n)
		}
		if items[0].Status != 201 || !slices.Equal(s.stored("mia"), ids) {
			t.Errorf("PUT answered %d, stored %v", items[0].Status, s.stored("mia"))
		}
		id, ps := helloUser(t, items[1])
		if id != batchUserID("mia") || !slices.Contains(ps, any("group:fungi")) {
			t.Errorf("hello user %q principals %v, want mia with group:fungi", id, ps)
		}
	})
	t.Run("a sub-request with another Authorization header is authenticated on its own", func(t *testing.T) {
		perms.calls.Store(0)
		bob := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:secret"))
		items := s.batch("mia", map[string]any{"requests": []any{
			map[string]any{"path": "/"},
			map[string]any{"path": "/", "headers": map[string]any{"Authorization": bob}},
			map[string]any{"path": "/"},
		}}).items(t)
		if n := perms.calls.Load(); n != 2 {
			t.Errorf("UserPrincipals called %d times, want 2 (the batch, then bob)", n)
		}
		for i, want := range []string{batchUserID("mia"), batchUserID("bob"), batchUserID("mia")} {
			if id, _ := helloUser(t, items[i]); id != want {
				t.Errorf("sub-request %d: user %q, want %q", i, id, want)
			}
		}
		if _, ps := helloUser(t, items[1]); slices.Contains(ps, any("group:fungi")) {
			t.Errorf("bob got mia's principals: %v", ps)
		}
	})
	t.Run("an anonymous batch does not make its authenticated sub-requests anonymous", func(t *testing.T) {
		perms.calls.Store(0)
		bob := "Basic " + base64.StdEncoding.EncodeToString([]byte("bob:secret"))
		items := s.batch("", map[string]any{"requests": []any{
			map[string]any{"path": "/", "headers": map[string]any{"Authorization": bob}},
			map[string]any{"path": "/"},
		}}).items(t)
		if id, _ := helloUser(t, items[0]); id != batchUserID("bob") {
			t.Errorf("sub-request with credentials: user %q, want bob", id)
		}
		if id, _ := helloUser(t, items[1]); id != "" {
			t.Errorf("sub-request without credentials: user %q, want anonymous", id)
		}
		if n := perms.calls.Load(); n != 1 {
			t.Errorf("UserPrincipals called %d times, want 1 (bob)", n)
		}
	})
	t.Run("a sub-request changing another credential header is authenticated on its own", func(t *testing.T) {
		items := s.batch("", map[string]any{"requests": []any{
			map[string]any{"path": "/"},
			map[string]any{"path": "/", "headers": map[string]any{"X-Api-Key": "key-2"}},
		}}, "X-Api-Key", "key-1").items(t)
		for i, want := range []string{"apikey:key-1", "apikey:key-2"} {
			if id, _ := helloUser(t, items[i]); id != want {
				t.Errorf("sub-request %d: user %q, want %q", i, id, want)
			}
		}
	})
}

func TestBatchLogsSubrequestSummaries(t *testing.T) {
	t.Parallel()
	var out testenv.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{Renderer: "text"})
	router := chi.NewRouter()
	router.Use(monitoring.RequestLogger(logger, monitoring.RequestOptions{}))
	s := newBatchServer(t, batchOptions{router: router})
	s.batch("", `{"requests": [{"path": "/"}, {"path": "/unknown"}]}`, "X-Request-Id", "batch-rid").items(t)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d log lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for i, want := range []string{`"GET /v1/" 200 `, `"GET /v1/unknown" 404 `} {
		if !strings.HasPrefix(lines[i], want) || !strings.Contains(lines[i], "subrequest.summary") || !strings.Contains(lines[i], "rid=batch-rid") {
			t.Errorf("line %d = %s", i, lines[i])
		}
	}
	if !strings.HasPrefix(lines[2], `"POST /v1/batch" 200 `) || !strings.Contains(lines[2], " request.summary") || !strings.Contains(lines[2], "batch_size=2") {
		t.Errorf("batch line = %s", lines[2])
	}
}

// batchPostgres returns a migrated PostgreSQL backend on the database batch_test, created
// from CLIQUET_TEST_POSTGRES_DSN.
func batchPostgres(t *testing.T) *postgresql.Backend {
	t.Helper()
	u := testenv.PostgresDatabase(t, "batch_test")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := postgresql.New(ctx, postgresql.Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBatchPostgreSQL checks the transaction semantics on a real transactional backend.
func TestBatchPostgreSQL(t *testing.T) {
	b := batchPostgres(t)
	s := newBatchServer(t, batchOptions{store: b})
	user := func() string { return "pg-" + uuid.NewString() }

	t.Run("a 5xx at item 13 of 25 leaves no trace of items 1 to 12", func(t *testing.T) {
		u := user()
		reqs, _ := putRequests(25, map[int]string{12: "500"})
		r := s.batch(u, map[string]any{"requests": reqs})
		if r.Code != 500 || r.Body["errno"] != float64(999) {
			t.Fatalf("answered %d %s", r.Code, r.Raw)
		}
		if got := s.stored(u); len(got) != 0 {
			t.Errorf("%d objects survived the rollback: %v", len(got), got)
		}
	})
	t.Run("a 4xx at item 13 of 25 keeps the 24 others", func(t *testing.T) {
		u := user()
		reqs, ids := putRequests(25, map[int]string{12: "400"})
		items := s.batch(u, map[string]any{"requests": reqs}).items(t)
		for i, it := range items {
			want := 201
			if i == 12 {
				want = 400
			}
			if it.Status != want {
				t.Errorf("item %d: status %d, want %d", i+1, it.Status, want)
			}
		}
		want := sortedCopy(append(slices.Clone(ids[:12]), ids[13:]...))
		if got := s.stored(u); !slices.Equal(got, want) {
			t.Errorf("stored %d objects, want the %d others than item 13", len(got), len(want))
		}
	})
	t.Run("a single PUT failing with a 5xx leaves no trace", func(t *testing.T) {
		u := user()
		id := uuid.NewString()
		r := s.do("PUT", "/v1/mushrooms/"+id, u, map[string]any{"data": map[string]any{"fail": "500"}})
		if r.Code != 500 {
			t.Fatalf("answered %d %s", r.Code, r.Raw)
		}
		if got := s.stored(u); len(got) != 0 {
			t.Errorf("stored = %v", got)
		}
		if r := s.do("PUT", "/v1/mushrooms/"+id, u, map[string]any{"data": map[string]any{"name": "ok"}}); r.Code != 201 {
			t.Errorf("a later PUT answered %d %s", r.Code, r.Raw)
		}
		if got := s.stored(u); !slices.Equal(got, []string{id}) {
			t.Errorf("stored = %v", got)
		}
	})
	t.Run("a successful batch of 25 PUTs is committed", func(t *testing.T) {
		u := user()
		reqs, ids := putRequests(25, nil)
		s.batch(u, map[string]any{"requests": reqs}).items(t)
		if got := s.stored(u); !slices.Equal(got, sortedCopy(ids)) {
			t.Errorf("stored %d objects, want 25", len(got))
		}
	})
}

// BenchmarkBatch measures a batch of 25 reads of a small collection.
func BenchmarkBatch(b *testing.B) {
	s := newBatchServer(b, batchOptions{})
	items := make([]string, 25)
	for i := range items {
		items[i] = `{"path": "/mushrooms"}`
	}
	body := `{"requests": [` + strings.Join(items, ",") + `]}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/batch", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.SetBasicAuth("bench", "secret")
		rec := httptest.NewRecorder()
		s.app.Handler().ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("answered %d %s", rec.Code, rec.Body)
		}
	}
}

// Example_batch sends three requests in one round trip.
func Example_batch() {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       config.MustFromMap(map[string]string{"userid_hmac_secret": "s3cr3t"}, config.Options{Env: []string{}}),
		ProjectName:    "example",
		ProjectVersion: "1.0.0",
		Storage:        memory.New(nil),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()

	body := `{"requests": [{"path": "/"}, {"path": "/__lbheartbeat__"}, {"path": "/unknown"}]}`
	req := httptest.NewRequest("POST", "/v1/batch", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, req)

	var out struct {
		Responses []struct {
			Status int
			Path   string
		}
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		panic(err)
	}
	fmt.Println(rec.Code)
	for _, r := range out.Responses {
		fmt.Println(r.Status, r.Path)
	}
	// Output:
	// 200
	// 200 /v1/
	// 200 /v1/__lbheartbeat__
	// 404 /v1/unknown
}
