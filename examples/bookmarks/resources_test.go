package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/config"
)

// client talks to a fresh bookmarks service as one Basic-auth user.
type client struct {
	t    *testing.T
	h    http.Handler
	user string
	ua   string
}

// newService returns the handler of a fresh bookmarks service without setup (memory
// backends, the development secret), closed when the test ends.
func newService(t *testing.T) http.Handler {
	t.Helper()
	return newServiceLogging(t, quiet())
}

// newServiceLogging is newService logging to logger.
func newServiceLogging(t *testing.T, logger *slog.Logger) http.Handler {
	t.Helper()
	s, err := config.FromMap(nil, config.Options{ProjectName: projectName, Env: []string{},
		Defaults: map[string]string{"userid_hmac_secret": devSecret}})
	if err != nil {
		t.Fatal(err)
	}
	h, app, err := newServer(s, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return h
}

type reply struct {
	code   int
	header http.Header
	body   map[string]any
}

func (c *client) do(method, path, body string, header ...string) reply {
	c.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	r.SetBasicAuth(c.user, "password")
	if c.ua != "" {
		r.Header.Set("User-Agent", c.ua)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	rep := reply{code: w.Code, header: w.Header()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &rep.body); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, w.Body)
		}
	}
	return rep
}

func (c *client) must(code int, method, path, body string, header ...string) reply {
	c.t.Helper()
	r := c.do(method, path, body, header...)
	if r.code != code {
		c.t.Fatalf("%s %s: %d, want %d: %v", method, path, r.code, code, r.body)
	}
	return r
}

func (r reply) data() map[string]any { m, _ := r.body["data"].(map[string]any); return m }

func (r reply) list() []map[string]any {
	var out []map[string]any
	for _, x := range r.body["data"].([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

func TestBookmarks(t *testing.T) {
	h := newService(t)
	alice := &client{t: t, h: h, user: "alice", ua: "Firefox/130"}
	bob := &client{t: t, h: h, user: "bob"}

	first := alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://mozilla.org", "title": "Mozilla"}}`).data()
	second := alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://go.dev", "title": "Go"}}`).data()

	t.Run("the Process hook sets device from the User-Agent when the bookmark changes", func(t *testing.T) {
		if first["device"] != "Firefox/130" {
			t.Fatalf("device = %v", first["device"])
		}
		phone := &client{t: t, h: h, user: "alice", ua: "Phone/1"}
		path := "/v1/bookmarks/" + first["id"].(string)
		same := phone.must(200, "PATCH", path, `{"data": {"title": "Mozilla"}}`).data()
		if same["device"] != "Firefox/130" {
			t.Fatalf("unchanged bookmark got device %v", same["device"])
		}
		changed := phone.must(200, "PATCH", path, `{"data": {"title": "Mozilla Foundation"}}`).data()
		if changed["device"] != "Phone/1" {
			t.Fatalf("changed bookmark got device %v", changed["device"])
		}
	})

	t.Run("list, filter and sort", func(t *testing.T) {
		if l := alice.must(200, "GET", "/v1/bookmarks", "").list(); len(l) != 2 || l[0]["id"] != first["id"] {
			t.Fatalf("list = %v", l) // first was modified last
		}
		l := alice.must(200, "GET", fmt.Sprintf("/v1/bookmarks?min_last_modified=%.0f", second["last_modified"]), "").list()
		if len(l) != 2 {
			t.Fatalf("min_last_modified = %v", l)
		}
		l = alice.must(200, "GET", "/v1/bookmarks?in_id="+second["id"].(string), "").list()
		if len(l) != 1 || l[0]["url"] != "https://go.dev" {
			t.Fatalf("in_id = %v", l)
		}
		l = alice.must(200, "GET", "/v1/bookmarks?like_title=found", "").list()
		if len(l) != 1 || l[0]["id"] != first["id"] {
			t.Fatalf("like_title = %v", l)
		}
		l = alice.must(200, "GET", "/v1/bookmarks?_sort=title", "").list()
		if l[0]["title"] != "Go" {
			t.Fatalf("_sort=title = %v", l)
		}
	})

	t.Run("schema violations are a 400 errno 107 with details", func(t *testing.T) {
		r := alice.must(400, "POST", "/v1/bookmarks", `{"data": {"url": "not a url", "title": 3}}`)
		details := fmt.Sprint(r.body["details"])
		if r.body["errno"] != float64(107) || !strings.Contains(details, "data.url") || !strings.Contains(details, "data.title") {
			t.Fatalf("%v", r.body)
		}
		alice.must(400, "POST", "/v1/bookmarks", `{"data": {"title": "no url"}}`)
	})

	t.Run("a stale If-Match is a 412 with the existing bookmark", func(t *testing.T) {
		path := "/v1/bookmarks/" + second["id"].(string)
		r := alice.must(412, "PUT", path, `{"data": {"url": "https://go.dev/doc"}}`, "If-Match", `"1"`)
		existing := r.body["details"].(map[string]any)["existing"].(map[string]any)
		if r.body["errno"] != float64(114) || existing["url"] != "https://go.dev" {
			t.Fatalf("%v", r.body)
		}
	})

	t.Run("_since returns tombstones after a delete", func(t *testing.T) {
		etag := alice.must(200, "GET", "/v1/bookmarks", "").header.Get("ETag")
		gone := alice.must(200, "DELETE", "/v1/bookmarks/"+second["id"].(string), "").data()
		l := alice.must(200, "GET", "/v1/bookmarks?_since="+url.QueryEscape(etag), "").list()
		if len(l) != 1 || l[0]["id"] != second["id"] || l[0]["deleted"] != true || l[0]["last_modified"] != gone["last_modified"] {
			t.Fatalf("_since = %v", l)
		}
		alice.must(304, "GET", "/v1/bookmarks", "", "If-None-Match", alice.must(200, "GET", "/v1/bookmarks", "").header.Get("ETag"))
	})

	t.Run("two users are isolated", func(t *testing.T) {
		if l := bob.must(200, "GET", "/v1/bookmarks", "").list(); len(l) != 0 {
			t.Fatalf("bob sees %v", l)
		}
		bob.must(404, "GET", "/v1/bookmarks/"+first["id"].(string), "")
		bob.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com"}}`)
		if l := alice.must(200, "GET", "/v1/bookmarks", "").list(); len(l) != 1 {
			t.Fatalf("alice sees %v", l)
		}
	})
}

func TestPaginateThousandBookmarks(t *testing.T) {
	h := newService(t)
	carol := &client{t: t, h: h, user: "carol"}
	const total = 1000
	for i := 0; i < total; i++ {
		carol.must(201, "POST", "/v1/bookmarks", fmt.Sprintf(`{"data": {"url": "https://example.com/%d", "title": "t%d"}}`, i, i%17))
	}
	seen := map[string]bool{}
	path := "/v1/bookmarks?_limit=7&_sort=title"
	for path != "" {
		r := carol.must(200, "GET", path, "")
		for _, b := range r.list() {
			if seen[b["url"].(string)] {
				t.Fatalf("%s seen twice", b["url"])
			}
			seen[b["url"].(string)] = true
		}
		path = ""
		if next := r.header.Get("Next-Page"); next != "" {
			u, err := url.Parse(next)
			if err != nil {
				t.Fatal(err)
			}
			path = u.RequestURI()
		}
	}
	if len(seen) != total {
		t.Fatalf("saw %d bookmarks, want %d", len(seen), total)
	}
}
