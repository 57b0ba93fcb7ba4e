package resource_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/permission/memory"
)

// jsonPatchHeader sends a body as a JSON Patch.
var jsonPatchHeader = map[string]string{"Content-Type": "application/json-patch+json"}

// copyBomb is a JSON Patch of n copy operations, each copying the whole data into itself,
// which doubles the object n times: a 2 KB body that would build 2^n times the object.
func copyBomb(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op": "copy", "from": "/data", "path": "/data/c%d"}`, i)
	}
	return "[" + strings.Join(ops, ", ") + "]"
}

// TestPatchResultIsBoundedByTheBodyLimit checks that no PATCH builds or stores an object
// larger than max_request_body_bytes: a JSON Patch whose copies grow the object past it is
// stopped while it is applied, and a merge (JSON merge patch or the shallow merge) whose
// result is larger is refused; both answer 400 errno 107 and leave the object unchanged.
func TestPatchResultIsBoundedByTheBodyLimit(t *testing.T) {
	t.Parallel()
	unchanged := func(t *testing.T, s *server, path string, want map[string]any) {
		t.Helper()
		if got := s.must(200, req{Method: "GET", Path: path, User: "alice"}).data(); !reflect.DeepEqual(got, want) {
			t.Fatalf("the object changed: %.200v, want %.200v", got, want)
		}
	}

	t.Run("18 copies of the object into itself answer 400 at the default limit", func(t *testing.T) {
		s := newServer(t, nil)
		// 2^18 times 300 bytes is 78 MB, ten times the default 8 MiB limit.
		created := s.create("alice", map[string]any{"name": strings.Repeat("x", 300)})
		path := obj(created["id"].(string))
		body := copyBomb(18)
		if len(body) > 2048 {
			t.Fatalf("the patch is %d bytes, want at most 2 KB", len(body))
		}
		r := s.do(req{Method: "PATCH", Path: path, User: "alice", Body: body, Header: jsonPatchHeader})
		expectError(t, r, 400, 107, "body", "")
		if msg, _ := r.Body["message"].(string); !strings.Contains(msg, "max_request_body_bytes") {
			t.Errorf("message %q does not name the limit", msg)
		}
		unchanged(t, s, path, created)
	})

	t.Run("a few copies within the limit are applied", func(t *testing.T) {
		s := newServer(t, nil)
		created := s.create("alice", map[string]any{"name": "cep"})
		r := s.must(200, req{Method: "PATCH", Path: obj(created["id"].(string)), User: "alice", Body: copyBomb(3), Header: jsonPatchHeader})
		if _, ok := r.data()["c2"].(map[string]any)["c1"]; !ok {
			t.Fatalf("copies not applied: %s", r.Raw)
		}
	})

	t.Run("HTML escapes count as the bytes the client sent", func(t *testing.T) {
		// encoding/json stores '<' as \u003c: 1500 of them are 9000 bytes stored, from a
		// body within the 2000-byte limit, and the object still takes PATCHes.
		s := newServer(t, map[string]string{"max_request_body_bytes": "2000"})
		created := s.must(201, req{Method: "POST", Path: col, User: "alice", Body: `{"data": {"html": "` + strings.Repeat("<&>", 500) + `"}}`}).data()
		path := obj(created["id"].(string))
		s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: `{"data": {"more": 1}}`})
		s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: `[{"op": "add", "path": "/data/again", "value": 2}]`, Header: jsonPatchHeader})
		s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: `{"data": {"merged": 3}}`, Header: map[string]string{"Content-Type": "application/merge-patch+json"}})
		// Copying 500 bytes of "<>&" adds 500 bytes, not the 3000 of its escaped form.
		s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: `{"data": {"html": "` + strings.Repeat("<&>", 166) + `"}}`})
		s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: `[{"op": "copy", "from": "/data/html", "path": "/data/copy"}]`, Header: jsonPatchHeader})
	})

	// With a 2000-byte limit, an object of about 1500 bytes takes no second field of 1500.
	big := strings.Repeat("y", 1500)
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"a JSON Patch adding to a large object", "application/json-patch+json", `[{"op": "add", "path": "/data/more", "value": "` + big + `"}]`},
		{"a JSON Patch copying a large field", "application/json-patch+json", `[{"op": "copy", "from": "/data/name", "path": "/data/more"}]`},
		{"a JSON merge patch", "application/merge-patch+json", `{"data": {"more": "` + big + `"}}`},
		{"a shallow merge", "application/json", `{"data": {"more": "` + big + `"}}`},
	} {
		t.Run(tc.name+" whose result is over the limit answers 400", func(t *testing.T) {
			s := newServer(t, map[string]string{"max_request_body_bytes": "2000"})
			created := s.create("alice", map[string]any{"name": big})
			path := obj(created["id"].(string))
			r := s.do(req{Method: "PATCH", Path: path, User: "alice", Body: tc.body, Header: map[string]string{"Content-Type": tc.contentType}})
			expectError(t, r, 400, 107, "body", "")
			unchanged(t, s, path, created)
			// The same change on a small object is fine.
			small := s.create("alice", map[string]any{"name": "cep"})
			s.must(200, req{Method: "PATCH", Path: obj(small["id"].(string)), User: "alice", Body: tc.body, Header: map[string]string{"Content-Type": tc.contentType}})
		})
	}
}

