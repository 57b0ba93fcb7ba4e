package postgresql_test

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
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
	permpostgresql "github.com/cliquet-go/cliquet/permission/postgresql"
	permredis "github.com/cliquet-go/cliquet/permission/redis"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
	storageredis "github.com/cliquet-go/cliquet/storage/redis"
)

// httpHostile are field names and values that would break SQL built from input.
var httpHostile = []string{
	`it's`, `"quoted"`, `a;b`, `x'); DROP TABLE objects; --`, `-- comment`, `/* c */`, `$1`, `$$`,
	`back\slash`, `\`, `100%`, `under_score`, `%`, `_`, `*`, `ünïcødé ✓ 😀`, `{a,b}`, `[1]`, `'`,
	`a.b`, `null`, `1e3`, strings.Repeat("long", 1000), "tab\tnew\nline",
}

// hostileServer is a cliquet app with a schemaless "thing" resource on a storage backend.
type hostileServer struct {
	name string
	h    http.Handler
}

// With a permission backend, it also has a shareable schemaless "shared" resource that
// authenticated users may create, and an "anyid" resource whose ids are any non-empty string.
func newHostileServer(t *testing.T, name string, store storage.Backend, perms permission.Backend) hostileServer {
	t.Helper()
	s := config.MustFromMap(map[string]string{"userid_hmac_secret": "hostile-secret", "shared_create_principals": "system.Authenticated"},
		config.Options{Env: []string{}})
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: s, ProjectVersion: "1.0.0", Storage: store, Permission: perms,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "thing", IDGenerator: resource.NameGenerator{}}); err != nil {
		t.Fatal(err)
	}
	if perms != nil {
		if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "shared", IDGenerator: resource.NameGenerator{},
			Sharing: &resource.Sharing{}}); err != nil {
			t.Fatal(err)
		}
		if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "anyid", IDGenerator: anyID{}}); err != nil {
			t.Fatal(err)
		}
	}
	return hostileServer{name: name, h: app.Handler()}
}

// hostileReply is a response: status, errno, the listed objects without last_modified (which
// differ between backends) and the Next-Page request path.
type hostileReply struct {
	code, errno int
	objects     []map[string]any
	next        string
	raw         string
}

func (s hostileServer) do(t *testing.T, method, target string, body []byte) hostileReply {
	t.Helper()
	return s.doType(t, method, target, "application/json", body)
}

// doType is do with the body's Content-Type.
func (s hostileServer) doType(t *testing.T, method, target, contentType string, body []byte) hostileReply {
	t.Helper()
	r := httptest.NewRequest(method, target, bytes.NewReader(body)) // the query is kept raw, bad escapes included
	if body != nil {
		r.Header.Set("Content-Type", contentType)
	}
	r.SetBasicAuth("alice", "pw")
	rec := httptest.NewRecorder()
	s.h.ServeHTTP(rec, r)
	out := hostileReply{code: rec.Code, raw: rec.Body.String()}
	var m struct {
		Errno int             `json:"errno"`
		Data  json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("%s: %s %s: body is not JSON: %v: %s", s.name, method, target, err, rec.Body.String())
	}
	out.errno = m.Errno
	if (method == "GET" || method == "DELETE") && rec.Code == 200 && bytes.HasPrefix(m.Data, []byte("[")) {
		if err := json.Unmarshal(m.Data, &out.objects); err != nil {
			t.Fatalf("%s: %s %s: data is not a list: %s", s.name, method, target, m.Data)
		}
		for _, o := range out.objects {
			delete(o, "last_modified")
		}
	}
	if next := rec.Header().Get("Next-Page"); next != "" {
		u, err := url.Parse(next)
		if err != nil {
			t.Fatal(err)
		}
		out.next = u.RequestURI()
	}
	return out
}

