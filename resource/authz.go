package resource

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// target is what a request asks the authorization step about: the endpoint, the object id
// (empty on the plural URL unless a POST body carries one) and the storage scope. The
// authorizer may look the object up (existing); the handler then reuses that lookup.
type target struct {
	r      *http.Request
	rs     *core
	plural bool
	newID  string // POST without an id: the id the object will get
	id     string
	scope  storage.Scope
	uris   uris

	store  storage.Backend
	obj    *storage.Object // &found once looked up and found
	found  storage.Object  // held here: t is allocated anyway
	looked bool
	perms  permission.Set // the ACEs to render, once written (PATCH)

	// Shareable resources: the ancestors (chain, and their objects as read with the target),
	// the URIs and rules of each level, and the caller's rights on them.
	chain      chain
	principals []string // the caller's, groups included
	ancestors  []storage.Object
	lv         levels
	rights     rights

	// A list's page, read with the authorization data when the storage backend can
	// (GetManyAccessList): pageOpts asks for it (without the grant's filters), page and pageTS hold
	// it once read (page nil otherwise). It answers the request only when the grant is not
	// restricted.
	pageOpts *storage.ListOptions
	page     []storage.Object
	pageTS   int64
}

// existing returns the target object, or nil when it does not exist (or when there is no
// id). The storage lookup happens once.
func (t *target) existing(ctx context.Context) (*storage.Object, error) {
	if t.id == "" {
		return nil, nil
	}
	if !t.looked {
		obj, err := t.store.Get(ctx, t.scope, t.id)
		switch {
		case err == nil:
			t.found = obj
			t.obj = &t.found
		case !errors.Is(err, storage.ErrNotFound):
			return nil, err
		}
		t.looked = true
	}
	return t.obj, nil
}

// grant is the answer of an authorizer that lets the request proceed. For list operations
// (GET, HEAD and DELETE on the plural URL) restricted means that only the objects whose id
// is in ids may be listed or deleted.
type grant struct {
	restricted bool
	ids        []string
	// hideExisting: the user may not read the existing target object (PUT with
	// If-None-Match: * needs create only), so a 412 must not show it.
	hideExisting bool
}

// filters returns the storage filters that apply the grant.
func (g grant) filters() []storage.Filter {
	if !g.restricted {
		return nil
	}
	ids := make([]any, len(g.ids))
	for i, id := range g.ids {
		ids[i] = id
	}
	return []storage.Filter{{Field: "id", Op: storage.IN, Value: ids}}
}

// authorizer is the single authorization step of every handler. It runs after the request
// is parsed and before storage is written (it may read the target object). It returns an
// error to render (401 errno 104 for anonymous users, 403 errno 121 for authenticated ones)
// or the grant. Two implementations exist: authenticatedOnly (private per-user resources)
// and *sharing (shareable resources with per-object ACLs).
type authorizer interface {
	authorize(ctx context.Context, id authn.Identity, t *target) (grant, error)
}

// authenticatedOnly lets any authenticated user act on the collection its Parent resolves
// to (by default the user's own collection) and answers 401 to anonymous requests.
type authenticatedOnly struct{}

func (authenticatedOnly) authorize(_ context.Context, id authn.Identity, _ *target) (grant, error) {
	if !id.Authenticated() {
		return grant{}, authn.ErrUnauthorized()
	}
	return grant{}, nil
}

// authorize resolves the request's scope (parent id) and runs the authorization step.
//
// newID, on a POST without an id, is the id the object will get: the authorization step
// then also reads that object's ACL (normally empty), so that the permission journal need
// not read it again before the ACL is written.
func (rs *core) authorize(r *http.Request, plural bool, objectID, newID string) (*target, grant, error) {
	return rs.authorizeTarget(&target{r: r, plural: plural, id: objectID, newID: newID, store: rs.store, rs: rs})
}

