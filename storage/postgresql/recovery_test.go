package postgresql

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

const pgBin = "/usr/lib/postgresql/15/bin"

// cluster is a throwaway PostgreSQL server owned by one test.
type cluster struct {
	t    *testing.T
	dir  string
	port int
}

// skipUnlessCluster skips (never in CI) when a private cluster cannot be started here.
func skipUnlessCluster(t *testing.T) {
	t.Helper()
	reason := ""
	switch {
	case os.Geteuid() != 0:
		reason = "needs root to run initdb as user postgres"
	case !fileExists(filepath.Join(pgBin, "initdb")) || !fileExists(filepath.Join(pgBin, "pg_ctl")):
		reason = "PostgreSQL 15 binaries not found in " + pgBin
	default:
		if _, err := exec.LookPath("runuser"); err != nil {
			reason = "runuser not found"
		}
	}
	if reason == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal(reason)
	}
	t.Skip(reason)
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func startCluster(t *testing.T) *cluster {
	t.Helper()
	skipUnlessCluster(t)
	dir, err := os.MkdirTemp("/tmp", "storage-pg-recovery-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	c := &cluster{t: t, dir: dir, port: port}
	c.run("chown", "postgres:postgres", dir)
	c.run("chmod", "755", dir)
	c.run("runuser", "-u", "postgres", "--", filepath.Join(pgBin, "initdb"), "-D", filepath.Join(dir, "data"),
		"-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync")
	c.start()
	t.Cleanup(func() { c.pgctl("stop", "-m", "immediate") })
	return c
}

func (c *cluster) run(name string, args ...string) {
	c.t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = "/tmp" // readable by user postgres
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func (c *cluster) pgctl(args ...string) error {
	cmd := exec.Command("runuser", append([]string{"-u", "postgres", "--", filepath.Join(pgBin, "pg_ctl"),
		"-D", filepath.Join(c.dir, "data")}, args...)...)
	cmd.Dir = "/tmp"
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %v: %s", args, err, out)
	}
	return nil
}

func (c *cluster) start() {
	c.t.Helper()
	err := c.pgctl("start", "-w", "-t", "30", "-l", filepath.Join(c.dir, "pg.log"), "-o",
		fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off", c.port, c.dir))
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

func (c *cluster) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.port)
}

func TestServerFailureGivesBackendErrorsAndThePoolRecovers(t *testing.T) {
	c := startCluster(t)
	ctx := context.Background()
	const poolTimeout = time.Second
	b, err := New(ctx, Options{URL: c.url(), PoolTimeout: poolTimeout, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	s := storage.Scope{Resource: "r", Parent: "p"}
	first := mustCreate(t, b, s, "first", `{"a":1}`)

	c.stop()
	calls := map[string]func() error{
		"create":    func() error { _, err := b.Create(ctx, s, storage.Object{}); return err },
		"get":       func() error { _, err := b.Get(ctx, s, "first"); return err },
		"list":      func() error { _, err := b.List(ctx, s, storage.ListOptions{}); return err },
		"timestamp": func() error { _, err := b.Timestamp(ctx, s); return err },
		"ping":      func() error { return b.Ping(ctx, true) },
	}
	for op, call := range calls {
		start := time.Now()
		err := call()
		var be *storage.BackendError
		if !errors.As(err, &be) || be.Backend != "postgresql" || be.Op != op {
			t.Errorf("%s with the server down: %v, want *storage.BackendError{postgresql, %s}", op, err, op)
		}
		if d := time.Since(start); d > poolTimeout+time.Second {
			t.Errorf("%s took %s with a pool timeout of %s", op, d, poolTimeout)
		}
	}
	// A unit of work fails the same way at its first write.
	txCtx, tx := b.Begin(ctx)
	if _, err := b.Update(txCtx, s, storage.Object{ID: "x"}); !errors.As(err, new(*storage.BackendError)) {
		t.Errorf("write in a unit of work with the server down: %v", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Errorf("Rollback of a unit that never started: %v", err)
	}

	c.start()
	deadline := time.Now().Add(10 * time.Second)
	for attempt := 1; ; attempt++ {
		_, err := b.Get(ctx, s, "first")
		if err == nil {
			t.Logf("recovered at attempt %d", attempt)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the backend did not recover: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	second := mustCreate(t, b, s, "second", `{}`)
	if second.LastModified <= first.LastModified {
		t.Fatalf("timestamp after restart %d not above %d", second.LastModified, first.LastModified)
	}
	if err := b.Ping(ctx, false); err != nil {
		t.Fatalf("Ping after restart: %v", err)
	}
}
