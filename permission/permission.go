// Package permission defines the contract of cliquet's permission backends: which principals
// hold which permission on which object, and which extra principals (groups) a user has.
//
// Objects are identified by their URI without the version prefix ("/articles/abc").
// Principals are strings: "system.Everyone", "system.Authenticated", a prefixed user id
// ("basicauth:2f7a..."), or a group URI. Implementations live in sub-packages (memory,
// postgresql, redis), register by name with [Register], and pass package permissiontest.
//
// # Optional capabilities
//
// Every method of [Backend] is part of the contract; a few are capabilities a backend may
// lack, and it then answers them with [ErrNotSupported] (which callers treat as "go
// without"): InitializeSchema (a backend without a schema), and MatchingObjects and
// PrincipalUsers, which make the bulk changes of a backend undoable: the toolkit's
// permission journal (cliquet.JournalPermission), which undoes the permission changes of a
// rolled-back request, learns from them which objects a '*' pattern given to
// DeleteObjectPermissions covers and which users RemovePrincipal affects, so that it can
// record their state first. A backend without them still works, but those two changes are
// then only partly undone (the rest is logged). The built-in backends provide both; the
// memory and Redis backends have no schema.
//
// # Decorators
//
// A decorator (a monitoring timer, the permission journal) implements Backend by forwarding
// every method, and so keeps every capability of the backend it wraps, including the
// declined ones. One that forwards without changing what the backend stores or answers
// also has an Unwrap() Backend method returning the backend it wraps, so that [As] can
// find the backend under it: a storage backend that reads and writes the permission
// backend's tables itself (storage/postgresql's joint reads and writes) recognises it so.
package permission

import (
	"context"
	"errors"
	"fmt"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/registry"
)

// Well-known principals.
const (
	Everyone      = "system.Everyone"
	Authenticated = "system.Authenticated"
)

// Set maps a permission name to the principals that hold it: {"write": ["basicauth:abc"]}.
type Set map[string][]string

// Binding names one permission on one object. In [Backend.AccessibleObjects] ObjectID may
// contain '*', which matches any run of characters ("/articles/*").
type Binding struct {
	ObjectID   string
	Permission string
}

// HoldQuery asks whether a user holds one of Bindings: through Principals, or through the
// groups of UserID and of [Authenticated] ("" for none). Backends that check it within a
// write of their own (storage/postgresql's CreateGuarded) take it.
type HoldQuery struct {
	UserID     string
	Principals []string
	Bindings   []Binding
}

// AccessQuery asks [Backend.Access] about one user and a few objects.
type AccessQuery struct {
	// UserID is the user whose extra principals (groups) count, as UserPrincipals(UserID)
	// returns them; "" adds none (not even those of Authenticated).
	UserID string
	// Principals are the user's other principals (system.Everyone, system.Authenticated,
	// the user id).
	Principals []string
	// Objects are the exact object ids whose held permissions are wanted.
	Objects []string
	// Full is an object whose every ACE is wanted too (whoever holds them); "" for none.
	Full string
}

// Access is the answer of [Backend.Access].
type Access struct {
	// Groups are the extra principals of AccessQuery.UserID (empty for "").
	Groups []string
	// Held maps each object of AccessQuery.Objects on which one of the principals or of
	// Groups holds a permission to those permissions (no duplicates, any order); objects
	// where none is held are absent.
	Held map[string][]string
	// ACEs are the ACEs of AccessQuery.Full, as ObjectPermissions(Full) returns them (nil
	// when Full is "").
	ACEs Set
}

