package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/cache"
)

// WatchCache returns b decorated so that every method call is timed under
// cache.<name>.<method>: get, set, delete, expire, ttl, flush, and for the optional
// interfaces ping and initialize_schema. Close is not timed.
//
// The returned value implements cache.Pinger and cache.Migrator exactly when b does; b is
// reachable through its Unwrap() cache.Backend method. With a nil m, b is returned
// unchanged.
func WatchCache(b cache.Backend, m *Metrics, name string) cache.Backend {
	if m == nil || b == nil {
		return b
	}
	w := &watchedCache{inner: b, m: m, prefix: "cache." + name + ".", kind: "cache", name: name}
	pi, _ := b.(cache.Pinger)
	mi, _ := b.(cache.Migrator)
	P, M := caPinger{w, pi}, caMigrator{w, mi}
	switch {
	case pi != nil && mi != nil:
		return struct {
			*watchedCache
			caPinger
			caMigrator
		}{w, P, M}
	case pi != nil:
		return struct {
			*watchedCache
			caPinger
		}{w, P}
	case mi != nil:
		return struct {
			*watchedCache
			caMigrator
		}{w, M}
	}
	return w
}

type watchedCache struct {
	inner  cache.Backend
	m      *Metrics
	prefix string // the StatsD timer prefix, <kind>.<name>.
	kind   string // storage, cache or permission
	name   string
}

func (w *watchedCache) done(method string, start time.Time) {
	w.m.backendCall(w.prefix, w.kind, w.name, method, time.Since(start))
}

// Unwrap returns the decorated backend.
func (w *watchedCache) Unwrap() cache.Backend { return w.inner }

func (w *watchedCache) Get(ctx context.Context, key string) ([]byte, error) {
	defer w.done("get", time.Now())
	return w.inner.Get(ctx, key)
}

func (w *watchedCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	defer w.done("set", time.Now())
	return w.inner.Set(ctx, key, value, ttl)
}

func (w *watchedCache) Delete(ctx context.Context, key string) error {
	defer w.done("delete", time.Now())
	return w.inner.Delete(ctx, key)
}

func (w *watchedCache) Expire(ctx context.Context, key string, ttl time.Duration) error {
	defer w.done("expire", time.Now())
	return w.inner.Expire(ctx, key, ttl)
}

func (w *watchedCache) TTL(ctx context.Context, key string) (time.Duration, error) {
	defer w.done("ttl", time.Now())
	return w.inner.TTL(ctx, key)
}

func (w *watchedCache) Flush(ctx context.Context) error {
	defer w.done("flush", time.Now())
	return w.inner.Flush(ctx)
}

func (w *watchedCache) Close() error { return w.inner.Close() }

type caPinger struct {
	w     *watchedCache
	inner cache.Pinger
}

func (p caPinger) Ping(ctx context.Context) error {
	defer p.w.done("ping", time.Now())
	return p.inner.Ping(ctx)
}

type caMigrator struct {
	w     *watchedCache
	inner cache.Migrator
}

func (p caMigrator) InitializeSchema(ctx context.Context, dryRun bool) error {
	defer p.w.done("initialize_schema", time.Now())
	return p.inner.InitializeSchema(ctx, dryRun)
}

var (
	_ cache.Backend  = (*watchedCache)(nil)
	_ cache.Pinger   = caPinger{}
	_ cache.Migrator = caMigrator{}
)
