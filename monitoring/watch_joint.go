package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// jointReader is the optional method of storage backends that read objects and answer a
// permission backend's Access in one statement (storage/postgresql's GetManyAccess, when
// both backends are on one database).
type jointReader interface {
	GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, bool, error)
}

// GetManyAccess forwards to the decorated backend's GetManyAccess, timed under
// storage.<name>.get_many_access when it answers. Every watched storage backend has the
// method, whatever it decorates, since the optional interfaces are composed from the
// embedded *watchedStorage; for a backend without it, the answer is ok false (it cannot),
// which is what its callers expect from a backend that cannot read both together: they
// then call GetMany and Access.
func (w *watchedStorage) GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, bool, error) {
	jr, ok := w.inner.(jointReader)
	if !ok {
		return nil, permission.Access{}, false, nil
	}
	start := time.Now()
	objs, a, ok, err := jr.GetManyAccess(ctx, keys, perms, q)
	if ok {
		w.done("get_many_access", start)
	}
	return objs, a, ok, err
}

// jointWriter is the optional method of storage backends that write a new object and its
// ACEs in one statement (storage/postgresql's CreateWithACEs).
type jointWriter interface {
	CreateWithACEs(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set) (storage.Object, bool, error)
}

// CreateWithACEs forwards to the decorated backend's CreateWithACEs, timed under
// storage.<name>.create_with_aces when it answers; ok false for a backend without it (its
// callers then write the object and its ACL separately), as GetManyAccess.
func (w *watchedStorage) CreateWithACEs(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set) (storage.Object, bool, error) {
	jw, ok := w.inner.(jointWriter)
	if !ok {
		return storage.Object{}, false, nil
	}
	start := time.Now()
	out, ok, err := jw.CreateWithACEs(ctx, s, o, perms, objectID, aces)
	if ok {
		w.done("create_with_aces", start)
	}
	return out, ok, err
}

// jointLister is the optional method of storage backends that read a page of a collection
// with GetManyAccess's answer in one statement (storage/postgresql's GetManyAccessList).
type jointLister interface {
	GetManyAccessList(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery, s storage.Scope, opt storage.ListOptions) ([]storage.Object, permission.Access, []storage.Object, int64, bool, error)
}

// GetManyAccessList forwards to the decorated backend's GetManyAccessList, timed under
// storage.<name>.get_many_access_list when it answers; ok false for a backend without it,
// as GetManyAccess.
func (w *watchedStorage) GetManyAccessList(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery, s storage.Scope, opt storage.ListOptions) ([]storage.Object, permission.Access, []storage.Object, int64, bool, error) {
	jl, ok := w.inner.(jointLister)
	if !ok {
		return nil, permission.Access{}, nil, 0, false, nil
	}
	start := time.Now()
	objs, a, page, ts, ok, err := jl.GetManyAccessList(ctx, keys, perms, q, s, opt)
	if ok {
		w.done("get_many_access_list", start)
	}
	return objs, a, page, ts, ok, err
}

// guardedCreator is the optional method of storage backends that check a creation's
// authorization and write it in one statement (storage/postgresql's CreateGuarded).
type guardedCreator interface {
	CreateGuarded(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set, keys []storage.Key, versions []int64, hold permission.HoldQuery) (storage.Object, bool, error)
}

// CreateGuarded forwards to the decorated backend's CreateGuarded, timed under
// storage.<name>.create_guarded when it answers; ok false for a backend without it, as
// GetManyAccess.
func (w *watchedStorage) CreateGuarded(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set, keys []storage.Key, versions []int64, hold permission.HoldQuery) (storage.Object, bool, error) {
	gc, ok := w.inner.(guardedCreator)
	if !ok {
		return storage.Object{}, false, nil
	}
	start := time.Now()
	out, ok, err := gc.CreateGuarded(ctx, s, o, perms, objectID, aces, keys, versions, hold)
	if ok {
		w.done("create_guarded", start)
	}
	return out, ok, err
}
