package resource_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

const (
	col = "/v1/mushrooms"
	uid = "7f8d1e2a-4b3c-4d5e-8f90-a1b2c3d4e5f6"
)

func obj(id string) string { return col + "/" + id }

func ts(t *testing.T, r *response) int64 {
	t.Helper()
	raw := strings.Trim(etag(r), `"`)
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		t.Fatalf("ETag %q is not a quoted integer", etag(r))
	}
	return n
}

// TestEdgeCases asserts the edge cases of protocol.md 10.3 that concern resources.
func TestEdgeCases(t *testing.T) {
	t.Parallel()

	t.Run("10.3/1 POST with existing id returns 200 and the stored record", func(t *testing.T) {
		s := newServer(t, nil)
		first := s.create("alice", map[string]any{"id": uid, "name": "cep"})
		r := s.must(200, req{Method: "POST", Path: col, User: "alice", Body: map[string]any{"data": map[string]any{"id": uid, "name": "other"}}})
		if r.data()["name"] != "cep" || r.data()["last_modified"] != first["last_modified"] {
			t.Fatalf("existing record changed: %v", r.data())
		}
		if etag(r) != fmt.Sprintf(`"%d"`, int64(first["last_modified"].(float64))) {
			t.Errorf("ETag %s is not the record's", etag(r))
		}
	})

	t.Run("10.3/2 POST with a non-string id is a 400, a valid client id is kept", func(t *testing.T) {
		s := newServer(t, nil)
		expectError(t, s.do(req{Method: "POST", Path: col, User: "alice", Body: `{"data": {"id": 3.14}}`}), 400, 107, "body", "data.id")
		expectError(t, s.do(req{Method: "POST", Path: col, User: "alice", Body: `{"data": {"id": "not-a-uuid"}}`}), 400, 107, "body", "data.id")
		if got := s.create("alice", map[string]any{"id": uid})["id"]; got != uid {
			t.Errorf("id = %v, want %s", got, uid)
		}
	})

	t.Run("10.3/3 PUT creates (201) on new and deleted ids and replaces (200) otherwise", func(t *testing.T) {
		s := newServer(t, nil)
		r := s.must(201, req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 1, "b": 2}}})
		if r.data()["id"] != uid {
			t.Fatalf("data = %v", r.data())
		}
		r = s.must(200, req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 3}}})
		if _, kept := r.data()["b"]; kept || r.data()["a"] != float64(3) {
			t.Fatalf("replace kept old fields: %v", r.data())
		}
		s.must(200, req{Method: "DELETE", Path: obj(uid), User: "alice"})
		s.must(201, req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 4}}})
	})

	t.Run("10.3/4 PUT with a different data.id is a 400 and PATCH cannot change the id", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"id": uid})
		other := "00000000-0000-4000-8000-000000000000"
		expectError(t, s.do(req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"id": other}}}), 400, 107, "body", "data.id")
		expectError(t, s.do(req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"id": other}}}), 400, 107, "body", "data.id")
		r := s.do(req{Method: "PATCH", Path: obj(uid), User: "alice", Body: `[{"op": "replace", "path": "/data/id", "value": "x"}]`,
			Header: map[string]string{"Content-Type": "application/json-patch+json"}})
		expectError(t, r, 400, 107, "body", "data.id")
	})

	t.Run("10.3/5 If-None-Match star passes over a tombstone and fails on an existing record", func(t *testing.T) {
		s := newServer(t, nil)
		star := map[string]string{"If-None-Match": "*"}
		s.create("alice", map[string]any{"id": uid})
		expectError(t, s.do(req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{}}, Header: star}), 412, 114, "", "")
		expectError(t, s.do(req{Method: "GET", Path: obj(uid), User: "alice", Header: star}), 412, 114, "", "")
		s.must(200, req{Method: "DELETE", Path: obj(uid), User: "alice"})
		s.must(201, req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{}}, Header: star})
	})

	t.Run("10.3/6 If-Match on a deleted record is a 412", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"id": uid})
		s.must(200, req{Method: "DELETE", Path: obj(uid), User: "alice"})
		h := map[string]string{"If-Match": fmt.Sprintf(`"%d"`, int64(created["last_modified"].(float64)))}
		r := s.do(req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{}}, Header: h})
		expectError(t, r, 412, 114, "", "")
		if etag(r) == "" {
			t.Error("412 without ETag")
		}
	})

	t.Run("10.3/7 precondition values must be quoted integers or a star", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"id": uid})
		for _, h := range []string{"If-Match", "If-None-Match"} {
			for _, v := range []string{`1234`, `""`, `"abc"`, `"12"3"`} {
				r := s.do(req{Method: "GET", Path: obj(uid), User: "alice", Header: map[string]string{h: v}})
				expectError(t, r, 400, 107, "headers", h)
			}
		}
		s.must(200, req{Method: "GET", Path: obj(uid), User: "alice", Header: map[string]string{"If-Match": "*"}})
	})

	t.Run("10.3/8 304 and 412 responses carry ETag and Last-Modified of the current version", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"id": uid})
		cur := s.must(200, req{Method: "GET", Path: obj(uid), User: "alice"})
		r := s.must(304, req{Method: "GET", Path: obj(uid), User: "alice", Header: map[string]string{"If-None-Match": etag(cur)}})
		if etag(r) != etag(cur) || r.Header.Get("Last-Modified") == "" || len(r.Raw) != 0 {
			t.Fatalf("304 headers %v body %q", r.Header, r.Raw)
		}
		list := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		r = s.must(304, req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"If-None-Match": etag(list)}})
		if etag(r) != etag(list) {
			t.Fatalf("plural 304 ETag %s, want %s", etag(r), etag(list))
		}
		r = s.do(req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 1}}, Header: map[string]string{"If-Match": `"1"`}})
		expectError(t, r, 412, 114, "", "")
		if etag(r) != etag(cur) || r.Header.Get("Last-Modified") == "" {
			t.Fatalf("412 ETag %s, want %s", etag(r), etag(cur))
		}
	})

	t.Run("10.3/9 a 412 on an object details the existing object, on a plural URL it does not", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"id": uid, "name": "cep"})
		r := s.do(req{Method: "DELETE", Path: obj(uid), User: "alice", Header: map[string]string{"If-Match": `"1"`}})
		expectError(t, r, 412, 114, "", "")
		existing := r.Body["details"].(map[string]any)["existing"].(map[string]any)
		if existing["name"] != "cep" || existing["id"] != uid {
			t.Fatalf("details.existing = %v", existing)
		}
		if _, has := existing["permissions"]; has {
			t.Fatal("details.existing has permissions")
		}
		r = s.do(req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"If-Match": `"1"`}})
		expectError(t, r, 412, 114, "", "")
		if d, _ := r.Body["details"].(map[string]any); d["existing"] != nil {
			t.Fatalf("plural 412 details = %v", d)
		}
		expectError(t, s.do(req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"If-None-Match": "*"}}), 412, 114, "", "")
		expectError(t, s.do(req{Method: "DELETE", Path: col, User: "alice", Header: map[string]string{"If-None-Match": "*"}}), 412, 114, "", "")
	})

	t.Run("10.3/10 the plural ETag ignores filters and reads never change it", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"n": 1})
		s.create("alice", map[string]any{"n": 2})
		a := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		b := s.must(200, req{Method: "GET", Path: col + "?n=1", User: "alice"})
		c := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		if etag(a) != etag(b) || etag(a) != etag(c) || len(b.list()) != 1 {
			t.Fatalf("ETags %s %s %s, filtered %d", etag(a), etag(b), etag(c), len(b.list()))
		}
	})

	t.Run("10.3/11 an empty collection keeps its timestamp until the first write, which is larger", func(t *testing.T) {
		s := newServer(t, nil)
		a := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		time.Sleep(2 * time.Millisecond)
		b := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		if etag(a) != etag(b) {
			t.Fatalf("empty collection ETag moved: %s then %s", etag(a), etag(b))
		}
		created := s.create("alice", map[string]any{})
		if int64(created["last_modified"].(float64)) <= ts(t, a) {
			t.Fatalf("first write %v not above %s", created["last_modified"], etag(a))
		}
	})

	t.Run("10.3/12 writes in a row get strictly increasing timestamps above the previous ETag", func(t *testing.T) {
		s := newServer(t, nil)
		prev := ts(t, s.must(200, req{Method: "GET", Path: col, User: "alice"}))
		for i := 0; i < 20; i++ {
			r := s.must(201, req{Method: "POST", Path: col, User: "alice", Body: map[string]any{"data": map[string]any{"i": i}}})
			if cur := ts(t, r); cur <= prev {
				t.Fatalf("write %d: timestamp %d not above %d", i, cur, prev)
			} else {
				prev = cur
			}
		}
	})

	t.Run("10.3/13 a PATCH that changes nothing keeps the timestamps and the ETag", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"id": uid, "a": 1})
		before := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 1}}})
		if r.data()["last_modified"] != created["last_modified"] || ts(t, r) != int64(created["last_modified"].(float64)) {
			t.Fatalf("no-op PATCH changed the object: %v, ETag %s", r.data(), etag(r))
		}
		after := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		if etag(before) != etag(after) {
			t.Fatalf("collection ETag moved: %s → %s", etag(before), etag(after))
		}
	})

	t.Run("10.3/14 Response-Behavior light and diff return only changed fields", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"id": uid, "a": 1, "b": 2, "c": 3})
		patch := map[string]any{"data": map[string]any{"a": 1, "b": 20}}
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: patch, Header: map[string]string{"Response-Behavior": "light"}})
		if fmt.Sprint(r.data()) != "map[b:20]" {
			t.Fatalf("light = %v", r.data())
		}
		// A hook-free server stores what was sent, so diff is empty when the client has it all.
		r = s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"c": 30}},
			Header: map[string]string{"Response-Behavior": "diff"}})
		if len(r.data()) != 0 {
			t.Fatalf("diff = %v", r.data())
		}
		r = s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: patch, Header: map[string]string{"Response-Behavior": "full"}})
		if r.data()["c"] != float64(30) || r.data()["id"] != uid {
			t.Fatalf("full = %v", r.data())
		}
		expectError(t, s.do(req{Method: "PATCH", Path: obj(uid), User: "alice", Body: patch, Header: map[string]string{"Response-Behavior": "verbose"}}),
			400, 107, "headers", "Response-Behavior")
	})

	t.Run("10.3/15 a client last_modified is kept only when larger, and ignored when not an integer", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"id": uid, "last_modified": 1234})
		if created["last_modified"] != float64(1234) {
			t.Fatalf("forced creation timestamp = %v", created["last_modified"])
		}
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 1, "last_modified": 1000}}})
		server := int64(r.data()["last_modified"].(float64))
		if server <= 1234 {
			t.Fatalf("smaller forced value kept: %d", server)
		}
		r = s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 2, "last_modified": server + 1000}}})
		if int64(r.data()["last_modified"].(float64)) != server+1000 {
			t.Fatalf("larger forced value not kept: %v", r.data()["last_modified"])
		}
		r = s.must(200, req{Method: "PUT", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"a": 3, "last_modified": "abc"}}})
		if _, ok := r.data()["last_modified"].(float64); !ok {
			t.Fatalf("invalid last_modified not replaced: %v", r.data())
		}
	})

	t.Run("10.3/16 DELETE accepts a quoted last_modified, rejects non-integers and ignores smaller values", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"id": uid})
		cur := int64(created["last_modified"].(float64))
		expectError(t, s.do(req{Method: "DELETE", Path: obj(uid) + "?last_modified=abc", User: "alice"}), 400, 107, "querystring", "last_modified")
		r := s.must(200, req{Method: "DELETE", Path: obj(uid) + "?last_modified=" + url.QueryEscape(fmt.Sprintf(`"%d"`, cur+5000)), User: "alice"})
		if r.data()["last_modified"] != float64(cur+5000) || r.data()["deleted"] != true {
			t.Fatalf("tombstone = %v", r.data())
		}
		s.create("alice", map[string]any{"id": uid})
		r = s.must(200, req{Method: "DELETE", Path: obj(uid) + "?last_modified=1", User: "alice"})
		if r.data()["last_modified"].(float64) <= 1 {
			t.Fatalf("smaller forced deletion timestamp kept: %v", r.data())
		}
	})

	t.Run("10.3/17 a missing or deleted object answers 404 errno 110 with details", func(t *testing.T) {
		s := newServer(t, nil)
		r := s.do(req{Method: "DELETE", Path: obj(uid), User: "alice"})
		expectError(t, r, 404, 110, "", "")
		if d := r.Body["details"].(map[string]any); d["id"] != uid || d["resource_name"] != "mushroom" {
			t.Fatalf("details = %v", d)
		}
		s.create("alice", map[string]any{"id": uid})
		s.must(200, req{Method: "DELETE", Path: obj(uid), User: "alice"})
		for _, m := range []string{"GET", "DELETE", "PATCH"} {
			expectError(t, s.do(req{Method: m, Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{}}}), 404, 110, "", "")
		}
	})

	t.Run("10.3/18 tombstones appear only with a last_modified filter, _since and _before are exclusive", func(t *testing.T) {
		s := newServer(t, nil)
		a := s.create("alice", map[string]any{"n": "a"})
		b := s.create("alice", map[string]any{"n": "b"})
		c := s.create("alice", map[string]any{"n": "c"})
		del := s.must(200, req{Method: "DELETE", Path: obj(b["id"].(string)), User: "alice"}).data()
		if n := len(s.must(200, req{Method: "GET", Path: col, User: "alice"}).list()); n != 2 {
			t.Fatalf("plain list has %d objects, want 2", n)
		}
		since := s.must(200, req{Method: "GET", Path: col + fmt.Sprintf("?_since=%.0f", a["last_modified"]), User: "alice"}).list()
		if len(since) != 2 || since[0]["id"] != b["id"] || since[0]["deleted"] != true || since[1]["id"] != c["id"] {
			t.Fatalf("_since = %v", since)
		}
		if len(since[0]) != 3 || since[0]["last_modified"] != del["last_modified"] {
			t.Fatalf("tombstone = %v", since[0])
		}
		before := s.must(200, req{Method: "GET", Path: col + fmt.Sprintf("?_before=%.0f", c["last_modified"]), User: "alice"}).list()
		if len(before) != 1 || before[0]["id"] != a["id"] {
			t.Fatalf("_before = %v", before)
		}
		if l := s.must(200, req{Method: "GET", Path: col + "?deleted=true", User: "alice"}).list(); len(l) != 0 {
			t.Fatalf("deleted=true without last_modified filter = %v", l)
		}
	})

	t.Run("10.3/19 _since accepts quoted values, rejects decimals and words, _to adds an Alert", func(t *testing.T) {
		s := newServer(t, nil)
		a := s.create("alice", map[string]any{})
		s.create("alice", map[string]any{})
		q := url.QueryEscape(fmt.Sprintf(`"%.0f"`, a["last_modified"]))
		if l := s.must(200, req{Method: "GET", Path: col + "?_since=" + q, User: "alice"}).list(); len(l) != 1 {
			t.Fatalf("quoted _since = %v", l)
		}
		for _, bad := range []string{"1.5", "abc", "-3", "99999999999999"} {
			expectError(t, s.do(req{Method: "GET", Path: col + "?_since=" + bad, User: "alice"}), 400, 107, "querystring", "_since")
		}
		r := s.must(200, req{Method: "GET", Path: col + fmt.Sprintf("?_to=%.0f", a["last_modified"]), User: "alice"})
		if !strings.Contains(r.Header.Get("Alert"), "_to is now deprecated") || len(r.list()) != 0 {
			t.Fatalf("_to: Alert %q, list %v", r.Header.Get("Alert"), r.list())
		}
	})

	t.Run("10.3/20 unknown filter fields are a 400 with a schema; min/max inclusive, lt/gt exclusive; mini_ is not min_", func(t *testing.T) {
		s := newServer(t, nil, registerTyped)
		for i := 1; i <= 5; i++ {
			s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"title": "t", "rank": i}}})
		}
		count := func(q string) int {
			return len(s.must(200, req{Method: "GET", Path: "/v1/articles?" + q, User: "alice"}).list())
		}
		for q, want := range map[string]int{"min_rank=2": 4, "max_rank=2": 2, "lt_rank=2": 1, "gt_rank=2": 3, "not_rank=2": 4, "rank=2": 1} {
			if got := count(q); got != want {
				t.Errorf("%s: %d objects, want %d", q, got, want)
			}
		}
		expectError(t, s.do(req{Method: "GET", Path: "/v1/articles?mini_rank=1", User: "alice"}), 400, 107, "querystring", "mini_rank")
		expectError(t, s.do(req{Method: "GET", Path: "/v1/articles?color=red", User: "alice"}), 400, 107, "querystring", "color")
	})

	t.Run("10.3/21 in_id needs strings and in_last_modified integers", func(t *testing.T) {
		s := newServer(t, nil)
		expectError(t, s.do(req{Method: "GET", Path: col + "?in_id=1,2", User: "alice"}), 400, 107, "querystring", "in_id")
		expectError(t, s.do(req{Method: "GET", Path: col + "?in_last_modified=a,b", User: "alice"}), 400, 107, "querystring", "in_last_modified")
		a := s.create("alice", map[string]any{})
		s.create("alice", map[string]any{})
		l := s.must(200, req{Method: "GET", Path: col + fmt.Sprintf("?in_last_modified=%.0f", a["last_modified"]), User: "alice"}).list()
		if len(l) != 1 || l[0]["id"] != a["id"] {
			t.Fatalf("in_last_modified = %v", l)
		}
	})

	t.Run("10.3/22 values are coerced as JSON and invalid JSON stays a string", func(t *testing.T) {
		s := newServer(t, nil)
		s.create("alice", map[string]any{"x": 10})
		s.create("alice", map[string]any{"x": "10"})
		s.create("alice", map[string]any{"x": "[1,"})
		s.create("alice", map[string]any{"x": true})
		for q, want := range map[string]any{"x=10": float64(10), "x=%2210%22": "10", "x=%5B1%2C": "[1,", "x=true": true} {
			l := s.must(200, req{Method: "GET", Path: col + "?" + q, User: "alice"}).list()
			if len(l) != 1 || l[0]["x"] != want {
				t.Errorf("%s matched %v, want x=%v", q, l, want)
			}
		}
	})

	t.Run("10.3/23 sorting on an unknown field is a 400, default order is -last_modified, false sorts before true", func(t *testing.T) {
		s := newServer(t, nil, registerTyped)
		expectError(t, s.do(req{Method: "GET", Path: "/v1/articles?_sort=color", User: "alice"}), 400, 107, "querystring", "_sort")
		p := newServer(t, nil)
		first := p.create("alice", map[string]any{"b": true})
		second := p.create("alice", map[string]any{"b": false})
		l := p.must(200, req{Method: "GET", Path: col, User: "alice"}).list()
		if l[0]["id"] != second["id"] || l[1]["id"] != first["id"] {
			t.Fatalf("default order = %v", l)
		}
		l = p.must(200, req{Method: "GET", Path: col + "?_sort=b", User: "alice"}).list()
		if l[0]["b"] != false || l[1]["b"] != true {
			t.Fatalf("_sort=b = %v", l)
		}
	})

	t.Run("10.3/24 Next-Page keeps the querystring, adds _limit and _token, and is absent on an exactly full last page", func(t *testing.T) {
		s := newServer(t, map[string]string{"http_host": "api.example.com:8443", "http_scheme": "https"})
		for i := 0; i < 4; i++ {
			s.create("alice", map[string]any{"kind": "cep", "i": i})
		}
		r := s.must(200, req{Method: "GET", Path: col + "?kind=cep&_sort=i&_limit=2&_fields=i", User: "alice"})
		next := r.Header.Get("Next-Page")
		u, err := url.Parse(next)
		if err != nil || u.Scheme != "https" || u.Host != "api.example.com:8443" || u.Path != col {
			t.Fatalf("Next-Page = %q", next)
		}
		q := u.Query()
		if q.Get("kind") != "cep" || q.Get("_sort") != "i" || q.Get("_fields") != "i" || q.Get("_limit") != "2" || q.Get("_token") == "" {
			t.Fatalf("Next-Page query = %v", q)
		}
		r = s.must(200, req{Method: "GET", Path: pathOf(t, next), User: "alice"})
		if l := r.list(); len(l) != 2 || l[0]["i"] != float64(2) || r.Header.Get("Next-Page") != "" {
			t.Fatalf("last page = %v, Next-Page %q", l, r.Header.Get("Next-Page"))
		}
	})

	t.Run("10.3/25 pages never overlap nor skip, also when paginate_by is below _limit", func(t *testing.T) {
		s := newServer(t, map[string]string{"paginate_by": "3"})
		want := map[string]bool{}
		for i := 0; i < 10; i++ {
			want[s.create("alice", map[string]any{"g": i % 3})["id"].(string)] = true
		}
		seen := map[string]bool{}
		path := col + "?_sort=g&_limit=5"
		for pages := 0; path != ""; pages++ {
			r := s.must(200, req{Method: "GET", Path: path, User: "alice"})
			if len(r.list()) > 3 {
				t.Fatalf("page of %d objects with paginate_by=3", len(r.list()))
			}
			for _, o := range r.list() {
				if seen[o["id"].(string)] {
					t.Fatalf("duplicate %v", o["id"])
				}
				seen[o["id"].(string)] = true
			}
			path = ""
			if n := r.Header.Get("Next-Page"); n != "" {
				path = pathOf(t, n)
			}
		}
		if len(seen) != len(want) {
			t.Fatalf("saw %d objects, want %d", len(seen), len(want))
		}
	})

	t.Run("10.3/26 paginate_by wins, _limit must be an integer, bad tokens are a 400", func(t *testing.T) {
		s := newServer(t, map[string]string{"paginate_by": "2"})
		for i := 0; i < 3; i++ {
			s.create("alice", map[string]any{})
		}
		if l := s.must(200, req{Method: "GET", Path: col + "?_limit=10", User: "alice"}).list(); len(l) != 2 {
			t.Fatalf("_limit=10 with paginate_by=2 gave %d", len(l))
		}
		expectError(t, s.do(req{Method: "GET", Path: col + "?_limit=abc", User: "alice"}), 400, 107, "querystring", "_limit")
		expectError(t, s.do(req{Method: "GET", Path: col + "?_limit=-1", User: "alice"}), 400, 107, "querystring", "_limit")
		for name, tok := range map[string]string{
			"bad base64":      "%%%",
			"bad JSON":        base64.StdEncoding.EncodeToString([]byte("{")),
			"not an object":   base64.StdEncoding.EncodeToString([]byte("[1]")),
			"missing keys":    base64.StdEncoding.EncodeToString([]byte(`{"offset": 1}`)),
			"last_object int": base64.StdEncoding.EncodeToString([]byte(`{"last_object": 1, "offset": 1}`)),
		} {
			r := s.do(req{Method: "GET", Path: col + "?_token=" + url.QueryEscape(tok), User: "alice"})
			expectError(t, r, 400, 107, "querystring", "_token")
			if !strings.Contains(r.Body["message"].(string), "_token has invalid content") {
				t.Errorf("%s: message %v", name, r.Body["message"])
			}
		}
	})

	t.Run("10.3/27 HEAD counts every matching live object, ignoring _limit", func(t *testing.T) {
		s := newServer(t, nil)
		for i := 0; i < 5; i++ {
			s.create("alice", map[string]any{"even": i%2 == 0})
		}
		gone := s.create("alice", map[string]any{"even": true})
		s.must(200, req{Method: "DELETE", Path: obj(gone["id"].(string)), User: "alice"})
		r := s.must(200, req{Method: "HEAD", Path: col + "?even=true&_limit=1", User: "alice"})
		if r.Header.Get("Total-Objects") != "3" || r.Header.Get("Total-Records") != "3" || len(r.Raw) != 0 {
			t.Fatalf("HEAD: Total-Objects %q Total-Records %q body %q", r.Header.Get("Total-Objects"), r.Header.Get("Total-Records"), r.Raw)
		}
		if g := s.must(200, req{Method: "GET", Path: col, User: "alice"}); g.Header.Get("Total-Objects") != "" || g.Header.Get("Total-Records") != "" {
			t.Fatal("GET counted")
		}
	})

	t.Run("10.3/28 _fields keeps id and last_modified, projects nested keys and rejects unknown fields with a schema", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"id": uid, "a": map[string]any{"b": 1, "c": 2}, "d": 3, "e": 4})
		r := s.must(200, req{Method: "GET", Path: obj(uid) + "?_fields=a.b,d", User: "alice"})
		if fmt.Sprint(r.data()) != fmt.Sprint(map[string]any{"a": map[string]any{"b": float64(1)}, "d": float64(3), "id": uid, "last_modified": created["last_modified"]}) {
			t.Fatalf("_fields = %v", r.data())
		}
		l := s.must(200, req{Method: "GET", Path: col + "?_fields=e", User: "alice"}).list()
		if len(l[0]) != 3 || l[0]["e"] != float64(4) {
			t.Fatalf("list _fields = %v", l)
		}
		typed := newServer(t, nil, registerTyped)
		expectError(t, typed.do(req{Method: "GET", Path: "/v1/articles?_fields=color", User: "alice"}), 400, 107, "querystring", "_fields")
	})
}
