package resource_test

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
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

// TestMethodDisablingSettingSpellings: every spelling of the settings that disable a method
// (plural_/object_ and kinto's older collection_/record_) answers 405 errno 115 with an
// Allow header listing the methods left, and false in one spelling wins over true in another.
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
