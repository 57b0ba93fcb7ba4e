package resource_test

import "testing"

// TestBackoffOnNotModified: the Backoff header of the backoff setting is sent on 304 Not
// Modified answers too, which have no body.
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