func TestHostileQuerystringsOverHTTP(t *testing.T) {
	dsn := testenv.PostgresDatabaseC(t, "storage_pg_hostile_http")
	ctx := context.Background()
	pg, err := postgresql.New(ctx, postgresql.Options{URL: dsn, PoolTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	var store storage.Backend = pg
	if err := store.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := pg.Flush(ctx); err != nil { // a second run (-count) in this process starts empty
		t.Fatal(err)
	}
	servers := []hostileServer{newHostileServer(t, "postgresql", pg, nil), newHostileServer(t, "memory", memory.New(nil), nil)}

	// The same objects, created in the same order (so ties on the sort fields, broken by
	// last_modified, break the same way).
	for i, h := range httpHostile {
		body, _ := json.Marshal(map[string]any{"data": map[string]any{h: h, "v": h, "n": i, "list": []string{h, "x"}}})
		for _, s := range servers {
			if r := s.do(t, "PUT", fmt.Sprintf("/v1/things/o%02d", i), body); r.code != 201 {
				t.Fatalf("%s: PUT o%02d: %d %s", s.name, i, r.code, r.raw)
			}
		}
	}
	for _, s := range servers {
		if r := s.do(t, "PUT", "/v1/things/plain", []byte(`{"data": {"v": 5}}`)); r.code != 201 {
			t.Fatalf("%s: PUT plain: %d %s", s.name, r.code, r.raw)
		}
	}

	var queries []string
	add := func(format string, args ...any) { queries = append(queries, fmt.Sprintf(format, args...)) }
	for _, h := range append(httpHostile, "\x00", "a\x00b") {
		e := url.QueryEscape(h)
		for _, op := range []string{"", "eq_", "not_", "lt_", "gt_", "min_", "max_", "like_", "in_", "exclude_", "contains_", "contains_any_"} {
			add("%s%s=%s", op, e, e)
			add("%sv=%s", op, e)
		}
		add("has_%s=true", e)
		add("has_%s=false", e)
		add("in_v=%s,%s", e, url.QueryEscape("x"))
		add("_sort=%s", e)
		add("_sort=-%s", e)
		add("_sort=%s,-v", e)
		add("_fields=%s", e)
		add("_fields=v,%s", e)
		add("_fields=%s.%s", e, e)
		add("_sort=v&_fields=%s&v=%s", e, e)
		add("_since=%s", e)
		add("_token=%s", e)
		add("_limit=%s", e)
	}
	// Raw (unescaped) hostile bytes, bad escapes included.
	for _, raw := range []string{"v=100%", "v=%", "v=%zz", "%=1", "v='--", "v=a;b", "_sort=v;DROP", "like_v=%25%5F", "like_v=*%5C*", "v=%FF%FE"} {
		add("%s", raw)
	}

	var statuses [3]int // queries, answered 200, answered 200 with objects
	for _, q := range queries {
		name := q
		if len(name) > 60 {
			name = name[:60] + "…"
		}
		var replies []hostileReply
		statuses[0]++
		for _, s := range servers {
			r := s.do(t, "GET", "/v1/things?"+q, nil)
			switch {
			case r.code == 200:
			case r.code == 400 && r.errno == 107:
			default:
				t.Errorf("%s: GET ?%s: %d errno %d, want 200 or 400 errno 107: %.300s", s.name, name, r.code, r.errno, r.raw)
			}
			replies = append(replies, r)
		}
		rp, rm := replies[0], replies[1]
		if rp.code == 200 {
			statuses[1]++
			if len(rp.objects) > 0 {
				statuses[2]++
			}
		}
		if rp.code != rm.code {
			t.Errorf("GET ?%s: PostgreSQL %d (%.200s), memory %d (%.200s)", name, rp.code, rp.raw, rm.code, rm.raw)
			continue
		}
		if rp.code == 200 && !reflect.DeepEqual(rp.objects, rm.objects) {
			t.Errorf("GET ?%s: PostgreSQL and memory differ:\n pg  %v\n mem %v", name, ids(rp.objects), ids(rm.objects))
		}
	}
	t.Logf("%d querystrings on both backends: %d answered 200 (%d with objects), the others 400 errno 107", statuses[0], statuses[1], statuses[2])
	if statuses[1] == 0 || statuses[2] == 0 || statuses[1] == statuses[0] {
		t.Errorf("%d of %d querystrings answered 200, %d with objects: want some of each kind", statuses[1], statuses[0], statuses[2])
	}

	t.Run("pages sorted by hostile values are the same on both backends", func(t *testing.T) {
		for _, sort := range []string{"v", "-v", "list,v", "-n", "under_score,-a.b", "it's"} { // "it's" is ignored
			var all [2][]string
			for i, s := range servers {
				path := "/v1/things?_limit=3&_sort=" + url.QueryEscape(sort)
				for pages := 0; path != ""; pages++ {
					if pages > len(httpHostile) {
						t.Fatalf("%s: _sort=%s: too many pages", s.name, sort)
					}
					r := s.do(t, "GET", path, nil)
					if r.code != 200 {
						t.Fatalf("%s: GET %s: %d %s", s.name, path, r.code, r.raw)
					}
					all[i] = append(all[i], ids(r.objects)...)
					path = r.next
				}
			}
			if !reflect.DeepEqual(all[0], all[1]) {
				t.Errorf("_sort=%s: PostgreSQL pages %v, memory pages %v", sort, all[0], all[1])
			}
			if len(all[0]) != len(httpHostile)+1 {
				t.Errorf("_sort=%s: the pages hold %d objects, want %d", sort, len(all[0]), len(httpHostile)+1)
			}
		}
	})
	// Values that are not JSON, so the querystring compares them as the strings they are.
	literal := []string{`it's`, `a;b`, `x'); DROP TABLE objects; --`, `back\slash`, `100%`, `ünïcødé ✓ 😀`}
	t.Run("equality filters on hostile names and values find their object", func(t *testing.T) {
		for _, h := range literal {
			for _, q := range []string{"v=" + url.QueryEscape(h), url.QueryEscape(h) + "=" + url.QueryEscape(h), "like_v=" + url.QueryEscape(h)} {
				for _, s := range servers {
					r := s.do(t, "GET", "/v1/things?"+q, nil)
					if r.code != 200 || len(r.objects) != 1 || r.objects[0]["v"] != h {
						t.Errorf("%s: GET ?%s: %d %v, want the object whose v is %q", s.name, q, r.code, ids(r.objects), h)
					}
				}
			}
		}
	})
	t.Run("a plural DELETE with hostile filters deletes the same objects", func(t *testing.T) {
		for _, h := range literal {
			q := url.QueryEscape(h) + "=" + url.QueryEscape(h)
			rp, rm := servers[0].do(t, "DELETE", "/v1/things?"+q, nil), servers[1].do(t, "DELETE", "/v1/things?"+q, nil)
			if rp.code != 200 || rm.code != 200 {
				t.Fatalf("DELETE ?%s: PostgreSQL %d %s, memory %d %s", q, rp.code, rp.raw, rm.code, rm.raw)
			}
			if len(rp.objects) != 1 || !reflect.DeepEqual(ids(rp.objects), ids(rm.objects)) {
				t.Fatalf("DELETE ?%s: PostgreSQL deleted %v, memory %v; want the one object with that field", q, ids(rp.objects), ids(rm.objects))
			}
		}
		left := [2]hostileReply{servers[0].do(t, "GET", "/v1/things", nil), servers[1].do(t, "GET", "/v1/things", nil)}
		if !reflect.DeepEqual(left[0].objects, left[1].objects) || len(left[0].objects) != len(httpHostile)+1-len(literal) {
			t.Fatalf("left after the deletes: PostgreSQL %v, memory %v", ids(left[0].objects), ids(left[1].objects))
		}
	})
}

func ids(objs []map[string]any) []string {
	out := []string{}
	for _, o := range objs {
		out = append(out, fmt.Sprint(o["id"]))
	}
	return out
}

// anyID accepts every non-empty id: the resource layer, not the generator, must keep ids the
// backends cannot store (NUL, invalid UTF-8) out.
type anyID struct{ resource.NameGenerator }

func (anyID) Valid(id string) bool { return id != "" }

// hostileInput is one request that every backend must answer with 400 errno 107.
type hostileInput struct {
	name, method, path, contentType, body string
}

var hostileInputs = []hostileInput{
	// NUL characters, which jsonb cannot hold: refused everywhere so that backends agree.
	{"NUL in a value", "POST", "/v1/things", "", `{"data": {"v": "a\u0000b"}}`},
	{"NUL alone", "PUT", "/v1/things/nul", "", `{"data": {"v": "\u0000"}}`},
	{"NUL in a nested value", "POST", "/v1/things", "", `{"data": {"v": {"w": ["x", "\u0000"]}}}`},
	{"NUL in a field name", "POST", "/v1/things", "", `{"data": {"a\u0000b": 1}}`},
	{"NUL in an id", "POST", "/v1/anyids", "", `{"data": {"id": "a\u0000b"}}`},
	{"NUL in a merge PATCH", "PATCH", "/v1/things/plain", "", `{"data": {"v": "\u0000"}}`},
	{"NUL in a merge-patch+json PATCH", "PATCH", "/v1/things/plain", "application/merge-patch+json", `{"v": "\u0000"}`},
	{"NUL in a JSON Patch", "PATCH", "/v1/things/plain", "application/json-patch+json", `[{"op": "add", "path": "/data/v", "value": "\u0000"}]`},
	{"NUL in a principal", "POST", "/v1/shareds", "", `{"data": {}, "permissions": {"read": ["a\u0000b"]}}`},
	{"NUL in a principal (PUT)", "PUT", "/v1/shareds/p", "", `{"data": {}, "permissions": {"write": ["\u0000"]}}`},
	{"NUL in a principal (PATCH)", "PATCH", "/v1/shareds/mine", "", `{"permissions": {"read": ["x\u0000"]}}`},
	{"NUL in a principal (JSON Patch path)", "PATCH", "/v1/shareds/mine", "application/json-patch+json", `[{"op": "add", "path": "/permissions/read/a\u0000b"}]`},
	{"NUL in a principal (JSON Patch value)", "PATCH", "/v1/shareds/mine", "application/json-patch+json", `[{"op": "add", "path": "/permissions/read/x", "value": "a\u0000b"}]`},
	// Invalid UTF-8, which encoding/json would store as U+FFFD.
	{"invalid UTF-8 in a value", "POST", "/v1/things", "", "{\"data\": {\"v\": \"a\xffb\"}}"},
	{"truncated UTF-8 in a value", "POST", "/v1/things", "", "{\"data\": {\"v\": \"\xc3\"}}"},
	{"invalid UTF-8 in a field name", "POST", "/v1/things", "", "{\"data\": {\"\xfe\": 1}}"},
	{"invalid UTF-8 in an id", "POST", "/v1/anyids", "", "{\"data\": {\"id\": \"a\xffb\"}}"},
	{"invalid UTF-8 in a principal", "POST", "/v1/shareds", "", "{\"data\": {}, \"permissions\": {\"read\": [\"\xff\"]}}"},
	{"invalid UTF-8 in a JSON Patch", "PATCH", "/v1/things/plain", "application/json-patch+json", "[{\"op\": \"add\", \"path\": \"/data/v\", \"value\": \"\xff\"}]"},
	{"a lone high surrogate", "POST", "/v1/things", "", `{"data": {"v": "\ud800"}}`},
	{"a lone low surrogate", "POST", "/v1/things", "", `{"data": {"v": "a\udc00b"}}`},
	{"a high surrogate before a non-surrogate", "POST", "/v1/things", "", `{"data": {"v": "\ud800\u0041"}}`},
	{"a lone surrogate in a field name", "POST", "/v1/things", "", `{"data": {"\udbff": 1}}`},
	// Numbers out of float64 range.
	{"1e400", "POST", "/v1/things", "", `{"data": {"v": 1e400}}`},
	{"-1e400", "PUT", "/v1/things/big", "", `{"data": {"v": -1e400}}`},
	{"1.8e308", "POST", "/v1/things", "", `{"data": {"v": [1.8e308]}}`},
	{"a long integer", "POST", "/v1/things", "", `{"data": {"v": 1` + strings.Repeat("0", 400) + `}}`},
	{"1e400 in a JSON Patch", "PATCH", "/v1/things/plain", "application/json-patch+json", `[{"op": "add", "path": "/data/v", "value": 1e400}]`},
	// The querystring.
	{"invalid UTF-8 filter field", "GET", "/v1/things?%ff=1", "", ""},
	{"invalid UTF-8 filter field with an operator", "GET", "/v1/things?lt_%c3=1", "", ""},
	{"invalid UTF-8 filter field (has_)", "GET", "/v1/things?has_a%ffb=true", "", ""},
	{"invalid UTF-8 filter value", "GET", "/v1/things?v=%ff", "", ""},
	{"invalid UTF-8 in_ value", "GET", "/v1/things?in_v=a,%fe", "", ""},
	{"invalid UTF-8 like_ value", "GET", "/v1/things?like_v=%e2%82", "", ""},
	{"invalid UTF-8 _sort", "GET", "/v1/things?_sort=%ff", "", ""},
	{"invalid UTF-8 _fields", "GET", "/v1/things?_fields=%ff", "", ""},
	{"NUL in a _token", "GET", "/v1/things?_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjoiXHUwMDAwIn0sIm9mZnNldCI6MX0=", "", ""},
	{"NUL in an array in a _token", "GET", "/v1/things?_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjpbIlx1MDAwMCJdfSwib2Zmc2V0IjoxfQ==", "", ""},
	{"invalid UTF-8 in a _token", "GET", "/v1/things?_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjoi_yJ9LCJvZmZzZXQiOjF9", "", ""},
	{"NUL filter field", "GET", "/v1/things?a%00=1", "", ""},
	{"NUL filter value", "GET", "/v1/things?v=%00", "", ""},
	{"invalid UTF-8 in a plural DELETE filter", "DELETE", "/v1/things?%ff=1", "", ""},
	{"invalid UTF-8 in a shared plural filter", "GET", "/v1/shareds?%ff=1", "", ""},
	// Ids in the URL, whatever the id generator accepts (an upper-case escape is decoded by the
	// router; a lower-case one is kept as it is, a valid id).
	{"NUL in a URL id", "PUT", "/v1/anyids/a%00b", "", `{"data": {}}`},
	{"invalid UTF-8 in a URL id", "PUT", "/v1/anyids/a%FFb", "", `{"data": {}}`},
	{"invalid UTF-8 in a URL id (GET)", "GET", "/v1/anyids/%FF", "", ""},
	{"invalid UTF-8 in a URL id (DELETE)", "DELETE", "/v1/anyids/%C3", "", ""},
	// A batch body follows the rules of the bodies it carries.
	{"NUL in a batch sub-request", "POST", "/v1/batch", "", `{"requests": [{"method": "POST", "path": "/things", "body": {"data": {"v": "\u0000"}}}]}`},
	{"invalid UTF-8 in a batch sub-request", "POST", "/v1/batch", "", "{\"requests\": [{\"method\": \"POST\", \"path\": \"/things\", \"body\": {\"data\": {\"v\": \"\xff\"}}}]}"},
	{"1e400 in a batch sub-request", "POST", "/v1/batch", "", `{"requests": [{"method": "POST", "path": "/things", "body": {"data": {"v": 1e400}}}]}`},
	{"invalid UTF-8 in a batch path (the sub-request's 400)", "POST", "/v1/batch", "", `{"requests": [{"path": "/things?%ff=1"}]}`},
}

// wellFormed are bodies close to the hostile ones that every backend accepts and gives back
// the same.
var wellFormed = []string{
	`{"data": {"v": "\u0001 \u001f \u007f"}}`,
	`{"data": {"v": "\ud83d\ude00 \u00e9 \ufffd ` + "\uFFFD é 😀" + `"}}`,
	`{"data": {"\ud83d\ude00": "key"}}`,
	`{"data": {"v": 1.7976931348623157e308, "w": -1.7976931348623157e308, "x": 1e-300}}`,
	`{"data": {"v": 12345678901234567890}}`,
}

// TestHostileInputsOverHTTP sends requests that no backend can store faithfully to the app on
// memory, PostgreSQL and Redis storage (with the permission backend of the same kind): each
// must be a 400 errno 107 on every backend, and nothing must have been stored.
func TestHostileInputsOverHTTP(t *testing.T) {
	ctx := context.Background()
	pg, err := postgresql.New(ctx, postgresql.Options{URL: testenv.PostgresDatabaseC(t, "storage_pg_hostile_http"), PoolTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pg.Close() })
	if err := pg.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	pgPerms, err := permpostgresql.New(ctx, permpostgresql.Options{URL: testenv.PostgresDatabase(t, "perm_pg_hostile_http")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pgPerms.Close() })
	if err := pgPerms.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	rd, err := storageredis.New(ctx, storageredis.Options{URL: testenv.RedisURL(t, 3), Prefix: testenv.UniquePrefix(t, "cliquettest:hostile:")})
	if err != nil {
		t.Fatal(err)
	}
	rdPerms, err := permredis.New(permredis.Options{URL: testenv.RedisURL(t, 3), Prefix: testenv.UniquePrefix(t, "cliquettest:hostileperm:")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rd.Flush(context.Background())
		_ = rdPerms.Flush(context.Background())
		rd.Close()
		rdPerms.Close()
	})
	for _, f := range []func(context.Context) error{pg.Flush, pgPerms.Flush, rd.Flush, rdPerms.Flush} {
		if err := f(ctx); err != nil { // a second run (-count) in this process starts empty
			t.Fatal(err)
		}
	}
	servers := []hostileServer{
		newHostileServer(t, "memory", memory.New(nil), permmemory.New()),
		newHostileServer(t, "postgresql", pg, pgPerms),
		newHostileServer(t, "redis", rd, rdPerms),
	}
	for _, s := range servers {
		for _, path := range []string{"/v1/things/plain", "/v1/shareds/mine"} {
			if r := s.do(t, "PUT", path, []byte(`{"data": {"v": 5}}`)); r.code != 201 {
				t.Fatalf("%s: PUT %s: %d %s", s.name, path, r.code, r.raw)
			}
		}
	}
	snapshot := func(s hostileServer) string {
		var out []string
		for _, path := range []string{"/v1/things", "/v1/shareds", "/v1/anyids", "/v1/shareds/mine", "/v1/things/plain"} {
			r := s.do(t, "GET", path, nil)
			out = append(out, fmt.Sprint(r.code, ids(r.objects)), stripTimestamps(r.raw))
		}
		return strings.Join(out, "\n")
	}
	before := make([]string, len(servers))
	for i, s := range servers {
		before[i] = snapshot(s)
	}

	for _, in := range hostileInputs {
		t.Run(in.name, func(t *testing.T) {
			var body []byte
			if in.body != "" {
				body = []byte(in.body)
			}
			ct := in.contentType
			if ct == "" {
				ct = "application/json"
			}
			for _, s := range servers {
				r := s.doType(t, in.method, in.path, ct, body)
				if in.path == "/v1/batch" && r.code == 200 {
					// A well-formed batch whose one sub-request is refused: look at that one.
					var b struct {
						Responses []struct {
							Status int
							Body   struct{ Errno int }
						}
					}
					if err := json.Unmarshal([]byte(r.raw), &b); err != nil || len(b.Responses) != 1 {
						t.Fatalf("%s: batch response %s: %v", s.name, r.raw, err)
					}
					r.code, r.errno = b.Responses[0].Status, b.Responses[0].Body.Errno
				}
				if r.code != 400 || r.errno != 107 {
					t.Errorf("%s: %s %s %q: %d errno %d, want 400 errno 107: %.300s", s.name, in.method, in.path, in.body, r.code, r.errno, r.raw)
				}
			}
		})
	}
	for i, s := range servers {
		if after := snapshot(s); after != before[i] {
			t.Errorf("%s: the hostile requests changed what is stored:\nbefore %s\nafter  %s", s.name, before[i], after)
		}
	}

	t.Run("well-formed neighbours are stored the same everywhere", func(t *testing.T) {
		for i, body := range wellFormed {
			var got []map[string]any
			for _, s := range servers {
				r := s.do(t, "PUT", fmt.Sprintf("/v1/things/ok%d", i), []byte(body))
				if r.code != 201 {
					t.Errorf("%s: PUT %s: %d %s", s.name, body, r.code, r.raw)
					continue
				}
				var m struct{ Data map[string]any }
				raw := s.do(t, "GET", fmt.Sprintf("/v1/things/ok%d", i), nil).raw
				if err := json.Unmarshal([]byte(raw), &m); err != nil {
					t.Fatal(err)
				}
				delete(m.Data, "last_modified")
				got = append(got, m.Data) // compared decoded: PostgreSQL writes numbers in full
			}
			for j := 1; j < len(got); j++ {
				if !reflect.DeepEqual(got[j], got[0]) {
					t.Errorf("PUT %s: %s gives back %v, %s gives back %v", body, servers[0].name, got[0], servers[j].name, got[j])
				}
			}
		}
	})
}

var lastModifiedField = regexp.MustCompile(`"last_modified":\d+`)

// stripTimestamps drops last_modified values, which differ between backends.
func stripTimestamps(s string) string {
	return lastModifiedField.ReplaceAllString(s, `"last_modified":0`)
}
