package testenv_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// fakeTB records what a helper does to its test: a Skip or a Fatal ends the goroutine, as
// they do on a real test. Calling any other method of testing.TB panics.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatal(args ...any) {
	f.failed = fmt.Sprint(args...)
	runtime.Goexit()
}

// call runs helper on a fakeTB in a goroutine of its own and returns the fake and what the
// helper returned.
func call(helper func(testing.TB) string) (*fakeTB, string) {
	f := &fakeTB{}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = helper(f)
	}()
	<-done
	return f, got
}

func TestServerVariables(t *testing.T) {
	helpers := []struct {
		name   string
		env    string
		value  string
		helper func(testing.TB) string
		want   string
	}{
		{"PostgresDSN", testenv.PostgresDSNVar, "postgres://u@h:5/db?sslmode=disable",
			testenv.PostgresDSN, "postgres://u@h:5/db?sslmode=disable"},
		{"RedisURL", testenv.RedisURLVar, "redis://h:6/0?dial_timeout=1s",
			func(t testing.TB) string { return testenv.RedisURL(t, 12) }, "redis://h:6/12?dial_timeout=1s"},
	}
	tests := []struct {
		name                  string
		set, ci               bool
		wantSkip, wantFailure bool
	}{
		{"a set variable is returned, moved to the database asked for", true, false, false, false},
		{"a set variable is returned in CI too", true, true, false, false},
		{"an unset variable skips the test outside CI", false, false, true, false},
		{"an unset variable fails the test in CI", false, true, false, true},
	}
	for _, h := range helpers {
		for _, tt := range tests {
			t.Run(h.name+": "+tt.name, func(t *testing.T) {
				t.Setenv(h.env, "")
				if tt.set {
					t.Setenv(h.env, h.value)
				}
				t.Setenv(testenv.CIVar, "")
				if tt.ci {
					t.Setenv(testenv.CIVar, "true")
				}
				f, got := call(h.helper)
				if (f.skipped != "") != tt.wantSkip || (f.failed != "") != tt.wantFailure {
					t.Fatalf("skipped %q, failed %q; want skip %v, failure %v", f.skipped, f.failed, tt.wantSkip, tt.wantFailure)
				}
				if reason := f.skipped + f.failed; reason != "" && !strings.Contains(reason, h.env) {
					t.Errorf("reason %q does not name %s", reason, h.env)
				}
				if !tt.wantSkip && !tt.wantFailure && got != h.want {
					t.Errorf("got %q, want %q", got, h.want)
				}
			})
		}
	}
}

func TestPostgresDatabase(t *testing.T) {
	testenv.PostgresDSN(t) // skip or fail before the goroutines
	tests := []struct {
		name    string
		create  func(testing.TB, string) string
		db      string
		collate string // wanted datcollate; "" for any
	}{
		{"PostgresDatabase creates a missing database once, however many tests ask at the same time", testenv.PostgresDatabase, "testenv_test", ""},
		{"PostgresDatabaseC creates it with the C.UTF-8 collation", testenv.PostgresDatabaseC, "testenv_c_test", "C.UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 8
			dsns := make([]string, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() { dsns[i] = tt.create(t, tt.db) })
			}
			wg.Wait()
			for _, dsn := range dsns[1:] {
				if dsn != dsns[0] {
					t.Fatalf("DSNs differ: %q and %q", dsns[0], dsn)
				}
			}
			ctx := context.Background()
			conn, err := pgx.Connect(ctx, dsns[0])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var name, collate string
			if err := conn.QueryRow(ctx, `SELECT current_database(), datcollate FROM pg_database WHERE datname = current_database()`).Scan(&name, &collate); err != nil {
				t.Fatal(err)
			}
			if want := tt.db + testenv.ProcessSuffix(); name != want {
				t.Errorf("connected to %q, want %q", name, want)
			}
			if tt.collate != "" && collate != tt.collate {
				t.Errorf("datcollate = %q, want %q", collate, tt.collate)
			}
		})
	}
}

func TestProcessSuffixNamesThisProcess(t *testing.T) {
	got := testenv.ProcessSuffix()
	if again := testenv.ProcessSuffix(); again != got {
		t.Errorf("ProcessSuffix() = %q, then %q", got, again)
	}
	want := regexp.MustCompile(`^__[0-9a-f]{6}_` + strconv.Itoa(os.Getpid()) + `_[0-9a-z]+$`)
	if !want.MatchString(got) {
		t.Errorf("ProcessSuffix() = %q, want it to match %s", got, want)
	}
}

