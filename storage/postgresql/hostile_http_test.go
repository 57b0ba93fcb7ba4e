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
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/postgresql"
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

func newHostileServer(t *testing.T, name string, store storage.Backend) hostileServer {
	t.Helper()
	s := config.MustFromMap(map[string]string{"userid_hmac_secret": "hostile-secret"}, config.Options{Env: []string{}})
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: s, ProjectVersion: "1.0.0", Storage: store,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "thing", IDGenerator: resource.NameGenerator{}}); err != nil {
		t.Fatal(err)
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
	r := httptest.NewRequest(method, target, bytes.NewReader(body)) // the query is kept raw, bad escapes included
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
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
	if (method == "GET" || method == "DELETE") && rec.Code == 200 {
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
	m, ok := store.(storage.Migrator)
	if !ok {
		t.Fatal("the PostgreSQL backend is not a storage.Migrator")
	}
	if err := m.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	if err := pg.Flush(ctx); err != nil { // a second run (-count) in this process starts empty
		t.Fatal(err)
	}
	servers := []hostileServer{newHostileServer(t, "postgresql", pg), newHostileServer(t, "memory", memory.New(nil))}

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
