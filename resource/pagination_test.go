package resource_test

import (
	"net/url"
	"slices"
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

// TestStorageMaxFetchSizeCapsTheLimit: storage_max_fetch_size caps every page, whatever
// _limit and paginate_by ask, and Next-Page carries the capped limit.
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
