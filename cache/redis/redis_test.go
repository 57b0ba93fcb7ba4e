package redis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/cache/cachetest"
	"github.com/cliquet-go/cliquet/cache/redis"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
)

// testURL returns CLIQUET_TEST_REDIS_URL moved to database 11, away from the database 0 of
// the variable; every key the tests write is also under a unique prefix. It skips without a
// server, except in CI.
func testURL(t *testing.T) string {
	t.Helper()
	return testenv.RedisURL(t, 11)
}

func open(t *testing.T, opts redis.Options) *redis.Backend {
	t.Helper()
	b, err := redis.New(context.Background(), opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

type harness struct{ url string }

func (h harness) New(ctx context.Context, t *testing.T, prefix string) cache.Backend {
	b, err := redis.New(ctx, redis.Options{URL: h.url, Prefix: prefix, PoolSize: 10})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

// Lacks declares the optional capabilities a Redis cache lacks.
func (harness) Lacks() []cachetest.Capability { return []cachetest.Capability{cachetest.Migrator} }

func (harness) Broken(ctx context.Context, t *testing.T) cache.Backend {
	// Nothing listens on RefusedAddr: every connection is refused, at
	// once since the client neither retries commands nor redials.
	client := goredis.NewClient(&goredis.Options{
		Addr: testenv.RefusedAddr, MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second, PoolTimeout: time.Second,
	})
	t.Cleanup(func() { _ = client.Close() })
	b, err := redis.New(ctx, redis.Options{Client: client})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return b
}

func TestConformance(t *testing.T) { cachetest.Run(t, harness{url: testURL(t)}) }

// Redis-specific tests.

var ctx = context.Background()

func uniquePrefix(t *testing.T) string { return testenv.UniquePrefix(t, "redistest_") }

func TestEmptyPrefixMeansTheDefaultPrefix(t *testing.T) {
	b := open(t, redis.Options{URL: testURL(t)})
	if b.Prefix() != redis.DefaultPrefix {
		t.Fatalf("Prefix() = %q, want %q", b.Prefix(), redis.DefaultPrefix)
	}
	key := uniquePrefix(t) + "k"
	t.Cleanup(func() { _ = b.Delete(context.Background(), key) })
	if err := b.Set(ctx, key, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	n, err := b.Client().Exists(ctx, redis.DefaultPrefix+key).Result()
	if err != nil || n != 1 {
		t.Fatalf("EXISTS %s%s = %d, %v; want 1", redis.DefaultPrefix, key, n, err)
	}
}

func TestSetStoresAMillisecondExpiryOnTheServer(t *testing.T) {
	p := uniquePrefix(t)
	b := open(t, redis.Options{URL: testURL(t), Prefix: p})
	t.Cleanup(func() { _ = b.Flush(context.Background()) })
	if err := b.Set(ctx, "k", []byte("v"), 1500*time.Microsecond*1000+300*time.Microsecond); err != nil {
		t.Fatal(err)
	}
	d, err := b.Client().PTTL(ctx, p+"k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if d <= 1400*time.Millisecond || d > 1501*time.Millisecond {
		t.Fatalf("server PTTL = %v, want about 1.501s (1.5003s rounded up to the millisecond)", d)
	}
}

func TestTTLOfAKeyWithoutExpiry(t *testing.T) {
	p := uniquePrefix(t)
	b := open(t, redis.Options{URL: testURL(t), Prefix: p})
	t.Cleanup(func() { _ = b.Flush(context.Background()) })
	if err := b.Client().Set(ctx, p+"forever", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if d, err := b.TTL(ctx, "forever"); err != nil || d != redis.NoExpiry {
		t.Fatalf("TTL = %v, %v; want NoExpiry", d, err)
	}
}

func TestFlushDeletesManyKeysAndOnlyThem(t *testing.T) {
	p := uniquePrefix(t)
	b := open(t, redis.Options{URL: testURL(t), Prefix: p + "mine_"})
	neighbour := open(t, redis.Options{URL: testURL(t), Prefix: p + "mine"})
	t.Cleanup(func() { _ = neighbour.Flush(context.Background()) })
	pipe := b.Client().Pipeline()
	const n = 1234 // several SCAN and UNLINK batches
	for i := range n {
		pipe.Set(ctx, fmt.Sprintf("%smine_%d", p, i), "v", time.Minute)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := neighbour.Set(ctx, "x", []byte("kept"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := b.Client().Keys(ctx, p+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0] != p+"minex" {
		t.Fatalf("keys left after Flush = %d (%.3q...), want only %sminex", len(keys), keys, p)
	}
}

func TestClosedClientReturnsBackendErrors(t *testing.T) {
	b, err := redis.New(ctx, redis.Options{URL: testURL(t), Prefix: uniquePrefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	_, err = b.Get(ctx, "k")
	var be *cache.BackendError
	if !errors.As(err, &be) || be.Backend != "redis" || be.Op != "get" {
		t.Fatalf("Get on a closed client: %v, want a BackendError{redis, get}", err)
	}
	if !errors.Is(err, goredis.ErrClosed) {
		t.Fatalf("error %v should wrap redis.ErrClosed", err)
	}
}

func TestSharedClientIsNotClosed(t *testing.T) {
	u := testURL(t)
	o, err := goredis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(o)
	defer client.Close()
	b := open(t, redis.Options{Client: client, Prefix: uniquePrefix(t)})
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := client.Ping(ctx).Err(); err != nil {
		t.Fatalf("the shared client was closed by the backend: %v", err)
	}
}

func TestRegisteredFactory(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		wantErr  string
		check    func(t *testing.T, b *redis.Backend)
	}{
		{
			name: "reads the URL, the pool options and the prefix",
			settings: map[string]string{"cache_url": "redis://127.0.0.1:1/3", "cache_pool_size": "111",
				"cache_pool_timeout": "3.14", "cache_prefix": "stack1_"},
			check: func(t *testing.T, b *redis.Backend) {
				o := b.Client().Options()
				if o.PoolSize != 111 || o.PoolTimeout != 3140*time.Millisecond || o.DB != 3 || o.Addr != "127.0.0.1:1" {
					t.Errorf("options = size %d, timeout %v, db %d, addr %s; want 111, 3.14s, 3, 127.0.0.1:1",
						o.PoolSize, o.PoolTimeout, o.DB, o.Addr)
				}
				if b.Prefix() != "stack1_" {
					t.Errorf("prefix = %q, want stack1_", b.Prefix())
				}
			},
		},
		{
			name:     "defaults to the local server, database 0, and the toolkit's pool defaults",
			settings: map[string]string{},
			check: func(t *testing.T, b *redis.Backend) {
				o := b.Client().Options()
				if o.Addr != "localhost:6379" || o.DB != 0 || o.PoolSize != 25 || o.PoolTimeout != 30*time.Second {
					t.Errorf("options = addr %s, db %d, size %d, timeout %v; want localhost:6379, 0, 25, 30s",
						o.Addr, o.DB, o.PoolSize, o.PoolTimeout)
				}
			},
		},
		{name: "rejects a malformed URL", settings: map[string]string{"cache_url": "http://127.0.0.1/0"}, wantErr: "cache_url"},
		{name: "rejects a bad pool size", settings: map[string]string{"cache_pool_size": "many"}, wantErr: "cache_pool_size"},
		{name: "rejects a bad pool timeout", settings: map[string]string{"cache_pool_timeout": "soon"}, wantErr: "cache_pool_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.MustFromMap(tt.settings, config.Options{Env: []string{}})
			b, err := cache.Open(ctx, "kinto.core.cache.redis", s)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open: %v, want an error mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer b.Close()
			tt.check(t, b.(*redis.Backend))
		})
	}
}