// Backend is the contract every permission implementation satisfies. Implementations must be
// safe for concurrent use. Results hold no duplicates; their order is unspecified.
type Backend interface {
	// AddUserPrincipal gives userID the extra principal (a group membership). Adding it twice
	// keeps one. An empty userID or principal is ErrInvalid.
	AddUserPrincipal(ctx context.Context, userID, principal string) error
	// RemoveUserPrincipal takes principal away from userID; missing is not an error.
	RemoveUserPrincipal(ctx context.Context, userID, principal string) error
	// RemovePrincipal takes principal away from every user.
	RemovePrincipal(ctx context.Context, principal string) error
	// UserPrincipals returns the extra principals of userID (empty when none), together with
	// those given to the pseudo-user [Authenticated] (kinto: groups of every authenticated user).
	UserPrincipals(ctx context.Context, userID string) ([]string, error)

	// AddPrincipalToACE grants permission on objectID to principal; granting twice keeps one.
	// An empty objectID, permission or principal is ErrInvalid. A '*' in a stored objectID is
	// an ordinary character.
	AddPrincipalToACE(ctx context.Context, objectID, permission, principal string) error
	// RemovePrincipalFromACE revokes it; missing is not an error.
	RemovePrincipalFromACE(ctx context.Context, objectID, permission, principal string) error
	// ObjectPermissions returns the ACEs of objectID, restricted to permissions when any are
	// given. Permissions without principals are absent from the result.
	ObjectPermissions(ctx context.Context, objectID string, permissions ...string) (Set, error)
	// ReplaceObjectPermissions replaces the principals of each permission listed in s (an
	// empty list removes the ACE); permissions not listed are kept. Duplicates are ignored. It
	// returns every ACE of the object after the replacement (as ObjectPermissions would).
	ReplaceObjectPermissions(ctx context.Context, objectID string, s Set) (Set, error)
	// DeleteObjectPermissions removes every ACE of the given objects. As in kinto, an id
	// containing '*' is a pattern ("/buckets/b1/*") and removes the ACEs of every matching
	// object. No ids is not an error.
	DeleteObjectPermissions(ctx context.Context, objectIDs ...string) error

	// AuthorizedPrincipals returns the union of the principals holding any of the bindings.
	AuthorizedPrincipals(ctx context.Context, bound []Binding) ([]string, error)
	// AccessibleObjects returns, for each object on which one of principals holds one of the
	// bound permissions (ObjectID may use '*'), the permissions held. Empty bound gives an
	// empty result.
	AccessibleObjects(ctx context.Context, principals []string, bound []Binding) (map[string][]string, error)
	// CheckPermission reports whether one of principals holds one of the bindings (exact
	// object ids); false when bound or principals is empty.
	CheckPermission(ctx context.Context, principals []string, bound []Binding) (bool, error)
	// Access reads in one call (one round trip on networked backends) what an authorization
	// step needs: the user's groups, the permissions that the user's principals (those given
	// and the groups) hold on a few objects, and every ACE of one object.
	Access(ctx context.Context, q AccessQuery) (Access, error)

	// MatchingObjects and PrincipalUsers list the extent of the two bulk changes, so that
	// the permission journal can record (and later restore) what they are about to change
	// (see "Optional capabilities" in the package documentation). The lists hold no
	// duplicates; their order is unspecified; no match gives an empty list. A backend that
	// cannot list them answers [ErrNotSupported].
	//
	// MatchingObjects returns the ids of the objects that have ACEs and whose id matches
	// pattern, as DeleteObjectPermissions would match it: each '*' matches any run of
	// characters, every other character only itself. A pattern without '*' names one object
	// (listed when it has ACEs). The objects MatchingObjects lists are exactly those whose
	// ACEs DeleteObjectPermissions(ctx, pattern) would delete.
	MatchingObjects(ctx context.Context, pattern string) ([]string, error)
	// PrincipalUsers returns the users to which AddUserPrincipal gave principal (and that
	// RemovePrincipal would take it from), including the pseudo-user [Authenticated]; users
	// holding it only through Authenticated are not listed. See MatchingObjects.
	PrincipalUsers(ctx context.Context, principal string) ([]string, error)

	// Ping checks the backend's server (the "permission" heartbeat); readonly asks for a
	// check that writes nothing.
	Ping(ctx context.Context, readonly bool) error
	// InitializeSchema brings the backend's schema to the current version; with dryRun it
	// only reports what it would do. It is run by an explicit migrate step, never on a
	// request path. A backend without a schema (memory, Redis) returns [ErrNotSupported]:
	// there is nothing to migrate, and it works as soon as it is opened.
	InitializeSchema(ctx context.Context, dryRun bool) error
	// Flush removes everything the backend stored, and only that (tests, the flush endpoint).
	Flush(ctx context.Context) error
	// Close releases the backend's resources.
	Close() error
}

// ErrNotSupported is returned by a [Backend] method that the backend does not provide (see
// "Optional capabilities" in the package documentation); the caller goes without it. It
// matches [errors.ErrUnsupported] too. Check it with errors.Is.
var ErrNotSupported = fmt.Errorf("permission: %w", errors.ErrUnsupported)

// As reports whether b, or a backend that b decorates, has type T, and returns it. It
// follows the Unwrap() Backend methods of decorators (see "Decorators" in the package
// documentation), as errors.As follows Unwrap() error. Capabilities are not found this way
// (they are methods of every Backend); As is for a caller that must know which backend
// holds the data, such as a storage backend sharing its database.
func As[T Backend](b Backend) (T, bool) {
	for b != nil {
		if t, ok := b.(T); ok {
			return t, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			break
		}
		b = u.Unwrap()
	}
	var zero T
	return zero, false
}

// BackendError wraps a failure of the underlying service; the protocol answers 503.
type BackendError struct {
	Backend string
	Op      string
	Err     error
}

func (e *BackendError) Error() string {
	return fmt.Sprintf("permission: %s: %s: %v", e.Backend, e.Op, e.Err)
}

func (e *BackendError) Unwrap() error { return e.Err }

// ErrInvalid reports an argument the backend refuses (an empty object id or principal, or
// one it cannot store, such as a NUL character or invalid UTF-8 on PostgreSQL). Backends may
// wrap it; the protocol answers 400 errno 107.
var ErrInvalid = errors.New("permission: invalid argument")

// Factory opens a backend from the settings (permission_url, ...).
type Factory func(ctx context.Context, s *config.Settings) (Backend, error)

var backends = func() *registry.Registry[Factory] {
	r := registry.New[Factory]("permission")
	for _, name := range []string{"memory", "postgresql", "redis"} {
		r.Alias("cliquet.permission."+name, name)
		r.Alias("kinto.core.permission."+name, name)
	}
	return r
}()

// Register makes a backend available by name to the permission_backend setting. It panics
// when name is empty or already registered.
func Register(name string, f Factory) { backends.Register(name, f) }

// Open builds the backend registered under name (short or dotted).
func Open(ctx context.Context, name string, s *config.Settings) (Backend, error) {
	f, err := backends.Lookup(name)
	if err != nil {
		return nil, err
	}
	return f(ctx, s)
}

// Backends returns the registered backend names, sorted.
func Backends() []string { return backends.Names() }
