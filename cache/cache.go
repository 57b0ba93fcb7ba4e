// Package cache defines the contract of cliquet's key-value cache backends (authentication
// token caches, pagination nonces, embedders' own use).
//
// Values are bytes with an explicit time to live. Keys are prefixed by the backend with the
// cache_prefix setting, so that several applications can share one server. Implementations
// live in sub-packages (memory, postgresql, redis), register by name with [Register], and pass
// the conformance suite in package cachetest.
package cache

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/registry"
)

// Backend is the contract every cache implementation satisfies. Implementations must be safe
// for concurrent use.
type Backend interface {
	// Get returns the value of key, or ErrNotFound when it is missing or expired. The
	// returned slice belongs to the caller (an empty value is a non-nil, empty slice).
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key for ttl (which must be positive), replacing any previous
	// value and time to live. A ttl that is not positive is an error (not a BackendError)
	// and leaves the cache unchanged. Backends keep at least millisecond precision.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Expire sets a new time to live on an existing key; ErrNotFound when it is missing or
	// expired. A ttl that is not positive expires the key at once.
	Expire(ctx context.Context, key string, ttl time.Duration) error
	// TTL returns the remaining time to live of key, or ErrNotFound when it is missing or
	// expired.
	TTL(ctx context.Context, key string) (time.Duration, error)
	// Flush removes every key under the backend's prefix; keys under other prefixes on the
	// same server are kept.
	Flush(ctx context.Context) error
	// Ping checks that the cache can be used (the "cache" heartbeat): it reaches the
	// server of a networked backend, within ctx.
	Ping(ctx context.Context) error
	// InitializeSchema brings the backend's schema to the current version; with dryRun it
	// only reports what it would do. It is run by an explicit migrate step, never on a
	// request path. A backend without a schema (memory, Redis) returns [ErrNotSupported]:
	// there is nothing to migrate, and it works as soon as it is opened.
	InitializeSchema(ctx context.Context, dryRun bool) error
	// Close releases the backend's resources.
	Close() error
}

// ErrNotFound: the key is missing or expired. Check it with errors.Is.
var ErrNotFound = errors.New("cache: key not found")

// ErrNotSupported is returned by a [Backend] method that the backend does not provide (a
// schema step on a backend without a schema); the caller goes without it. It matches
// [errors.ErrUnsupported] too. Check it with errors.Is.
var ErrNotSupported = fmt.Errorf("cache: %w", errors.ErrUnsupported)

// BackendError wraps a failure of the underlying service; the protocol answers 503.
type BackendError struct {
	Backend string
	Op      string
	Err     error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("cache: %s: %s: %v", e.Backend, e.Op, e.Err)
}

func (e *BackendError) Unwrap() error { return e.Err }

// ServerSettings are the settings every server-backed cache reads: cache_url, cache_prefix,
// cache_pool_size and cache_pool_timeout.
type ServerSettings struct {
	URL         string
	Prefix      string
	PoolSize    int
	PoolTimeout time.Duration
}

// ReadServerSettings reads [ServerSettings] from s; a bad pool size or timeout is an error
// naming the setting.
func ReadServerSettings(s *config.Settings) (ServerSettings, error) {
	size, err := s.Int("cache_pool_size")
	if err != nil {
		return ServerSettings{}, err
	}
	timeout, err := s.Seconds("cache_pool_timeout")
	if err != nil {
		return ServerSettings{}, err
	}
	return ServerSettings{URL: s.String("cache_url"), Prefix: s.String("cache_prefix"), PoolSize: size, PoolTimeout: timeout}, nil
}

// Factory opens a backend from the settings (cache_url, cache_prefix, ...).
type Factory func(ctx context.Context, s *config.Settings) (Backend, error)

var backends = func() *registry.Registry[Factory] {
	r := registry.New[Factory]("cache")
	for _, name := range []string{"memory", "postgresql", "redis"} {
		r.Alias("cliquet.cache."+name, name)
		r.Alias("kinto.core.cache."+name, name)
	}
	return r
}()

// Register makes a backend available by name to the cache_backend setting. It panics when
// name is empty or already registered.
func Register(name string, f Factory) { backends.Register(name, f) }

// Open builds the backend registered under name (short or dotted). The error lists the
// registered names.
func Open(ctx context.Context, name string, s *config.Settings) (Backend, error) {
	f, err := backends.Lookup(name)
	if err != nil {
		return nil, err
	}
	return f(ctx, s)
}

// Backends returns the registered backend names, sorted.
func Backends() []string { return backends.Names() }
