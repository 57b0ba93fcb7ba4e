package resource_test

import (
	"testing"
)

// TestPaginateThousand follows Next-Page through 1,000 records, 7 at a time, and checks that
// every record is seen exactly once, for the default order and for a sort on a JSON field
// that has duplicates and is missing from some records.
func TestPaginateThousand(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	const total = 1000
	for i := 0; i < total; i++ {
		data := map[string]any{"i": i}
		if i%5 != 0 {
			data["group"] = i % 13 // duplicates; every fifth record has no group
		}
		s.create("alice", data)
	}
	for _, tt := range []struct{ name, query string }{
		{"default order", "?_limit=7"},
		{"sort on a JSON field with missing values and duplicates", "?_limit=7&_sort=group"},
		{"descending sort on that field", "?_limit=7&_sort=-group"},
		{"two sort fields", "?_limit=7&_sort=group,-i"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			seen := make(map[string]bool, total)
			path := col + tt.query
			pages := 0
			var prevGroup any = nil
			for path != "" {
				r := s.must(200, req{Method: "GET", Path: path, User: "alice"})
				pages++
				for _, o := range r.list() {
					id := o["id"].(string)
					if seen[id] {
						t.Fatalf("page %d: %s seen twice", pages, id)
					}
					seen[id] = true
					if tt.query == "?_limit=7&_sort=group" {
						g, has := o["group"]
						if prevGroup == "missing" && has {
							t.Fatalf("page %d: group %v after records without group (missing must sort last)", pages, g)
						}
						if !has {
							prevGroup = "missing"
						}
					}
				}
				path = ""
				if next := r.Header.Get("Next-Page"); next != "" {
					path = pathOf(t, next)
				}
			}
			if len(seen) != total || pages != (total+6)/7 {
				t.Fatalf("saw %d records in %d pages, want %d in %d", len(seen), pages, total, (total+6)/7)
			}
		})
	}
}
