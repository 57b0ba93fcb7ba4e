// Package storagetest is the conformance suite of storage backends: every backend (memory,
// postgresql, redis, third parties) must pass [Run].
//
// The subtests port kinto.core's kinto/core/storage/testing.py; each keeps the name of the
// Python test it comes from in Go form (test_create_adds_the_object_id becomes
// "Basic/CreateAddsTheObjectID"), and tests added here for the Go contract have names in the
// same style.
//
// # Plugging a backend in
//
// A backend that cannot fail (one living in memory) is proven by one line in its _test.go
// file, with [HarnessFunc]:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.HarnessFunc(func(context.Context, *testing.T) storage.Backend { return mybackend.New() }))
//	}
//
// Other backends write a [Harness] and call Run from one test function:
//
//	type harness struct{ dsn string }
//
//	// New returns a fresh backend holding no data: open it, then empty it (Flush, TRUNCATE,
//	// FLUSHDB on a dedicated database or key prefix...). The suite closes it when the subtest
//	// ends, so New must not return a backend shared with other subtests.
//	func (h harness) New(ctx context.Context, t *testing.T) storage.Backend { ... }
//
//	// Broken returns a backend whose every call fails with a *storage.BackendError (for
//	// example one pointed at a closed port), or nil when the backend cannot fail.
//	func (h harness) Broken(ctx context.Context, t *testing.T) storage.Backend { ... }
//
//	func TestConformance(t *testing.T) {
//		dsn := os.Getenv("CLIQUET_TEST_POSTGRES_DSN")
//		if dsn == "" {
//			if os.Getenv("CI") != "" {
//				t.Fatal("CLIQUET_TEST_POSTGRES_DSN is not set")
//			}
//			t.Skip("CLIQUET_TEST_POSTGRES_DSN is not set")
//		}
//		storagetest.Run(t, harness{dsn: dsn})
//	}
//
// The harnesses of packages cachetest and permissiontest have the same shape (New and Broken,
// taking the context and the test; cachetest's New also takes a key prefix), and the same
// HarnessFunc adapter.
//
// Subtests run one after the other (never in parallel), each on the backend returned by its own
// call to New; New therefore may reuse one database as long as it empties it. A harness may also
// implement [Configurer] to size the concurrency tests or to skip subtests the backend cannot
// support (each with a reason, which the suite prints); the suite never looks at backend names.
//
// The subtests of an optional capability run when the backend provides it (does not answer
// [storage.ErrNotSupported]): the transaction subtests when it has units of work (Begin),
// the Notifier subtests (every committed write announced once visible, with its scope,
// timestamp and action) when it announces its writes (Listen), the schema subtest when it
// has a schema step (InitializeSchema). With a [Declarer] harness none of them skips: a
// backend declared without the capability has the toolkit's fallback checked instead. The
// Joint subtests check that the joint reads and writes with a permission backend either
// decline, doing nothing, or answer as the separate calls would.
//
// # Semantics pinned down by the suite
//
// Where storage/storage.go leaves room, the suite follows kinto.core:
//
//   - An absent field sorts after every value and therefore satisfies GT and MIN (as well as
//     NOT and EXCLUDE) but never EQ, LT, MAX, IN, LIKE, CONTAINS or CONTAINS_ANY.
//     [storage.Missing] with EQ/MIN keeps absent fields, with LT/NOT present ones, with MAX
//     everything, with GT nothing.
//   - JSON null is a value (it sorts first) and HAS true matches it.
//   - LIKE is anchored, case-insensitive, and '*' is its only wildcard: '_', '%' and '.' are
//     literal characters. Non-string values never match.
//   - Numeric filter values on "id" match the id spelled in decimal (id=42 matches "42").
//   - EQ on arrays and objects is exact equality, not containment; IN/EXCLUDE compare with the
//     same type-aware equality (1 is not "1").
//   - A forced last_modified on Create is kept even in the past; the collection timestamp
//     becomes max(previous+1, forced), and a forced value equal to the collection timestamp is
//     bumped to previous+1. On Update and Delete a forced value is kept only when it is greater
//     than the stored object's timestamp (kinto.core checks that in its resource layer; here
//     it is the storage contract). A forced value more than [storage.MaxForcedAhead] ahead
//     of the clock is ignored (a fresh timestamp is set), on Create, Update and Delete.
//   - PurgeDeleted never lowers the collection timestamp. It raises the horizon to the newest
//     timestamp among the tombstones it removes (never lowers it); a delta
//     (ListOptions.Since) below the horizon fails with a *storage.HorizonError, from List
//     and ListWithTimestamp alike, while lists that are not deltas are unaffected.
//   - Count without filters equals the number of live objects after any mix of writes,
//     concurrent ones included, and follows units of work (rolled back writes do not count).
//   - A failed [storage.Condition] is always [storage.ErrModified] (never ErrNotFound, even
//     for an id that has no live object), writes nothing and leaves the collection timestamp
//     where it was; a conditional Update never creates.
//   - GetMany answers, key by key, what Get answers (the zero Object for ErrNotFound), in the
//     unit of work its context carries.
package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// Harness gives the suite the backends it runs against.
type Harness interface {
	// New returns a new backend holding no data at all (no objects, tombstones or
	// timestamps). The suite closes it when the subtest ends.
	New(ctx context.Context, t *testing.T) storage.Backend
	// Broken returns a backend whose every method fails with an error satisfying
	// errors.As(err, new(*storage.BackendError)), or nil when the backend cannot fail (the
	// subtests that need it are then skipped). The suite closes it when the subtest ends.
	Broken(ctx context.Context, t *testing.T) storage.Backend
}