// TestForcedLastModifiedIsBounded checks that a client-forced last_modified (protocol.md
// 3.3) more than a day ahead, the bound _since has, answers 400 errno 107 on every write
// that would keep it, and writes nothing: one such value near the int64 maximum would
// otherwise push the collection timestamp out of every backend's range.
func TestForcedLastModifiedIsBounded(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	created := s.create("alice", map[string]any{"id": uid, "name": "cep"})
	collection := func() string {
		t.Helper()
		return etag(s.must(200, req{Method: "GET", Path: col, User: "alice"}))
	}
	before := collection()
	now := time.Now().UnixMilli()
	other := "00000000-0000-4000-8000-000000000001"
	for _, value := range []string{
		"9223372036854775807", "9223372036854775000", fmt.Sprint(int64(1) << 53),
		fmt.Sprint(now + 2*24*3600*1000), "99999999999999999999", "1e30",
	} {
		data := `{"data": {"name": "x", "last_modified": ` + value + `}}`
		for _, q := range []req{
			{Method: "POST", Path: col, Body: data},
			{Method: "PUT", Path: obj(other), Body: data},
			{Method: "PUT", Path: obj(uid), Body: data},
			{Method: "PATCH", Path: obj(uid), Body: data},
			{Method: "PATCH", Path: obj(uid), Body: `[{"op": "replace", "path": "/data/last_modified", "value": ` + value + `}]`,
				Header: jsonPatchHeader},
		} {
			q.User = "alice"
			t.Run(q.Method+" "+q.Path+" "+value, func(t *testing.T) {
				expectError(t, s.do(q), 400, 107, "body", "data.last_modified")
			})
		}
		t.Run("DELETE ?last_modified="+value, func(t *testing.T) {
			r := s.do(req{Method: "DELETE", Path: obj(uid) + "?last_modified=" + value, User: "alice"})
			expectError(t, r, 400, 107, "querystring", "last_modified")
		})
	}
	if got := s.must(200, req{Method: "GET", Path: obj(uid), User: "alice"}).data(); !reflect.DeepEqual(got, created) {
		t.Fatalf("the object changed: %v, want %v", got, created)
	}
	s.must(404, req{Method: "GET", Path: obj(other), User: "alice"})
	if after := collection(); after != before {
		t.Fatalf("the collection timestamp moved from %s to %s", before, after)
	}

	t.Run("a value less than a day ahead is kept, and later writes go on above it", func(t *testing.T) {
		ahead := now + 3600*1000
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: map[string]any{"data": map[string]any{"last_modified": ahead}}})
		if r.data()["last_modified"] != float64(ahead) {
			t.Fatalf("forced value not kept: %v", r.data())
		}
		next := s.create("alice", map[string]any{"name": "next"})
		if lm := int64(next["last_modified"].(float64)); lm <= ahead {
			t.Fatalf("next write %d not above %d", lm, ahead)
		}
	})
}

// principals returns n distinct principals, each given twice when twice.
func principals(n int, twice bool) []string {
	out := make([]string, 0, 2*n)
	for i := range n {
		out = append(out, fmt.Sprintf("account:user%06d", i))
		if twice {
			out = append(out, fmt.Sprintf("account:user%06d", i))
		}
	}
	return out
}

