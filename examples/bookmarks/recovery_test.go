package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// pgBin holds the PostgreSQL 15 server binaries (Debian's layout).
const pgBin = "/usr/lib/postgresql/15/bin"

// cluster is a throwaway PostgreSQL server owned by one test, which the test may stop and
// start again (the approach of storage/postgresql's recovery test).
type cluster struct {
	t    *testing.T
	dir  string // owned by user postgres: data/, the log and the socket
	port string
}

// startCluster runs initdb and starts a private server on a free loopback port; the test's
// cleanup stops it and removes its files. It skips the test, or fails it when CI is set,
// when not root or when the binaries are missing.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	reason := ""
	if os.Geteuid() != 0 {
		reason = "needs root to run initdb and pg_ctl as user postgres"
	} else if _, err := os.Stat(filepath.Join(pgBin, "pg_ctl")); err != nil {
		reason = "PostgreSQL 15 binaries not found: " + err.Error()
	} else if _, err := exec.LookPath("runuser"); err != nil {
		reason = "runuser not found"
	}
	if reason != "" {
		if os.Getenv(testenv.CIVar) != "" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	dir, err := os.MkdirTemp("/tmp", "bookmarks-recovery-") // not t.TempDir: user postgres must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, port, _ := strings.Cut(testenv.FreeAddr(t), ":")
	c := &cluster{t: t, dir: dir, port: port}
	c.run("chown", "postgres:postgres", dir)
	c.run("chmod", "755", dir)
	c.run("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	c.start()
	t.Cleanup(func() { _ = c.pgctl("stop", "-m", "immediate") })
	return c
}

// run runs a command from /tmp (initdb and pg_ctl need a working directory user postgres
// can read) and fails the test with its output when it fails.
func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/tmp"
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (c *cluster) pgctl(args ...string) error {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"),
		"-D", filepath.Join(c.dir, "data")}, args...)...)
	cmd.Dir = "/tmp"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %v: %v: %s", args, err, out)
	}
	return nil
}

func (c *cluster) start() {
	c.t.Helper()
	err := c.pgctl("start", "-w", "-t", "30", "-l", filepath.Join(c.dir, "pg.log"), "-o",
		fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", c.port, c.dir))
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) stop() {
	c.t.Helper()
	if err := c.pgctl("stop", "-w", "-m", "fast"); err != nil {
		c.t.Fatal(err)
	}
}

// url is the DSN of the server's postgres database.
func (c *cluster) url() string {
	return "postgresql://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}

// TestPostgreSQLFailureAndRecovery runs the bookmarks server (its own process, with
// postgresql.ini) on a private PostgreSQL server, stops that server while the application
// runs, then starts it again. While it is down, requests that need it answer 503 errno 201
// with Retry-After and the heartbeat answers 503 with "storage": false; once it is back,
// the same application process answers 200 again, data intact.
func TestPostgreSQLFailureAndRecovery(t *testing.T) {
	pg := startCluster(t)
	env := []string{
		"CLIQUET_STORAGE_URL=" + pg.url(), "CLIQUET_CACHE_URL=" + pg.url(), "CLIQUET_PERMISSION_URL=" + pg.url(),
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

	pg.stop()
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

	pg.start()
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
