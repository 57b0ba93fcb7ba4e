package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// The joint reads and writes of objects with a permission backend's data
// (storage/postgresql's, when both backends share a database) are forwarded like every
// other method, timed when the decorated backend answers them: a backend without them
// declines with storage.ErrNotSupported, and the caller's separate calls are timed instead.

func (w *watchedStorage) GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) (_ []storage.Object, _ permission.Access, err error) {
	defer func(start time.Time) { w.answered("get_many_access", start, err) }(time.Now())
	return w.inner.GetManyAccess(ctx, keys, perms, q)
}

func (w *watchedStorage) GetManyAccessList(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery, s storage.Scope, opt storage.ListOptions) (_ []storage.Object, _ permission.Access, _ []storage.Object, _ int64, err error) {
	defer func(start time.Time) { w.answered("get_many_access_list", start, err) }(time.Now())
	return w.inner.GetManyAccessList(ctx, keys, perms, q, s, opt)
}

func (w *watchedStorage) CreateWithACEs(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set) (_ storage.Object, err error) {
	defer func(start time.Time) { w.answered("create_with_aces", start, err) }(time.Now())
	return w.inner.CreateWithACEs(ctx, s, o, perms, objectID, aces)
}

func (w *watchedStorage) CreateGuarded(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set, keys []storage.Key, versions []int64, hold permission.HoldQuery) (_ storage.Object, err error) {
	defer func(start time.Time) { w.answered("create_guarded", start, err) }(time.Now())
	return w.inner.CreateGuarded(ctx, s, o, perms, objectID, aces, keys, versions, hold)
}
