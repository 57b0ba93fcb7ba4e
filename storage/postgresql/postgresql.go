package postgresql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/fanout"
)

// BackendName is the name under which the backend registers itself, and the Backend field of
// the *storage.BackendError values it returns.
const BackendName = "postgresql"

// Defaults of [Options].
const (
	DefaultPoolSize     = 25
	DefaultPoolTimeout  = 30 * time.Second
	DefaultMaxFetchSize = 10000
	// DefaultStatementTimeout bounds every statement of the backend's connections.
	DefaultStatementTimeout = 30 * time.Second
)

// Errors returned for input PostgreSQL cannot represent. They are not *storage.BackendError:
// retrying does not help. Each of them is also a [storage.ErrInvalid] (errors.Is), which the
// protocol answers with 400 errno 107.
var (
	// ErrNULValue: an ordering filter (LT, GT, MIN, MAX) compares with an array or object that
	// contains a NUL character, which jsonb cannot hold. NUL characters elsewhere in filter
	// values are handled exactly (see the package documentation).
	ErrNULValue error = invalidError("storage/postgresql: filter value contains a NUL character")
	// ErrInvalidData: the object data is not valid JSON for jsonb (for example a \u0000
	// escape), or a value PostgreSQL refuses (invalid UTF-8 or a NUL character in a field
	// name, an id or a scope).
	ErrInvalidData error = invalidError("storage/postgresql: invalid object data")
	// ErrInvalidFilter: a filter value has the wrong type for its operator (LIKE without a
	// string, HAS without a bool, a number that is not finite).
	ErrInvalidFilter error = invalidError("storage/postgresql: invalid filter")
)

// invalidError is an error of input PostgreSQL cannot represent: a [storage.ErrInvalid].
type invalidError string

func (e invalidError) Error() string { return string(e) }
func (e invalidError) Unwrap() error { return storage.ErrInvalid }

// Options configures [New].
type Options struct {
	// URL is the connection string: a postgres:// or postgresql:// URL, or key=value pairs. A
	// SQLAlchemy driver suffix ("postgresql+psycopg2://") is accepted and ignored. Required.
	URL string
	// PoolSize is the maximum number of connections. Default 25 (DefaultPoolSize).
	PoolSize int
	// PoolTimeout bounds how long a call waits for a connection (acquiring one from the pool,
	// or opening it) before failing with a *storage.BackendError. Default 30 s.
	PoolTimeout time.Duration
	// MaxFetchSize caps the number of objects List returns when ListOptions.Limit is 0.
	// Default 10000; a negative value means no cap.
	MaxFetchSize int
	// StatementTimeout is the statement_timeout of every connection of the pool: PostgreSQL
	// cancels a statement that runs (or waits for a lock) longer, and the call fails with a
	// *storage.BackendError (SQLSTATE 57014), which the resource layer answers 503 errno 201
	// with Retry-After, so that a request never waits as long as a stuck database does.
	// Migrations run without it. Default 30 s ([DefaultStatementTimeout]); a negative value
	// means no timeout; a statement_timeout given in URL wins.
	StatementTimeout time.Duration
	// Logger receives migration reports and warnings. Default: discard.
	Logger *slog.Logger
	// WriteWorkers is the number of connections that carry the single writes (Create,
	// Update, Delete) made outside a unit of work's transaction, pipelined: each worker sends
	// every write queued at that moment in one network write, each still its own transaction
	// (see "Write pipeline" in the package documentation). Default [DefaultWriteWorkers]; a
	// negative value turns the pipeline off (each write takes a pooled connection).
	WriteWorkers int
	// NoNotify turns off the announcement of committed writes (storage.Backend.Listen, see
	// [NotifyChannel]): Listen then fails with storage.ErrNotifyDisabled. PostgreSQL's
	// NOTIFY serialises the commits of the transactions that notified, across the server,
	// so a deployment whose web heads serve no change feed may spare it. Default false:
	// writes are announced.
	NoNotify bool
}

