package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// WatchStorage returns b decorated so that every method call is timed under
// storage.<name>.<method>, with method in snake case: create, get, update, delete,
// delete_all, purge_deleted, list, count, timestamp, and for the optional interfaces ping,
// initialize_schema, flush, and commit and rollback for transactions started with Begin.
// Close is not timed.
//
// The returned value implements storage.Transactor, storage.Pinger, storage.Migrator and
// storage.Flusher exactly when b does, so type assertions on it stay truthful; other
// methods of b are reachable through its Unwrap() storage.Backend method. With a nil m, b
// is returned unchanged.
func WatchStorage(b storage.Backend, m *Metrics, name string) storage.Backend {
	if m == nil || b == nil {
		return b
	}
	w := &watchedStorage{inner: b, m: m, prefix: "storage." + name + "."}
	var mask int
	tx, _ := b.(storage.Transactor)
	pi, _ := b.(storage.Pinger)
	mi, _ := b.(storage.Migrator)
	fl, _ := b.(storage.Flusher)
	if tx != nil {
		mask |= 1
	}
	if pi != nil {
		mask |= 2
	}
	if mi != nil {
		mask |= 4
	}
	if fl != nil {
		mask |= 8
	}
	T, P, M, F := stTransactor{w, tx}, stPinger{w, pi}, stMigrator{w, mi}, stFlusher{w, fl}
	switch mask {
	case 0:
		return w
	case 1:
		return struct {
			*watchedStorage
			stTransactor
		}{w, T}
	case 2:
		return struct {
			*watchedStorage
			stPinger
		}{w, P}
	case 3:
		return struct {
			*watchedStorage
			stTransactor
			stPinger
		}{w, T, P}
	case 4:
		return struct {
			*watchedStorage
			stMigrator
		}{w, M}
	case 5:
		return struct {
			*watchedStorage
			stTransactor
			stMigrator
		}{w, T, M}
	case 6:
		return struct {
			*watchedStorage
			stPinger
			stMigrator
		}{w, P, M}
	case 7:
		return struct {
			*watchedStorage
			stTransactor
			stPinger
			stMigrator
		}{w, T, P, M}
	case 8:
		return struct {
			*watchedStorage
			stFlusher
		}{w, F}
	case 9:
		return struct {
			*watchedStorage
			stTransactor
			stFlusher
		}{w, T, F}
	case 10:
		return struct {
			*watchedStorage
			stPinger
			stFlusher
		}{w, P, F}
	case 11:
		return struct {
			*watchedStorage
			stTransactor
			stPinger
			stFlusher
		}{w, T, P, F}
	case 12:
		return struct {
			*watchedStorage
			stMigrator
			stFlusher
		}{w, M, F}
	case 13:
		return struct {
			*watchedStorage
			stTransactor
			stMigrator
			stFlusher
		}{w, T, M, F}
	case 14:
		return struct {
			*watchedStorage
			stPinger
			stMigrator
			stFlusher
		}{w, P, M, F}
	default:
		return struct {
			*watchedStorage
			stTransactor
			stPinger
			stMigrator
			stFlusher
		}{w, T, P, M, F}
	}
}

// watchedStorage times the methods of storage.Backend.
type watchedStorage struct {
	inner  storage.Backend
	m      *Metrics
	prefix string
}

func (w *watchedStorage) done(method string, start time.Time) {
	w.m.Timing(w.prefix+method, time.Since(start))
}

// Unwrap returns the decorated backend.
func (w *watchedStorage) Unwrap() storage.Backend { return w.inner }

func (w *watchedStorage) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	defer w.done("create", time.Now())
	return w.inner.Create(ctx, s, o)
}

func (w *watchedStorage) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	defer w.done("get", time.Now())
	return w.inner.Get(ctx, s, id)
}

func (w *watchedStorage) Update(ctx context.Context, s storage.Scope, o storage.Object, cond ...storage.Condition) (storage.Object, error) {
	defer w.done("update", time.Now())
	return w.inner.Update(ctx, s, o, cond...)
}

func (w *watchedStorage) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond ...storage.Condition) (storage.Object, error) {
	defer w.done("delete", time.Now())
	return w.inner.Delete(ctx, s, id, lastModified, cond...)
}

func (w *watchedStorage) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	defer w.done("delete_all", time.Now())
	return w.inner.DeleteAll(ctx, s, opt)
}

func (w *watchedStorage) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	defer w.done("purge_deleted", time.Now())
	return w.inner.PurgeDeleted(ctx, s, before)
}

func (w *watchedStorage) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	defer w.done("list", time.Now())
	return w.inner.List(ctx, s, opt)
}

func (w *watchedStorage) Count(ctx context.Context, s storage.Scope, filters []storage.Filter) (int, error) {
	defer w.done("count", time.Now())
	return w.inner.Count(ctx, s, filters)
}

func (w *watchedStorage) Timestamp(ctx context.Context, s storage.Scope) (int64, error) {
	defer w.done("timestamp", time.Now())
	return w.inner.Timestamp(ctx, s)
}

func (w *watchedStorage) Close() error { return w.inner.Close() }

type stTransactor struct {
	w     *watchedStorage
	inner storage.Transactor
}

// Begin starts a transaction on the decorated backend; its Commit and Rollback are timed.
func (t stTransactor) Begin(ctx context.Context) (context.Context, storage.Tx) {
	ctx, tx := t.inner.Begin(ctx)
	if tx == nil {
		return ctx, nil
	}
	return ctx, watchedTx{w: t.w, inner: tx}
}

type watchedTx struct {
	w     *watchedStorage
	inner storage.Tx
}

func (t watchedTx) Commit(ctx context.Context) error {
	defer t.w.done("commit", time.Now())
	return t.inner.Commit(ctx)
}

func (t watchedTx) Rollback(ctx context.Context) error {
	defer t.w.done("rollback", time.Now())
	return t.inner.Rollback(ctx)
}

type stPinger struct {
	w     *watchedStorage
	inner storage.Pinger
}

func (p stPinger) Ping(ctx context.Context, readonly bool) error {
	defer p.w.done("ping", time.Now())
	return p.inner.Ping(ctx, readonly)
}

type stMigrator struct {
	w     *watchedStorage
	inner storage.Migrator
}

func (p stMigrator) InitializeSchema(ctx context.Context, dryRun bool) error {
	defer p.w.done("initialize_schema", time.Now())
	return p.inner.InitializeSchema(ctx, dryRun)
}

type stFlusher struct {
	w     *watchedStorage
	inner storage.Flusher
}

func (p stFlusher) Flush(ctx context.Context) error {
	defer p.w.done("flush", time.Now())
	return p.inner.Flush(ctx)
}

var (
	_ storage.Backend    = (*watchedStorage)(nil)
	_ storage.Transactor = stTransactor{}
	_ storage.Tx         = watchedTx{}
	_ storage.Pinger     = stPinger{}
	_ storage.Migrator   = stMigrator{}
	_ storage.Flusher    = stFlusher{}
)
