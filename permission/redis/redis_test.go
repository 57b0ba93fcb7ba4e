package redis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/permissiontest"
	"github.com/cliquet-go/cliquet/permission/redis"
)

// testPrefix returns a prefix of this package's keys unique to the test, so that its keys stay
// apart from everything else in the shared database, other test runs' included.
func testPrefix(t *testing.T) string { return testenv.UniquePrefix(t, "cliquet-permissiontest:") }

// testURL returns CLIQUET_TEST_REDIS_URL moved to database 2. It skips (or fails when CI is
// set) without the variable.
func testURL(t *testing.T) string {
	t.Helper()
	return testenv.RedisURL(t, 2)
}

func open(t *testing.T, opts redis.Options) *redis.Backend {
	t.Helper()
	b, err := redis.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// harness gives the backends of one test one prefix, so that they share their store, as
// web heads do (permissiontest.Shared).
type harness struct {
	url      string
	prefixes *sync.Map // *testing.T → prefix
}

func (h harness) New(ctx context.Context, t *testing.T) permission.Backend {
	prefix, _ := h.prefixes.LoadOrStore(t, testPrefix(t))
	b := open(t, redis.Options{URL: h.url, Prefix: prefix.(string)})
	t.Cleanup(func() { _ = b.Flush(context.Background()) })
	return b
}

func (h harness) Broken(ctx context.Context, t *testing.T) permission.Backend {
	// A closed client fails at once (an unreachable server fails the same way, only more
	// slowly because of go-redis's dial retries: see TestUnreachableServerFailsWithBackendError).
	b := open(t, redis.Options{URL: h.url, Prefix: testPrefix(t)})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// Lacks declares the optional capabilities a Redis backend lacks.
func (harness) Lacks() []permissiontest.Capability {
	return []permissiontest.Capability{permissiontest.Migrator}
}

func TestConformance(t *testing.T) {
	permissiontest.Run(t, harness{url: testURL(t), prefixes: &sync.Map{}})
}

// Redis-specific tests.

func rawClient(t *testing.T, u string) *goredis.Client {
	t.Helper()
	o, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func keys(ctx context.Context, t *testing.T, c *goredis.Client, pattern string) []string {
	t.Helper()
	var out []string
	iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		out = append(out, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

func TestFlushDeletesOnlyItsOwnKeys(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	c := rawClient(t, u)
	root := testPrefix(t) // no glob character in it
	foreign := []string{root + "foreign", root + "*other:x"}
	for _, k := range foreign {
		if err := c.Set(ctx, k, "keep", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Del(ctx, k) })
	}
	// Two backends with different prefixes in one database.
	a := open(t, redis.Options{URL: u, Prefix: root + "*a:"})
	defer a.Close()
	b := open(t, redis.Options{URL: u, Prefix: root + "*b:"})
	defer b.Close()
	for _, be := range []*redis.Backend{a, b} {
		if err := be.AddPrincipalToACE(ctx, "/x", "read", "u"); err != nil {
			t.Fatal(err)
		}
		if err := be.AddUserPrincipal(ctx, "u", "g"); err != nil {
			t.Fatal(err)
		}
	}
	if got := keys(ctx, t, c, root+"\\*a:*"); len(got) == 0 {
		t.Fatal("backend a wrote no keys under its prefix")
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := keys(ctx, t, c, root+"\\*a:*"); len(got) != 0 {
		t.Errorf("keys left under a's prefix after Flush: %q", got)
	}
	got, err := b.ObjectPermissions(ctx, "/x")
	if err != nil {
		t.Fatal(err)
	}
	if len(got["read"]) != 1 {
		t.Errorf("b's ACEs after a.Flush = %v, want read: [u]", got)
	}
	for _, k := range foreign {
		if n := c.Exists(ctx, k).Val(); n != 1 {
			t.Errorf("a.Flush deleted the foreign key %q", k)
		}
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestIndexesAreCleanedUp(t *testing.T) {
	u := testURL(t)
	ctx := context.Background()
	c := rawClient(t, u)
	prefix := testPrefix(t)
	b := open(t, redis.Options{URL: u, Prefix: prefix})
	defer b.Close()
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"grant", func() error { return b.AddPrincipalToACE(ctx, "/a/1", "read", "alice") }},
		{"grant again", func() error { return b.AddPrincipalToACE(ctx, "/a/2", "write", "bob") }},
		{"replace", func() error {
			_, err := b.ReplaceObjectPermissions(ctx, "/a/3", permission.Set{"read": {"carol"}})
			return err
		}},
		{"group", func() error { return b.AddUserPrincipal(ctx, "alice", "editors") }},
		{"revoke", func() error { return b.RemovePrincipalFromACE(ctx, "/a/1", "read", "alice") }},
		{"replace with nothing", func() error {
			_, err := b.ReplaceObjectPermissions(ctx, "/a/3", permission.Set{"read": {}})
			return err
		}},
		{"delete by pattern", func() error { return b.DeleteObjectPermissions(ctx, "/a/*") }},
		{"remove group", func() error { return b.RemovePrincipal(ctx, "editors") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
	if got := keys(ctx, t, c, prefix+"*"); len(got) != 0 {
		t.Errorf("keys left once every grant is gone: %q", got)
	}
}

// Access's script tests the principals against an ACE in chunks of 1,000 (Lua's unpack is
// bounded): a principal, or a group, past the first chunk still counts.
func TestAccessWithManyPrincipals(t *testing.T) {
	ctx := context.Background()
	b := open(t, redis.Options{URL: testURL(t), Prefix: testPrefix(t)})
	t.Cleanup(func() { _ = b.Flush(ctx); b.Close() })
	principals := make([]string, 2500)
	for i := range principals {
		principals[i] = fmt.Sprintf("p%d", i)
	}
	for _, g := range []string{"g1", "g2"} {
		if err := b.AddUserPrincipal(ctx, "alice", g); err != nil {
			t.Fatal(err)
		}
	}
	for _, ace := range [][2]string{{"/a", "p2400"}, {"/b", "g2"}} {
		if err := b.AddPrincipalToACE(ctx, ace[0], "read", ace[1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		user, object string
		want         bool
	}{
		{"", "/a", true},
		{"", "/b", false},
		{"alice", "/b", true},
		{"bob", "/b", false},
	} {
		got, err := b.Access(ctx, permission.AccessQuery{UserID: c.user, Principals: principals, Objects: []string{"/c", c.object}})
		if held := slices.Equal(got.Held[c.object], []string{"read"}); err != nil || held != c.want {
			t.Errorf("Access(%q, 2,500 principals, %s).Held = %v, %v; want read held: %v", c.user, c.object, got.Held, err, c.want)
		}
	}
}

func TestRegisteredAsRedis(t *testing.T) {
	u := testURL(t)
	s := config.MustFromMap(map[string]string{"permission_url": u, "permission_pool_size": "3", "permission_pool_timeout": "1.5"}, config.Options{Env: []string{}})
	for _, name := range []string{"redis", "cliquet.permission.redis"} {
		b, err := permission.Open(context.Background(), name, s)
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if err := b.Ping(context.Background(), true); err != nil {
			t.Errorf("Ping: %v", err)
		}
		b.Close()
	}
}

func TestFromSettingsRejectsBadValues(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
	}{
		{"an empty permission_url is refused", map[string]string{"permission_url": ""}},
		{"a URL with another scheme is refused", map[string]string{"permission_url": "postgres://127.0.0.1/db"}},
		{"a pool size that is not a number is refused", map[string]string{"permission_url": "redis://127.0.0.1/1", "permission_pool_size": "many"}},
		{"a negative pool timeout is refused", map[string]string{"permission_url": "redis://127.0.0.1/1", "permission_pool_timeout": "-2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.MustFromMap(tt.settings, config.Options{Env: []string{}})
			if b, err := redis.FromSettings(context.Background(), s); err == nil {
				b.Close()
				t.Fatal("FromSettings succeeded, want an error")
			}
		})
	}
}

func TestUnreachableServerFailsWithBackendError(t *testing.T) {
	ctx := context.Background()
	// Nothing listens on RefusedAddr.
	b := open(t, redis.Options{URL: "redis://" + testenv.RefusedAddr + "/0?dial_timeout=200ms&max_retries=-1"})
	defer b.Close()
	checks := []struct {
		name string
		call func() error
	}{
		{"UserPrincipals", func() error { _, err := b.UserPrincipals(ctx, "u"); return err }},
		{"Access", func() error {
			_, err := b.Access(ctx, permission.AccessQuery{UserID: "u", Objects: []string{"/a"}, Full: "/a"})
			return err
		}},
		{"Ping", func() error { return b.Ping(ctx, true) }},
	}
	for _, c := range checks {
		var be *permission.BackendError
		if err := c.call(); !errors.As(err, &be) || be.Backend != "redis" {
			t.Errorf("%s against an unreachable server = %v, want a *permission.BackendError from redis", c.name, err)
		}
	}
}
