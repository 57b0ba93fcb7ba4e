// Package forwardtest checks that a backend decorator forwards every method of its contract
// (storage.Backend, cache.Backend, permission.Backend) to the backend it wraps, and returns
// that backend's answers: so that a decorated backend keeps every capability of the inner
// one, the optional ones included (declined with ErrNotSupported when the inner backend
// declines them). [Check] calls every method of the contract found by reflection, so a
// method added to a contract is checked as soon as the fakes implement it (which the
// compiler demands).
package forwardtest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// MethodError is the answer of a fake's method named by its value when the fake fails.
type MethodError string

// Error implements error.
func (e MethodError) Error() string { return "forwardtest: answer of " + string(e) }

// Fake is the state of a fake backend (see [Storage], [Cache], [Permission]): each of its
// methods records what it answered. It is safe for concurrent use.
type Fake struct {
	mu       sync.Mutex
	fail     bool
	declines bool
	answers  map[string]error // by method, the error last answered
}

// Fail sets what the fake answers: with fail, every method fails with the MethodError of
// its name; otherwise it succeeds, with zero values, except that the optional capabilities
// answer their package's ErrNotSupported when declines is set. It forgets the calls made.
func (f *Fake) Fail(fail, declines bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail, f.declines, f.answers = fail, declines, map[string]error{}
}

// Answered reports whether method was called, and what error it answered.
func (f *Fake) Answered(method string) (called bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err, called = f.answers[method]
	return called, err
}

// answer records a call of method and returns its error; notSupported is the package's
// ErrNotSupported for an optional capability, nil for a method every backend provides.
func (f *Fake) answer(method string, notSupported error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	var err error
	switch {
	case f.fail:
		err = MethodError(method)
	case f.declines && notSupported != nil:
		err = notSupported
	}
	if f.answers == nil {
		f.answers = map[string]error{}
	}
	f.answers[method] = err
	return err
}

// Check calls every method of the interface iface (such as
// reflect.TypeFor[storage.Backend]()) on decorated, which wraps a fake whose state is
// inner, with a background context and zero values for the other arguments, and fails the
// test for each method the fake did not receive, or whose answer came back changed: first
// with the fake failing every call, then succeeding while it declines its optional
// capabilities, then providing them all.
func Check(t *testing.T, iface reflect.Type, decorated any, inner *Fake) {
	t.Helper()
	v := reflect.ValueOf(decorated)
	for _, mode := range []struct {
		name           string
		fail, declines bool
	}{{"failing", true, false}, {"declining", false, true}, {"providing", false, false}} {
		inner.Fail(mode.fail, mode.declines)
		for i := range iface.NumMethod() {
			m := iface.Method(i)
			got := call(v.MethodByName(m.Name))
			called, want := inner.Answered(m.Name)
			switch {
			case !called:
				t.Errorf("%s backend: %s was not forwarded", mode.name, m.Name)
			case want == nil && got != nil, want != nil && !errors.Is(got, want):
				t.Errorf("%s backend: %s answered %v through the decorator, %v from the backend", mode.name, m.Name, got, want)
			}
		}
	}
}

// call calls m with a background context and zero values, and returns its last result,
// an error.
func call(m reflect.Value) error {
	mt := m.Type()
	n := mt.NumIn()
	if mt.IsVariadic() {
		n-- // no variadic arguments
	}
	ctxType := reflect.TypeFor[context.Context]()
	args := make([]reflect.Value, n)
	for i := range n {
		if mt.In(i) == ctxType {
			args[i] = reflect.ValueOf(context.Background())
		} else {
			args[i] = reflect.Zero(mt.In(i))
		}
	}
	out := m.Call(args)
	err, _ := out[len(out)-1].Interface().(error)
	return err
}

// Storage returns a fake storage.Backend and its state. Its units of work do nothing.
func Storage() (storage.Backend, *Fake) {
	f := &fakeStorage{}
	return f, &f.Fake
}

type fakeStorage struct{ Fake }

func (f *fakeStorage) Create(context.Context, storage.Scope, storage.Object) (storage.Object, error) {
	return storage.Object{}, f.answer("Create", nil)
}

