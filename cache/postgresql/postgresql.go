// Package postgresql is a cache backend stored in a PostgreSQL table (kinto.core's
// cache.postgresql), on a [pgxpool.Pool].
//
// # Settings
//
// The backend registers itself as "postgresql" (also "cliquet.cache.postgresql" and
// "kinto.core.cache.postgresql"); blank-import the package to make it available to
// cache.Open. It reads:
//
//   - cache_url: the database URL, postgres://user:pass@host:5432/db (required); extra
//     parameters such as sslmode or search_path are passed to the server;
//   - cache_pool_size: the maximum number of connections (default 25);
//   - cache_pool_timeout: how long, in seconds, a call waits for a free connection
//     (default 30);
//   - cache_prefix: prepended to every key (default "").
//
// # Schema
//
// The table is created and upgraded only by [Backend.InitializeSchema] (the migrate command),
// never on a request path: calls made before it fail with a *cache.BackendError whose message
// says so. The schema is versioned in a cache_metadata table; a cache table left by kinto.core
// (text values, version 0) is replaced, since cached values are disposable. The SQL is
// embedded in the package (schema/schema.sql) for DBAs who prefer to apply it by hand.
//
// # Behaviour
//
// Values are stored as bytea and keys as text in the "C" collation, so a key may hold any
// character but NUL, and keys longer than about 2,000 bytes are rejected by the index. Expiry
// uses the server's clock with microsecond precision; a positive ttl is rounded up to the next
// whole millisecond. Expired rows are never returned; each Set also deletes up to 100 expired
// rows. Flush deletes the rows under the prefix (the whole table when the prefix is empty).
// Every failure of the server, the network or the pool is returned as a *cache.BackendError
// with Backend "postgresql".
package postgresql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
)

// Defaults of [Options].
const (
	DefaultPoolSize    = 25
	DefaultPoolTimeout = 30 * time.Second
)

// CurrentSchemaVersion is the version of the schema that this package reads and writes.
const CurrentSchemaVersion = 1

// purgeBatch is the number of expired rows each Set deletes at most.
const purgeBatch = 100

//go:embed schema/*.sql
var schemaFS embed.FS

// Options configures [New].
type Options struct {
	// URL is the PostgreSQL connection string (URL or key=value form). Required unless Pool
	// is set.
	URL string
	// Pool, when set, is used instead of opening a pool from URL (to share one pool with
	// other backends); PoolSize is then ignored and Close leaves the pool open.
	Pool *pgxpool.Pool
	// Prefix is prepended to every key. The default is "".
	Prefix string
	// PoolSize is the maximum number of connections. 0 means DefaultPoolSize.
	PoolSize int
	// PoolTimeout bounds the wait for a free connection on each call. 0 means
	// DefaultPoolTimeout.
	PoolTimeout time.Duration
	// Logger receives InitializeSchema's progress messages. Nil means no logging.
	Logger *slog.Logger
}

// Backend is a PostgreSQL cache.Backend. It is safe for concurrent use.
type Backend struct {
	pool        *pgxpool.Pool
	ownPool     bool
	prefix      string
	poolTimeout time.Duration
	logger      *slog.Logger
}

var _ cache.Backend = (*Backend)(nil)

func init() {
	cache.Register("postgresql", func(ctx context.Context, s *config.Settings) (cache.Backend, error) {
		ss, err := cache.ReadServerSettings(s)
		if err != nil {
			return nil, err
		}
		return New(ctx, Options{URL: ss.URL, Prefix: ss.Prefix, PoolSize: ss.PoolSize, PoolTimeout: ss.PoolTimeout,
			Logger: config.LoggerFrom(ctx)})
	})
}

// New returns a backend configured by opts. Opening the pool does not connect: an
// unreachable server is reported by the first call (or by Ping). It fails when the URL is
// missing or malformed.
func New(ctx context.Context, opts Options) (*Backend, error) {
	b := &Backend{pool: opts.Pool, prefix: opts.Prefix, poolTimeout: opts.PoolTimeout, logger: opts.Logger}
	if b.poolTimeout <= 0 {
		b.poolTimeout = DefaultPoolTimeout
	}
	if b.logger == nil {
		b.logger = slog.New(slog.DiscardHandler)
	}
	if b.pool != nil {
		return b, nil
	}
	if opts.URL == "" {
		return nil, errors.New("cache: postgresql: no URL (set cache_url)")
	}
	cfg, err := pgxpool.ParseConfig(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("cache: postgresql: cache_url: %w", err)
	}
	cfg.MaxConns = DefaultPoolSize
	if opts.PoolSize > 0 {
		cfg.MaxConns = int32(opts.PoolSize)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cache: postgresql: open pool: %w", err)
	}
	b.pool, b.ownPool = pool, true
	return b, nil
}

// Prefix returns the prefix prepended to keys.
func (b *Backend) Prefix() string { return b.prefix }

// Pool returns the connection pool (for sharing it with other backends).
func (b *Backend) Pool() *pgxpool.Pool { return b.pool }

// fail wraps err in a *cache.BackendError, with a hint when the schema is missing.
func fail(op string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		err = fmt.Errorf("%w (the cache schema is missing: run InitializeSchema, the migrate command)", err)
	}
	return &cache.BackendError{Backend: "postgresql", Op: op, Err: err}
}

