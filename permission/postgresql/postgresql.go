// Package postgresql is a permission backend on PostgreSQL (pgx/v5 connection pool), with the
// tables of kinto.core's permission backend:
//
//	user_principals(user_id, principal)                      -- primary key: both
//	access_control_entries(object_id, permission, principal) -- primary key: all three
//
// and one of its own, user_principals_versions(user_id, version), which triggers on
// user_principals keep: a number per user id that every change of the user's memberships
// increases. It lets the backend keep each user's groups between requests, on every web
// head, and check in each authorization statement that they have not changed (see
// [AccessSQL]).
//
// # Schema
//
// The schema is embedded and versioned (a permission_schema_version row in the metadata table
// shared with the storage backend, as in kinto). It is created or migrated only by
// [Backend.InitializeSchema] (the migrate command), never when the backend is opened.
//
// # Settings
//
// It registers itself as "postgresql" (also "cliquet.permission.postgresql" and
// "kinto.core.permission.postgresql") and reads permission_url, permission_pool_size,
// permission_pool_timeout and permission_groups_cache_size (see [FromSettings]).
//
// # Patterns
//
// A '*' in the object id of a binding given to AccessibleObjects (or of an id given to
// DeleteObjectPermissions or MatchingObjects) becomes the LIKE wildcard '%'; '%', '_' and '\' are escaped, so
// every other character only matches itself. Values are always passed as query parameters.
package postgresql

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
)

// SchemaVersion is the version of the schema this package writes and reads.
const SchemaVersion = 3

//go:embed schema.sql migrations/*.sql
var schemaFS embed.FS

func init() {
	permission.Register("postgresql", func(ctx context.Context, s *config.Settings) (permission.Backend, error) {
		return FromSettings(ctx, s)
	})
}

// Options configures [New].
type Options struct {
	// URL is the database location, "postgres://user:pass@host:5432/db?sslmode=disable"
	// (also "postgresql://"; a SQLAlchemy driver suffix such as "postgresql+psycopg2://" is
	// dropped). Required.
	URL string
	// PoolSize is the maximum number of connections. Zero means 25.
	PoolSize int
	// PoolTimeout bounds the wait for a free connection. Zero means 30 seconds.
	PoolTimeout time.Duration
	// Logger receives InitializeSchema's report (what it applies, or would apply with
	// dryRun). Nil means no logging.
	Logger *slog.Logger
	// GroupsCacheSize is the number of users whose groups the backend keeps between
	// statements of [Backend.Access] (see [AccessSQL]): their later statements then check
	// the groups' versions instead of reading them. Zero means 10,000; negative keeps none.
	GroupsCacheSize int
}

// Backend is the PostgreSQL permission backend. It is safe for concurrent use.
type Backend struct {
	pool    *pgxpool.Pool
	timeout time.Duration
	logger  *slog.Logger
	groups  groupsCache
}

var _ permission.Backend = (*Backend)(nil)

// New builds a backend from opts. It does not connect: the first call does (see
// [Backend.Ping]). It does not create the tables either (see [Backend.InitializeSchema]).
func New(ctx context.Context, opts Options) (*Backend, error) {
	if opts.URL == "" {
		return nil, errors.New("permission: postgresql: no URL (permission_url)")
	}
	cfg, err := pgxpool.ParseConfig(normalizeURL(opts.URL))
	if err != nil {
		return nil, fmt.Errorf("permission: postgresql: parse URL: %w", err)
	}
	if opts.PoolSize < 0 || opts.PoolTimeout < 0 {
		return nil, errors.New("permission: postgresql: pool size and timeout must not be negative")
	}
	cfg.MaxConns = 25
	if opts.PoolSize > 0 {
		cfg.MaxConns = int32(opts.PoolSize)
	}
	timeout := opts.PoolTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("permission: postgresql: %w", err)
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	b := &Backend{pool: pool, timeout: timeout, logger: logger}
	switch {
	case opts.GroupsCacheSize == 0:
		b.groups.max = 10000
	case opts.GroupsCacheSize > 0:
		b.groups.max = opts.GroupsCacheSize
	}
	return b, nil
}

