package resource

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cliquet-go/cliquet/storage"
)

// This file is the typed facade for custom views: reads of a resource's objects through the
// app's storage backend, decoded into T, without building scopes by hand.
//
// The facade checks no permission: it is for code that has already decided what the caller
// may see (a custom view authorizes itself, as the resource's own handlers do before they
// read). The parent argument is the parent id of the collection, as in [Resource.Scope]:
//
//   - a private resource (the default): the user id, authn.IdentityFrom(ctx).UserID;
//   - a shareable flat resource (Spec.Sharing without Spec.Under or Spec.Parent): "";
//   - a nested resource (Spec.Under): the parent object's URI without the version prefix,
//     such as "/articles/a1";
//   - with Spec.Parent: whatever that function returns.
//
// Reads made with a request's context join its transaction, as the handlers' do.

// ListOption selects, orders or limits the objects read by [Resource.List] and
// [Resource.Count] (which uses the filters only).
type ListOption func(*storage.ListOptions)

// Where keeps the objects whose field equals value. Nested fields are dotted ("author.name");
// value is compared as a JSON value (a string, a number, a bool, nil for null).
func Where(field string, value any) ListOption {
	return WhereOp(field, storage.EQ, value)
}

// WhereOp keeps the objects whose field compares with value under op (storage.LT, storage.GT,
// storage.MIN, storage.MAX, storage.NOT, storage.IN with a []any, storage.LIKE, ...), as the
// querystring filters of the plural endpoint do. Several filters are AND-ed.
func WhereOp(field string, op storage.Operator, value any) ListOption {
	return func(o *storage.ListOptions) {
		o.Filters = append(o.Filters, storage.Filter{Field: field, Op: op, Value: value})
	}
}

// SortBy orders the objects by fields, in order, as the _sort parameter does: a field
// prefixed with "-" sorts descending ("-last_modified"). Without it the order is the
// backend's; ties keep no particular order unless a unique field (id) ends the list.
func SortBy(fields ...string) ListOption {
	return func(o *storage.ListOptions) {
		for _, f := range fields {
			desc := strings.HasPrefix(f, "-")
			o.Sort = append(o.Sort, storage.Sort{Field: strings.TrimPrefix(f, "-"), Desc: desc})
		}
	}
}

// Limit caps the number of objects [Resource.List] returns; n <= 0 means no limit (the
// resource's paginate_by and storage_max_fetch_size do not apply to the facade).
func Limit(n int) ListOption {
	return func(o *storage.ListOptions) {
		if n < 0 {
			n = 0
		}
		o.Limit = n
	}
}

// Get returns the live object id of the collection of parent, decoded into T (with its id
// and last_modified when T has such fields). A missing or deleted object is an error
// matching storage.ErrNotFound (errors.Is). No permission is checked.
func (rs *Resource[T]) Get(ctx context.Context, parent, id string) (T, error) {
	var zero T
	obj, err := rs.store.Get(ctx, rs.Scope(parent), id)
	if err != nil {
		return zero, fmt.Errorf("resource %s: get %q: %w", rs.name, id, err)
	}
	return rs.decode(obj)
}

// List returns the live objects of the collection of parent selected by opts, decoded into
// T. No permission is checked.
func (rs *Resource[T]) List(ctx context.Context, parent string, opts ...ListOption) ([]T, error) {
	var lo storage.ListOptions
	for _, opt := range opts {
		opt(&lo)
	}
	objs, err := rs.store.List(ctx, rs.Scope(parent), lo)
	if err != nil {
		return nil, fmt.Errorf("resource %s: list: %w", rs.name, err)
	}
	out := make([]T, 0, len(objs))
	for _, obj := range objs {
		t, err := rs.decode(obj)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// Count returns the number of live objects of the collection of parent that match the
// filters of opts ([Where], [WhereOp]); sorting and limits are ignored. No permission is
// checked.
func (rs *Resource[T]) Count(ctx context.Context, parent string, opts ...ListOption) (int, error) {
	var lo storage.ListOptions
	for _, opt := range opts {
		opt(&lo)
	}
	n, err := rs.store.Count(ctx, rs.Scope(parent), lo.Filters)
	if err != nil {
		return 0, fmt.Errorf("resource %s: count: %w", rs.name, err)
	}
	return n, nil
}

// decode renders a stored object as T: the protocol rendering (data with id and
// last_modified) decoded with encoding/json, or the map itself when T is Object.
func (rs *Resource[T]) decode(obj storage.Object) (T, error) {
	var t T
	if rs.isObject {
		return any(Object(decodeData(obj))).(T), nil
	}
	if err := json.Unmarshal(obj.AppendJSON(nil), &t); err != nil {
		return t, fmt.Errorf("resource %s: decoding %q: %w", rs.name, obj.ID, err)
	}
	return t, nil
}
