package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// e2eRedisDB is the Redis database of the end-to-end tests, the one redis.ini names.
const e2eRedisDB = 6

// TestEndToEnd starts the bookmarks command in its own process, as a user would (migrate,
// then serve, with the shipped .ini files and the environment overriding their URLs), and
// runs the same protocol script over HTTP against the memory, PostgreSQL and Redis backends.
func TestEndToEnd(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) (env []string, args []string)
	}{
		{"memory backends, no configuration file", func(t *testing.T) ([]string, []string) {
			return nil, nil
		}},
		{"postgresql.ini, migrated first, on the database bookmarks_e2e", func(t *testing.T) ([]string, []string) {
			dsn := testenv.PostgresDatabaseC(t, "bookmarks_e2e")
			env := []string{"CLIQUET_STORAGE_URL=" + dsn, "CLIQUET_CACHE_URL=" + dsn, "CLIQUET_PERMISSION_URL=" + dsn}
			runCommand(t, env, "migrate", "--ini", "postgresql.ini")
			return env, []string{"--ini", "postgresql.ini"}
		}},
		{"redis.ini on Redis database 6 under a prefix of its own", func(t *testing.T) ([]string, []string) {
			u := testenv.RedisURL(t, e2eRedisDB)
			prefix := testenv.UniquePrefix(t, "bookmarks-e2e:")
			cleanRedis(t, u, prefix)
			env := []string{"CLIQUET_STORAGE_URL=" + u, "CLIQUET_CACHE_URL=" + u, "CLIQUET_PERMISSION_URL=" + u,
				"CLIQUET_STORAGE_PREFIX=" + prefix + "storage:", "CLIQUET_CACHE_PREFIX=" + prefix + "cache:",
				"CLIQUET_PERMISSION_PREFIX=" + prefix + "permission:"}
			runCommand(t, env, "migrate", "--ini", "redis.ini") // nothing to do, but it must work
			return env, []string{"--ini", "redis.ini"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, args := tt.setup(t)
			h := startHead(t, env, args...)
			// A user of its own, so that runs against a database kept from earlier runs
			// start from an empty collection.
			user := testenv.UniquePrefix(t, "e2e-")
			protocolScript(t, &client{t: t, h: remote(h.URL), user: user, ua: "e2e/1"})
		})
	}
}

// cleanRedis deletes, at the end of the test, the keys under prefix in the Redis database
// at redisURL.
func cleanRedis(t *testing.T, redisURL, prefix string) {
	t.Cleanup(func() {
		opts, err := goredis.ParseURL(redisURL)
		if err != nil {
			t.Error(err)
			return
		}
		c := goredis.NewClient(opts)
		defer c.Close()
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Errorf("cleaning %s*: %v", prefix, err)
		}
	})
}

