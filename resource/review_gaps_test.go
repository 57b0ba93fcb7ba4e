package resource_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// allowed returns the methods of an Allow header.
func allowed(h http.Header) []string {
	var out []string
	for _, m := range strings.Split(h.Get("Allow"), ",") {
		if m = strings.TrimSpace(m); m != "" {
			out = append(out, m)
		}
	}
	return out
}

// checkTimestampHeaders fails unless ETag is "<ts>" and Last-Modified is ts as an HTTP date.
func checkTimestampHeaders(t *testing.T, what string, r *response, ts int64) {
	t.Helper()
	if want := `"` + strconv.FormatInt(ts, 10) + `"`; etag(r) != want {
		t.Errorf("%s: ETag %q, want %q", what, etag(r), want)
	}
	if want := time.UnixMilli(ts).UTC().Format(http.TimeFormat); r.Header.Get("Last-Modified") != want {
		t.Errorf("%s: Last-Modified %q, want %q", what, r.Header.Get("Last-Modified"), want)
	}
}

func TestStorageMaxFetchSizeCapsTheLimit(t *testing.T) {
	t.Parallel()
	s := newServer(t, map[string]string{"storage_max_fetch_size": "3"})
	var want []string // newest first, the default order
	for i := range 7 {
		want = slices.Insert(want, 0, s.create("alice", map[string]any{"i": i})["id"].(string))
	}
	tests := []struct {
		name  string
		query string
	}{
		{"a _limit above the maximum is capped to it", "?_limit=10"},
		{"no _limit means the maximum", ""},
		{"a _limit above the maximum with a filter and a sort is capped to it", "?_limit=10&min_i=0&_sort=-last_modified"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			path := col + tt.query
			for pages := 0; path != ""; pages++ {
				if pages > 3 {
					t.Fatalf("more than 3 pages: %v", got)
				}
				r := s.must(200, req{Method: "GET", Path: path, User: "alice"})
				page := r.list()
				next := r.Header.Get("Next-Page")
				if len(page) > 3 {
					t.Fatalf("page %d has %d objects, want at most 3", pages, len(page))
				}
				if next != "" {
					if len(page) != 3 {
						t.Fatalf("page %d has %d objects and a Next-Page", pages, len(page))
					}
					u, err := url.Parse(next)
					if err != nil {
						t.Fatal(err)
					}
					if l := u.Query().Get("_limit"); l != "3" {
						t.Fatalf("Next-Page %s: _limit %q, want 3", next, l)
					}
					path = pathOf(t, next)
				} else {
					path = ""
				}
				for _, o := range page {
					got = append(got, o["id"].(string))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("pages gave %v, want %v", got, want)
			}
		})
	}
	t.Run("paginate_by above the maximum is capped to it", func(t *testing.T) {
		s := newServer(t, map[string]string{"storage_max_fetch_size": "2", "paginate_by": "5"})
		for i := range 3 {
			s.create("alice", map[string]any{"i": i})
		}
		r := s.must(200, req{Method: "GET", Path: col + "?_limit=4", User: "alice"})
		if len(r.list()) != 2 || r.Header.Get("Next-Page") == "" {
			t.Fatalf("%d objects, Next-Page %q; want 2 and a next page", len(r.list()), r.Header.Get("Next-Page"))
		}
	})
	t.Run("a plural DELETE is capped too", func(t *testing.T) {
		s := newServer(t, map[string]string{"storage_max_fetch_size": "2"})
		for i := range 3 {
			s.create("alice", map[string]any{"i": i})
		}
		r := s.must(200, req{Method: "DELETE", Path: col + "?_limit=10", User: "alice"})
		if len(r.list()) != 2 || r.Header.Get("Next-Page") == "" {
			t.Fatalf("deleted %d, Next-Page %q; want 2 and a next page", len(r.list()), r.Header.Get("Next-Page"))
		}
		r = s.must(200, req{Method: "DELETE", Path: pathOf(t, r.Header.Get("Next-Page")), User: "alice"})
		if len(r.list()) != 1 || r.Header.Get("Next-Page") != "" {
			t.Fatalf("second page deleted %d, Next-Page %q", len(r.list()), r.Header.Get("Next-Page"))
		}
	})
}

