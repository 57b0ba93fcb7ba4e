package main

import (
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// TestPostgreSQLFailureAndRecovery runs the bookmarks server (its own process, with
// postgresql.ini) on a private PostgreSQL server, stops that server while the application
// runs, then starts it again. While it is down, requests that need it answer 503 errno 201
// with Retry-After and the heartbeat answers 503 with "storage": false; once it is back,
// the same application process answers 200 again, data intact.
func TestPostgreSQLFailureAndRecovery(t *testing.T) {
	pg := testenv.StartPostgresCluster(t, "bookmarks-recovery")
	env := []string{
		"CLIQUET_STORAGE_URL=" + pg.URL(), "CLIQUET_CACHE_URL=" + pg.URL(), "CLIQUET_PERMISSION_URL=" + pg.URL(),
		// Fail fast while the server is down (the default is 30 seconds).
		"CLIQUET_STORAGE_POOL_TIMEOUT=1", "CLIQUET_CACHE_POOL_TIMEOUT=1", "CLIQUET_PERMISSION_POOL_TIMEOUT=1",
		"CLIQUET_HEARTBEAT_TIMEOUT_SECONDS=5", "CLIQUET_RETRY_AFTER_SECONDS=7",
	}
	runCommand(t, env, "migrate", "--ini", "postgresql.ini")
	h := startHead(t, env, "--ini", "postgresql.ini")
	alice := &client{t: t, h: remote(h.URL), user: "alice"}
	// Load balancers poll the heartbeat without credentials. (With credentials, it fails
	// before the view while the permission backend is down: authentication reads the user's
	// principals from it.)
	lb := &client{t: t, h: alice.h}

	kept := alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/kept"}}`).data()
	if r := lb.must(200, "GET", "/v1/__heartbeat__", ""); r.body["storage"] != true || r.body["permission"] != true || r.body["cache"] != true {
		t.Fatalf("heartbeat before the failure: %v", r.body)
	}

	pg.Stop()
	t.Run("with PostgreSQL down, requests answer 503 errno 201 with Retry-After", func(t *testing.T) {
		alice.t = t
		tests := []struct{ name, method, path, body string }{
			{"listing bookmarks", "GET", "/v1/bookmarks", ""},
			{"reading a bookmark", "GET", "/v1/bookmarks/" + kept["id"].(string), ""},
			{"creating a bookmark", "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/lost"}}`},
			{"the custom stats view", "GET", "/v1/stats", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				alice.t = t
				start := time.Now()
				r := alice.must(503, tt.method, tt.path, tt.body)
				if r.body["errno"] != float64(201) || r.header.Get("Retry-After") != "7" {
					t.Fatalf("%v %v", r.header, r.body)
				}
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("the answer took %s", d)
				}
			})
		}
	})
	t.Run("with PostgreSQL down, the heartbeat answers 503 with storage false", func(t *testing.T) {
		lb.t = t
		r := lb.must(503, "GET", "/v1/__heartbeat__", "")
		if r.body["storage"] != false || r.body["permission"] != false || r.body["cache"] != false {
			t.Fatalf("heartbeat: %v", r.body)
		}
		lb.must(200, "GET", "/v1/__lbheartbeat__", "") // the process itself is fine
	})

	pg.Start()
	t.Run("once PostgreSQL is back, the same process answers 200 with the data intact", func(t *testing.T) {
		alice.t = t
		var r reply
		for end := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if r = alice.do("GET", "/v1/bookmarks", ""); r.code == 200 || time.Now().After(end) {
				break
			}
		}
		if r.code != 200 {
			t.Fatalf("no recovery within 20s: %d %v", r.code, r.body)
		}
		if l := r.list(); len(l) != 1 || l[0]["id"] != kept["id"] {
			t.Fatalf("bookmarks after the restart: %v", l)
		}
		alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/after"}}`)
		if n := alice.must(200, "GET", "/v1/stats", "").body["bookmarks"]; n != float64(2) {
			t.Fatalf("stats after the restart: %v", n)
		}
		lb.t = t
		if r := lb.must(200, "GET", "/v1/__heartbeat__", ""); r.body["storage"] != true || r.body["permission"] != true || r.body["cache"] != true {
			t.Fatalf("heartbeat after the restart: %v", r.body)
		}
	})
}
