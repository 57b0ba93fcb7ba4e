package resource_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

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

// TestWritesCarryTheTimestampOfWhatTheyWrote: the ETag and Last-Modified of a write are the
// timestamp of the object it wrote (or of the newest tombstone of a plural DELETE), which the
// collection's ETag then matches.
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