// TestProcessDatabasesAreDroppedWhenTheirProcessIsGone creates databases named like those of
// other test processes, asks for a new database (which sweeps the leftovers), and checks which
// survived; then DropProcessDatabases removes this process's own.
func TestProcessDatabasesAreDroppedWhenTheirProcessIsGone(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	own := testenv.ProcessSuffix() // "__<host>_<pid>_<start>"
	parts := strings.Split(strings.TrimPrefix(own, "__"), "_")
	host, pid := parts[0], parts[1]
	base := strings.TrimSuffix(testenv.UniquePrefix(t, "testenv_gc_"), "_")
	// An unused pid: past the kernel's limit.
	dead := fmt.Sprintf("%s_dead__%s_%d_1", base, host, 1<<23)
	reused := base + "_reused__" + host + "_" + pid + "_zzz" // this pid, another start time
	foreign := base + "_foreign__000000_" + pid + "_1"       // another machine's
	if host == "000000" {
		foreign = base + "_foreign__ffffff_" + pid + "_1"
	}
	for _, name := range []string{dead, reused, foreign} {
		if _, err := conn.Exec(ctx, `CREATE DATABASE `+pgx.Identifier{name}.Sanitize()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			conn, err := pgx.Connect(ctx, dsn)
			if err == nil {
				conn.Exec(ctx, `DROP DATABASE IF EXISTS `+pgx.Identifier{name}.Sanitize())
				conn.Close(ctx)
			}
		})
	}
	mine := testenv.PostgresDatabase(t, base+"_mine")
	exists := func(name string) bool {
		t.Helper()
		var ok bool
		if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	tests := []struct {
		name string
		db   string
		want bool
	}{
		{"a database of a process that no longer exists is dropped", dead, false},
		{"a database of a reused pid (another start time) is dropped", reused, false},
		{"a database of another machine is kept", foreign, true},
		{"this process's new database exists", base + "_mine" + own, true},
	}
	for _, tt := range tests {
		if got := exists(tt.db); got != tt.want {
			t.Errorf("%s: %s exists = %v, want %v", tt.name, tt.db, got, tt.want)
		}
	}
	if !strings.Contains(mine, "/"+base+"_mine"+own+"?") {
		t.Errorf("DSN %q does not name %s", mine, base+"_mine"+own)
	}
	if err := testenv.DropProcessDatabases(); err != nil {
		t.Fatal(err)
	}
	if exists(base + "_mine" + own) {
		t.Errorf("DropProcessDatabases left %s", base+"_mine"+own)
	}
	if !exists(foreign) {
		t.Errorf("DropProcessDatabases dropped another machine's %s", foreign)
	}
}

func TestWithSearchPathKeepsTheOtherParameters(t *testing.T) {
	got := testenv.WithSearchPath(t, "postgres://u@h:5/db?sslmode=disable&search_path=public", "mine")
	if want := "postgres://u@h:5/db?search_path=mine&sslmode=disable"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRedisURLReachesTheDatabaseAskedFor(t *testing.T) {
	opts, err := goredis.ParseURL(testenv.RedisURL(t, 13))
	if err != nil {
		t.Fatal(err)
	}
	if opts.DB != 13 {
		t.Fatalf("DB = %d, want 13", opts.DB)
	}
	c := goredis.NewClient(opts)
	defer c.Close()
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
}

func TestUniquePrefix(t *testing.T) {
	tests := []struct {
		name, base string
		want       *regexp.Regexp
	}{
		{"a base ending in a colon gets a colon after the random part", "cliquettest:", regexp.MustCompile(`^cliquettest:[0-9a-f]{8}:$`)},
		{"a base ending in an underscore gets an underscore", "redistest_", regexp.MustCompile(`^redistest_[0-9a-f]{8}_$`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := testenv.UniquePrefix(t, tt.base), testenv.UniquePrefix(t, tt.base)
			if !tt.want.MatchString(a) || !tt.want.MatchString(b) {
				t.Fatalf("%q and %q do not match %s", a, b, tt.want)
			}
			if a == b {
				t.Fatalf("two calls gave the same prefix %q", a)
			}
		})
	}
	t.Run("an empty base fails the test", func(t *testing.T) {
		f, _ := call(func(tb testing.TB) string { return testenv.UniquePrefix(tb, "") })
		if f.failed == "" {
			t.Fatal("no failure")
		}
	})
}

func TestRefusedAddrRefusesConnections(t *testing.T) {
	c, err := net.Dial("tcp", testenv.RefusedAddr)
	if err == nil {
		c.Close()
		t.Fatalf("something listens on %s", testenv.RefusedAddr)
	}
}

func TestStartServesOnAFreeAddrUntilStopped(t *testing.T) {
	addr := testenv.FreeAddr(t)
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	})}
	stopped := errors.New("stopped")
	stop := testenv.Start(t, func(ctx context.Context) error {
		go func() {
			<-ctx.Done()
			srv.Close()
		}()
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return stopped
	})
	if code := testenv.WaitHTTP(t, "http://"+addr+"/"); code != http.StatusTeapot {
		t.Fatalf("status %d, want %d", code, http.StatusTeapot)
	}
	if err := stop(); !errors.Is(err, stopped) {
		t.Fatalf("stop() = %v, want run's error", err)
	}
	if err := stop(); !errors.Is(err, stopped) {
		t.Fatalf("second stop() = %v, want run's error again", err)
	}
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Fatal("the server still listens after stop")
	}
}

func TestBufferTakesConcurrentWrites(t *testing.T) {
	var b testenv.Buffer
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for range 50 {
				fmt.Fprint(&b, "x")
			}
		})
	}
	wg.Wait()
	if got := b.String(); got != strings.Repeat("x", 1000) {
		t.Fatalf("%d bytes, want 1000", len(got))
	}
}

func TestPostgresClusterStopsAndStartsAgain(t *testing.T) {
	c := testenv.StartPostgresCluster(t, "testenv-cluster")
	ctx := context.Background()
	query := func() error {
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var collate string
		if err := conn.QueryRow(ctx, `SELECT datcollate FROM pg_database WHERE datname = 'postgres'`).Scan(&collate); err != nil {
			return err
		}
		if collate != "C.UTF-8" {
			t.Errorf("datcollate = %q, want C.UTF-8", collate)
		}
		return nil
	}
	if err := query(); err != nil {
		t.Fatalf("a started cluster: %v", err)
	}
	c.Stop()
	if err := query(); err == nil {
		t.Fatal("a stopped cluster answered")
	}
	c.Start()
	if err := query(); err != nil {
		t.Fatalf("a restarted cluster: %v", err)
	}
}