// conn acquires a connection, waiting at most the pool timeout.
func (b *Backend) conn(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, b.poolTimeout)
	defer cancel()
	return b.pool.Acquire(actx)
}

// exec runs one statement on a pooled connection and returns its command tag.
func (b *Backend) exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	defer c.Release()
	return c.Exec(ctx, sql, args...)
}

// ttlMillis rounds a positive ttl up to whole milliseconds.
func ttlMillis(ttl time.Duration) float64 {
	ms := int64(ttl / time.Millisecond)
	if ttl%time.Millisecond != 0 {
		ms++
	}
	return float64(ms)
}

// Get returns the value of key, or cache.ErrNotFound when it is missing or expired.
func (b *Backend) Get(ctx context.Context, key string) ([]byte, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, fail("get", err)
	}
	defer c.Release()
	var v []byte
	err = c.QueryRow(ctx, `SELECT value FROM cache WHERE key = $1 AND ttl > now()`, b.prefix+key).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
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

// Set stores value under key for ttl, replacing any previous value and ttl, and purges a few
// expired rows. A ttl that is not positive is an error and leaves the cache unchanged.
func (b *Backend) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("cache: postgresql: set %q: ttl must be positive, got %v", key, ttl)
	}
	if value == nil {
		value = []byte{} // NOT NULL column: store the empty value
	}
	// The purge skips the key being written: one statement must not both delete and
	// update the same row.
	_, err := b.exec(ctx, `
		WITH purged AS (
			DELETE FROM cache WHERE key IN (
				SELECT key FROM cache WHERE ttl <= now() AND key <> $1
				ORDER BY ttl LIMIT `+fmt.Sprint(purgeBatch)+` FOR UPDATE SKIP LOCKED))
		INSERT INTO cache (key, value, ttl) VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, ttl = EXCLUDED.ttl`,
		b.prefix+key, value, ttlMillis(ttl))
	if err != nil {
		return fail("set", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if _, err := b.exec(ctx, `DELETE FROM cache WHERE key = $1`, b.prefix+key); err != nil {
		return fail("delete", err)
	}
	return nil
}

// Expire sets a new time to live on key, or returns cache.ErrNotFound when it is missing or
// expired. A ttl that is not positive expires the key at once.
func (b *Backend) Expire(ctx context.Context, key string, ttl time.Duration) error {
	var (
		tag pgconn.CommandTag
		err error
	)
	if ttl <= 0 {
		tag, err = b.exec(ctx, `DELETE FROM cache WHERE key = $1 AND ttl > now()`, b.prefix+key)
	} else {
		tag, err = b.exec(ctx, `UPDATE cache SET ttl = now() + $2::float8 * interval '1 millisecond' WHERE key = $1 AND ttl > now()`,
			b.prefix+key, ttlMillis(ttl))
	}
	if err != nil {
		return fail("expire", err)
	}
	if tag.RowsAffected() == 0 {
		return cache.ErrNotFound
	}
	return nil
}

// TTL returns the remaining time to live of key (microsecond precision), or
// cache.ErrNotFound when it is missing or expired.
func (b *Backend) TTL(ctx context.Context, key string) (time.Duration, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return 0, fail("ttl", err)
	}
	defer c.Release()
	var us int64
	err = c.QueryRow(ctx, `
		SELECT floor(extract(epoch FROM ttl - now()) * 1000000)::bigint
		FROM cache WHERE key = $1 AND ttl > now()`, b.prefix+key).Scan(&us)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, cache.ErrNotFound
	}
	if err != nil {
		return 0, fail("ttl", err)
	}
	return time.Duration(us) * time.Microsecond, nil
}

// Flush deletes every row under the backend's prefix (every row when the prefix is empty);
// rows under other prefixes are kept.
func (b *Backend) Flush(ctx context.Context) error {
	var err error
	if b.prefix == "" {
		_, err = b.exec(ctx, `DELETE FROM cache`)
	} else {
		_, err = b.exec(ctx, `DELETE FROM cache WHERE key LIKE $1 ESCAPE '\'`, escapeLike(b.prefix)+"%")
	}
	if err != nil {
		return fail("flush", err)
	}
	return nil
}

// escapeLike makes s match itself literally in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// HeartbeatKey is the key, under the backend's prefix, that Ping writes and deletes.
const HeartbeatKey = "__heartbeat__"

// Ping checks that the cache works, as kinto's heartbeat does: it sets [HeartbeatKey] (under
// the prefix) and deletes it, within ctx and the pool timeout. It fails with a
// *cache.BackendError when the server cannot be reached and when the schema is missing (an
// unmigrated database).
func (b *Backend) Ping(ctx context.Context) error {
	key := b.prefix + HeartbeatKey
	if _, err := b.exec(ctx, `
		INSERT INTO cache (key, value, ttl) VALUES ($1, 'alive', now() + interval '1 minute')
		ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, ttl = EXCLUDED.ttl`, key); err != nil {
		return fail("ping", err)
	}
	if _, err := b.exec(ctx, `DELETE FROM cache WHERE key = $1`, key); err != nil {
		return fail("ping", err)
	}
	return nil
}

// Close closes the pool, unless it was given in Options.Pool.
func (b *Backend) Close() error {
	if b.ownPool {
		b.pool.Close()
	}
	return nil
}
