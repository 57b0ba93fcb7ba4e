// Package redis is a cache backend on a Redis server (kinto.core's cache.redis), using
// go-redis.
//
// # Settings
//
// The backend registers itself as "redis" (also "cliquet.cache.redis" and
// "kinto.core.cache.redis"); blank-import the package to make it available to cache.Open. It
// reads:
//
//   - cache_url: redis://[:password@]host:port/db (default redis://localhost:6379/0, as
//     kinto.core); rediss:// enables TLS;
//   - cache_pool_size: the maximum number of connections (default 25);
//   - cache_pool_timeout: how long, in seconds, a call waits for a free connection
//     (default 30);
//   - cache_prefix: prepended to every key (see below).
//
// # Keys and the empty prefix
//
// A value is stored under the Redis key <prefix><key> with SET … PX, so the server expires it.
// Flush deletes only the keys under the prefix (SCAN MATCH with the prefix's glob characters
// escaped, then UNLINK); it never runs FLUSHDB. Because other data (cliquet's Redis storage
// and permission backends, other applications) may live in the same Redis database, an empty
// prefix is replaced by [DefaultPrefix], "cache:", so that Flush cannot wipe the database.
// This differs from kinto.core, whose keys are unprefixed by default and whose flush empties
// the database.
//
// # Behaviour
//
// A positive ttl is rounded up to the next whole millisecond. A key without expiry (written by
// another client) reports a TTL of [NoExpiry]. Every failure of the server, the network or the
// pool is returned as a *cache.BackendError with Backend "redis"; calls honour the deadline and
// cancellation of their context.
package redis

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
)

// Defaults of [Options].
const (
	DefaultURL         = "redis://localhost:6379/0"
	DefaultPrefix      = "cache:"
	DefaultPoolSize    = 25
	DefaultPoolTimeout = 30 * time.Second
)

// NoExpiry is the TTL reported for a key that exists without an expiry.
const NoExpiry = time.Duration(math.MaxInt64)

// flushBatch is the SCAN COUNT hint and the largest UNLINK of Flush.
const flushBatch = 500

// Options configures [New].
type Options struct {
	// URL locates the server: redis://[:password@]host:port/db. "" means DefaultURL.
	// Ignored when Client is set.
	URL string
	// Client, when set, is used instead of opening one from URL (to share it); PoolSize and
	// PoolTimeout are then ignored and Close leaves the client open.
	Client *goredis.Client
	// Prefix is prepended to every key. "" means DefaultPrefix (see the package
	// documentation).
	Prefix string
	// PoolSize is the maximum number of connections. 0 means DefaultPoolSize.
	PoolSize int
	// PoolTimeout bounds the wait for a free connection. 0 means DefaultPoolTimeout.
	PoolTimeout time.Duration
}

// Backend is a Redis cache.Backend. It is safe for concurrent use.
type Backend struct {
	client    *goredis.Client
	ownClient bool
	prefix    string
}

var _ cache.Backend = (*Backend)(nil)

func init() {
	cache.Register("redis", func(ctx context.Context, s *config.Settings) (cache.Backend, error) {
		ss, err := cache.ReadServerSettings(s)
		if err != nil {
			return nil, err
		}
		return New(ctx, Options{URL: ss.URL, Prefix: ss.Prefix, PoolSize: ss.PoolSize, PoolTimeout: ss.PoolTimeout})
	})
}

// New returns a backend configured by opts. It does not connect: an unreachable server is
// reported by the first call (or by Ping). It fails when the URL is malformed.
func New(_ context.Context, opts Options) (*Backend, error) {
	b := &Backend{client: opts.Client, prefix: opts.Prefix}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if b.client != nil {
		return b, nil
	}
	u := opts.URL
	if u == "" {
		u = DefaultURL
	}
	o, err := goredis.ParseURL(u)
	if err != nil {
		return nil, fmt.Errorf("cache: redis: cache_url: %w", err)
	}
	o.PoolSize = DefaultPoolSize
	if opts.PoolSize > 0 {
		o.PoolSize = opts.PoolSize
	}
	o.PoolTimeout = DefaultPoolTimeout
	if opts.PoolTimeout > 0 {
		o.PoolTimeout = opts.PoolTimeout
	}
	o.ContextTimeoutEnabled = true
	b.client, b.ownClient = goredis.NewClient(o), true
	return b, nil
}

