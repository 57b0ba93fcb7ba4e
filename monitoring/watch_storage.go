package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// WatchStorage returns b decorated so that every method call is timed under
// storage.<name>.<method>, with method in snake case: create, get, get_many, update, delete,
// delete_all, purge_deleted, purge_tombstones, horizon, list, count, timestamp, and for the optional interfaces ping,
// initialize_schema, flush, list_with_timestamp, and commit and rollback for transactions
// started with Begin. Close is not timed.
//
// The returned value implements storage.Transactor, storage.Pinger, storage.Migrator,
// storage.Flusher and storage.TimestampLister exactly when b does, so type assertions on it stay truthful; other
// methods of b are reachable through its Unwrap() storage.Backend method. With a nil m, b
// is returned unchanged.
func WatchStorage(b storage.Backend, m *Metrics, name string) storage.Backend {
	if m == nil || b == nil {
		return b
	}
	w := &watchedStorage{inner: b, m: m, prefix: "storage." + name + ".", kind: "storage", name: name}
	tx, _ := b.(storage.Transactor)
	pi, _ := b.(storage.Pinger)
	mi, _ := b.(storage.Migrator)
	fl, _ := b.(storage.Flusher)
	tl, _ := b.(storage.TimestampLister)
	return compose(w, tx, pi, mi, fl, tl)
}

//go:generate go run gen_watch_storage.go

// watchedStorage times the methods of storage.Backend.
type watchedStorage struct {
	inner  storage.Backend
	m      *Metrics
	prefix string // the StatsD timer prefix, <kind>.<name>.
	kind   string // storage, cache or permission
	name   string
}

func (w *watchedStorage) done(method string, start time.Time) {
	w.m.backendCall(w.prefix, w.kind, w.name, method, time.Since(start))
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

type stTimestampLister struct {
	w     *watchedStorage
	inner storage.TimestampLister
}

func (p stTimestampLister) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	defer p.w.done("list_with_timestamp", time.Now())
	return p.inner.ListWithTimestamp(ctx, s, opt)
}

var (
	_ storage.Backend    = (*watchedStorage)(nil)
	_ storage.Transactor = stTransactor{}
	_ storage.Tx         = watchedTx{}
	_ storage.Pinger     = stPinger{}
	_ storage.Migrator   = stMigrator{}
	_ storage.Flusher    = stFlusher{}

	_ storage.TimestampLister = stTimestampLister{}
)
