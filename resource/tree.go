package resource

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// Nested resources (Spec.Under): a resource registered under a parent resource keeps its
// objects in one collection per parent object, whose storage parent id is the parent
// object's URI ("/buckets/b1/collections/c1"). The toolkit reads the ancestors together
// with the object, answers a missing ancestor as kinto.core does, inherits permissions
// down the tree and deletes the descendants of a deleted object.

// Node is a registered resource that other resources can be nested under (Spec.Under).
// *Resource[T] implements it.
type Node interface {
	node() *core
}

func (rs *Resource[T]) node() *core { return &rs.core }

// tmpl is a route pattern cut at its URL parameters: lits[0] names[0] lits[1] ... lits[n].
type tmpl struct {
	lits  []string
	names []string
}

func newTmpl(pattern string) tmpl {
	var t tmpl
	rest := pattern
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			break
		}
		t.lits = append(t.lits, rest[:i])
		name, _, _ := strings.Cut(rest[i+1:i+j], ":")
		t.names = append(t.names, name)
		rest = rest[i+j+1:]
	}
	t.lits = append(t.lits, rest)
	return t
}

// fill substitutes vals, in order, for the parameters.
func (t tmpl) fill(vals ...string) string {
	n := 0
	for _, l := range t.lits {
		n += len(l)
	}
	for _, v := range vals {
		n += len(v)
	}
	var b strings.Builder
	b.Grow(n)
	for i, l := range t.lits {
		b.WriteString(l)
		if i < len(vals) {
			b.WriteString(vals[i])
		}
	}
	return b.String()
}

// head substitutes vals for the first parameters and stops before the next one.
func (t tmpl) head(vals ...string) string {
	var b strings.Builder
	for i, v := range vals {
		b.WriteString(t.lits[i])
		b.WriteString(v)
	}
	b.WriteString(t.lits[len(vals)])
	return b.String()
}

// tree is the place of a resource in its resource tree.
type tree struct {
	parent   *core   // nil for a root
	path     []*core // the ancestors, root first
	children []*core // the resources registered under this one
	// params names the URL parameters of the plural path that carry the ancestors' ids,
	// root first.
	params []string
	plural tmpl // the plural URI template (one parameter per ancestor)
	object tmpl // the object URI template (the ancestors, then the id)

	mu     sync.Mutex // guards children
	grants sync.Map   // grantKey → []grantRef: memoised results of core.grantsOf

	// seen holds, by parent object URI, the ancestors as an authorization step of this
	// resource last read them jointly with the permission data ([]storage.Object): a
	// creation may be authorized on them ahead of reading them again (see createAhead).
	// seenCount bounds it.
	seen      sync.Map
	seenCount atomic.Int64
}

// maxSeen bounds the parents whose ancestors a resource remembers; beyond it, it forgets
// them all and starts again.
const maxSeen = 4096

// rememberAncestors records the ancestors an authorization step read under parent (their
// ids and versions, their data), unless they are the ones already recorded.
func (t *tree) rememberAncestors(parent string, ancestors []storage.Object) {
	if old, ok := t.seen.Load(parent); ok && sameVersions(old.([]storage.Object), ancestors) {
		return
	}
	if _, loaded := t.seen.Swap(parent, slices.Clone(ancestors)); !loaded && t.seenCount.Add(1) > maxSeen {
		t.seen.Clear()
		t.seenCount.Store(0)
	}
}

// sameVersions reports whether a and b are the same objects at the same versions.
func sameVersions(a, b []storage.Object) bool {
	return slices.EqualFunc(a, b, func(x, y storage.Object) bool { return x.ID == y.ID && x.LastModified == y.LastModified })
}

// chain is what a request addresses above its objects: the ancestors' ids and object URIs,
// root first, and their storage keys.
type chain struct {
	ids  []string
	uris []string
	keys []storage.Key
}

