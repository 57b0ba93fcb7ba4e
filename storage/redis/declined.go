package redis

import (
	"context"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// The optional capabilities of storage.Backend that this backend declines with
// storage.ErrNotSupported; the callers take their fallbacks.

// Begin returns ctx and storage.ErrNotSupported: Redis calls are atomic one by one, and a request that makes several is not (see "No transactions" in the package documentation).
func (b *Backend) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	return ctx, nil, storage.ErrNotSupported
}

// InitializeSchema returns storage.ErrNotSupported: Redis keys need no schema.
func (b *Backend) InitializeSchema(context.Context, bool) error { return storage.ErrNotSupported }

// GetManyAccess returns storage.ErrNotSupported: the permission data is not in this backend's keys (the
// caller calls GetMany and the permission backend's Access).
func (b *Backend) GetManyAccess(context.Context, []storage.Key, permission.Backend, permission.AccessQuery) ([]storage.Object, permission.Access, error) {
	return nil, permission.Access{}, storage.ErrNotSupported
}

// GetManyAccessList returns storage.ErrNotSupported, as GetManyAccess.
func (b *Backend) GetManyAccessList(context.Context, []storage.Key, permission.Backend, permission.AccessQuery, storage.Scope, storage.ListOptions) ([]storage.Object, permission.Access, []storage.Object, int64, error) {
	return nil, permission.Access{}, nil, 0, storage.ErrNotSupported
}

// CreateWithACEs returns storage.ErrNotSupported, as GetManyAccess (the caller calls Create
// and the permission backend).
func (b *Backend) CreateWithACEs(context.Context, storage.Scope, storage.Object, permission.Backend, string, permission.Set) (storage.Object, error) {
	return storage.Object{}, storage.ErrNotSupported
}

// CreateGuarded returns storage.ErrNotSupported, as CreateWithACEs.
func (b *Backend) CreateGuarded(context.Context, storage.Scope, storage.Object, permission.Backend, string, permission.Set, []storage.Key, []int64, permission.HoldQuery) (storage.Object, error) {
	return storage.Object{}, storage.ErrNotSupported
}
