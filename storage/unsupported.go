package storage

import (
	"context"

	"github.com/cliquet-go/cliquet/permission"
)

// Unsupported declines every optional capability of [Backend] with [ErrNotSupported]:
// units of work (Begin), a schema (InitializeSchema), announcements of changes (Listen),
// and the joint reads and writes with a permission backend (GetManyAccess,
// GetManyAccessList, CreateWithACEs, CreateGuarded).
// Embed it in a backend that has none of them, and define the methods it does have: they
// take precedence over the embedded ones. The memory and Redis backends embed it.
type Unsupported struct{}

// Begin returns ctx and ErrNotSupported: every call applies at once.
func (Unsupported) Begin(ctx context.Context) (context.Context, Tx, error) {
	return ctx, nil, ErrNotSupported
}

// Listen returns ErrNotSupported: the backend does not announce its changes (a change
// feed over it answers 406).
func (Unsupported) Listen(context.Context, func(Change)) (func(), error) { return nil, ErrNotSupported }

// InitializeSchema returns ErrNotSupported: there is no schema to create.
func (Unsupported) InitializeSchema(context.Context, bool) error { return ErrNotSupported }

// GetManyAccess returns ErrNotSupported: the caller calls GetMany and the permission
// backend's Access.
func (Unsupported) GetManyAccess(context.Context, []Key, permission.Backend, permission.AccessQuery) ([]Object, permission.Access, error) {
	return nil, permission.Access{}, ErrNotSupported
}

// GetManyAccessList returns ErrNotSupported, as GetManyAccess.
func (Unsupported) GetManyAccessList(context.Context, []Key, permission.Backend, permission.AccessQuery, Scope, ListOptions) ([]Object, permission.Access, []Object, int64, error) {
	return nil, permission.Access{}, nil, 0, ErrNotSupported
}

// CreateWithACEs returns ErrNotSupported: the caller calls Create and the permission
// backend.
func (Unsupported) CreateWithACEs(context.Context, Scope, Object, permission.Backend, string, permission.Set) (Object, error) {
	return Object{}, ErrNotSupported
}

// CreateGuarded returns ErrNotSupported, as CreateWithACEs.
func (Unsupported) CreateGuarded(context.Context, Scope, Object, permission.Backend, string, permission.Set, []Key, []int64, permission.HoldQuery) (Object, error) {
	return Object{}, ErrNotSupported
}