// resolveChain reads the ancestors' ids from the request's URL parameters.
func (rs *core) resolveChain(r *http.Request) (chain, error) {
	n := len(rs.tree.path)
	if n == 0 {
		return chain{}, nil
	}
	c := chain{ids: make([]string, n), uris: make([]string, n), keys: make([]storage.Key, n)}
	for k, anc := range rs.tree.path {
		id := chi.URLParam(r, rs.tree.params[k])
		// As objectID: whatever the generator accepts, an id must be storable on every
		// backend, and '*' or '/' would be patterns or separators in the ACLs' URIs.
		if !anc.ids.Valid(id) || jsoncheck.String(id) != nil || strings.ContainsAny(id, "*/") {
			return chain{}, protocol.InvalidParam("path", anc.name+"_id", "Invalid "+anc.name+" id")
		}
		c.ids[k] = id
		c.uris[k] = anc.tree.object.fill(c.ids[:k+1]...)
		parent := ""
		if k > 0 {
			parent = c.uris[k-1]
		}
		c.keys[k] = storage.Key{Scope: storage.Scope{Resource: anc.name, Parent: parent}, ID: id}
	}
	return c, nil
}

// setUnder places rs under parent; it checks the paths and fills rs.tree.
func (rs *core) setUnder(parent *core) error {
	if parent.share == nil || rs.share == nil {
		return errorf(rs.name, "a nested resource and its parent %s must both be shareable (Spec.Sharing)", parent.name)
	}
	if parent.parent != nil || len(parent.tree.object.names) != len(parent.tree.path)+1 {
		return errorf(rs.name, "parent %s must be addressed by the tree alone (no Parent hook, no other URL parameters)", parent.name)
	}
	rs.tree.parent = parent
	rs.tree.path = append(slices.Clone(parent.tree.path), parent)
	rs.tree.plural = newTmpl(rs.pluralPath)
	rs.tree.object = newTmpl(rs.objectPath)
	depth := len(rs.tree.path)
	if len(rs.tree.plural.names) != depth {
		return errorf(rs.name, "path %q must have one URL parameter per ancestor (%d)", rs.pluralPath, depth)
	}
	if len(rs.tree.object.names) != depth+1 || rs.tree.object.names[depth] != "id" ||
		!slices.Equal(rs.tree.object.names[:depth], rs.tree.plural.names) {
		return errorf(rs.name, "object path %q must be the path's parameters followed by {id}", rs.objectPath)
	}
	po, co := parent.tree.object.lits, rs.tree.object.lits
	if po[len(po)-1] != "" || !slices.Equal(co[:depth], po[:depth]) || !strings.HasPrefix(co[depth], "/") {
		return errorf(rs.name, "path %q must extend the object path %q of parent %s", rs.pluralPath, parent.objectPath, parent.name)
	}
	rs.tree.params = rs.tree.plural.names
	parent.tree.mu.Lock()
	parent.tree.children = append(parent.tree.children, rs)
	parent.tree.mu.Unlock()
	parent.tree.grants.Clear() // "<child>:create" is a new permission of the parent
	return nil
}

// defaultNestedPath is the plural path of a resource nested under parent when Spec.Path is
// empty: the parent's object path with {id} renamed {<parent>_id}, then /<name>s.
func defaultNestedPath(parent *core, name string) string {
	return strings.Replace(parent.objectPath, "{id}", "{"+parent.name+"_id}", 1) + "/" + name + "s"
}

// grantKey names one permission question: perm on an object of the resource (plural false)
// or on its plural URI.
type grantKey struct {
	perm   string
	plural bool
}

// grantRef is one binding of a grant: permission perm on the object at level of the
// request's chain (0 the root ancestor, len(path) the object itself, len(path)+1 the
// plural URI).
type grantRef struct {
	level int
	perm  string
	// global: only the settings (<name>_<perm>_principals) grant it, through no ACE (the
	// resource's own global grants on its plural URI, when it is nested).
	global bool
}