func TestWritesCarryTheTimestampOfWhatTheyWrote(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.create("alice", map[string]any{"first": true})

	t.Run("POST 201 carries the new object's timestamp", func(t *testing.T) {
		r := s.must(201, req{Method: "POST", Path: col, User: "alice", Body: `{"data": {"a": 1}}`})
		checkTimestampHeaders(t, "POST", r, int64(r.data()["last_modified"].(float64)))
	})
	t.Run("POST 200 of an existing id carries that object's timestamp", func(t *testing.T) {
		o := s.create("alice", map[string]any{"b": 1})
		time.Sleep(2 * time.Millisecond)
		s.create("alice", map[string]any{"newer": true})
		r := s.must(200, req{Method: "POST", Path: col, User: "alice", Body: map[string]any{"data": map[string]any{"id": o["id"]}}})
		checkTimestampHeaders(t, "POST existing", r, int64(o["last_modified"].(float64)))
	})
	t.Run("DELETE of an object carries its tombstone's timestamp", func(t *testing.T) {
		o := s.create("alice", map[string]any{"c": 1})
		r := s.must(200, req{Method: "DELETE", Path: obj(o["id"].(string)), User: "alice"})
		ts := int64(r.data()["last_modified"].(float64))
		if ts <= int64(o["last_modified"].(float64)) {
			t.Fatalf("tombstone %d not after the object %v", ts, o["last_modified"])
		}
		checkTimestampHeaders(t, "DELETE object", r, ts)
		col := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		if etag(col) != etag(r) {
			t.Fatalf("collection ETag %s after the delete, want the tombstone's %s", etag(col), etag(r))
		}
	})
	t.Run("DELETE of the plural carries its newest tombstone's timestamp", func(t *testing.T) {
		for i := range 3 {
			s.create("alice", map[string]any{"d": i})
		}
		r := s.must(200, req{Method: "DELETE", Path: col, User: "alice"})
		deleted := r.list()
		if len(deleted) < 3 {
			t.Fatalf("deleted %d objects", len(deleted))
		}
		var newest int64
		for _, d := range deleted {
			newest = max(newest, int64(d["last_modified"].(float64)))
		}
		checkTimestampHeaders(t, "DELETE plural", r, newest)
		col := s.must(200, req{Method: "GET", Path: col, User: "alice"})
		if etag(col) != etag(r) {
			t.Fatalf("collection ETag %s after the delete, want the newest tombstone's %s", etag(col), etag(r))
		}
	})
}

func TestBackoffOnNotModified(t *testing.T) {
	t.Parallel()
	s := newServer(t, map[string]string{"backoff": "17"})
	o := s.create("alice", map[string]any{"a": 1})
	for _, path := range []string{col, obj(o["id"].(string))} {
		cur := s.must(200, req{Method: "GET", Path: path, User: "alice"})
		if cur.Header.Get("Backoff") != "17" {
			t.Fatalf("GET %s: Backoff %q", path, cur.Header.Get("Backoff"))
		}
		r := s.must(304, req{Method: "GET", Path: path, User: "alice", Header: map[string]string{"If-None-Match": etag(cur)}})
		if got := r.Header.Get("Backoff"); got != "17" {
			t.Errorf("304 on %s: Backoff %q, want 17", path, got)
		}
		if len(r.Raw) != 0 {
			t.Errorf("304 on %s has a body: %s", path, r.Raw)
		}
	}
}

func TestCORSMaxAgeSetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]string
		want     string // "" means absent
	}{
		{"the default is 3600 seconds", nil, "3600"},
		{"a custom value is sent as is", map[string]string{"cors_max_age_seconds": "42"}, "42"},
		{"an empty value omits the header", map[string]string{"cors_max_age_seconds": ""}, ""},
		{"zero omits the header", map[string]string{"cors_max_age_seconds": "0"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.settings)
			r := s.must(200, req{Method: "OPTIONS", Path: col, Header: map[string]string{
				"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
			}})
			got, present := r.Header["Access-Control-Max-Age"]
			switch {
			case tt.want == "" && present:
				t.Fatalf("Access-Control-Max-Age %q, want none", got)
			case tt.want != "" && r.Header.Get("Access-Control-Max-Age") != tt.want:
				t.Fatalf("Access-Control-Max-Age %q, want %q", got, tt.want)
			}
			if r.Header.Get("Access-Control-Allow-Origin") != "*" { // cors_origins = *
				t.Fatalf("not a CORS preflight answer: %v", r.Header)
			}
		})
	}
}

func TestMethodDisablingSettingSpellings(t *testing.T) {
	t.Parallel()
	const id = "9f2a3c6e-2b1c-4f7e-8a5d-0c1e2f3a4b5c"
	tests := []struct {
		setting string
		method  string
		path    string
	}{
		{"plural_mushroom_get_enabled", "GET", col},
		{"plural_mushroom_post_enabled", "POST", col},
		{"plural_mushroom_delete_enabled", "DELETE", col},
		{"object_mushroom_get_enabled", "GET", obj(id)},
		{"object_mushroom_put_enabled", "PUT", obj(id)},
		{"object_mushroom_patch_enabled", "PATCH", obj(id)},
		{"object_mushroom_delete_enabled", "DELETE", obj(id)},
		{"collection_mushroom_get_enabled", "GET", col},
		{"collection_mushroom_post_enabled", "POST", col},
		{"collection_mushroom_delete_enabled", "DELETE", col},
		{"record_mushroom_get_enabled", "GET", obj(id)},
		{"record_mushroom_put_enabled", "PUT", obj(id)},
		{"record_mushroom_patch_enabled", "PATCH", obj(id)},
		{"record_mushroom_delete_enabled", "DELETE", obj(id)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s = false answers %s with 405 errno 115", tt.setting, tt.method), func(t *testing.T) {
			s := newServer(t, map[string]string{tt.setting: "false"})
			if tt.method == "POST" { // POST and PUT are never both disabled
				s.must(201, req{Method: "PUT", Path: obj(id), User: "alice", Body: `{"data": {}}`})
			} else {
				s.create("alice", map[string]any{"id": id})
			}
			q := req{Method: tt.method, Path: tt.path, User: "alice"}
			if tt.method == "POST" || tt.method == "PUT" || tt.method == "PATCH" {
				q.Body = `{"data": {"a": 1}}`
			}
			r := s.do(q)
			expectError(t, r, 405, 115, "", "")
			allow := allowed(r.Header)
			if len(allow) == 0 || slices.Contains(allow, tt.method) {
				t.Fatalf("Allow %v: want the other methods, not %s", allow, tt.method)
			}
			// The other methods of the endpoint still answer.
			other := "GET"
			if tt.method == "GET" {
				other = "DELETE"
			}
			if !slices.Contains(allow, other) {
				t.Fatalf("Allow %v lacks %s", allow, other)
			}
			if r := s.do(req{Method: other, Path: tt.path, User: "alice"}); r.Code != 200 {
				t.Fatalf("%s %s: status %d: %s", other, tt.path, r.Code, r.Raw)
			}
		})
	}
	t.Run("true in one spelling does not override false in the other", func(t *testing.T) {
		s := newServer(t, map[string]string{"plural_mushroom_post_enabled": "true", "collection_mushroom_post_enabled": "false"})
		expectError(t, s.do(req{Method: "POST", Path: col, User: "alice", Body: `{"data": {}}`}), 405, 115, "", "")
	})
}
