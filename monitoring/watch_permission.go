package monitoring

import (
	"context"
	"time"

	"github.com/cliquet-go/cliquet/permission"
)

// WatchPermission returns b decorated so that every method call is timed under
// permission.<name>.<method>: add_user_principal, remove_user_principal,
// remove_principal, user_principals, add_principal_to_ace, remove_principal_from_ace,
// object_permissions, replace_object_permissions, delete_object_permissions,
// authorized_principals, accessible_objects, check_permission, access, matching_objects,
// principal_users, ping, initialize_schema and flush (the optional methods not when the
// backend declines them with permission.ErrNotSupported). Close is not timed. The result
// changes no answer of b, and returns b from its Unwrap() permission.Backend method (see
// permission.As). With a nil m, b is returned unchanged.
func WatchPermission(b permission.Backend, m *Metrics, name string) permission.Backend {
	if m == nil || b == nil {
		return b
	}
	return &watchedPermission{watch: newWatch(m, "permission", name), inner: b}
}

type watchedPermission struct {
	watch
	inner permission.Backend
}

// Unwrap returns the decorated backend.
func (w *watchedPermission) Unwrap() permission.Backend { return w.inner }

func (w *watchedPermission) AddUserPrincipal(ctx context.Context, userID, principal string) error {
	defer w.done("add_user_principal", time.Now())
	return w.inner.AddUserPrincipal(ctx, userID, principal)
}

func (w *watchedPermission) RemoveUserPrincipal(ctx context.Context, userID, principal string) error {
	defer w.done("remove_user_principal", time.Now())
	return w.inner.RemoveUserPrincipal(ctx, userID, principal)
}

func (w *watchedPermission) RemovePrincipal(ctx context.Context, principal string) error {
	defer w.done("remove_principal", time.Now())
	return w.inner.RemovePrincipal(ctx, principal)
}

func (w *watchedPermission) UserPrincipals(ctx context.Context, userID string) ([]string, error) {
	defer w.done("user_principals", time.Now())
	return w.inner.UserPrincipals(ctx, userID)
}

func (w *watchedPermission) AddPrincipalToACE(ctx context.Context, objectID, perm, principal string) error {
	defer w.done("add_principal_to_ace", time.Now())
	return w.inner.AddPrincipalToACE(ctx, objectID, perm, principal)
}

func (w *watchedPermission) RemovePrincipalFromACE(ctx context.Context, objectID, perm, principal string) error {
	defer w.done("remove_principal_from_ace", time.Now())
	return w.inner.RemovePrincipalFromACE(ctx, objectID, perm, principal)
}

func (w *watchedPermission) ObjectPermissions(ctx context.Context, objectID string, perms ...string) (permission.Set, error) {
	defer w.done("object_permissions", time.Now())
	return w.inner.ObjectPermissions(ctx, objectID, perms...)
}

func (w *watchedPermission) ReplaceObjectPermissions(ctx context.Context, objectID string, s permission.Set) (permission.Set, error) {
	defer w.done("replace_object_permissions", time.Now())
	return w.inner.ReplaceObjectPermissions(ctx, objectID, s)
}

func (w *watchedPermission) DeleteObjectPermissions(ctx context.Context, objectIDs ...string) error {
	defer w.done("delete_object_permissions", time.Now())
	return w.inner.DeleteObjectPermissions(ctx, objectIDs...)
}

func (w *watchedPermission) AuthorizedPrincipals(ctx context.Context, bound []permission.Binding) ([]string, error) {
	defer w.done("authorized_principals", time.Now())
	return w.inner.AuthorizedPrincipals(ctx, bound)
}

func (w *watchedPermission) AccessibleObjects(ctx context.Context, principals []string, bound []permission.Binding) (map[string][]string, error) {
	defer w.done("accessible_objects", time.Now())
	return w.inner.AccessibleObjects(ctx, principals, bound)
}

func (w *watchedPermission) CheckPermission(ctx context.Context, principals []string, bound []permission.Binding) (bool, error) {
	defer w.done("check_permission", time.Now())
	return w.inner.CheckPermission(ctx, principals, bound)
}

func (w *watchedPermission) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	defer w.done("access", time.Now())
	return w.inner.Access(ctx, q)
}

func (w *watchedPermission) MatchingObjects(ctx context.Context, pattern string) (_ []string, err error) {
	defer func(start time.Time) { w.answered("matching_objects", start, err) }(time.Now())
	return w.inner.MatchingObjects(ctx, pattern)
}

func (w *watchedPermission) PrincipalUsers(ctx context.Context, principal string) (_ []string, err error) {
	defer func(start time.Time) { w.answered("principal_users", start, err) }(time.Now())
	return w.inner.PrincipalUsers(ctx, principal)
}

func (w *watchedPermission) Ping(ctx context.Context, readonly bool) error {
	defer w.done("ping", time.Now())
	return w.inner.Ping(ctx, readonly)
}

func (w *watchedPermission) InitializeSchema(ctx context.Context, dryRun bool) (err error) {
	defer func(start time.Time) { w.answered("initialize_schema", start, err) }(time.Now())
	return w.inner.InitializeSchema(ctx, dryRun)
}

func (w *watchedPermission) Flush(ctx context.Context) error {
	defer w.done("flush", time.Now())
	return w.inner.Flush(ctx)
}

func (w *watchedPermission) Close() error { return w.inner.Close() }

var _ permission.Backend = (*watchedPermission)(nil)