// FromSettings builds a backend from permission_url, permission_pool_size (default 25),
// permission_pool_timeout (seconds, default 30) and permission_groups_cache_size (default
// 10000; 0 keeps no groups between requests, see [Options]). It logs through the logger carried by ctx
// ([config.LoggerFrom]).
func FromSettings(ctx context.Context, s *config.Settings) (*Backend, error) {
	size, err := s.Int("permission_pool_size")
	if err != nil {
		return nil, err
	}
	timeout, err := s.Seconds("permission_pool_timeout")
	if err != nil {
		return nil, err
	}
	groups, err := s.Int("permission_groups_cache_size")
	if err != nil {
		return nil, err
	}
	if groups == 0 {
		groups = -1 // the setting's 0 keeps none
	}
	return New(ctx, Options{URL: s.String("permission_url"), PoolSize: size, PoolTimeout: timeout,
		Logger: config.LoggerFrom(ctx), GroupsCacheSize: groups})
}

// normalizeURL turns "postgresql+psycopg2://..." (SQLAlchemy) into "postgresql://...".
func normalizeURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if base, _, ok := strings.Cut(scheme, "+"); ok {
		return base + "://" + rest
	}
	return u
}

func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && strings.HasPrefix(pgErr.Code, "22") {
		// A data exception: input PostgreSQL refuses (a NUL character or invalid UTF-8 in a
		// principal or an object id). Retrying cannot help: not a backend failure.
		return fmt.Errorf("%w: postgresql: %s: %w", permission.ErrInvalid, op, err)
	}
	return &permission.BackendError{Backend: "postgresql", Op: op, Err: err}
}

// conn takes a connection from the pool, waiting at most the pool timeout.
func (b *Backend) conn(ctx context.Context) (*pgxpool.Conn, error) {
	actx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	return b.pool.Acquire(actx)
}

