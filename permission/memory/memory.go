// Package memory is a permission backend that keeps its ACEs and group memberships in the
// process memory. It is meant for tests, development and single-process deployments: the
// data is lost when the process exits.
//
// It registers itself as "memory" (also "cliquet.permission.memory" and
// "kinto.core.permission.memory"), so a blank import enables permission_backend = memory.
package memory

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/glob"
	"github.com/cliquet-go/cliquet/permission"
)

func init() {
	permission.Register("memory", func(context.Context, *config.Settings) (permission.Backend, error) {
		return New(), nil
	})
}

type set map[string]struct{}

// Backend is the in-memory permission backend. Create it with [New]. It is safe for
// concurrent use; every method takes one lock, so each call is atomic.
type Backend struct {
	closed atomic.Bool // set by Close: every call then fails (see Close)

	mu    sync.RWMutex
	users map[string]set            // user id → extra principals
	aces  map[string]map[string]set // object id → permission → principals
}

var _ permission.Backend = (*Backend)(nil)

// New returns an empty backend.
func New() *Backend {
	return &Backend{users: map[string]set{}, aces: map[string]map[string]set{}}
}

// AddUserPrincipal implements [permission.Backend].
func (b *Backend) AddUserPrincipal(_ context.Context, userID, principal string) error {
	if err := b.check("add_user_principal"); err != nil {
		return err
	}
	if userID == "" || principal == "" {
		return permission.ErrInvalid
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.users[userID]
	if s == nil {
		s = set{}
		b.users[userID] = s
	}
	s[principal] = struct{}{}
	return nil
}

// RemoveUserPrincipal implements [permission.Backend].
func (b *Backend) RemoveUserPrincipal(_ context.Context, userID, principal string) error {
	if err := b.check("remove_user_principal"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if s := b.users[userID]; s != nil {
		delete(s, principal)
		if len(s) == 0 {
			delete(b.users, userID)
		}
	}
	return nil
}

// RemovePrincipal implements [permission.Backend].
func (b *Backend) RemovePrincipal(_ context.Context, principal string) error {
	if err := b.check("remove_principal"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for user, s := range b.users {
		delete(s, principal)
		if len(s) == 0 {
			delete(b.users, user)
		}
	}
	return nil
}

// UserPrincipals implements [permission.Backend]: the principals of userID and those given
// to every authenticated user (userID [permission.Authenticated]).
func (b *Backend) UserPrincipals(_ context.Context, userID string) ([]string, error) {
	if err := b.check("user_principals"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := set{}
	for p := range b.users[userID] {
		out[p] = struct{}{}
	}
	for p := range b.users[permission.Authenticated] {
		out[p] = struct{}{}
	}
	return out.sorted(), nil
}

// AddPrincipalToACE implements [permission.Backend].
func (b *Backend) AddPrincipalToACE(_ context.Context, objectID, perm, principal string) error {
	if err := b.check("add_principal_to_ace"); err != nil {
		return err
	}
	if objectID == "" || perm == "" || principal == "" {
		return permission.ErrInvalid
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.add(objectID, perm, principal)
	return nil
}

func (b *Backend) add(objectID, perm, principal string) {
	perms := b.aces[objectID]
	if perms == nil {
		perms = map[string]set{}
		b.aces[objectID] = perms
	}
	s := perms[perm]
	if s == nil {
		s = set{}
		perms[perm] = s
	}
	s[principal] = struct{}{}
}

// RemovePrincipalFromACE implements [permission.Backend].
func (b *Backend) RemovePrincipalFromACE(_ context.Context, objectID, perm, principal string) error {
	if err := b.check("remove_principal_from_ace"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	perms := b.aces[objectID]
	if perms == nil {
		return nil
	}
	if s := perms[perm]; s != nil {
		delete(s, principal)
		if len(s) == 0 {
			delete(perms, perm)
		}
	}
	if len(perms) == 0 {
		delete(b.aces, objectID)
	}
	return nil
}

// ObjectPermissions implements [permission.Backend].
func (b *Backend) ObjectPermissions(_ context.Context, objectID string, perms ...string) (permission.Set, error) {
	if err := b.check("object_permissions"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.objectPermissions(objectID, perms), nil
}

func (b *Backend) objectPermissions(objectID string, perms []string) permission.Set {
	out := permission.Set{}
	all := b.aces[objectID]
	if len(perms) == 0 {
		for perm, s := range all {
			out[perm] = s.sorted()
		}
		return out
	}
	for _, perm := range perms {
		if s := all[perm]; len(s) > 0 {
			out[perm] = s.sorted()
		}
	}
	return out
}

// ReplaceObjectPermissions implements [permission.Backend].
func (b *Backend) ReplaceObjectPermissions(_ context.Context, objectID string, s permission.Set) (permission.Set, error) {
	if err := b.check("replace_object_permissions"); err != nil {
		return nil, err
	}
	if objectID == "" {
		return nil, permission.ErrInvalid
	}
	for perm, principals := range s {
		if perm == "" {
			return nil, permission.ErrInvalid
		}
		for _, p := range principals {
			if p == "" {
				return nil, permission.ErrInvalid
			}
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for perm, principals := range s {
		if perms := b.aces[objectID]; perms != nil {
			delete(perms, perm)
			if len(perms) == 0 {
				delete(b.aces, objectID)
			}
		}
		for _, p := range principals {
			b.add(objectID, perm, p)
		}
	}
	return b.objectPermissions(objectID, nil), nil
}

// DeleteObjectPermissions implements [permission.Backend]. An id containing '*' is a pattern
// and removes the ACEs of every matching object.
func (b *Backend) DeleteObjectPermissions(_ context.Context, objectIDs ...string) error {
	if err := b.check("delete_object_permissions"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range objectIDs {
		if !strings.Contains(id, "*") {
			delete(b.aces, id)
			continue
		}
		for obj := range b.aces {
			if glob.Match(id, obj) {
				delete(b.aces, obj)
			}
		}
	}
	return nil
}

// AuthorizedPrincipals implements [permission.Backend].
func (b *Backend) AuthorizedPrincipals(_ context.Context, bound []permission.Binding) ([]string, error) {
	if err := b.check("authorized_principals"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := set{}
	for _, bd := range bound {
		for p := range b.aces[bd.ObjectID][bd.Permission] {
			out[p] = struct{}{}
		}
	}
	return out.sorted(), nil
}

// AccessibleObjects implements [permission.Backend]. Bindings without '*' are looked up
// directly; patterns are matched against every stored object id.
func (b *Backend) AccessibleObjects(_ context.Context, principals []string, bound []permission.Binding) (map[string][]string, error) {
	if err := b.check("accessible_objects"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	found := map[string]set{}
	grant := func(obj, perm string, holders set) {
		for _, p := range principals {
			if _, ok := holders[p]; ok {
				if found[obj] == nil {
					found[obj] = set{}
				}
				found[obj][perm] = struct{}{}
				return
			}
		}
	}
	for _, bd := range bound {
		if !strings.Contains(bd.ObjectID, "*") {
			grant(bd.ObjectID, bd.Permission, b.aces[bd.ObjectID][bd.Permission])
			continue
		}
		for obj, perms := range b.aces {
			if holders, ok := perms[bd.Permission]; ok && glob.Match(bd.ObjectID, obj) {
				grant(obj, bd.Permission, holders)
			}
		}
	}
	out := make(map[string][]string, len(found))
	for obj, perms := range found {
		out[obj] = perms.sorted()
	}
	return out, nil
}

// CheckPermission implements [permission.Backend].
func (b *Backend) CheckPermission(_ context.Context, principals []string, bound []permission.Binding) (bool, error) {
	if err := b.check("check_permission"); err != nil {
		return false, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, bd := range bound {
		holders := b.aces[bd.ObjectID][bd.Permission]
		for _, p := range principals {
			if _, ok := holders[p]; ok {
				return true, nil
			}
		}
	}
	return false, nil
}

// Access implements [permission.Backend]: the groups of q.UserID (its own and those of
// [permission.Authenticated]; none for ""), the permissions held on q.Objects and the ACEs of
// q.Full, read under one lock.
func (b *Backend) Access(_ context.Context, q permission.AccessQuery) (permission.Access, error) {
	if err := b.check("access"); err != nil {
		return permission.Access{}, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	groups := set{}
	if q.UserID != "" {
		for p := range b.users[q.UserID] {
			groups[p] = struct{}{}
		}
		for p := range b.users[permission.Authenticated] {
			groups[p] = struct{}{}
		}
	}
	out := permission.Access{Groups: groups.sorted(), Held: map[string][]string{}}
	holds := func(holders set) bool {
		for _, p := range q.Principals {
			if _, ok := holders[p]; ok {
				return true
			}
		}
		for p := range groups {
			if _, ok := holders[p]; ok {
				return true
			}
		}
		return false
	}
	for _, obj := range q.Objects {
		if _, done := out.Held[obj]; done {
			continue
		}
		held := set{}
		for perm, holders := range b.aces[obj] {
			if holds(holders) {
				held[perm] = struct{}{}
			}
		}
		if len(held) > 0 {
			out.Held[obj] = held.sorted()
		}
	}
	if q.Full != "" {
		out.ACEs = b.objectPermissions(q.Full, nil)
	}
	return out, nil
}

// MatchingObjects implements [permission.Backend]: the objects with ACEs whose id matches
// pattern ('*' matches any run of characters), sorted.
func (b *Backend) MatchingObjects(_ context.Context, pattern string) ([]string, error) {
	if err := b.check("matching_objects"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := []string{}
	if !strings.Contains(pattern, "*") {
		if len(b.aces[pattern]) > 0 {
			out = append(out, pattern)
		}
		return out, nil
	}
	for obj, perms := range b.aces {
		if len(perms) > 0 && glob.Match(pattern, obj) {
			out = append(out, obj)
		}
	}
	sort.Strings(out)
	return out, nil
}

// PrincipalUsers implements [permission.Backend]: the users (the pseudo-user
// [permission.Authenticated] included) given principal by AddUserPrincipal, sorted.
func (b *Backend) PrincipalUsers(_ context.Context, principal string) ([]string, error) {
	if err := b.check("principal_users"); err != nil {
		return nil, err
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	out := []string{}
	for user, s := range b.users {
		if _, ok := s[principal]; ok {
			out = append(out, user)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Flush implements [permission.Backend].
func (b *Backend) Flush(context.Context) error {
	if err := b.check("flush"); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users = map[string]set{}
	b.aces = map[string]map[string]set{}
	return nil
}

// Ping implements [permission.Backend]; the memory backend is available until it is closed.
func (b *Backend) Ping(context.Context, bool) error { return b.check("ping") }

// InitializeSchema returns permission.ErrNotSupported: the memory backend has no schema.
func (b *Backend) InitializeSchema(context.Context, bool) error { return permission.ErrNotSupported }

// ErrClosed is the cause of the *permission.BackendError every call of a closed backend
// returns.
var ErrClosed = errors.New("permission: memory: backend closed")

// Close implements [permission.Backend]: it drops the data, and every later call fails with a
// *permission.BackendError wrapping [ErrClosed], as a server backend fails once its
// connections are closed. Closing again does nothing.
func (b *Backend) Close() error {
	b.closed.Store(true)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.users = map[string]set{}
	b.aces = map[string]map[string]set{}
	return nil
}

// check returns a *permission.BackendError wrapping ErrClosed, for the call named op, once
// the backend is closed.
func (b *Backend) check(op string) error {
	if b.closed.Load() {
		return &permission.BackendError{Backend: "memory", Op: op, Err: ErrClosed}
	}
	return nil
}

func (s set) sorted() []string {
	out := make([]string, 0, len(s))
	for k := range s {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