// TestPrincipalsPerPermissionAreLimited checks max_principals_per_permission: a permission
// listing more distinct principals answers 400 errno 107 naming the permission, whether
// they come in a permissions field or from a JSON Patch; duplicates count once.
func TestPrincipalsPerPermissionAreLimited(t *testing.T) {
	t.Parallel()
	perms := func(r *response) map[string]any { p, _ := r.Body["permissions"].(map[string]any); return p }
	tooMany := func(t *testing.T, r *response, name string) {
		t.Helper()
		expectError(t, r, 400, 107, "body", "permissions."+name)
		if msg, _ := r.Body["message"].(string); !strings.Contains(msg, name) || !strings.Contains(msg, "principals") {
			t.Errorf("message %q does not name the permission and the limit", msg)
		}
	}

	t.Run("the default is 1000", func(t *testing.T) {
		s := newShareServer(t, memory.New(), nil, nil)
		r := s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{}, "permissions": map[string]any{"read": principals(1001, false)}}})
		tooMany(t, r, "read")
		r = s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{}, "permissions": map[string]any{"read": principals(1000, true)}}})
		if n := len(perms(r)["read"].([]any)); n != 1000 {
			t.Fatalf("%d principals in read, want the 1000 distinct ones", n)
		}
	})

	t.Run("duplicates are removed, the first occurrence kept", func(t *testing.T) {
		s := newShareServer(t, memory.New(), nil, nil)
		r := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{},
			"permissions": map[string]any{"read": []string{"b", "a", "b", "c", "a"}}}})
		if got := fmt.Sprint(perms(r)["read"]); got != "[a b c]" {
			t.Fatalf("read = %s, want [a b c]", got)
		}
	})

	t.Run("a setting of 5 refuses the sixth on every write", func(t *testing.T) {
		s := newShareServer(t, memory.New(), map[string]string{"max_principals_per_permission": "5"}, nil)
		six := map[string]any{"write": principals(6, false)}
		tooMany(t, s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{}, "permissions": six}}), "write")
		id := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{},
			"permissions": map[string]any{"read": principals(5, false)}}}).data()["id"].(string)
		path := "/v1/articles/" + id
		tooMany(t, s.do(req{Method: "PUT", Path: path, User: "alice", Body: map[string]any{"data": map[string]any{}, "permissions": six}}), "write")
		tooMany(t, s.do(req{Method: "PATCH", Path: path, User: "alice", Body: map[string]any{"permissions": six}}), "write")
		r := s.do(req{Method: "PATCH", Path: path, User: "alice", Body: `[{"op": "add", "path": "/permissions/read/account:sixth"}]`, Header: jsonPatchHeader})
		tooMany(t, r, "read")
		if n := len(perms(s.must(200, req{Method: "GET", Path: path, User: "alice"}))["read"].([]any)); n != 5 {
			t.Fatalf("%d principals in read after the refused writes, want 5", n)
		}
	})

	t.Run("0 disables the limit, and 100k principals are de-duplicated in linear time", func(t *testing.T) {
		s := newShareServer(t, memory.New(), map[string]string{"max_principals_per_permission": "0"}, nil)
		r := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{},
			"permissions": map[string]any{"read": principals(50_000, true)}}})
		if n := len(perms(r)["read"].([]any)); n != 50_000 {
			t.Fatalf("%d principals in read, want 50000", n)
		}
	})
}

// TestSortFieldsAreCapped checks that _sort takes at most 10 fields: each one is a sort key
// the backend compares (500 of them took PostgreSQL 4.5 s on one large object).
func TestSortFieldsAreCapped(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.create("alice", map[string]any{"f0": 1})
	fields := func(n int) string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("-f%d", i)
		}
		return strings.Join(out, ",")
	}
	for _, method := range []string{"GET", "DELETE"} {
		r := s.do(req{Method: method, Path: col + "?_sort=" + fields(11), User: "alice"})
		expectError(t, r, 400, 107, "querystring", "_sort")
		if msg, _ := r.Body["message"].(string); !strings.Contains(msg, "10") {
			t.Errorf("%s: message %q does not give the cap", method, msg)
		}
		// Split over several _sort parameters, the fields still count together.
		r = s.do(req{Method: method, Path: col + "?_sort=" + fields(6) + "&_sort=" + fields(5), User: "alice"})
		expectError(t, r, 400, 107, "querystring", "_sort")
	}
	s.must(200, req{Method: "GET", Path: col + "?_sort=" + fields(10), User: "alice"})
	s.must(200, req{Method: "GET", Path: col + "?_sort=" + fields(9) + ",last_modified", User: "alice"})
}

// TestJSONPatchOperationsAreCapped checks that a JSON Patch takes at most 1000 operations:
// the patch library scans an object's keys on every add, so that 160,000 adds in a 7 MB
// body held a CPU for 47 s.
func TestJSONPatchOperationsAreCapped(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	created := s.create("alice", map[string]any{"name": "cep"})
	path := obj(created["id"].(string))
	adds := func(n int) string {
		ops := make([]string, n)
		for i := range ops {
			ops[i] = fmt.Sprintf(`{"op": "add", "path": "/data/k%d", "value": %d}`, i, i)
		}
		return "[" + strings.Join(ops, ",") + "]"
	}
	r := s.do(req{Method: "PATCH", Path: path, User: "alice", Body: adds(1001), Header: jsonPatchHeader})
	expectError(t, r, 400, 107, "body", "")
	if msg, _ := r.Body["message"].(string); !strings.Contains(msg, "1000") {
		t.Errorf("message %q does not give the cap", msg)
	}
	if got := s.must(200, req{Method: "GET", Path: path, User: "alice"}).data(); !reflect.DeepEqual(got, created) {
		t.Fatalf("the object changed: %.200v", got)
	}
	if r := s.must(200, req{Method: "PATCH", Path: path, User: "alice", Body: adds(1000), Header: jsonPatchHeader}); len(r.data()) != 1003 {
		t.Fatalf("%d fields after 1000 adds, want 1003", len(r.data()))
	}
}