func (f *fakeStorage) Get(context.Context, storage.Scope, string) (storage.Object, error) {
	return storage.Object{}, f.answer("Get", nil)
}

func (f *fakeStorage) GetMany(context.Context, []storage.Key) ([]storage.Object, error) {
	return nil, f.answer("GetMany", nil)
}

func (f *fakeStorage) Update(context.Context, storage.Scope, storage.Object, storage.Condition) (storage.Object, error) {
	return storage.Object{}, f.answer("Update", nil)
}

func (f *fakeStorage) Delete(context.Context, storage.Scope, string, int64, storage.Condition) (storage.Object, error) {
	return storage.Object{}, f.answer("Delete", nil)
}

func (f *fakeStorage) DeleteAll(context.Context, storage.Scope, storage.ListOptions) ([]storage.Object, error) {
	return nil, f.answer("DeleteAll", nil)
}

func (f *fakeStorage) PurgeDeleted(context.Context, storage.Scope, int64) (int, error) {
	return 0, f.answer("PurgeDeleted", nil)
}

func (f *fakeStorage) PurgeTombstones(context.Context, int64) (int, error) {
	return 0, f.answer("PurgeTombstones", nil)
}

func (f *fakeStorage) Horizon(context.Context, storage.Scope) (int64, error) {
	return 0, f.answer("Horizon", nil)
}

func (f *fakeStorage) List(context.Context, storage.Scope, storage.ListOptions) ([]storage.Object, error) {
	return nil, f.answer("List", nil)
}

func (f *fakeStorage) Count(context.Context, storage.Scope, []storage.Filter) (int, error) {
	return 0, f.answer("Count", nil)
}

func (f *fakeStorage) Timestamp(context.Context, storage.Scope) (int64, error) {
	return 0, f.answer("Timestamp", nil)
}

func (f *fakeStorage) ListWithTimestamp(context.Context, storage.Scope, storage.ListOptions) ([]storage.Object, int64, error) {
	return nil, 0, f.answer("ListWithTimestamp", nil)
}

func (f *fakeStorage) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	if err := f.answer("Begin", storage.ErrNotSupported); err != nil {
		return ctx, nil, err
	}
	return ctx, tx{}, nil
}

func (f *fakeStorage) Listen(context.Context, func(storage.Change)) (func(), error) {
	if err := f.answer("Listen", storage.ErrNotSupported); err != nil {
		return nil, err
	}
	return func() {}, nil
}

func (f *fakeStorage) GetManyAccess(context.Context, []storage.Key, permission.Backend, permission.AccessQuery) ([]storage.Object, permission.Access, error) {
	return nil, permission.Access{}, f.answer("GetManyAccess", storage.ErrNotSupported)
}

func (f *fakeStorage) GetManyAccessList(context.Context, []storage.Key, permission.Backend, permission.AccessQuery, storage.Scope, storage.ListOptions) ([]storage.Object, permission.Access, []storage.Object, int64, error) {
	return nil, permission.Access{}, nil, 0, f.answer("GetManyAccessList", storage.ErrNotSupported)
}

func (f *fakeStorage) CreateWithACEs(context.Context, storage.Scope, storage.Object, permission.Backend, string, permission.Set) (storage.Object, error) {
	return storage.Object{}, f.answer("CreateWithACEs", storage.ErrNotSupported)
}

func (f *fakeStorage) CreateGuarded(context.Context, storage.Scope, storage.Object, permission.Backend, string, permission.Set, []storage.Key, []int64, permission.HoldQuery) (storage.Object, error) {
	return storage.Object{}, f.answer("CreateGuarded", storage.ErrNotSupported)
}

func (f *fakeStorage) Ping(context.Context, bool) error { return f.answer("Ping", nil) }

func (f *fakeStorage) InitializeSchema(context.Context, bool) error {
	return f.answer("InitializeSchema", storage.ErrNotSupported)
}

func (f *fakeStorage) Flush(context.Context) error { return f.answer("Flush", nil) }

func (f *fakeStorage) Close() error { return f.answer("Close", nil) }

// tx is the unit of work of the fake storage backend.
type tx struct{}

func (tx) Commit(context.Context) error   { return nil }
func (tx) Rollback(context.Context) error { return nil }

