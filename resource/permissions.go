package resource

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/internal/finalwrite"
	"github.com/cliquet-go/cliquet/internal/jsonobj"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// The permission side of shareable resources: the ACLs sent in bodies become replacements
// of the object's ACEs, written right after the storage write; responses of object
// endpoints show the ACEs to the users who hold write.

// permNames returns the object permission names a body may carry; nil for private resources.
func (rs *core) permNames() []string {
	if rs.share == nil {
		return nil
	}
	return rs.share.names
}

// requested turns the permissions field of a POST, PUT or PATCH body into the ACE
// replacements to apply: listed permissions are replaced; PUT (when the body has a
// permissions field) and merge-patch also empty the others (PUT) or those set to null
// (merge-patch); a plain JSON PATCH ignores null values.
func (sh *sharing) requested(method string, b *body) permission.Set {
	set := permission.Set{}
	if !b.hasPerms {
		return set
	}
	reset := method == "PUT"
	for _, n := range sh.names {
		v, listed := b.perms[n]
		switch {
		case listed && v != nil:
			set[n] = v
		case listed && b.kind == bodyMergePatch, reset:
			set[n] = []string{}
		}
	}
	return set
}

// author is the principal that receives write on the objects it creates or changes
// (kinto.core: the user id, system.Everyone for anonymous writers).
func author(id authn.Identity) string {
	if id.Authenticated() {
		return id.UserID
	}
	return permission.Everyone
}

// save applies the replacements to the ACEs of uri and gives write to the author (unless
// explicit_permissions is off). It returns the object's ACEs afterwards. For an object
// being created, the author's write joins the replacements, so that one call writes the
// whole ACL.
func (sh *sharing) save(ctx context.Context, id authn.Identity, uri string, replace permission.Set, creating bool) (permission.Set, error) {
	var (
		set permission.Set
		err error
	)
	if creating {
		sh.addAuthor(replace, id)
	}
	if len(replace) > 0 {
		if set, err = sh.backend.ReplaceObjectPermissions(ctx, uri, replace); err != nil {
			return nil, err
		}
	} else if set, err = sh.backend.ObjectPermissions(ctx, uri); err != nil {
		return nil, err
	}
	if sh.explicit && !slices.Contains(set["write"], author(id)) {
		if err := sh.backend.AddPrincipalToACE(ctx, uri, "write", author(id)); err != nil {
			return nil, err
		}
		if set == nil {
			set = permission.Set{}
		}
		set["write"] = append(slices.Clone(set["write"]), author(id))
	}
	return set, nil
}

// newACL is the ACL of a new object: the requested ACEs and, unless explicit_permissions
// is off, the author's write.
func (sh *sharing) newACL(id authn.Identity, requested permission.Set) permission.Set {
	set := permission.Set{}
	for perm, principals := range requested {
		if len(principals) > 0 {
			set[perm] = principals
		}
	}
	sh.addAuthor(set, id)
	return set
}

// addAuthor gives the author write in set, unless explicit_permissions is off.
func (sh *sharing) addAuthor(set permission.Set, id authn.Identity) {
	if sh.explicit && !slices.Contains(set["write"], author(id)) {
		set["write"] = append(slices.Clone(set["write"]), author(id))
	}
}

// add writes the ACL of a new object whose ACL is known to be empty (see newACL) and
// returns it.
func (sh *sharing) add(ctx context.Context, id authn.Identity, uri string, requested permission.Set) (permission.Set, error) {
	set := sh.newACL(id, requested)
	for perm, principals := range set {
		for _, p := range principals {
			if err := sh.backend.AddPrincipalToACE(ctx, uri, perm, p); err != nil {
				return nil, err
			}
		}
	}
	return set, nil
}

