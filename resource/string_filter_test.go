package resource_test

import (
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
)

// codeSchema types code as a string and rank as a number.
var codeSchema = []byte(`{"type": "object", "properties": {"code": {"type": "string"}, "rank": {"type": "number"}}}`)

// TestFiltersOnStringFieldsKeepStrings: a filter value on a field that the schema types as a
// string stays a string, so that ?code=123 finds the code "123" (querystring values are
// otherwise read as JSON, 123 the number, which no string equals), as Kinto's history
// filters on its string ids do. Fields of other types are read as before.
func TestFiltersOnStringFieldsKeepStrings(t *testing.T) {
	for _, backend := range storesUnderTest("resource_string_filter_test") {
		t.Run(backend.name, func(t *testing.T) {
			store := backend.open(t)
			app := newAppOn(t, store, nil)
			if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom", Schema: codeSchema}); err != nil {
				t.Fatal(err)
			}
			s := &server{t: t, app: app, h: app.Handler()}
			// The plural collection is per user: a fresh user per run keeps a shared database's
			// earlier rows out (with -count=N the database is the same).
			user := testenv.UniquePrefix(t, "u-")
			for _, d := range []map[string]any{{"code": "123", "rank": 1}, {"code": "0456", "rank": 2}, {"code": "abc", "rank": 3}} {
				s.create(user, d)
			}
			tests := []struct {
				query string
				want  int
			}{
				{"code=123", 1},
				{"in_code=123,0456", 2},
				{"exclude_code=123", 2},
				{"not_code=123", 2},
				{"min_code=1", 2}, // "123" and "abc" sort after "1"; "0456" before
				{"rank=1", 1},
				{"gt_rank=1", 2},
				{"has_code=true", 3},
			}
			for _, tt := range tests {
				got := s.must(200, req{Method: "GET", Path: "/v1/mushrooms?" + tt.query, User: user}).list()
				if len(got) != tt.want {
					t.Errorf("?%s: %d objects, want %d: %v", tt.query, len(got), tt.want, got)
				}
			}
		})
	}
}