// Cache returns a fake cache.Backend and its state.
func Cache() (cache.Backend, *Fake) {
	f := &fakeCache{}
	return f, &f.Fake
}

type fakeCache struct{ Fake }

func (f *fakeCache) Get(context.Context, string) ([]byte, error) { return nil, f.answer("Get", nil) }

func (f *fakeCache) Set(context.Context, string, []byte, time.Duration) error {
	return f.answer("Set", nil)
}

func (f *fakeCache) Delete(context.Context, string) error { return f.answer("Delete", nil) }

func (f *fakeCache) Expire(context.Context, string, time.Duration) error {
	return f.answer("Expire", nil)
}

func (f *fakeCache) TTL(context.Context, string) (time.Duration, error) {
	return 0, f.answer("TTL", nil)
}

func (f *fakeCache) Flush(context.Context) error { return f.answer("Flush", nil) }

func (f *fakeCache) Ping(context.Context) error { return f.answer("Ping", nil) }

func (f *fakeCache) InitializeSchema(context.Context, bool) error {
	return f.answer("InitializeSchema", cache.ErrNotSupported)
}

func (f *fakeCache) Close() error { return f.answer("Close", nil) }

// Permission returns a fake permission.Backend and its state.
func Permission() (permission.Backend, *Fake) {
	f := &fakePermission{}
	return f, &f.Fake
}

type fakePermission struct{ Fake }

func (f *fakePermission) AddUserPrincipal(context.Context, string, string) error {
	return f.answer("AddUserPrincipal", nil)
}

func (f *fakePermission) RemoveUserPrincipal(context.Context, string, string) error {
	return f.answer("RemoveUserPrincipal", nil)
}

func (f *fakePermission) RemovePrincipal(context.Context, string) error {
	return f.answer("RemovePrincipal", nil)
}

func (f *fakePermission) UserPrincipals(context.Context, string) ([]string, error) {
	return nil, f.answer("UserPrincipals", nil)
}

func (f *fakePermission) AddPrincipalToACE(context.Context, string, string, string) error {
	return f.answer("AddPrincipalToACE", nil)
}

func (f *fakePermission) RemovePrincipalFromACE(context.Context, string, string, string) error {
	return f.answer("RemovePrincipalFromACE", nil)
}

func (f *fakePermission) ObjectPermissions(context.Context, string, ...string) (permission.Set, error) {
	return nil, f.answer("ObjectPermissions", nil)
}

func (f *fakePermission) ReplaceObjectPermissions(context.Context, string, permission.Set) (permission.Set, error) {
	return nil, f.answer("ReplaceObjectPermissions", nil)
}

func (f *fakePermission) DeleteObjectPermissions(context.Context, ...string) error {
	return f.answer("DeleteObjectPermissions", nil)
}

func (f *fakePermission) AuthorizedPrincipals(context.Context, []permission.Binding) ([]string, error) {
	return nil, f.answer("AuthorizedPrincipals", nil)
}

func (f *fakePermission) AccessibleObjects(context.Context, []string, []permission.Binding) (map[string][]string, error) {
	return nil, f.answer("AccessibleObjects", nil)
}

func (f *fakePermission) CheckPermission(context.Context, []string, []permission.Binding) (bool, error) {
	return false, f.answer("CheckPermission", nil)
}

func (f *fakePermission) Access(context.Context, permission.AccessQuery) (permission.Access, error) {
	return permission.Access{}, f.answer("Access", nil)
}

func (f *fakePermission) MatchingObjects(context.Context, string) ([]string, error) {
	return nil, f.answer("MatchingObjects", permission.ErrNotSupported)
}

func (f *fakePermission) PrincipalUsers(context.Context, string) ([]string, error) {
	return nil, f.answer("PrincipalUsers", permission.ErrNotSupported)
}

func (f *fakePermission) Ping(context.Context, bool) error { return f.answer("Ping", nil) }

func (f *fakePermission) InitializeSchema(context.Context, bool) error {
	return f.answer("InitializeSchema", permission.ErrNotSupported)
}

func (f *fakePermission) Flush(context.Context) error { return f.answer("Flush", nil) }

func (f *fakePermission) Close() error { return f.answer("Close", nil) }