// grantsOf returns the bindings that grant perm on an object of rs (or on its plural URI):
// the permission itself, the permissions that imply it on the same object (Sharing.Implied,
// read implied by write, and "<child>:create" by write), and, for a permission that the
// parent resource also has, the parent's grants of it. On the plural URI of a nested
// resource, create is "<name>:create" on the parent object and any other permission is the
// parent object's; a root resource's plural URI grants a permission by itself (and read by
// write).
func (rs *core) grantsOf(perm string, plural bool) []grantRef {
	t := &rs.tree
	k := grantKey{perm, plural}
	if refs, ok := t.grants.Load(k); ok {
		return refs.([]grantRef)
	}
	var refs []grantRef
	depth := len(t.path)
	switch {
	case plural && t.parent != nil:
		if perm == "create" {
			perm = rs.name + ":create"
		}
		refs = t.parent.collectGrants(nil, depth-1, perm)
		own := perm
		if own == rs.name+":create" {
			own = "create"
		}
		refs = append(refs, grantRef{level: depth, perm: own, global: true})
		for _, q := range rs.share.implied(own, nil) {
			refs = append(refs, grantRef{level: depth, perm: q, global: true})
		}
	case plural:
		refs = []grantRef{{level: depth + 1, perm: perm}}
		for _, q := range rs.share.implied(perm, nil) {
			refs = append(refs, grantRef{level: depth + 1, perm: q})
		}
	default:
		refs = rs.collectGrants(nil, depth, perm)
	}
	t.grants.Store(k, refs)
	return refs
}

// collectGrants appends to out the bindings granting perm on an object of rs at level.
func (rs *core) collectGrants(out []grantRef, level int, perm string) []grantRef {
	ref := grantRef{level: level, perm: perm}
	if slices.Contains(out, ref) {
		return out
	}
	out = append(out, ref)
	for _, q := range rs.share.implied(perm, rs.children()) {
		out = rs.collectGrants(out, level, q)
	}
	if p := rs.tree.parent; p != nil && slices.Contains(p.share.names, perm) {
		out = p.collectGrants(out, level-1, perm)
	}
	return out
}

// implied returns the permissions that grant perm on the same object: Sharing.Implied's
// entry, or by default write for read and for the creation of a child resource's objects.
func (sh *sharing) implied(perm string, children []*core) []string {
	if q, ok := sh.impliedBy[perm]; ok {
		return q
	}
	if perm == "read" {
		return []string{"write"}
	}
	for _, c := range children {
		if perm == c.name+":create" {
			return []string{"write"}
		}
	}
	return nil
}

// levels gives, for one request, the object URI and the sharing rules of each level of a
// grantRef: the ancestors, the object (its URI may be "" when there is no id, or a pattern)
// and the plural URI.
type levels struct {
	uris  []string
	rules []*sharing
}

func (rs *core) levels(c chain, object, plural string) levels {
	n := len(rs.tree.path)
	l := levels{uris: make([]string, n+2), rules: make([]*sharing, n+2)}
	copy(l.uris, c.uris)
	for k, anc := range rs.tree.path {
		l.rules[k] = anc.share
	}
	l.uris[n], l.uris[n+1] = object, plural
	l.rules[n], l.rules[n+1] = rs.share, rs.share
	return l
}

// bindings turns grant references into permission bindings on the request's objects.
func (l levels) bindings(refs []grantRef) []permission.Binding {
	out := make([]permission.Binding, 0, len(refs))
	for _, g := range refs {
		if uri := l.uris[g.level]; uri != "" && !g.global {
			out = append(out, permission.Binding{ObjectID: uri, Permission: g.perm})
		}
	}
	return out
}

// rights is what the permission backend says of the caller on the objects of one request:
// the permissions held on each object URI (through any of the caller's principals) and,
// when asked for, every ACE of the target object (to render).
type rights struct {
	held   map[string][]string
	aces   permission.Set
	acesOf string // the object whose ACEs aces holds ("" none)
}

// holds reports whether the caller holds one of the grants: through the global principals
// settings of the grant's level, or through an ACE of the level's object.
func (l levels) holds(rt *rights, principals []string, refs []grantRef) bool {
	for _, g := range refs {
		for _, p := range l.rules[g.level].globalPrincipals(g.perm) {
			if slices.Contains(principals, p) {
				return true
			}
		}
		if uri := l.uris[g.level]; uri != "" && !g.global && slices.Contains(rt.held[uri], g.perm) {
			return true
		}
	}
	return false
}

