package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// PostgresBinDir holds the PostgreSQL server binaries (initdb, pg_ctl) that
// [StartPostgresCluster] runs: Debian's layout for PostgreSQL 15.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// PostgresCluster is a throwaway PostgreSQL server owned by one test, which the test may
// stop and start again: for tests of what happens while the database is down. Build it with
// [StartPostgresCluster].
type PostgresCluster struct {
	t    testing.TB
	dir  string // owned by user postgres: data/, the log and the socket
	port string
}

// StartPostgresCluster runs initdb (UTF8, C.UTF-8 locale, trust authentication for user
// postgres) in a new directory of /tmp named after name, and starts the server on a free
// loopback port, with fsync off. The test's cleanup stops the server and removes its files.
// Running initdb and pg_ctl as user postgres needs root, runuser and [PostgresBinDir]: without
// them the test is skipped, or fails when CI is set.
func StartPostgresCluster(t testing.TB, name string) *PostgresCluster {
	t.Helper()
	reason := ""
	switch {
	case os.Geteuid() != 0:
		reason = "needs root to run initdb and pg_ctl as user postgres"
	case !exists(filepath.Join(PostgresBinDir, "initdb")) || !exists(filepath.Join(PostgresBinDir, "pg_ctl")):
		reason = "PostgreSQL 15 binaries not found in " + PostgresBinDir
	default:
		if _, err := exec.LookPath("runuser"); err != nil {
			reason = "runuser not found"
		}
	}
	if reason != "" {
		if os.Getenv(CIVar) != "" {
			t.Fatal(reason)
		}
		t.Skip(reason)
	}
	dir, err := os.MkdirTemp("/tmp", name+"-") // not t.TempDir: user postgres must reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	_, port, _ := strings.Cut(FreeAddr(t), ":")
	c := &PostgresCluster{t: t, dir: dir, port: port}
	c.run("chown", "postgres:postgres", dir)
	c.run("chmod", "755", dir)
	c.run("runuser", "-u", "postgres", "--", filepath.Join(PostgresBinDir, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	c.Start()
	t.Cleanup(func() { _ = c.pgctl("stop", "-m", "immediate") })
	return c
}

func exists(path string) bool { _, err := os.Stat(path); return err == nil }

// run runs a command from /tmp (initdb and pg_ctl need a working directory user postgres
// can read) and fails the test with its output when it fails.
func (c *PostgresCluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/tmp"
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (c *PostgresCluster) pgctl(args ...string) error {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(PostgresBinDir, "pg_ctl"),
		"-D", filepath.Join(c.dir, "data")}, args...)...)
	cmd.Dir = "/tmp"
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl %v: %v: %s", args, err, out)
	}
	return nil
}

// Start starts the server (again) and waits, up to 30 seconds, until it accepts connections.
// It fails the test when the server does not start.
func (c *PostgresCluster) Start() {
	c.t.Helper()
	err := c.pgctl("start", "-w", "-t", "30", "-l", filepath.Join(c.dir, "pg.log"), "-o",
		fmt.Sprintf("-p %s -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", c.port, c.dir))
	if err != nil {
		c.t.Fatal(err)
	}
}

// Stop stops the server (fast shutdown: open connections are closed) and waits until it is
// down. It fails the test when the server does not stop.
func (c *PostgresCluster) Stop() {
	c.t.Helper()
	if err := c.pgctl("stop", "-w", "-m", "fast"); err != nil {
		c.t.Fatal(err)
	}
}

// URL is the DSN of the server's postgres database, as user postgres.
func (c *PostgresCluster) URL() string {
	return "postgres://postgres@127.0.0.1:" + c.port + "/postgres?sslmode=disable"
}
