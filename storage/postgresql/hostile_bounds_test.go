package postgresql_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	permissionmemory "github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
)

// boundsReply is a decoded response.
type boundsReply struct {
	code   int
	header http.Header
	body   map[string]any
	raw    string
}

// etag is the ETag header.
func (r boundsReply) etag() string { return r.header.Get("ETag") }

func (r boundsReply) errno() int { n, _ := r.body["errno"].(float64); return int(n) }

func (r boundsReply) data() map[string]any { m, _ := r.body["data"].(map[string]any); return m }

// String is the start of the body, for messages.
func (r boundsReply) String() string {
	if len(r.raw) > 300 {
		return r.raw[:300] + "…"
	}
	return r.raw
}

// newBoundsServer is a cliquet app with a shareable schemaless "thing" resource on store.
func newBoundsServer(t *testing.T, store storage.Backend) http.Handler {
	t.Helper()
	s := config.MustFromMap(map[string]string{"userid_hmac_secret": "hostile-secret", "thing_create_principals": "system.Authenticated"},
		config.Options{Env: []string{}})
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: s, ProjectVersion: "1.0.0", Storage: store, Permission: permissionmemory.New(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	spec := resource.Spec[resource.Object]{Name: "thing", IDGenerator: resource.NameGenerator{}, Sharing: &resource.Sharing{}}
	if _, err := resource.Register(app, spec); err != nil {
		t.Fatal(err)
	}
	return app.Handler()
}

func boundsDo(t *testing.T, h http.Handler, method, target, contentType, body string) boundsReply {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", contentType)
	}
	r.SetBasicAuth("alice", "pw")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	out := boundsReply{code: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &out.body); err != nil {
		t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, target, err, out)
	}
	return out
}

// TestHostileBoundsOverHTTP sends, on PostgreSQL and on memory, the small requests that
// asked for unbounded work or broke a collection: a JSON Patch doubling the object 18
// times, a JSON Patch of 100k operations, forced timestamps near the int64 maximum, 100k
// principals in one permission, 500 sort fields. Each answers 400 errno 107 and leaves the collection working.
func TestHostileBoundsOverHTTP(t *testing.T) {
	dsn := testenv.PostgresDatabaseC(t, "storage_pg_hostile_bounds")
	ctx := context.Background()
	pg, err := postgresql.New(ctx, postgresql.Options{URL: dsn, PoolTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if err := pg.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := pg.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const jsonType, patchType = "application/json", "application/json-patch+json"
	rejected := func(t *testing.T, r boundsReply, what string) {
		t.Helper()
		if r.code != 400 || r.errno() != 107 {
			t.Errorf("%s: %d errno %d, want 400 errno 107: %s", what, r.code, r.errno(), r)
		}
	}

	for _, backend := range []struct {
		name  string
		store storage.Backend
	}{{"postgresql", pg}, {"memory", memory.New(nil)}} {
		h := newBoundsServer(t, backend.store)
		original := boundsDo(t, h, "PUT", "/v1/things/a", jsonType, `{"data": {"name": "`+strings.Repeat("x", 300)+`"}}`)
		if original.code != 201 {
			t.Fatalf("%s: PUT: %s", backend.name, original)
		}
		unchanged := func(t *testing.T) {
			t.Helper()
			if r := boundsDo(t, h, "GET", "/v1/things/a", "", ""); r.code != 200 || !reflect.DeepEqual(r.data(), original.data()) {
				t.Errorf("the object changed: %s", r)
			}
		}

		t.Run(backend.name+": an 18-copy JSON Patch of 2 KB", func(t *testing.T) {
			ops := make([]string, 18)
			for i := range ops {
				ops[i] = fmt.Sprintf(`{"op": "copy", "from": "/data", "path": "/data/c%d"}`, i)
			}
			rejected(t, boundsDo(t, h, "PATCH", "/v1/things/a", patchType, "["+strings.Join(ops, ",")+"]"), "PATCH")
			unchanged(t)
		})

		t.Run(backend.name+": a JSON Patch of 100k operations", func(t *testing.T) {
			ops := make([]string, 100_000)
			for i := range ops {
				ops[i] = fmt.Sprintf(`{"op": "add", "path": "/data/k%d", "value": 1}`, i)
			}
			rejected(t, boundsDo(t, h, "PATCH", "/v1/things/a", patchType, "["+strings.Join(ops, ",")+"]"), "PATCH")
			unchanged(t)
		})

		t.Run(backend.name+": forced timestamps near the int64 maximum", func(t *testing.T) {
			before := boundsDo(t, h, "GET", "/v1/things", "", "").etag()
			for _, v := range []string{"9223372036854775807", "9223372036854775000", "9007199254740993", "99999999999999999999"} {
				body := `{"data": {"last_modified": ` + v + `}}`
				rejected(t, boundsDo(t, h, "POST", "/v1/things", jsonType, body), "POST "+v)
				rejected(t, boundsDo(t, h, "PUT", "/v1/things/b", jsonType, body), "PUT (create) "+v)
				rejected(t, boundsDo(t, h, "PUT", "/v1/things/a", jsonType, body), "PUT (replace) "+v)
				rejected(t, boundsDo(t, h, "PATCH", "/v1/things/a", jsonType, body), "PATCH "+v)
				rejected(t, boundsDo(t, h, "DELETE", "/v1/things/a?last_modified="+v, "", ""), "DELETE ?last_modified="+v)
			}
			unchanged(t)
			if after := boundsDo(t, h, "GET", "/v1/things", "", "").etag(); after != before {
				t.Fatalf("the collection timestamp moved from %s to %s", before, after)
			}
			// The collection still takes writes, and its clock moves forward.
			r := boundsDo(t, h, "POST", "/v1/things", jsonType, `{"data": {"id": "c"}}`)
			if r.code != 201 {
				t.Fatalf("POST after the refused writes: %s", r)
			}
			got, _ := strconv.ParseInt(strings.Trim(r.etag(), `"`), 10, 64)
			was, _ := strconv.ParseInt(strings.Trim(before, `"`), 10, 64)
			if got <= was || got > time.Now().Add(time.Minute).UnixMilli() {
				t.Fatalf("ETag %d after %d: want a fresh timestamp above it", got, was)
			}
		})

		t.Run(backend.name+": 100k principals in one permission", func(t *testing.T) {
			principals := make([]string, 100_000)
			for i := range principals {
				principals[i] = fmt.Sprintf("account:user%06d", i)
			}
			list, _ := json.Marshal(principals)
			r := boundsDo(t, h, "PATCH", "/v1/things/a", jsonType, `{"permissions": {"read": `+string(list)+`}}`)
			rejected(t, r, "PATCH")
			if msg, _ := r.body["message"].(string); !strings.Contains(msg, "read") {
				t.Errorf("message %q does not name the permission", msg)
			}
			unchanged(t)
		})

		t.Run(backend.name+": 500 sort fields", func(t *testing.T) {
			fields := make([]string, 500)
			for i := range fields {
				fields[i] = fmt.Sprintf("-f%d", i)
			}
			rejected(t, boundsDo(t, h, "GET", "/v1/things?_sort="+strings.Join(fields, ","), "", ""), "GET")
			rejected(t, boundsDo(t, h, "DELETE", "/v1/things?_sort="+strings.Join(fields, ","), "", ""), "DELETE")
			unchanged(t)
		})
	}
}