// HarnessFunc adapts a constructor of empty backends that cannot fail: New calls it and
// Broken returns nil.
type HarnessFunc func(ctx context.Context, t *testing.T) storage.Backend

// New calls f.
func (f HarnessFunc) New(ctx context.Context, t *testing.T) storage.Backend { return f(ctx, t) }

// Broken returns nil.
func (f HarnessFunc) Broken(context.Context, *testing.T) storage.Backend { return nil }

// Options tune the suite for one backend.
type Options struct {
	// Writers and WritesPerWriter size the concurrent-writes subtest. Defaults 50 and 20.
	Writers, WritesPerWriter int
	// Skip maps full subtest names below Run ("Timestamps/TimestampsAreUnique") to the reason
	// they do not apply to the backend.
	Skip map[string]string
}

// Configurer is implemented by harnesses that declare options.
type Configurer interface {
	Options() Options
}

// scope is the collection most subtests work in; other is a second parent.
var (
	scope      = storage.Scope{Resource: "test", Parent: "1234"}
	otherScope = storage.Scope{Resource: "test", Parent: "5678"}
)

// objectID is kinto's OBJECT_ID.
const objectID = "472be9ec-26fe-461b-8282-9c4e4b207ab3"

type subtest struct {
	name string
	fn   func(e *env)
}

type group struct {
	name  string
	tests []subtest
}

// Run runs every conformance subtest against backends from h.
func Run(t *testing.T, h Harness) {
	var opts Options
	if c, ok := h.(Configurer); ok {
		opts = c.Options()
	}
	if opts.Writers <= 0 {
		opts.Writers = 50
	}
	if opts.WritesPerWriter <= 0 {
		opts.WritesPerWriter = 20
	}
	groups := []group{
		{"Basic", basicTests},
		{"KeyOrder", keyOrderTests},
		{"ParentObjectAccess", accessTests},
		{"GetMany", getManyTests},
		{"Timestamps", timestampTests},
		{"Filters", filterTests},
		{"Sorting", sortingTests},
		{"DeletedObjects", deletedTests},
		{"DeleteAll", deleteAllTests},
		{"PurgeDeleted", purgeTests},
		{"Horizon", horizonTests},
		{"LiveCount", liveCountTests},
		{"Pagination", paginationTests},
		{"Concurrency", concurrencyTests},
		{"ConditionalWrites", conditionalTests},
		{"ListWithTimestamp", listWithTimestampTests},
		{"Notifier", notifyTests},
		{"Joint", jointTests},
		{"Optional", optionalTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, st := range g.tests {
				t.Run(st.name, func(t *testing.T) {
					if reason, ok := opts.Skip[g.name+"/"+st.name]; ok {
						t.Skip(reason)
					}
					ctx := context.Background()
					b := h.New(ctx, t)
					if b == nil {
						t.Fatal("Harness.New returned nil")
					}
					t.Cleanup(func() { _ = b.Close() })
					st.fn(&env{T: t, ctx: ctx, b: b, h: h, opts: opts})
				})
			}
		})
	}
	t.Run("BackendError", func(t *testing.T) {
		if reason, ok := opts.Skip["BackendError"]; ok {
			t.Skip(reason)
		}
		testBackendErrorIsRaisedAnywhere(t, h)
	})
}