func (b *Backend) exec(ctx context.Context, op, sql string, args ...any) error {
	c, err := b.conn(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer c.Release()
	_, err = c.Exec(ctx, sql, args...)
	return wrap(op, err)
}

func (b *Backend) strings(ctx context.Context, op, sql string, args ...any) ([]string, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer c.Release()
	rows, err := c.Query(ctx, sql, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(op, err)
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}

// tx runs f in a transaction on a pooled connection.
func (b *Backend) tx(ctx context.Context, op string, f func(pgx.Tx) error) error {
	c, err := b.conn(ctx)
	if err != nil {
		return wrap(op, err)
	}
	defer c.Release()
	return wrap(op, pgx.BeginFunc(ctx, c, f))
}

// AddUserPrincipal implements [permission.Backend].
func (b *Backend) AddUserPrincipal(ctx context.Context, userID, principal string) error {
	if userID == "" || principal == "" {
		return permission.ErrInvalid
	}
	return b.exec(ctx, "add user principal",
		`INSERT INTO user_principals (user_id, principal) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		userID, principal)
}

// RemoveUserPrincipal implements [permission.Backend].
func (b *Backend) RemoveUserPrincipal(ctx context.Context, userID, principal string) error {
	return b.exec(ctx, "remove user principal",
		`DELETE FROM user_principals WHERE user_id = $1 AND principal = $2`, userID, principal)
}

// RemovePrincipal implements [permission.Backend].
func (b *Backend) RemovePrincipal(ctx context.Context, principal string) error {
	return b.exec(ctx, "remove principal", `DELETE FROM user_principals WHERE principal = $1`, principal)
}

// UserPrincipals implements [permission.Backend]: the principals of userID and those given to
// every authenticated user (user id [permission.Authenticated]). The two user ids are
// scalars, not an array whose length the plan made for each execution would see: the
// prepared statement keeps its generic plan.
func (b *Backend) UserPrincipals(ctx context.Context, userID string) ([]string, error) {
	return b.strings(ctx, "user principals",
		`SELECT DISTINCT principal FROM user_principals WHERE user_id IN ($1::text, $2::text) ORDER BY principal`,
		userID, permission.Authenticated)
}

// AddPrincipalToACE implements [permission.Backend].
func (b *Backend) AddPrincipalToACE(ctx context.Context, objectID, perm, principal string) error {
	if objectID == "" || perm == "" || principal == "" {
		return permission.ErrInvalid
	}
	return b.exec(ctx, "add principal to ace",
		`INSERT INTO access_control_entries (object_id, permission, principal) VALUES ($1, $2, $3)
		 ON CONFLICT DO NOTHING`, objectID, perm, principal)
}

// RemovePrincipalFromACE implements [permission.Backend].
func (b *Backend) RemovePrincipalFromACE(ctx context.Context, objectID, perm, principal string) error {
	return b.exec(ctx, "remove principal from ace",
		`DELETE FROM access_control_entries WHERE object_id = $1 AND permission = $2 AND principal = $3`,
		objectID, perm, principal)
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func objectPermissions(ctx context.Context, q querier, objectID string, perms []string) (permission.Set, error) {
	sql := `SELECT permission, principal FROM access_control_entries WHERE object_id = $1`
	args := []any{objectID}
	if len(perms) > 0 {
		sql += ` AND permission = ANY($2)`
		args = append(args, perms)
	}
	rows, err := q.Query(ctx, sql+` ORDER BY permission, principal`, args...)
	if err != nil {
		return nil, err
	}
	out := permission.Set{}
	var perm, principal string
	_, err = pgx.ForEachRow(rows, []any{&perm, &principal}, func() error {
		out[perm] = append(out[perm], principal)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ObjectPermissions implements [permission.Backend].
func (b *Backend) ObjectPermissions(ctx context.Context, objectID string, perms ...string) (permission.Set, error) {
	c, err := b.conn(ctx)
	if err != nil {
		return nil, wrap("object permissions", err)
	}
	defer c.Release()
	s, err := objectPermissions(ctx, c, objectID, perms)
	return s, wrap("object permissions", err)
}

// ReplaceObjectPermissions implements [permission.Backend]. The replacement is one
// transaction, serialised with other replacements of the same object.
func (b *Backend) ReplaceObjectPermissions(ctx context.Context, objectID string, s permission.Set) (permission.Set, error) {
	if objectID == "" {
		return nil, permission.ErrInvalid
	}
	var perms, newPerms, newPrincipals []string
	for perm, principals := range s {
		if perm == "" {
			return nil, permission.ErrInvalid
		}
		perms = append(perms, perm)
		for _, p := range principals {
			if p == "" {
				return nil, permission.ErrInvalid
			}
			newPerms = append(newPerms, perm)
			newPrincipals = append(newPrincipals, p)
		}
	}
	// One round trip: the statements go as one pipelined batch, which PostgreSQL runs as one
	// implicit transaction (everything before the batch's Sync), so the advisory lock
	// serialising the replacements of one object is held until the batch ends.
	c, err := b.conn(ctx)
	if err != nil {
		return nil, wrap("replace object permissions", err)
	}
	defer c.Release()
	batch := &pgx.Batch{}
	if len(perms) > 0 {
		batch.Queue(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "permission:"+objectID)
		batch.Queue(`DELETE FROM access_control_entries WHERE object_id = $1 AND permission = ANY($2)`, objectID, perms)
	}
	if len(newPerms) > 0 {
		batch.Queue(`INSERT INTO access_control_entries (object_id, permission, principal)
			 SELECT $1, perm, principal FROM unnest($2::text[], $3::text[]) AS n(perm, principal)
			 ON CONFLICT DO NOTHING`, objectID, newPerms, newPrincipals)
	}
	out := permission.Set{}
	var perm, principal string
	batch.Queue(`SELECT permission, principal FROM access_control_entries WHERE object_id = $1 ORDER BY permission, principal`,
		objectID).Query(func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&perm, &principal}, func() error {
			out[perm] = append(out[perm], principal)
			return nil
		})
		return err
	})
	if err := c.SendBatch(ctx, batch).Close(); err != nil {
		return nil, wrap("replace object permissions", err)
	}
	return out, nil
}

// likeEscape turns a '*' pattern into a LIKE pattern (escape character '\').
func likeEscape(pattern string) string {
	var sb strings.Builder
	for _, r := range pattern {
		switch r {
		case '\\', '%', '_':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case '*':
			sb.WriteByte('%')
		default:
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// DeleteObjectPermissions implements [permission.Backend]; ids with '*' are patterns.
func (b *Backend) DeleteObjectPermissions(ctx context.Context, objectIDs ...string) error {
	if len(objectIDs) == 0 {
		return nil
	}
	exact, patterns := []string{}, []string{}
	for _, id := range objectIDs {
		if strings.Contains(id, "*") {
			patterns = append(patterns, likeEscape(id))
		} else {
			exact = append(exact, id)
		}
	}
	return b.exec(ctx, "delete object permissions",
		`DELETE FROM access_control_entries WHERE object_id = ANY($1) OR object_id LIKE ANY($2)`,
		exact, patterns)
}

// MatchingObjects implements [permission.Backend]: the objects with ACEs whose id matches
// pattern ('*' matches any run of characters), sorted. It matches as DeleteObjectPermissions
// does: an exact comparison without '*', LIKE with the pattern escaped otherwise.
func (b *Backend) MatchingObjects(ctx context.Context, pattern string) ([]string, error) {
	if !strings.Contains(pattern, "*") {
		return b.strings(ctx, "matching objects",
			`SELECT DISTINCT object_id FROM access_control_entries WHERE object_id = $1`, pattern)
	}
	return b.strings(ctx, "matching objects",
		`SELECT DISTINCT object_id FROM access_control_entries WHERE object_id LIKE $1
		  ORDER BY object_id`, likeEscape(pattern))
}

// PrincipalUsers implements [permission.Backend]: the users (the pseudo-user
// [permission.Authenticated] included) given principal by AddUserPrincipal, sorted.
func (b *Backend) PrincipalUsers(ctx context.Context, principal string) ([]string, error) {
	return b.strings(ctx, "principal users",
		`SELECT user_id FROM user_principals WHERE principal = $1 ORDER BY user_id`, principal)
}

func splitBindings(bound []permission.Binding, pattern bool) (objects, perms []string) {
	objects, perms = make([]string, len(bound)), make([]string, len(bound))
	for i, bd := range bound {
		objects[i], perms[i] = bd.ObjectID, bd.Permission
		if pattern {
			objects[i] = likeEscape(bd.ObjectID)
		}
	}
	return objects, perms
}

// AuthorizedPrincipals implements [permission.Backend]. The arrays are read through scalar
// subqueries, so that the planner does not see their length (see [Backend.AccessibleObjects]).
func (b *Backend) AuthorizedPrincipals(ctx context.Context, bound []permission.Binding) ([]string, error) {
	objects, perms := splitBindings(bound, false)
	return b.strings(ctx, "authorized principals",
		`SELECT DISTINCT a.principal
		   FROM access_control_entries a
		   JOIN unnest((SELECT $1::text[]), (SELECT $2::text[])) AS bd(object_id, permission)
		     ON a.object_id = bd.object_id AND a.permission = bd.permission
		  ORDER BY a.principal`, objects, perms)
}

// AccessibleObjects implements [permission.Backend].
//
// The three arrays are read through scalar subqueries ((SELECT $1::text[]), evaluated once,
// before the scan), so that the planner does not see their length: the plan made for each
// execution's values then costs as much as the generic plan (which assumes ten elements),
// and the prepared statement keeps its generic plan after five executions instead of being
// planned again on every one. Seeing the values would not give a better plan anyway: the
// patterns are matched row by row, so they never bound an index scan.
func (b *Backend) AccessibleObjects(ctx context.Context, principals []string, bound []permission.Binding) (map[string][]string, error) {
	const op = "accessible objects"
	out := map[string][]string{}
	if len(principals) == 0 || len(bound) == 0 {
		return out, nil
	}
	patterns, perms := splitBindings(bound, true)
	c, err := b.conn(ctx)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer c.Release()
	rows, err := c.Query(ctx,
		`SELECT DISTINCT a.object_id, a.permission
		   FROM access_control_entries a
		   JOIN unnest((SELECT $1::text[]), (SELECT $2::text[])) AS bd(pattern, permission)
		     ON a.permission = bd.permission AND a.object_id LIKE bd.pattern
		  WHERE a.principal = ANY((SELECT $3::text[])::text[])
		  ORDER BY a.object_id, a.permission`, patterns, perms, principals)
	if err != nil {
		return nil, wrap(op, err)
	}
	var obj, perm string
	_, err = pgx.ForEachRow(rows, []any{&obj, &perm}, func() error {
		out[obj] = append(out[obj], perm)
		return nil
	})
	if err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// CheckPermission implements [permission.Backend]: each binding is looked up through the
// primary key of access_control_entries. The bindings are joined LATERAL with OFFSET 0, so
// that the cost PostgreSQL estimates for the EXISTS (that of its first row) does not depend
// on the number of bindings: the plan made for the parameters' values then costs as much as
// the generic one, and the prepared statement keeps its generic plan after five executions
// instead of being planned again on every one.
func (b *Backend) CheckPermission(ctx context.Context, principals []string, bound []permission.Binding) (bool, error) {
	const op = "check permission"
	if len(principals) == 0 || len(bound) == 0 {
		return false, nil
	}
	objects, perms := splitBindings(bound, false)
	c, err := b.conn(ctx)
	if err != nil {
		return false, wrap(op, err)
	}
	defer c.Release()
	var ok bool
	err = c.QueryRow(ctx,
		`SELECT EXISTS (
		   SELECT 1 FROM unnest($1::text[], $2::text[]) AS bd(object_id, permission),
		     LATERAL (SELECT 1 FROM access_control_entries a
		               WHERE a.object_id = bd.object_id AND a.permission = bd.permission
		                 AND a.principal = ANY($3)
		              OFFSET 0) AS granted)`, objects, perms, principals).Scan(&ok)
	return ok, wrap(op, err)
}

// SameDatabase reports whether a session opened with cfg reads the tables this backend
// reads, with the same rights: same server (host and port, fallbacks included), database,
// user, search_path and options (the run-time parameters that decide which tables a name
// resolves to; a statement_timeout does not). A storage backend on the same
// database may then run [AccessSQL] within its own statements. It compares what the two
// connection strings say, not the servers they reach: two spellings of one server (a host
// name and its address) are told apart, which only costs the joint reads.
func (b *Backend) SameDatabase(cfg *pgx.ConnConfig) bool {
	if cfg == nil {
		return false
	}
	own := b.pool.Config().ConnConfig
	// Of the run-time parameters, only those that decide which tables a name resolves to
	// matter (a statement_timeout, say, does not).
	for _, k := range []string{"search_path", "options"} {
		if own.RuntimeParams[k] != cfg.RuntimeParams[k] {
			return false
		}
	}
	if own.Host != cfg.Host || own.Port != cfg.Port || own.Database != cfg.Database ||
		own.User != cfg.User || len(own.Fallbacks) != len(cfg.Fallbacks) {
		return false
	}
	for i, f := range own.Fallbacks {
		if g := cfg.Fallbacks[i]; f.Host != g.Host || f.Port != g.Port {
			return false
		}
	}
	return true
}

// Flush implements [permission.Backend]: it empties the two permission tables.
func (b *Backend) Flush(ctx context.Context) error {
	return b.tx(ctx, "flush", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM user_principals`); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM access_control_entries`)
		return err
	})
}

// Ping implements [permission.Backend]. It reads the permission tables; unless readonly, it
// also writes a row in a transaction that it rolls back, so nothing is left behind.
func (b *Backend) Ping(ctx context.Context, readonly bool) error {
	if readonly {
		return b.exec(ctx, "ping", `SELECT 1 FROM user_principals LIMIT 1`)
	}
	err := b.tx(ctx, "ping", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`INSERT INTO user_principals (user_id, principal) VALUES ('__heartbeat__', 'alive')
			 ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM access_control_entries LIMIT 1`); err != nil {
			return err
		}
		return errRollback
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

// errRollback makes a transaction roll back without reporting an error.
var errRollback = errors.New("rollback")

// Close closes the connection pool; the backend is unusable afterwards.
func (b *Backend) Close() error {
	b.pool.Close()
	return nil
}

// InitializeSchema implements [permission.Backend]: it creates the tables on an empty
// database, or applies the migrations from the installed version to [SchemaVersion]. With
// dryRun, it does the same in a transaction that it rolls back, so nothing changes. Running
// it again is harmless; concurrent runs are serialised with an advisory lock.
func (b *Backend) InitializeSchema(ctx context.Context, dryRun bool) error {
	err := b.tx(ctx, "initialize schema", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('cliquet permission schema', 0))`); err != nil {
			return err
		}
		version, err := installedVersion(ctx, tx)
		if err != nil {
			return err
		}
		verb := "applying"
		if dryRun {
			verb = "would apply (dry run)"
		}
		switch {
		case version == SchemaVersion:
			b.logger.InfoContext(ctx, "permission schema is up to date", "version", version)
		case version > SchemaVersion:
			return fmt.Errorf("installed schema version %d is newer than this code (%d)", version, SchemaVersion)
		default:
			if version == 0 {
				// schema.sql creates version 2; the migrations go on from there.
				b.logger.InfoContext(ctx, "permission schema: "+verb, "file", "schema.sql", "to", 2)
				if err := runFile(ctx, tx, "schema.sql"); err != nil {
					return err
				}
				version = 2
			}
			for v := version; v < SchemaVersion; v++ {
				name := fmt.Sprintf("migrations/migration_%03d_%03d.sql", v, v+1)
				b.logger.InfoContext(ctx, "permission schema: "+verb, "file", name, "from", v)
				if err := runFile(ctx, tx, name); err != nil {
					return err
				}
				got, err := installedVersion(ctx, tx)
				if err != nil {
					return err
				}
				if got != v+1 {
					return fmt.Errorf("%s left schema version %d, want %d", name, got, v+1)
				}
			}
		}
		if dryRun {
			return errRollback
		}
		return nil
	})
	if errors.Is(err, errRollback) {
		return nil
	}
	return err
}