// createJointly writes a new object of a shareable resource and its ACL in one storage
// call (storage.Backend.CreateWithACEs, when the permission backend lives in the storage
// backend's database), committed on its own (the unit's final write, or no unit), when
// the authorization step found the object's ACL empty: the object and its ACL are written
// together or not at all. ok is false when it cannot (the storage backend declines with
// storage.ErrNotSupported, having done nothing); the caller then writes them separately.
func (rs *core) createJointly(r *http.Request, t *target, scope storage.Scope, obj storage.Object, b *body) (created storage.Object, perms permission.Set, ok bool, err error) {
	uri := t.uris.object(obj.ID)
	if rs.share == nil || t.rights.acesOf != uri || len(t.rights.aces) != 0 {
		return storage.Object{}, nil, false, nil
	}
	ctx := r.Context()
	// Inside a unit of work that must stay one transaction (a batch, before-commit
	// listeners), the ACEs would be rows of that transaction, which the permission
	// backend's own connections cannot see until it commits (a later sub-request changing
	// or deleting them would miss them, or wait for them): write them separately.
	if cliquet.InTransaction(ctx) && !finalwrite.Allowed(finalwrite.Mark(ctx)) {
		return storage.Object{}, nil, false, nil
	}
	set := rs.share.newACL(authn.IdentityFrom(ctx), rs.share.requested(r.Method, b))
	created, err = rs.store.CreateWithACEs(finalwrite.Mark(ctx), scope, obj, rs.share.backend, uri, set)
	switch {
	case errors.Is(err, storage.ErrNotSupported):
		return storage.Object{}, nil, false, nil
	case err != nil:
		return storage.Object{}, nil, true, err
	}
	return created, visible(set, t.principals), true, nil
}

// createAhead creates the object data of a POST without an id (the server chose newID) in
// a nested shareable collection in one statement (storage.Backend.CreateGuarded),
// authorization included, when it can:
// the ancestors are those the resource's last authorization step under the same parent
// read (tree.seen), the object is prepared (validated against the parent's schema, the
// Process hook run) with them, and the statement writes it with its ACL only if, at its
// own snapshot, the ancestors are still at those versions and the user holds the create
// permission (through its principals, its groups, or the global principals settings,
// which are checked here). ok is false when it cannot, or when the statement found that
// something changed: nothing was written, and the caller authorizes and creates the usual
// way, which answers any error.
func (rs *Resource[T]) createAhead(r *http.Request, b *body, data map[string]any, newID string) (_ *target, created storage.Object, perms permission.Set, ok bool, err error) {
	ctx := r.Context()
	id := authn.IdentityFrom(ctx)
	if rs.share == nil || rs.tree.parent == nil || !rs.share.explicit || !id.Authenticated() ||
		cliquet.InTransaction(ctx) && !finalwrite.Allowed(finalwrite.Mark(ctx)) {
		return nil, storage.Object{}, nil, false, nil
	}
	c, err := rs.resolveChain(r)
	if err != nil {
		return nil, storage.Object{}, nil, false, nil
	}
	depth := len(c.ids)
	seen, found := rs.tree.seen.Load(c.uris[depth-1])
	if !found {
		return nil, storage.Object{}, nil, false, nil
	}
	u, err := rs.uris(r, c)
	if err != nil {
		return nil, storage.Object{}, nil, false, nil
	}
	t := &target{r: r, plural: true, newID: newID, store: rs.store, rs: &rs.core, chain: c, uris: u,
		scope: storage.Scope{Resource: rs.name, Parent: c.uris[depth-1]}, ancestors: seen.([]storage.Object), principals: id.Principals}
	t.lv = rs.levels(c, "", u.plural)
	grants := rs.grantsOf("create", true)
	hold := permission.HoldQuery{UserID: id.UserID, Principals: id.Principals}
	if !t.lv.holds(&t.rights, id.Principals, grants) { // not through the settings: an ACE must grant it
		if hold.Bindings = t.lv.bindings(grants); len(hold.Bindings) == 0 {
			return nil, storage.Object{}, nil, false, nil
		}
	}
	if rs.process != nil {
		data = jsonobj.Clone(data).(map[string]any) // the hook may change it, and the usual way runs it again
	}
	obj, err := rs.prepare(t, newID, data, nil, b.order)
	if err != nil {
		return nil, storage.Object{}, nil, false, nil // maybe a schema of an older version: decided the usual way
	}
	versions := make([]int64, depth)
	for i, a := range t.ancestors {
		versions[i] = a.LastModified
	}
	set := rs.share.newACL(id, rs.share.requested(r.Method, b))
	created, err = rs.store.CreateGuarded(ctx, t.scope, obj, rs.share.backend, u.object(newID), set, c.keys, versions, hold)
	switch {
	case errors.Is(err, storage.ErrModified), errors.Is(err, storage.ErrNotSupported):
		return nil, storage.Object{}, nil, false, nil
	case err != nil:
		return nil, storage.Object{}, nil, true, err
	}
	return t, created, visible(set, id.Principals), true, nil
}