// env is what a subtest works with.
type env struct {
	*testing.T
	ctx  context.Context
	b    storage.Backend
	h    Harness
	opts Options
}

func raw(data string) json.RawMessage { return json.RawMessage(data) }

// create stores data (a JSON object) in scope under a generated id.
func (e *env) create(data string) storage.Object {
	e.Helper()
	return e.createIn(scope, storage.Object{Data: raw(data)})
}

func (e *env) createIn(s storage.Scope, o storage.Object) storage.Object {
	e.Helper()
	got, err := e.b.Create(e.ctx, s, o)
	if err != nil {
		e.Fatalf("Create(%v, %s): %v", s, o.Data, err)
	}
	if got.ID == "" || got.LastModified <= 0 || got.Deleted {
		e.Fatalf("Create returned %+v", got)
	}
	return got
}

func (e *env) update(s storage.Scope, o storage.Object) storage.Object {
	e.Helper()
	got, err := e.b.Update(e.ctx, s, o, storage.Condition{})
	if err != nil {
		e.Fatalf("Update(%v, %s): %v", s, o.ID, err)
	}
	return got
}

func (e *env) get(s storage.Scope, id string) storage.Object {
	e.Helper()
	got, err := e.b.Get(e.ctx, s, id)
	if err != nil {
		e.Fatalf("Get(%v, %q): %v", s, id, err)
	}
	return got
}

func (e *env) del(s storage.Scope, id string, lastModified int64) storage.Object {
	e.Helper()
	got, err := e.b.Delete(e.ctx, s, id, lastModified, storage.Condition{})
	if err != nil {
		e.Fatalf("Delete(%v, %q): %v", s, id, err)
	}
	if !got.Deleted || got.ID != id {
		e.Fatalf("Delete returned %+v", got)
	}
	return got
}

// createAndDelete is kinto's create_and_delete_object, with its 1 ms pauses.
func (e *env) createAndDelete(data string) storage.Object {
	e.Helper()
	o := e.createIn(scope, storage.Object{Data: raw(data)})
	time.Sleep(time.Millisecond)
	t := e.del(scope, o.ID, 0)
	time.Sleep(time.Millisecond)
	return t
}

func (e *env) createAndDeleteID(id, data string) storage.Object {
	e.Helper()
	o := e.createIn(scope, storage.Object{ID: id, Data: raw(data)})
	time.Sleep(time.Millisecond)
	t := e.del(scope, o.ID, 0)
	time.Sleep(time.Millisecond)
	return t
}

func (e *env) list(opt storage.ListOptions) []storage.Object {
	e.Helper()
	return e.listIn(scope, opt)
}

func (e *env) listIn(s storage.Scope, opt storage.ListOptions) []storage.Object {
	e.Helper()
	got, err := e.b.List(e.ctx, s, opt)
	if err != nil {
		e.Fatalf("List(%v, %+v): %v", s, opt, err)
	}
	return got
}

// filter lists scope with filters only.
func (e *env) filter(filters ...storage.Filter) []storage.Object {
	e.Helper()
	return e.list(storage.ListOptions{Filters: filters})
}

func (e *env) count(filters ...storage.Filter) int {
	e.Helper()
	return e.countIn(scope, filters...)
}