// Prefix returns the prefix prepended to keys (DefaultPrefix when none was given).
func (b *Backend) Prefix() string { return b.prefix }

// Client returns the go-redis client (for sharing it, or for inspection).
func (b *Backend) Client() *goredis.Client { return b.client }

func fail(op string, err error) error {
	return &cache.BackendError{Backend: "redis", Op: op, Err: err}
}

// pttl rounds a positive ttl up to whole milliseconds.
func pttl(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}

// Get returns the value of key, or cache.ErrNotFound when it is missing or expired.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := b.client.Get(ctx, b.prefix+key).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, cache.ErrNotFound
	}
	if err != nil {
		return nil, fail("get", err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Set stores value under key for ttl (SET PX), replacing any previous value and ttl. A ttl
// that is not positive is an error and leaves the cache unchanged.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: redis: set %q: ttl must be positive, got %v", key, ttl)
	}
	if value == nil {
		value = []byte{}
	}
	if err := b.client.Set(ctx, b.prefix+key, value, pttl(ttl)).Err(); err != nil {
		return fail("set", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := b.client.Del(ctx, b.prefix+key).Err(); err != nil {
		return fail("delete", err)
	}
	return nil
}

// Expire sets a new time to live on key (PEXPIRE), or returns cache.ErrNotFound when it is
// missing or expired. A ttl that is not positive expires the key at once.
func (b *Backend) Expire(ctx context.Context, key string, ttl time.Duration) error {
	ttl = max(ttl, 0)
	ok, err := b.client.PExpire(ctx, b.prefix+key, pttl(ttl)).Result()
	if err != nil {
		return fail("expire", err)
	}
	if !ok {
		return cache.ErrNotFound
	}
	return nil
}

// TTL returns the remaining time to live of key (PTTL), cache.ErrNotFound when it is missing
// or expired, or NoExpiry when the key exists without an expiry.
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, error) {
	d, err := b.client.PTTL(ctx, b.prefix+key).Result()
	if err != nil {
		return 0, fail("ttl", err)
	}
	switch d {
	case -2: // go-redis passes the special replies through unscaled
		return 0, cache.ErrNotFound
	case -1:
		return NoExpiry, nil
	}
	return d, nil
}

// Flush deletes every key under the backend's prefix, in batches (SCAN then UNLINK); keys
// under other prefixes are kept. Keys written while it runs may survive.
func (b *Backend) Flush(ctx context.Context) error {
	match := escapeGlob(b.prefix) + "*"
	var cursor uint64
	for {
		keys, next, err := b.client.Scan(ctx, cursor, match, flushBatch).Result()
		if err != nil {
			return fail("flush", err)
		}
		if len(keys) > 0 {
			if err := b.client.Unlink(ctx, keys...).Err(); err != nil {
				return fail("flush", err)
			}
		}
		if next == 0 {
			return nil
		}
		cursor = next
	}
}

// escapeGlob makes s match itself literally in a Redis glob pattern.
func escapeGlob(s string) string {
	return strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`).Replace(s)
}

// Ping sends PING, within ctx.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.client.Ping(ctx).Err(); err != nil {
		return fail("ping", err)
	}
	return nil
}

// InitializeSchema returns cache.ErrNotSupported: Redis keys need no schema.
func (b *Backend) InitializeSchema(context.Context, bool) error { return cache.ErrNotSupported }

// Close closes the client, unless it was given in Options.Client.
func (b *Backend) Close() error {
	if b.ownClient {
		return b.client.Close()
	}
	return nil
}