// DefaultWriteWorkers is the number of write-pipeline workers used when
// [Options.WriteWorkers] is 0, for a pool of poolSize connections in a process running on
// procs CPUs (GOMAXPROCS): half of procs, at least 2, and at most half of the pool (at least
// 1), so that reads keep most connections.
//
// Fewer workers make larger batches: PostgreSQL then commits more writes per transaction and
// per network round trip, which is what limits writes when the database shares the
// machine's cores (docs/benchmarks-history.md has the measurements). The second
// worker keeps writes flowing while one waits for a lock. The number grows with the
// process's CPUs because a process that serves more requests queues more writes, and a
// worker's batch runs on one PostgreSQL core.
func DefaultWriteWorkers(poolSize, procs int) int {
	return min(max(2, procs/2), max(1, poolSize/2))
}

// Backend is the PostgreSQL storage backend. It implements every capability of
// storage.Backend (units of work, a schema, change announcements, and the joint reads and
// writes with a PostgreSQL permission backend on its database), and is safe for concurrent
// use.
type Backend struct {
	pool        *pgxpool.Pool
	poolTimeout time.Duration
	maxFetch    int
	log         *slog.Logger
	pipe        *pipeline  // nil: no write pipeline
	joint       sync.Map   // *permpg.Backend → bool: on the same database (GetManyAccess)
	noNotify    bool       // Options.NoNotify
	changes     fanout.Set // the listeners of Listen (notify.go)
}

var _ storage.Backend = (*Backend)(nil)

func init() {
	storage.Register(BackendName, Open)
}