// accessQuery is what the authorization step asks the permission backend: the caller's
// groups, the permissions the caller holds on uris (each once, "" skipped) and every ACE of
// full when it is not "".
func accessQuery(id authn.Identity, uris []string, full string) permission.AccessQuery {
	objects := make([]string, 0, len(uris))
	for _, uri := range uris {
		// Full's held permissions come from its ACEs (rightsOf): no second lookup.
		if uri != "" && uri != full && !slices.Contains(objects, uri) {
			objects = append(objects, uri)
		}
	}
	return permission.AccessQuery{UserID: id.UserID, Principals: id.Principals, Objects: objects, Full: full}
}

// rightsOf turns the permission backend's answer to q (see accessQuery) into the caller's
// rights and principals, groups included.
func rightsOf(id authn.Identity, q permission.AccessQuery, a permission.Access) (rights, []string) {
	principals := id.Principals
	if len(a.Groups) > 0 {
		principals = append(make([]string, 0, len(principals)+len(a.Groups)), principals...)
		for _, g := range a.Groups {
			if !slices.Contains(principals, g) {
				principals = append(principals, g)
			}
		}
	}
	rt := rights{held: a.Held}
	if q.Full != "" {
		rt.aces, rt.acesOf = a.ACEs, q.Full
		var held []string
		for perm, ps := range a.ACEs {
			for _, p := range ps {
				if slices.Contains(principals, p) {
					held = append(held, perm)
					break
				}
			}
		}
		if held != nil {
			if rt.held == nil {
				rt.held = map[string][]string{}
			}
			rt.held[q.Full] = held
		}
	}
	return rt, principals
}

// fetchRights asks q (see accessQuery) of the permission backend, in one call, and returns
// the caller's rights and principals (see rightsOf).
func fetchRights(ctx context.Context, b permission.Backend, id authn.Identity, q permission.AccessQuery) (rights, []string, error) {
	a, err := b.Access(ctx, q)
	if err != nil {
		return rights{}, nil, err
	}
	rt, principals := rightsOf(id, q, a)
	return rt, principals, nil
}

// errorf is a registration error of the resource name.
func errorf(name, format string, args ...any) error {
	return fmt.Errorf("resource %s: "+format, append([]any{name}, args...)...)
}

// deleteDescendants deletes what lies below the object of rs addressed by ids (its
// ancestors' ids and its own, root first): the objects of every resource nested under rs,
// depth first, without tombstones (kinto.core's cascade). Their deletion is reported to the
// event listeners, one event per collection, whose URI and URL parameters are those of the
// collection's plural URL.
func (rs *core) deleteDescendants(ctx context.Context, ids []string) error {
	uri := rs.tree.object.fill(ids...)
	for _, c := range rs.children() {
		scope := storage.Scope{Resource: c.name, Parent: uri}
		tombs, err := rs.store.DeleteAll(ctx, scope, storage.ListOptions{})
		if err != nil {
			return err
		}
		for _, t := range tombs {
			if err := c.deleteDescendants(ctx, append(ids[:len(ids):len(ids)], t.ID)); err != nil {
				return err
			}
		}
		if _, err := rs.store.PurgeDeleted(ctx, scope, 0); err != nil {
			return err
		}
		if len(tombs) > 0 && events.Wanted(ctx, events.ActionDelete) {
			e := events.Event{Action: events.ActionDelete, ResourceName: c.name, Parent: uri,
				URI: c.tree.plural.fill(ids...), Params: make(map[string]string, len(ids))}
			for k, name := range c.tree.params {
				e.Params[name] = ids[k]
			}
			for i := range tombs {
				e.Impacted = append(e.Impacted, events.Impacted{New: &tombs[i]})
				e.Timestamp = max(e.Timestamp, tombs[i].LastModified)
			}
			events.Record(ctx, e)
		}
	}
	return nil
}

// hasChildren reports whether resources are nested under rs.
func (rs *core) hasChildren() bool {
	return len(rs.children()) > 0
}

// children returns the resources registered under rs.
func (rs *core) children() []*core {
	rs.tree.mu.Lock()
	defer rs.tree.mu.Unlock()
	return rs.tree.children
}