// protocolScript exercises the bookmark resource the way a client does, through c (a
// user whose collection is empty): create, list, filter, paginate, _since with tombstones,
// If-Match preconditions, and the custom stats view.
func protocolScript(t *testing.T, c *client) {
	t.Helper()
	var created []map[string]any
	t.Run("create five bookmarks with increasing timestamps", func(t *testing.T) {
		c.t = t
		for i := range 5 {
			b := c.must(201, "POST", "/v1/bookmarks", fmt.Sprintf(`{"data": {"url": "https://example.com/%d", "title": "t%d"}}`, i, 4-i)).data()
			if b["device"] != "e2e/1" || b["url"] != fmt.Sprintf("https://example.com/%d", i) {
				t.Fatalf("created %v", b)
			}
			if i > 0 && b["last_modified"].(float64) <= created[i-1]["last_modified"].(float64) {
				t.Fatalf("last_modified %v after %v", b["last_modified"], created[i-1]["last_modified"])
			}
			created = append(created, b)
		}
	})
	if len(created) != 5 {
		t.FailNow()
	}
	id := func(i int) string { return created[i]["id"].(string) }

	t.Run("list newest first with an ETag; HEAD counts in Total-Records", func(t *testing.T) {
		c.t = t
		r := c.must(200, "GET", "/v1/bookmarks", "")
		l := r.list()
		if len(l) != 5 || l[0]["id"] != id(4) || l[4]["id"] != id(0) {
			t.Fatalf("list = %v", l)
		}
		if r.header.Get("ETag") != fmt.Sprintf(`"%.0f"`, created[4]["last_modified"]) {
			t.Fatalf("headers %v", r.header)
		}
		if h := c.must(200, "HEAD", "/v1/bookmarks", "").header; h.Get("Total-Records") != "5" {
			t.Fatalf("HEAD headers %v", h)
		}
	})

	t.Run("filter by field, by id list and by substring", func(t *testing.T) {
		c.t = t
		tests := []struct {
			name, query string
			want        []string
		}{
			{"an equality filter", "title=t1", []string{id(3)}},
			{"in_id", "in_id=" + id(0) + "," + id(2) + "&_sort=last_modified", []string{id(0), id(2)}},
			{"like_url", "like_url=com/4", []string{id(4)}},
			{"min_last_modified", fmt.Sprintf("min_last_modified=%.0f&_sort=last_modified", created[3]["last_modified"]), []string{id(3), id(4)}},
			{"a filter matching nothing", "title=none", nil},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				c.t = t
				var got []string
				for _, b := range c.must(200, "GET", "/v1/bookmarks?"+tt.query, "").list() {
					got = append(got, b["id"].(string))
				}
				if strings.Join(got, ",") != strings.Join(tt.want, ",") {
					t.Fatalf("%s gave %v, want %v", tt.query, got, tt.want)
				}
			})
		}
	})

	t.Run("paginate two by two sorted by title, following Next-Page", func(t *testing.T) {
		c.t = t
		var titles []string
		path, pages := "/v1/bookmarks?_limit=2&_sort=title", 0
		for path != "" {
			r := c.must(200, "GET", path, "")
			pages++
			for _, b := range r.list() {
				titles = append(titles, b["title"].(string))
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
		if pages != 3 || strings.Join(titles, " ") != "t0 t1 t2 t3 t4" {
			t.Fatalf("%d pages: %v", pages, titles)
		}
	})

	t.Run("_since returns the changes, deletions as tombstones", func(t *testing.T) {
		c.t = t
		etag := c.must(200, "GET", "/v1/bookmarks", "").header.Get("ETag")
		gone := c.must(200, "DELETE", "/v1/bookmarks/"+id(1), "").data()
		patched := c.must(200, "PATCH", "/v1/bookmarks/"+id(2), `{"data": {"title": "renamed"}}`).data()
		l := c.must(200, "GET", "/v1/bookmarks?_since="+url.QueryEscape(etag)+"&_sort=last_modified", "").list()
		if len(l) != 2 {
			t.Fatalf("_since = %v", l)
		}
		if l[0]["id"] != id(1) || l[0]["deleted"] != true || l[0]["last_modified"] != gone["last_modified"] || l[0]["url"] != nil {
			t.Errorf("tombstone = %v", l[0])
		}
		if l[1]["id"] != id(2) || l[1]["title"] != "renamed" || l[1]["last_modified"] != patched["last_modified"] {
			t.Errorf("change = %v", l[1])
		}
		if l := c.must(200, "GET", "/v1/bookmarks", "").list(); len(l) != 4 {
			t.Errorf("the list without _since shows %d bookmarks, want 4", len(l))
		}
		c.must(404, "GET", "/v1/bookmarks/"+id(1), "")
	})

	t.Run("If-Match: a stale ETag is 412 errno 114, the current one succeeds", func(t *testing.T) {
		c.t = t
		path := "/v1/bookmarks/" + id(3)
		current := c.must(200, "GET", path, "").header.Get("ETag")
		r := c.must(412, "PUT", path, `{"data": {"url": "https://example.com/lost"}}`, "If-Match", `"1"`)
		if r.body["errno"] != float64(114) || r.body["details"].(map[string]any)["existing"].(map[string]any)["url"] != "https://example.com/3" {
			t.Fatalf("412 body %v", r.body)
		}
		c.must(412, "DELETE", path, "", "If-Match", `"1"`)
		won := c.must(200, "PUT", path, `{"data": {"url": "https://example.com/won"}}`, "If-Match", current).data()
		if won["url"] != "https://example.com/won" {
			t.Fatalf("PUT with the current ETag: %v", won)
		}
		c.must(304, "GET", path, "", "If-None-Match", fmt.Sprintf(`"%.0f"`, won["last_modified"]))
	})

	t.Run("the stats view counts the live bookmarks", func(t *testing.T) {
		c.t = t
		if n := c.must(200, "GET", "/v1/stats", "").body["bookmarks"]; n != float64(4) {
			t.Fatalf("stats = %v", n)
		}
	})

	t.Run("the heartbeat reports every backend healthy", func(t *testing.T) {
		c.t = t
		r := c.must(200, "GET", "/v1/__heartbeat__", "")
		for k, v := range r.body {
			if v != true {
				t.Errorf("heartbeat %s = %v", k, v)
			}
		}
	})
}
