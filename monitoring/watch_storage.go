package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// WatchStorage returns b decorated so that every method call is timed under
// storage.<name>.<method>, with method in snake case: create, get, get_many, update, delete,
// delete_all, purge_deleted, purge_tombstones, horizon, list, count, timestamp,
// list_with_timestamp, ping, initialize_schema, flush, get_many_access,
// get_many_access_list, create_with_aces and create_guarded, and commit and rollback for
// the units of work started with Begin. Begin, Listen and Close are not timed, nor a call
// that b declines with storage.ErrNotSupported (its caller's fallback is timed instead).
//
// The result forwards every method of storage.Backend, so it keeps every capability of b,
// and declines what b declines. With a nil m, b is returned unchanged.
func WatchStorage(b storage.Backend, m *Metrics, name string) storage.Backend {
	if m == nil || b == nil {
		return b
	}
	return &watchedStorage{watch: newWatch(m, "storage", name), inner: b}
}

// watchedStorage times the methods of storage.Backend.
type watchedStorage struct {
	watch
	inner storage.Backend
}

func (w *watchedStorage) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	defer w.done("create", time.Now())
	return w.inner.Create(ctx, s, o)
}

func (w *watchedStorage) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	defer w.done("get", time.Now())
	return w.inner.Get(ctx, s, id)
}

func (w *watchedStorage) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	defer w.done("get_many", time.Now())
	return w.inner.GetMany(ctx, keys)
}

func (w *watchedStorage) Update(ctx context.Context, s storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	defer w.done("update", time.Now())
	return w.inner.Update(ctx, s, o, cond)
}

func (w *watchedStorage) Delete(ctx context.Context, s storage.Scope, id string, lastModified int64, cond storage.Condition) (storage.Object, error) {
	defer w.done("delete", time.Now())
	return w.inner.Delete(ctx, s, id, lastModified, cond)
}

func (w *watchedStorage) DeleteAll(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	defer w.done("delete_all", time.Now())
	return w.inner.DeleteAll(ctx, s, opt)
}

func (w *watchedStorage) PurgeDeleted(ctx context.Context, s storage.Scope, before int64) (int, error) {
	defer w.done("purge_deleted", time.Now())
	return w.inner.PurgeDeleted(ctx, s, before)
}

func (w *watchedStorage) PurgeTombstones(ctx context.Context, before int64) (int, error) {
	defer w.done("purge_tombstones", time.Now())
	return w.inner.PurgeTombstones(ctx, before)
}

func (w *watchedStorage) Horizon(ctx context.Context, s storage.Scope) (int64, error) {
	defer w.done("horizon", time.Now())
	return w.inner.Horizon(ctx, s)
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

func (w *watchedStorage) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	defer w.done("list_with_timestamp", time.Now())
	return w.inner.ListWithTimestamp(ctx, s, opt)
}

// Begin starts a unit of work on the decorated backend; its Commit and Rollback are timed.
func (w *watchedStorage) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	ctx, tx, err := w.inner.Begin(ctx)
	if err != nil || tx == nil {
		return ctx, tx, err
	}
	return ctx, watchedTx{w: w, inner: tx}, nil
}

// Listen forwards to the decorated backend: a listener lives as long as its caller wants.
func (w *watchedStorage) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	return w.inner.Listen(ctx, fn)
}

func (w *watchedStorage) Ping(ctx context.Context, readonly bool) error {
	defer w.done("ping", time.Now())
	return w.inner.Ping(ctx, readonly)
}

func (w *watchedStorage) InitializeSchema(ctx context.Context, dryRun bool) (err error) {
	defer func(start time.Time) { w.answered("initialize_schema", start, err) }(time.Now())
	return w.inner.InitializeSchema(ctx, dryRun)
}

func (w *watchedStorage) Flush(ctx context.Context) error {
	defer w.done("flush", time.Now())
	return w.inner.Flush(ctx)
}

func (w *watchedStorage) Close() error { return w.inner.Close() }

// watchedTx times the end of a unit of work.
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

var (
	_ storage.Backend = (*watchedStorage)(nil)
	_ storage.Tx      = watchedTx{}
)
