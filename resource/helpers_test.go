package resource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// server is a cliquet app with memory storage, built by cliquet.Initialize.
type server struct {
	t   *testing.T
	app *cliquet.App
	h   http.Handler
	// articles is the shareable resource of newShareServer (a parent for nested tests).
	articles *resource.Resource[resource.Object]
}

// newApp returns an app on memory storage.
func newApp(t *testing.T, settings map[string]string) *cliquet.App {
	t.Helper()
	return newAppOn(t, memory.New(nil), settings)
}

// newAppOn returns an app on store, with the test HMAC secret and settings; it is closed
// when the test ends.
func newAppOn(t *testing.T, store storage.Backend, settings map[string]string) *cliquet.App {
	t.Helper()
	return newAppWith(t, cliquet.Config{Storage: store}, settings)
}

// newAppWith returns an app initialised from cfg (its backends) with the test settings, the
// HMAC secret "test-secret" and a discarding logger; it is closed when the test ends.
func newAppWith(t *testing.T, cfg cliquet.Config, settings map[string]string) *cliquet.App {
	t.Helper()
	values := map[string]string{"userid_hmac_secret": "test-secret"}
	for k, v := range settings {
		values[k] = v
	}
	cfg.Settings = config.MustFromMap(values, config.Options{Env: []string{}})
	cfg.ProjectName, cfg.ProjectVersion = "test", "1.0.0"
	cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	app, err := cliquet.Initialize(chi.NewRouter(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// pgStore returns a PostgreSQL storage backend on dsn (see testenv.PostgresDatabase: each
// test file uses a database of its own), migrated, closed when the test ends.
func pgStore(t *testing.T, dsn string, poolSize int) *postgresql.Backend {
	t.Helper()
	ctx := context.Background()
	store, err := postgresql.New(ctx, postgresql.Options{URL: dsn, PoolSize: poolSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if err := store.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	return store
}

// storeUnderTest is a storage backend a resource test runs on, by name.
type storeUnderTest struct {
	name string
	open func(t *testing.T) storage.Backend
}

// storesUnderTest are the storage backends of the resource tests that run on each: memory,
// then PostgreSQL on the database db of the test file (testenv.PostgresDatabase skips it
// without a server, and fails it in CI).
func storesUnderTest(db string) []storeUnderTest {
	return []storeUnderTest{
		{"memory", func(*testing.T) storage.Backend { return memory.New(nil) }},
		{"postgresql", func(t *testing.T) storage.Backend { return pgStore(t, testenv.PostgresDatabase(t, db), 4) }},
	}
}

// newServer registers a schemaless "mushroom" resource (and whatever extra registers).
func newServer(t *testing.T, settings map[string]string, extra ...func(*cliquet.App) error) *server {
	t.Helper()
	app := newApp(t, settings)
	if len(extra) == 0 {
		if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range extra {
		if err := f(app); err != nil {
			t.Fatal(err)
		}
	}
	return &server{t: t, app: app, h: app.Handler()}
}

// response is a recorded answer with its JSON body decoded.
type response struct {
	Code   int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

func (r *response) data() map[string]any {
	m, _ := r.Body["data"].(map[string]any)
	return m
}

func (r *response) list() []map[string]any {
	var out []map[string]any
	for _, x := range r.Body["data"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func (r *response) errno() int {
	n, _ := r.Body["errno"].(float64)
	return int(n)
}

// req describes one request; User "" is anonymous.
type req struct {
	Method, Path string
	User         string
	Body         any // string: sent as is; other: JSON-encoded
	Header       map[string]string
}

// call does one request on h; unlike server.do it may be called from any goroutine.
func call(h http.Handler, q req) (*response, error) {
	var body io.Reader
	switch b := q.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(raw)
	}
	r := httptest.NewRequest(q.Method, q.Path, body)
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if q.User != "" {
		r.SetBasicAuth(q.User, "secret")
	}
	for k, v := range q.Header {
		if v == "" {
			r.Header.Del(k)
		} else {
			r.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	res := &response{Code: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if len(res.Raw) > 0 {
		if err := json.Unmarshal(res.Raw, &res.Body); err != nil {
			return nil, fmt.Errorf("%s %s: body is not a JSON object: %v: %s", q.Method, q.Path, err, res.Raw)
		}
	}
	return res, nil
}

// do does the request and fails the test when it cannot be built or its body is not JSON.
func (s *server) do(q req) *response {
	s.t.Helper()
	res, err := call(s.h, q)
	if err != nil {
		s.t.Fatal(err)
	}
	return res
}

// must does the request and fails unless the status is want.
func (s *server) must(want int, q req) *response {
	s.t.Helper()
	r := s.do(q)
	if r.Code != want {
		s.t.Fatalf("%s %s: status %d, want %d: %s", q.Method, q.Path, r.Code, want, r.Raw)
	}
	return r
}

// create POSTs data as alice and returns the created object.
func (s *server) create(user string, data map[string]any) map[string]any {
	s.t.Helper()
	return s.must(201, req{Method: "POST", Path: "/v1/mushrooms", User: user, Body: map[string]any{"data": data}}).data()
}

// expectError checks status, errno and, when given, that a detail has that location and name.
func expectError(t *testing.T, r *response, code, errno int, location, name string) {
	t.Helper()
	if r.Code != code || r.errno() != errno {
		t.Fatalf("status %d errno %d, want %d errno %d: %s", r.Code, r.errno(), code, errno, r.Raw)
	}
	if location == "" {
		return
	}
	details, _ := r.Body["details"].([]any)
	for _, d := range details {
		m := d.(map[string]any)
		if m["location"] == location && (name == "" || m["name"] == name) {
			return
		}
	}
	t.Fatalf("no detail {location %s, name %s} in %s", location, name, r.Raw)
}

// pathOf turns an absolute Next-Page URL into a request path.
func pathOf(t *testing.T, next string) string {
	t.Helper()
	u, err := url.Parse(next)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// etag returns the ETag header.
func etag(r *response) string { return r.Header.Get("ETag") }