func runFile(ctx context.Context, tx pgx.Tx, name string) error {
	sql, err := schemaFS.ReadFile(name)
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, string(sql)); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// installedVersion returns the schema version in the database: the permission_schema_version
// row; 1 when the tables exist without one (kinto before 8.1.2); 0 when there is no schema.
func installedVersion(ctx context.Context, tx pgx.Tx) (int, error) {
	var hasMetadata, hasTables bool
	if err := tx.QueryRow(ctx,
		`SELECT to_regclass('metadata') IS NOT NULL, to_regclass('user_principals') IS NOT NULL`,
	).Scan(&hasMetadata, &hasTables); err != nil {
		return 0, err
	}
	if hasMetadata {
		// Not prepared: the metadata table may have been created again (by a dry run
		// rolled back, or the storage backend's schema) since the connection last read it.
		rows, err := tx.Query(ctx, `SELECT value FROM metadata WHERE name = 'permission_schema_version'`,
			pgx.QueryExecModeSimpleProtocol)
		if err != nil {
			return 0, err
		}
		values, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, err
		}
		best := 0
		for _, v := range values {
			if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > best {
				best = n
			}
		}
		if best > 0 {
			return best, nil
		}
	}
	if hasTables {
		return 1, nil
	}
	return 0, nil
}
