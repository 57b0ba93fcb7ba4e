package cliquet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/cliquet-go/cliquet/permission"
)

// The permission journal: the permission backends commit each call on their own, outside
// the storage transaction of the request's unit of work (see [Transaction]). So that a
// rolled-back request leaves no permission change behind (an ACL on an object that was never
// created, an object restored without its ACL), the backend used inside a unit of work is
// wrapped by [JournalPermission]: before the first change of an object's ACEs, or of a
// user's principals, within the unit, it records their state; the change itself is applied
// at once, so that later reads of the request (and of the other sub-requests of its batch)
// see it. When the unit rolls back, the Transaction middleware restores the recorded states,
// newest first; when it commits, the records are dropped. This is compensation, not
// isolation: a concurrent request may read the changes before they are undone.
//
// Final writes (finalwrite.Mark) are autocommitted and cannot be rolled back, so a
// request must not change permissions after one: undoing the ACL of an object that stays
// stored would break their consistency. A permission change may come before the final
// write: the resource handlers save the ACL of a created object first, then create the
// object as the unit's final write, and roll the unit back ([RollbackUnit]) when that write
// fails, so that the journal undoes the ACL.
//
// Atomicity across storage and permissions needs a transactional storage backend, as
// storage atomicity itself does: without units of work (storage.Backend.Begin declines with
// storage.ErrNotSupported on the memory and Redis backends) there is no unit of work, and
// every permission change is kept whatever the response.

// JournalPermission wraps b so that its changes made within a unit of work of [Transaction]
// are undone when the unit rolls back (see the package's permission journal above).
// Outside a unit of work every call goes straight to b. The result forwards every method of
// permission.Backend, and returns b from its Unwrap() permission.Backend method (see
// permission.As). [Initialize] applies it to App.Permission when transaction_per_request
// installs the Transaction middleware; a nil b is returned unchanged.
//
// The undo of a DeleteObjectPermissions with a '*' pattern, and of RemovePrincipal, needs
// the extent of the change before it is made: b's MatchingObjects and PrincipalUsers. When b
// answers them with permission.ErrNotSupported, such a change is only undone for the objects
// and users the unit of work had already recorded; the rest is logged.
func JournalPermission(b permission.Backend) permission.Backend {
	if b == nil {
		return nil
	}
	return &journaledPermission{inner: b}
}

// journaledPermission is the decorator built by JournalPermission.
type journaledPermission struct {
	inner permission.Backend
}

// Unwrap returns the decorated backend.
func (p *journaledPermission) Unwrap() permission.Backend { return p.inner }

// journal returns the journal of the unit of work of ctx, or nil outside one.
func (p *journaledPermission) journal(ctx context.Context) *permJournal {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return nil
	}
	return &st.journal
}

// AddUserPrincipal implements [permission.Backend].
func (p *journaledPermission) AddUserPrincipal(ctx context.Context, userID, principal string) error {
	return p.changeUsers(ctx, []string{userID}, func() error {
		return p.inner.AddUserPrincipal(ctx, userID, principal)
	})
}

// RemoveUserPrincipal implements [permission.Backend].
func (p *journaledPermission) RemoveUserPrincipal(ctx context.Context, userID, principal string) error {
	return p.changeUsers(ctx, []string{userID}, func() error {
		return p.inner.RemoveUserPrincipal(ctx, userID, principal)
	})
}

