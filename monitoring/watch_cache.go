package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/cache"
)

// WatchCache returns b decorated so that every method call is timed under
// cache.<name>.<method>: get, set, delete, expire, ttl, flush, ping and initialize_schema
// (not when the backend declines it with cache.ErrNotSupported). Close is not timed. With
// a nil m, b is returned unchanged.
func WatchCache(b cache.Backend, m *Metrics, name string) cache.Backend {
	if m == nil || b == nil {
		return b
	}
	return &watchedCache{watch: newWatch(m, "cache", name), inner: b}
}

type watchedCache struct {
	watch
	inner cache.Backend
}

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

func (w *watchedCache) Ping(ctx context.Context) error {
	defer w.done("ping", time.Now())
	return w.inner.Ping(ctx)
}

func (w *watchedCache) InitializeSchema(ctx context.Context, dryRun bool) (err error) {
	defer func(start time.Time) { w.answered("initialize_schema", start, err) }(time.Now())
	return w.inner.InitializeSchema(ctx, dryRun)
}

func (w *watchedCache) Close() error { return w.inner.Close() }

var _ cache.Backend = (*watchedCache)(nil)
