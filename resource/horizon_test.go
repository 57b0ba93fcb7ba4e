package resource_test

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// A client synchronising with _since from before the collection's tombstone horizon gets
// 410 errno 203 instead of a delta missing the purged deletions, on GET and HEAD, on every
// page, with any lower bound on last_modified; lists that are not deltas are unaffected.
func TestDeltasBeyondTheHorizonAreGone(t *testing.T) {
	for _, backend := range storesUnderTest("horizon_test") {
		t.Run(backend.name, func(t *testing.T) {
			store := backend.open(t)
			app := newAppOn(t, store, map[string]string{"paginate_by": "2"})
			if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
				t.Fatal(err)
			}
			s := &server{t: t, app: app, h: app.Handler()}
			if err := storagePurge(store); err != nil { // a collection from earlier runs
				t.Fatal(err)
			}
			// A user of its own: with -count=N the database keeps the earlier runs' objects.
			user := testenv.UniquePrefix(t, "alice-")
			start := s.must(200, req{Method: "GET", Path: col, User: user}).Header.Get("ETag")
			var gone []map[string]any
			for i := range 3 {
				o := s.create(user, map[string]any{"n": i})
				gone = append(gone, s.must(200, req{Method: "DELETE", Path: col + "/" + o["id"].(string), User: user}).data())
			}
			for i := range 3 {
				s.create(user, map[string]any{"kept": i})
			}
			before := s.must(200, req{Method: "GET", Path: col + "?_since=" + url.QueryEscape(start), User: user})
			next := before.Header.Get("Next-Page") // a delta's second page, fetched after the purge
			if next == "" {
				t.Fatal("the delta has a single page")
			}
			if err := storagePurge(store); err != nil {
				t.Fatal(err)
			}
			horizon := int64(gone[2]["last_modified"].(float64))

			goneAnswer := func(what string, r *response, since int64) {
				t.Helper()
				expectError(t, r, 410, 203, "", "")
				details, _ := r.Body["details"].(map[string]any)
				if details["since"] != float64(since) || details["horizon"] != float64(horizon) {
					t.Errorf("%s: details %v, want since %d and horizon %d", what, details, since, horizon)
				}
				if cc := r.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
					t.Errorf("%s: Cache-Control %q, want no-cache", what, cc)
				}
			}
			startTS, _ := strconv.ParseInt(strings.Trim(start, `"`), 10, 64)
			gt := int64(gone[1]["last_modified"].(float64))
			goneAnswer("_since", s.do(req{Method: "GET", Path: col + "?_since=" + url.QueryEscape(start), User: user}), startTS)
			goneAnswer("_since just below the horizon", s.do(req{Method: "GET", Path: col + fmt.Sprintf("?_since=%d", horizon-1), User: user}), horizon-1)
			goneAnswer("gt_last_modified", s.do(req{Method: "GET", Path: col + fmt.Sprintf("?gt_last_modified=%d", gt), User: user}), gt)
			goneAnswer("min_last_modified", s.do(req{Method: "GET", Path: col + fmt.Sprintf("?min_last_modified=%d", horizon), User: user}), horizon-1)
			goneAnswer("HEAD", s.do(req{Method: "HEAD", Path: col + "?_since=" + url.QueryEscape(start), User: user}), startTS)
			u, _ := url.Parse(next)
			goneAnswer("the next page", s.do(req{Method: "GET", Path: u.RequestURI(), User: user}), startTS)
			gone1 := s.do(req{Method: "GET", Path: col + "?_since=" + url.QueryEscape(start), User: user, Header: map[string]string{"If-None-Match": `"1"`}})
			goneAnswer("with a stale If-None-Match", gone1, startTS)

			current := s.must(200, req{Method: "GET", Path: col, User: user}).Header.Get("ETag")
			s.must(304, req{Method: "GET", Path: col + "?_since=" + url.QueryEscape(start), User: user, Header: map[string]string{"If-None-Match": current}})
			if got := s.must(200, req{Method: "GET", Path: col + fmt.Sprintf("?_since=%d", horizon), User: user}).list(); len(got) != 2 {
				t.Errorf("the delta since the horizon: %d objects on its first page, want 2", len(got))
			}
			all := func(path string) int { // the objects of every page
				t.Helper()
				n := 0
				for path != "" {
					r := s.must(200, req{Method: "GET", Path: path, User: user})
					n += len(r.list())
					path = ""
					if next := r.Header.Get("Next-Page"); next != "" {
						path = pathOf(t, next)
					}
				}
				return n
			}
			if got := all(col); got != 3 {
				t.Errorf("the full list: %d objects, want the 3 live ones", got)
			}
			if got := all(col + fmt.Sprintf("?_before=%d", time.Now().Add(time.Hour).UnixMilli())); got != 3 {
				t.Errorf("_before: %d objects, want 3", got)
			}
			if got := all(col + "?_since=0"); got != 3 {
				t.Errorf("_since=0 (a full listing): %d objects, want 3", got)
			}
			head := s.must(200, req{Method: "HEAD", Path: col, User: user})
			if head.Header.Get("Total-Objects") != "3" {
				t.Errorf("Total-Objects %q, want 3", head.Header.Get("Total-Objects"))
			}
			// Another user's collection has no horizon.
			s.create("bob", map[string]any{})
			s.must(200, req{Method: "GET", Path: col + "?_since=1", User: "bob"})
			// In a batch, the sub-request gets its own 410.
			batch := s.must(200, req{Method: "POST", Path: "/v1/batch", User: user, Body: map[string]any{
				"requests": []any{map[string]any{"path": "/mushrooms?_since=" + url.QueryEscape(start)}, map[string]any{"path": "/mushrooms"}}}})
			responses := batch.Body["responses"].([]any)
			if st := responses[0].(map[string]any)["status"]; st != float64(410) {
				t.Errorf("batch sub-request status %v, want 410", st)
			}
			if st := responses[1].(map[string]any)["status"]; st != float64(200) {
				t.Errorf("batch plain sub-request status %v, want 200", st)
			}
		})
	}
}

// storagePurge purges every tombstone of store.
func storagePurge(store storage.Backend) error {
	_, err := store.PurgeTombstones(context.Background(), 0)
	return err
}