// RemovePrincipal implements [permission.Backend]. Within a unit of work it records the
// principals of the users holding principal, as listed by PrincipalUsers, and
// those users themselves: the undo gives each of them principal back directly. (Their
// recorded principals alone would not do: UserPrincipals merges those of the pseudo-user
// system.Authenticated, so a user who held principal both directly and through it would
// look restored once system.Authenticated is, and lose the direct grant.) The one case left
// inexact is the mirror image: a user who gained principal directly earlier in the same unit
// while system.Authenticated held it too keeps that direct grant (see restoreUser).
func (p *journaledPermission) RemovePrincipal(ctx context.Context, principal string) error {
	j := p.journal(ctx)
	if j == nil {
		return p.inner.RemovePrincipal(ctx, principal)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch users, err := p.inner.PrincipalUsers(ctx, principal); {
	case errors.Is(err, permission.ErrNotSupported):
		j.unknown = append(j.unknown, fmt.Sprintf("RemovePrincipal(%q) for the users the unit of work had not changed", principal))
	case err != nil:
		return err
	default:
		if err := j.recordUsers(ctx, p, users); err != nil {
			return err
		}
		if len(users) > 0 {
			j.steps = append(j.steps, journalStep{backend: p.inner, principal: principal, holders: slices.Clone(users)})
		}
	}
	return p.inner.RemovePrincipal(ctx, principal)
}

// UserPrincipals implements [permission.Backend].
func (p *journaledPermission) UserPrincipals(ctx context.Context, userID string) ([]string, error) {
	return p.inner.UserPrincipals(ctx, userID)
}

// AddPrincipalToACE implements [permission.Backend].
func (p *journaledPermission) AddPrincipalToACE(ctx context.Context, objectID, perm, principal string) error {
	return p.changeObjects(ctx, []string{objectID}, func() error {
		return p.inner.AddPrincipalToACE(ctx, objectID, perm, principal)
	})
}

// RemovePrincipalFromACE implements [permission.Backend].
func (p *journaledPermission) RemovePrincipalFromACE(ctx context.Context, objectID, perm, principal string) error {
	return p.changeObjects(ctx, []string{objectID}, func() error {
		return p.inner.RemovePrincipalFromACE(ctx, objectID, perm, principal)
	})
}

// ObjectPermissions implements [permission.Backend].
func (p *journaledPermission) ObjectPermissions(ctx context.Context, objectID string, perms ...string) (permission.Set, error) {
	return p.inner.ObjectPermissions(ctx, objectID, perms...)
}

// ReplaceObjectPermissions implements [permission.Backend].
func (p *journaledPermission) ReplaceObjectPermissions(ctx context.Context, objectID string, s permission.Set) (permission.Set, error) {
	var out permission.Set
	err := p.changeObjects(ctx, []string{objectID}, func() error {
		var err error
		out, err = p.inner.ReplaceObjectPermissions(ctx, objectID, s)
		return err
	})
	return out, err
}

// DeleteObjectPermissions implements [permission.Backend]. Within a unit of work, the
// objects matching a '*' pattern are those listed by MatchingObjects.
func (p *journaledPermission) DeleteObjectPermissions(ctx context.Context, objectIDs ...string) error {
	j := p.journal(ctx)
	if j == nil || len(objectIDs) == 0 {
		return p.inner.DeleteObjectPermissions(ctx, objectIDs...)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	ids := make([]string, 0, len(objectIDs))
	for _, id := range objectIDs {
		if !strings.Contains(id, "*") {
			ids = append(ids, id)
			continue
		}
		found, err := p.inner.MatchingObjects(ctx, id)
		if errors.Is(err, permission.ErrNotSupported) {
			j.unknown = append(j.unknown, fmt.Sprintf("DeleteObjectPermissions(%q) for the objects the unit of work had not changed", id))
			continue
		}
		if err != nil {
			return err
		}
		ids = append(ids, found...)
	}
	if err := j.recordObjects(ctx, p, ids); err != nil {
		return err
	}
	return p.inner.DeleteObjectPermissions(ctx, objectIDs...)
}

// AuthorizedPrincipals implements [permission.Backend].
func (p *journaledPermission) AuthorizedPrincipals(ctx context.Context, bound []permission.Binding) ([]string, error) {
	return p.inner.AuthorizedPrincipals(ctx, bound)
}

// AccessibleObjects implements [permission.Backend].
func (p *journaledPermission) AccessibleObjects(ctx context.Context, principals []string, bound []permission.Binding) (map[string][]string, error) {
	return p.inner.AccessibleObjects(ctx, principals, bound)
}

// CheckPermission implements [permission.Backend].
func (p *journaledPermission) CheckPermission(ctx context.Context, principals []string, bound []permission.Binding) (bool, error) {
	return p.inner.CheckPermission(ctx, principals, bound)
}

// Access implements [permission.Backend]; a read, forwarded.
func (p *journaledPermission) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	return p.inner.Access(ctx, q)
}

// MatchingObjects implements [permission.Backend]; a read, forwarded.
func (p *journaledPermission) MatchingObjects(ctx context.Context, pattern string) ([]string, error) {
	return p.inner.MatchingObjects(ctx, pattern)
}

// PrincipalUsers implements [permission.Backend]; a read, forwarded.
func (p *journaledPermission) PrincipalUsers(ctx context.Context, principal string) ([]string, error) {
	return p.inner.PrincipalUsers(ctx, principal)
}

// Ping implements [permission.Backend].
func (p *journaledPermission) Ping(ctx context.Context, readonly bool) error {
	return p.inner.Ping(ctx, readonly)
}

// InitializeSchema implements [permission.Backend]; it is not journaled (it is not a
// request's change).
func (p *journaledPermission) InitializeSchema(ctx context.Context, dryRun bool) error {
	return p.inner.InitializeSchema(ctx, dryRun)
}

// Flush implements [permission.Backend]; it is not journaled (it is not a request's change).
func (p *journaledPermission) Flush(ctx context.Context) error { return p.inner.Flush(ctx) }

// Close implements [permission.Backend].
func (p *journaledPermission) Close() error { return p.inner.Close() }

// changeObjects records the ACEs of ids not yet recorded in the unit of work of ctx, then
// runs change; outside a unit it only runs change.
func (p *journaledPermission) changeObjects(ctx context.Context, ids []string, change func() error) error {
	j := p.journal(ctx)
	if j == nil {
		return change()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.recordObjects(ctx, p, ids); err != nil {
		return err
	}
	return change()
}

// KnownACL records set as the ACL that objectID had before the unit of work of ctx changed
// it, unless the unit already recorded one: for a caller that has just read that ACL (the
// resource handlers read it with the rest of a request's authorization data), so that the
// journal need not read it again before the change. Outside a unit of work it does
// nothing. The set must not be modified afterwards.
func (p *journaledPermission) KnownACL(ctx context.Context, objectID string, set permission.Set) {
	j := p.journal(ctx)
	if j == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.objects[journalKey{p, objectID}] {
		j.recordObject(p, objectID, set)
	}
}

// changeUsers records the principals of users not yet recorded in the unit of work of ctx,
// then runs change; outside a unit it only runs change.
func (p *journaledPermission) changeUsers(ctx context.Context, users []string, change func() error) error {
	j := p.journal(ctx)
	if j == nil {
		return change()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.recordUsers(ctx, p, users); err != nil {
		return err
	}
	return change()
}

// permJournal is the record of one unit of work's permission changes (see
// JournalPermission). Its zero value is empty and ready; it lives in the unit's txState.
type permJournal struct {
	mu      sync.Mutex
	objects map[journalKey]bool // objects recorded
	users   map[journalKey]bool // users recorded
	steps   []journalStep       // the records, oldest first
	unknown []string            // changes that could not be recorded, for the undo's log
}

// journalKey names an object or a user of one journaled backend (a unit of work may use
// several); the decorator, a pointer, is always comparable, unlike some backends.
type journalKey struct {
	owner *journaledPermission
	id    string
}

// journalStep is the state of one object's ACEs (object != "") or of one user's principals
// (user != "") in backend before the unit of work changed them, or the users who held
// principal directly before a RemovePrincipal (principal != "").
type journalStep struct {
	backend    permission.Backend
	object     string
	perms      permission.Set
	user       string
	principals []string
	principal  string
	holders    []string
}

// recordObjects reads and keeps the ACEs of the ids not recorded yet. j.mu is held.
func (j *permJournal) recordObjects(ctx context.Context, p *journaledPermission, ids []string) error {
	for _, id := range ids {
		if j.objects[journalKey{p, id}] {
			continue
		}
		set, err := p.inner.ObjectPermissions(ctx, id)
		if err != nil {
			return err
		}
		j.recordObject(p, id, set)
	}
	return nil
}

// recordObject records set as the ACL of the object id of p before the unit's changes.
func (j *permJournal) recordObject(p *journaledPermission, id string, set permission.Set) {
	if j.objects == nil {
		j.objects = map[journalKey]bool{}
	}
	j.objects[journalKey{p, id}] = true
	j.steps = append(j.steps, journalStep{backend: p.inner, object: id, perms: set})
}

// recordUsers reads and keeps the principals of the users not recorded yet. j.mu is held.
func (j *permJournal) recordUsers(ctx context.Context, p *journaledPermission, users []string) error {
	for _, u := range users {
		if j.users[journalKey{p, u}] {
			continue
		}
		principals, err := p.inner.UserPrincipals(ctx, u)
		if err != nil {
			return err
		}
		if j.users == nil {
			j.users = map[journalKey]bool{}
		}
		j.users[journalKey{p, u}] = true
		j.steps = append(j.steps, journalStep{backend: p.inner, user: u, principals: principals})
	}
	return nil
}

// undo restores the recorded states, newest first, and empties the journal. It never
// panics: each failure is logged on logger and passed to report (nil: not reported), and
// the other records are still restored. It returns the joined failures.
func (j *permJournal) undo(ctx context.Context, logger *slog.Logger, report func(error)) error {
	j.mu.Lock()
	steps, unknown := j.steps, j.unknown
	j.steps, j.unknown, j.objects, j.users = nil, nil, nil, nil
	j.mu.Unlock()
	for _, u := range unknown {
		logger.WarnContext(ctx, "permission change not undone by the rollback: the permission backend cannot list what it changed (see permission.Backend.MatchingObjects)", "change", u)
	}
	var errs []error
	for i := len(steps) - 1; i >= 0; i-- {
		st := steps[i]
		var err error
		switch {
		case st.object != "":
			err = restoreObject(ctx, st.backend, st.object, st.perms)
		case st.principal != "":
			err = restoreHolders(ctx, st.backend, st.principal, st.holders)
		default:
			err = restoreUser(ctx, st.backend, st.user, st.principals)
		}
		if err != nil {
			logger.ErrorContext(ctx, "permission rollback failed", "object", st.object, "user", st.user, "principal", st.principal, "error", err.Error())
			errs = append(errs, err)
		}
	}
	err := errors.Join(errs...)
	if err != nil && report != nil {
		report(fmt.Errorf("cliquet: permission rollback: %w", err))
	}
	return err
}

// reset drops the records of a committed unit of work.
func (j *permJournal) reset() {
	j.mu.Lock()
	j.steps, j.unknown, j.objects, j.users = nil, nil, nil, nil
	j.mu.Unlock()
}

// restoreObject gives objectID the ACEs of want exactly: permissions absent from want are
// emptied.
func restoreObject(ctx context.Context, b permission.Backend, objectID string, want permission.Set) error {
	cur, err := b.ObjectPermissions(ctx, objectID)
	if err != nil {
		return err
	}
	replace := permission.Set{}
	for perm, principals := range cur {
		if !sameMembers(principals, want[perm]) {
			replace[perm] = slices.Clone(want[perm])
			if replace[perm] == nil {
				replace[perm] = []string{}
			}
		}
	}
	for perm, principals := range want {
		if _, ok := cur[perm]; !ok && len(principals) > 0 {
			replace[perm] = slices.Clone(principals)
		}
	}
	if len(replace) == 0 {
		return nil
	}
	_, err = b.ReplaceObjectPermissions(ctx, objectID, replace)
	return err
}

// restoreUser gives userID back the principals of want, removing those it gained and adding
// those it lost. Principals are compared as UserPrincipals returns them, including those of
// the pseudo-user system.Authenticated: a principal held both directly and through it is
// not re-added when the unit removed the direct grant only.
func restoreUser(ctx context.Context, b permission.Backend, userID string, want []string) error {
	cur, err := b.UserPrincipals(ctx, userID)
	if err != nil {
		return err
	}
	for _, p := range cur {
		if !slices.Contains(want, p) {
			if err := b.RemoveUserPrincipal(ctx, userID, p); err != nil {
				return err
			}
		}
	}
	for _, p := range want {
		if !slices.Contains(cur, p) {
			if err := b.AddUserPrincipal(ctx, userID, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// restoreHolders gives principal back to each of users, directly (the undo of a
// RemovePrincipal; the users' own records, older, then remove what they had gained since).
// It tries every user and returns the joined failures.
func restoreHolders(ctx context.Context, b permission.Backend, principal string, users []string) error {
	var errs []error
	for _, u := range users {
		if err := b.AddUserPrincipal(ctx, u, principal); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// sameMembers reports whether a and b hold the same strings, ignoring order and duplicates.
func sameMembers(a, b []string) bool {
	as := map[string]bool{}
	for _, s := range a {
		as[s] = true
	}
	bs := map[string]bool{}
	for _, s := range b {
		bs[s] = true
	}
	return maps.Equal(as, bs)
}