// authorizeList is authorize for a list (GET on the plural URL). When page is not nil, the
// authorization step may read that page of the collection with its own read, before it knows
// whether the user may read the whole collection (see target.page).
func (rs *core) authorizeList(r *http.Request, page *storage.ListOptions) (*target, grant, error) {
	return rs.authorizeTarget(&target{r: r, plural: true, store: rs.store, rs: rs, pageOpts: page})
}

// authorizeTarget resolves the scope of t and runs the authorization step.
func (rs *core) authorizeTarget(t *target) (*target, grant, error) {
	r := t.r
	id := authn.IdentityFrom(r.Context())
	parent := ""
	if rs.share == nil {
		parent = id.UserID
	}
	if rs.tree.parent != nil {
		c, err := rs.resolveChain(r)
		if err != nil {
			return nil, grant{}, err
		}
		t.chain, parent = c, c.uris[len(c.uris)-1]
	} else if rs.parent != nil && (id.Authenticated() || rs.share != nil) {
		p, err := rs.parent(r)
		if err != nil {
			return nil, grant{}, err
		}
		parent = p
	}
	t.scope = storage.Scope{Resource: rs.name, Parent: parent}
	if rs.share != nil {
		u, err := rs.uris(r, t.chain)
		if err != nil {
			return nil, grant{}, err
		}
		t.uris = u
	}
	g, err := rs.auth.authorize(r.Context(), id, t)
	if err != nil {
		return nil, grant{}, err
	}
	return t, g, nil
}

// uris builds the permission object ids of one request: the object URIs and the plural URI,
// without the version prefix, with the chi URL parameters of the request substituted.
type uris struct {
	plural         string // "/articles"
	prefix, suffix string // object URI = prefix + id + suffix
}

func (u uris) object(id string) string { return u.prefix + id + u.suffix }

// objectID extracts the object id from an object URI; ok is false when uri is not one.
func (u uris) objectID(uri string) (string, bool) {
	if len(uri) < len(u.prefix)+len(u.suffix) || !strings.HasPrefix(uri, u.prefix) || !strings.HasSuffix(uri, u.suffix) {
		return "", false
	}
	id := uri[len(u.prefix) : len(uri)-len(u.suffix)]
	return id, id != "" && !strings.Contains(id, "/")
}

// uris substitutes the request's URL parameters in the resource's route patterns (the
// ancestors' ids of c for a nested resource). A parameter holding '*' or '/' is refused
// (400): '*' is a wildcard for the permission backend.
func (rs *core) uris(r *http.Request, c chain) (uris, error) {
	if rs.tree.parent != nil {
		o := rs.tree.object
		return uris{plural: rs.tree.plural.fill(c.ids...), prefix: o.head(c.ids...), suffix: o.lits[len(c.ids)+1]}, nil
	}
	var bad string
	subst := func(pattern string) string {
		return routeParam.ReplaceAllStringFunc(pattern, func(p string) string {
			name, _, _ := strings.Cut(p[1:len(p)-1], ":")
			if name == "id" {
				return "{id}"
			}
			v := chi.URLParam(r, name)
			if strings.ContainsAny(v, "*/") {
				bad = name
			}
			return v
		})
	}
	obj := subst(rs.objectPath)
	plural := subst(rs.pluralPath)
	if bad != "" {
		return uris{}, protocol.InvalidParam("path", bad, "Invalid "+bad)
	}
	prefix, suffix, _ := strings.Cut(obj, "{id}")
	return uris{plural: plural, prefix: prefix, suffix: suffix}, nil
}

// sharing is the authorizer of shareable resources, and their access to the permission
// backend (ACLs in bodies, writes next to storage writes).
type sharing struct {
	name      string
	backend   permission.Backend
	names     []string            // object permissions accepted in bodies
	impliedBy map[string][]string // Sharing.Implied
	global    map[string][]string // resolved <name>_<perm>_principals (known permissions)
	settings  *config.Settings
	explicit  bool // explicit_permissions: the author always gets write
}