// visible returns the ACEs a user may see in a response: all of them when one of its
// principals holds write on the object, none otherwise (kinto.core). The result is never
// nil and its lists are sorted.
func visible(set permission.Set, principals []string) permission.Set {
	out := permission.Set{}
	writer := false
	for _, p := range set["write"] {
		writer = writer || slices.Contains(principals, p)
	}
	if !writer {
		return out
	}
	for k, v := range set {
		if len(v) > 0 {
			out[k] = slices.Sorted(slices.Values(v))
		}
	}
	return out
}

// jsonPatchPermissions prepares a JSON Patch document's permissions part: every permission
// name maps to an object {principal: principal}, so that ops on
// /permissions/<perm>/<principal> (given the principal as value by readBody) add and remove
// principals.
func jsonPatchPermissions(names []string, old permission.Set) map[string]map[string]string {
	doc := make(map[string]map[string]string, len(names))
	for _, n := range names {
		doc[n] = map[string]string{}
		for _, p := range old[n] {
			doc[n][p] = p
		}
	}
	return doc
}

// jsonPatchResult reads the permissions part of a patched document back as full
// replacements (every permission name listed).
func jsonPatchResult(names []string, raw json.RawMessage, maxPrincipals int) (permission.Set, error) {
	var doc map[string]map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, protocol.InvalidParam("body", "permissions", "JSON Patch operation failed: permissions should map permissions to principals")
	}
	set := permission.Set{}
	for k, principals := range doc {
		if !slices.Contains(names, k) {
			return nil, protocol.InvalidParam("body", "permissions."+k, k+" is not a permission of this resource")
		}
		if d, over := tooManyPrincipals(k, len(principals), maxPrincipals); over {
			return nil, protocol.InvalidParameters(d)
		}
		list := make([]string, 0, len(principals))
		for p := range principals {
			list = append(list, p)
		}
		slices.Sort(list)
		set[k] = list
	}
	for _, n := range names {
		if _, ok := set[n]; !ok {
			set[n] = []string{}
		}
	}
	return set, nil
}

// loadPermissions returns the ACEs of the object id to render; nil for private resources.
func (rs *core) loadPermissions(r *http.Request, t *target, id string) (permission.Set, error) {
	if rs.share == nil {
		return nil, nil
	}
	uri := t.uris.object(id)
	set := t.rights.aces
	if t.rights.acesOf != uri {
		var err error
		if set, err = rs.share.backend.ObjectPermissions(r.Context(), uri); err != nil {
			return nil, err
		}
	}
	return visible(set, t.principals), nil
}

// savePermissions writes the ACEs of the object id after a storage write (see requested and
// sharing.save) and returns those to render; nil for private resources.
func (rs *core) savePermissions(r *http.Request, t *target, id string, b *body) (permission.Set, error) {
	if rs.share == nil {
		return nil, nil
	}
	ident := authn.IdentityFrom(r.Context())
	creating := t.obj == nil && r.Method != http.MethodPatch
	uri := t.uris.object(id)
	if creating && t.rights.acesOf == uri && len(t.rights.aces) == 0 {
		// The authorization step read this new object's ACL: it is empty, so the new ACEs
		// are added, without the replacement's lock, deletion and read.
		set, err := rs.share.add(r.Context(), ident, uri, rs.share.requested(r.Method, b))
		if err != nil {
			return nil, err
		}
		return visible(set, t.principals), nil
	}
	set, err := rs.share.save(r.Context(), ident, uri, rs.share.requested(r.Method, b), creating)
	if err != nil {
		return nil, err
	}
	return visible(set, t.principals), nil
}

// deletePermissions removes the ACEs of deleted objects, and those of their descendants
// when resources are nested under this one.
func (rs *core) deletePermissions(r *http.Request, t *target, deleted ...storage.Object) error {
	if rs.share == nil || len(deleted) == 0 {
		return nil
	}
	nested := rs.hasChildren()
	ids := make([]string, 0, 2*len(deleted))
	for _, o := range deleted {
		ids = append(ids, t.uris.object(o.ID))
		if nested {
			ids = append(ids, t.uris.object(o.ID)+"/*")
		}
	}
	return rs.share.backend.DeleteObjectPermissions(r.Context(), ids...)
}

// deleteChildren deletes the descendants of deleted objects (see core.deleteDescendants).
func (rs *core) deleteChildren(r *http.Request, t *target, deleted ...storage.Object) error {
	if !rs.hasChildren() {
		return nil
	}
	for _, o := range deleted {
		if err := rs.deleteDescendants(r.Context(), append(t.chain.ids[:len(t.chain.ids):len(t.chain.ids)], o.ID)); err != nil {
			return err
		}
	}
	return nil
}