func (e *env) countIn(s storage.Scope, filters ...storage.Filter) int {
	e.Helper()
	n, err := e.b.Count(e.ctx, s, filters)
	if err != nil {
		e.Fatalf("Count(%v, %+v): %v", s, filters, err)
	}
	return n
}

func (e *env) timestamp(s storage.Scope) int64 {
	e.Helper()
	ts, err := e.b.Timestamp(e.ctx, s)
	if err != nil {
		e.Fatalf("Timestamp(%v): %v", s, err)
	}
	return ts
}

func (e *env) deleteAll(s storage.Scope, opt storage.ListOptions) []storage.Object {
	e.Helper()
	got, err := e.b.DeleteAll(e.ctx, s, opt)
	if err != nil {
		e.Fatalf("DeleteAll(%v, %+v): %v", s, opt, err)
	}
	return got
}

func (e *env) purge(s storage.Scope, before int64) int {
	e.Helper()
	n, err := e.b.PurgeDeleted(e.ctx, s, before)
	if err != nil {
		e.Fatalf("PurgeDeleted(%v, %d): %v", s, before, err)
	}
	return n
}

// drain closes errs, reports every error it holds, and reports whether the subtest has
// not failed.
func (e *env) drain(errs chan error) bool {
	e.Helper()
	close(errs)
	for err := range errs {
		e.Error(err)
	}
	return !e.Failed()
}

// equal fails the subtest when got and want differ.
func (e *env) equal(got, want any, what string) {
	e.Helper()
	if !reflect.DeepEqual(got, want) {
		e.Fatalf("%s: got %#v, want %#v", what, got, want)
	}
}

func (e *env) check(ok bool, format string, args ...any) {
	e.Helper()
	if !ok {
		e.Fatalf(format, args...)
	}
}

// decode returns o's Data as a map (nil for a tombstone).
func decode(o storage.Object) map[string]any {
	if o.Deleted {
		return nil
	}
	var m map[string]any
	if len(bytes.TrimSpace(o.Data)) == 0 {
		return map[string]any{}
	}
	if err := json.Unmarshal(o.Data, &m); err != nil {
		panic(fmt.Sprintf("storagetest: object %s has invalid data %q: %v", o.ID, o.Data, err))
	}
	return m
}

// field returns the top-level field name of o's data, and whether it is present.
func field(o storage.Object, name string) (any, bool) {
	v, ok := decode(o)[name]
	return v, ok
}

// values returns field name of every object (nil for absent), for order assertions.
func values(objs []storage.Object, name string) []any {
	out := make([]any, len(objs))
	for i, o := range objs {
		v, ok := field(o, name)
		if !ok {
			v = "<absent>"
		}
		out[i] = v
	}
	return out
}

func ids(objs []storage.Object) []string {
	out := make([]string, len(objs))
	for i, o := range objs {
		out[i] = o.ID
	}
	return out
}

// sameObject compares metadata and data (semantically).
func (e *env) sameObject(got, want storage.Object, what string) {
	e.Helper()
	if got.ID != want.ID || got.LastModified != want.LastModified || got.Deleted != want.Deleted {
		e.Fatalf("%s: got %s/%d/%v, want %s/%d/%v", what, got.ID, got.LastModified, got.Deleted, want.ID, want.LastModified, want.Deleted)
	}
	if !reflect.DeepEqual(decode(got), decode(want)) {
		e.Fatalf("%s: data %s, want %s", what, got.Data, want.Data)
	}
}

func f(field string, op storage.Operator, value any) storage.Filter {
	return storage.Filter{Field: field, Op: op, Value: value}
}

func asc(field string) storage.Sort  { return storage.Sort{Field: field} }
func desc(field string) storage.Sort { return storage.Sort{Field: field, Desc: true} }

// lastModifiedFilter is kinto's _get_last_modified_filters: every object written from now on.
func (e *env) lastModifiedFilter() storage.Filter {
	e.Helper()
	start := e.timestamp(scope)
	time.Sleep(time.Millisecond)
	return f("last_modified", storage.GT, start)
}

func isBackendError(err error) bool {
	var be *storage.BackendError
	return errors.As(err, &be)
}

func nowMillis() int64 { return time.Now().UnixMilli() }