func newSharing(name string, spec *Sharing, backend permission.Backend, s *config.Settings) (*sharing, error) {
	sh := &sharing{name: name, backend: backend, names: spec.Permissions, impliedBy: spec.Implied, settings: s, global: map[string][]string{}}
	if sh.names == nil {
		sh.names = []string{"read", "write"}
	}
	for _, n := range sh.names {
		if n == "" || n == "create" || strings.ContainsAny(n, "/ ") {
			return nil, errors.New("invalid object permission " + `"` + n + `"` + " in Sharing.Permissions")
		}
	}
	for _, p := range append([]string{"create"}, sh.names...) {
		key := name + "_" + p + "_principals"
		if s.IsUnset(key) {
			sh.global[p] = spec.Principals[p]
		} else {
			sh.global[p] = s.List(key)
		}
	}
	explicit, err := s.Bool("explicit_permissions")
	if err != nil {
		return nil, err
	}
	sh.explicit = explicit || s.IsUnset("explicit_permissions")
	return sh, nil
}

// globalPrincipals returns the principals granted perm on every object by the settings.
func (sh *sharing) globalPrincipals(perm string) []string {
	if p, ok := sh.global[perm]; ok {
		return p
	}
	return sh.settings.List(sh.name + "_" + perm + "_principals")
}

// required returns the permission a request needs and whether it is checked on the plural
// URI (kinto.core's RouteFactory): GET/HEAD read, PATCH/DELETE write, POST create on the
// plural (read on the object when the body names an existing id), PUT write on an existing
// object and create on the plural otherwise or with If-None-Match: *.
func required(t *target) (perm string, plural bool) {
	switch t.r.Method {
	case http.MethodGet, http.MethodHead:
		return "read", t.plural
	case http.MethodPost:
		if t.obj != nil {
			return "read", false
		}
		return "create", true
	case http.MethodPut:
		if t.obj == nil || strings.TrimSpace(t.r.Header.Get("If-None-Match")) == "*" {
			return "create", true
		}
		return "write", false
	}
	return "write", t.plural
}