// Open is the storage.Factory registered as "postgresql". It reads storage_url,
// storage_pool_size, storage_pool_timeout (seconds), storage_statement_timeout (seconds, 0
// for none), storage_write_workers, storage_max_fetch_size and storage_notify. It does not touch the
// schema: run [Backend.InitializeSchema] from the migrate step. It logs through the logger
// carried by ctx ([config.LoggerFrom]).
func Open(ctx context.Context, s *config.Settings) (storage.Backend, error) {
	opts := Options{URL: s.String("storage_url"), Logger: config.LoggerFrom(ctx)}
	var err error
	if opts.PoolSize, err = s.Int("storage_pool_size"); err != nil {
		return nil, err
	}
	if opts.PoolTimeout, err = s.Seconds("storage_pool_timeout"); err != nil {
		return nil, err
	}
	if opts.StatementTimeout, err = s.Seconds("storage_statement_timeout"); err != nil {
		return nil, err
	}
	if opts.StatementTimeout <= 0 {
		opts.StatementTimeout = -1 // 0 in the settings: none
	}
	if opts.WriteWorkers, err = s.Int("storage_write_workers"); err != nil {
		return nil, err
	}
	notify, err := s.Bool("storage_notify")
	if err != nil {
		return nil, err
	}
	opts.NoNotify = !notify
	if n, set, err := s.OptionalInt("storage_max_fetch_size"); err != nil {
		return nil, err
	} else if set {
		opts.MaxFetchSize = n
		if n == 0 {
			opts.MaxFetchSize = -1
		}
	}
	b, err := New(ctx, opts)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// New creates a backend with its own connection pool. Connections are opened on demand, so
// New succeeds while the server is down; calls then fail with *storage.BackendError until it
// is back.
func New(ctx context.Context, opts Options) (*Backend, error) {
	url := strings.TrimSpace(opts.URL)
	if url == "" {
		return nil, errors.New("storage/postgresql: storage_url is required")
	}
	if scheme, rest, ok := strings.Cut(url, "://"); ok {
		if base, _, hasDriver := strings.Cut(scheme, "+"); hasDriver {
			url = base + "://" + rest
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("storage/postgresql: storage_url: %w", err)
	}
	if opts.PoolSize <= 0 {
		opts.PoolSize = DefaultPoolSize
	}
	if opts.PoolTimeout <= 0 {
		opts.PoolTimeout = DefaultPoolTimeout
	}
	switch {
	case opts.MaxFetchSize == 0:
		opts.MaxFetchSize = DefaultMaxFetchSize
	case opts.MaxFetchSize < 0:
		opts.MaxFetchSize = 0
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.StatementTimeout == 0 {
		opts.StatementTimeout = DefaultStatementTimeout
	}
	if _, inURL := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !inURL && opts.StatementTimeout > 0 {
		ms := (opts.StatementTimeout + time.Millisecond - 1) / time.Millisecond // 0 would mean none
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(int64(ms), 10)
	}
	if opts.NoNotify {
		cfg.ConnConfig.RuntimeParams[notifySetting] = "off"
	}
	cfg.MaxConns = int32(opts.PoolSize)
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > opts.PoolTimeout {
		cfg.ConnConfig.ConnectTimeout = opts.PoolTimeout
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("storage/postgresql: %w", err)
	}
	b := &Backend{pool: pool, poolTimeout: opts.PoolTimeout, maxFetch: opts.MaxFetchSize, log: opts.Logger, noNotify: opts.NoNotify}
	b.changes.Source = b.listenSource
	if opts.WriteWorkers == 0 {
		opts.WriteWorkers = DefaultWriteWorkers(opts.PoolSize, runtime.GOMAXPROCS(0))
	}
	if opts.WriteWorkers > 0 {
		b.pipe = newPipeline(b, opts.WriteWorkers)
	}
	return b, nil
}

// Close stops the change listeners and the write pipeline and closes the pool, waiting for
// connections in use to be returned.
func (b *Backend) Close() error {
	b.changes.Close()
	if b.pipe != nil {
		b.pipe.close()
	}
	b.pool.Close()
	return nil
}

// querier is what pgx.Tx and *pgxpool.Conn have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// acquire takes a connection, waiting at most the pool timeout.
func (b *Backend) acquire(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, b.poolTimeout)
	defer cancel()
	conn, err := b.pool.Acquire(actx)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("no connection within the pool timeout (%s): %w", b.poolTimeout, err)
	}
	return conn, err
}

// run calls fn with the querier ctx belongs to: the unit of work's transaction when one has
// started (or when write starts it), otherwise a pooled connection in autocommit mode. The
// unit's first write runs in autocommit mode too when ctx allows a final write
// (finalwrite.Allowed). It turns driver failures into *storage.BackendError.
func (b *Backend) run(ctx context.Context, op string, write bool, fn func(q querier) error) error {
	return b.runWith(ctx, op, write, fn, nil)
}

// runRow is run for a single write (Create, Update, Delete), whose statements return at most
// one row: in autocommit mode it goes through the write pipeline when there is one.
func (b *Backend) runRow(ctx context.Context, op string, fn func(q rowQuerier) error) error {
	return b.runWith(ctx, op, true, func(q querier) error { return fn(q) }, fn)
}

// runWith is run; piped, when not nil and the backend has a write pipeline, replaces fn for
// a call in autocommit mode.
func (b *Backend) runWith(ctx context.Context, op string, write bool, fn func(q querier) error, piped func(q rowQuerier) error) error {
	if u := b.unitFrom(ctx); u != nil {
		u.mu.Lock()
		defer u.mu.Unlock()
		if !u.done {
			if u.tx == nil && write && !u.final && finalwrite.Allowed(ctx) {
				u.final = true // the unit's one write: no transaction to hold the locks
			} else if u.tx == nil && write {
				if err := u.begin(ctx); err != nil {
					return b.wrap(op, err)
				}
			}
			if u.tx != nil {
				return b.wrap(op, fn(u.tx))
			}
		}
	}
	if piped != nil && b.pipe != nil {
		return b.wrap(op, piped(b.pipe))
	}
	conn, err := b.acquire(ctx)
	if err != nil {
		return b.wrap(op, err)
	}
	defer conn.Release()
	return b.wrap(op, fn(conn))
}

// passThrough marks errors that are results, not backend failures.
type passThrough struct{ err error }

func (p passThrough) Error() string { return p.err.Error() }
func (p passThrough) Unwrap() error { return p.err }

// result returns err so that run hands it to the caller unwrapped.
func result(err error) error { return passThrough{err} }

func (b *Backend) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var p passThrough
	if errors.As(err, &p) {
		return p.err
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "25006" || pgErr.Code == "42501": // read_only_sql_transaction, insufficient_privilege
			err = fmt.Errorf("%w: %w", storage.ErrReadOnly, err)
		case strings.HasPrefix(pgErr.Code, "22"): // data exception: bad JSON, \u0000 in jsonb
			return fmt.Errorf("%w: %s: %w", ErrInvalidData, op, err)
		}
	}
	return &storage.BackendError{Backend: BackendName, Op: op, Err: err}
}