// authorize implements authorizer for shareable resources. See the package documentation
// ("Permissions") for the rules; they are kinto.core's AuthorizationPolicy.permits. It
// reads what it needs in one call when the storage backend can answer for the permission
// backend too (GetManyAccess, or GetManyAccessList with the page of a list: both backends on
// one PostgreSQL database), otherwise, when the storage backend declines with
// storage.ErrNotSupported, in two calls made concurrently: the ancestors and the object from
// storage (one GetMany), the caller's rights on their URIs from the permission backend (one
// Access).
func (sh *sharing) authorize(ctx context.Context, id authn.Identity, t *target) (grant, error) {
	rs, c := t.rs, t.chain
	depth := len(c.ids)
	object := ""
	if t.id != "" {
		object = t.uris.object(t.id)
	}
	t.lv = rs.levels(c, object, t.uris.plural)
	full := ""
	switch {
	case t.r.Method == http.MethodGet || t.r.Method == http.MethodPost && t.id != "":
		full = object // the ACEs to render
	case t.newID != "":
		full = t.uris.object(t.newID) // the ACEs the creation will replace
	}
	keys := c.keys
	if t.id != "" {
		keys = append(keys[:depth:depth], storage.Key{Scope: t.scope, ID: t.id})
	}
	uris := t.lv.uris
	if rs.tree.parent != nil {
		uris = uris[:len(uris)-1] // no grant of a nested resource is held on its plural URI
	}
	q := accessQuery(id, uris, full)
	var (
		objs  []storage.Object
		joint bool
	)
	if len(keys) > 0 {
		var (
			a   permission.Access
			err = storage.ErrNotSupported
		)
		if t.pageOpts != nil {
			objs, a, t.page, t.pageTS, err = t.store.GetManyAccessList(ctx, keys, sh.backend, q, t.scope, *t.pageOpts)
		}
		if errors.Is(err, storage.ErrNotSupported) {
			objs, a, err = t.store.GetManyAccess(ctx, keys, sh.backend, q)
		}
		switch {
		case err == nil:
			joint = true
			t.rights, t.principals = rightsOf(id, q, a)
		case !errors.Is(err, storage.ErrNotSupported):
			return grant{}, err
		}
	}
	switch {
	case joint:
	case len(keys) == 0:
		rt, principals, err := fetchRights(ctx, sh.backend, id, q)
		if err != nil {
			return grant{}, err
		}
		t.rights, t.principals = rt, principals
	default:
		var (
			rerr error
			done = make(chan struct{})
		)
		go func() {
			defer close(done)
			t.rights, t.principals, rerr = fetchRights(ctx, sh.backend, id, q)
		}()
		var serr error
		objs, serr = t.store.GetMany(ctx, keys)
		<-done
		if serr != nil {
			return grant{}, serr
		}
		if rerr != nil {
			return grant{}, rerr
		}
	}
	if t.id != "" {
		t.looked = true
		if objs[depth].ID != "" {
			t.found = objs[depth]
			t.obj = &t.found
		}
	}
	t.ancestors = objs[:min(depth, len(objs))]
	principals := t.principals
	holds := func(refs []grantRef) bool { return t.lv.holds(&t.rights, principals, refs) }

	// A missing ancestor: 401 to anonymous users, 404 to those who may read the enclosing
	// object, 403 otherwise (kinto.core hides which buckets exist).
	for k := 0; k < depth; k++ {
		if objs[k].ID != "" {
			continue
		}
		if !id.Authenticated() {
			return grant{}, authn.ErrUnauthorized()
		}
		if k > 0 && holds(rs.tree.path[k-1].grantsOf("read", false)) {
			anc := rs.tree.path[k]
			e := protocol.NewError(http.StatusNotFound, protocol.ErrnoInvalidResourceID, protocol.MsgNotFound)
			e.Details = map[string]any{"id": c.ids[k], "resource_name": anc.name}
			return grant{}, e
		}
		return grant{}, authn.ErrForbidden()
	}

	if depth > 0 && joint {
		// Only a storage backend that answered the joint read may create ahead of one
		// (CreateGuarded, see createAhead): for another, remembering would only make
		// createAhead prepare objects that the backend then declines to create.
		rs.tree.rememberAncestors(c.uris[depth-1], t.ancestors)
	}
	perm, onPlural := required(t)
	if holds(rs.grantsOf(perm, onPlural)) {
		if perm == "create" && t.r.Method == http.MethodPut && t.obj != nil {
			return grant{hideExisting: !holds(rs.grantsOf("read", false))}, nil
		}
		return grant{}, nil
	}
	if !t.plural && perm == "write" && t.obj == nil && holds(rs.grantsOf("read", true)) {
		return grant{}, nil // PATCH or DELETE of a missing object: 404 for who may read the plural
	}
	if t.plural && t.r.Method != http.MethodPost {
		// A list operation without the permission on the whole collection: the objects
		// shared with the user, when there are some, or an empty list for users who may
		// create objects.
		ids, err := sh.shared(ctx, principals, t, perm)
		if err != nil {
			return grant{}, err
		}
		if len(ids) > 0 {
			return grant{restricted: true, ids: ids}, nil
		}
		if holds(rs.grantsOf("create", true)) {
			return grant{restricted: true}, nil
		}
	}
	if !id.Authenticated() {
		return grant{}, authn.ErrUnauthorized()
	}
	return grant{}, authn.ErrForbidden()
}

// shared returns the ids of the objects of the request's collection on which principals
// hold perm through an ACE (the grants of perm with the object URI "<plural>/*").
func (sh *sharing) shared(ctx context.Context, principals []string, t *target, perm string) ([]string, error) {
	lv := t.lv
	lv.uris = slices.Clone(lv.uris)
	lv.uris[len(t.chain.ids)] = t.uris.object("*")
	found, err := sh.backend.AccessibleObjects(ctx, principals, lv.bindings(t.rs.grantsOf(perm, false)))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(found))
	for uri := range found {
		if id, ok := t.uris.objectID(uri); ok && id != "*" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
