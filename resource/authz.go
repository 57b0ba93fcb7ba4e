package resource

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
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
	plural bool
	id     string
	scope  storage.Scope
	uris   uris

	store  storage.Backend
	obj    *storage.Object // &found once looked up and found
	found  storage.Object  // held here: t is allocated anyway
	looked bool
	perms  permission.Set // the ACEs to render, once written (PATCH)
	// timestamp holds the ETag and Last-Modified values of the response (setTimestampIn).
	timestamp [2]string
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
	authorize(ctx context.Context, id cliquet.Identity, t *target) (grant, error)
}

// authenticatedOnly lets any authenticated user act on the collection its Parent resolves
// to (by default the user's own collection) and answers 401 to anonymous requests.
type authenticatedOnly struct{}

func (authenticatedOnly) authorize(_ context.Context, id cliquet.Identity, _ *target) (grant, error) {
	if !id.Authenticated() {
		return grant{}, cliquet.ErrUnauthorized()
	}
	return grant{}, nil
}

// authorize resolves the request's scope (parent id) and runs the authorization step.
func (rs *core) authorize(r *http.Request, plural bool, objectID string) (*target, grant, error) {
	id := cliquet.IdentityFrom(r.Context())
	parent := ""
	if rs.share == nil {
		parent = id.UserID
	}
	if rs.parent != nil && (id.Authenticated() || rs.share != nil) {
		p, err := rs.parent(r)
		if err != nil {
			return nil, grant{}, err
		}
		parent = p
	}
	t := &target{
		r: r, plural: plural, id: objectID,
		scope: storage.Scope{Resource: rs.name, Parent: parent},
		store: rs.store,
	}
	if rs.share != nil {
		u, err := rs.uris(r)
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

// uris substitutes the request's URL parameters in the resource's route patterns. A
// parameter holding '*' or '/' is refused (400): '*' is a wildcard for the permission
// backend.
func (rs *core) uris(r *http.Request) (uris, error) {
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
	name     string
	backend  permission.Backend
	names    []string // object permissions accepted in bodies
	bound    func(objectID, perm string) []permission.Binding
	global   map[string][]string // resolved <name>_<perm>_principals (known permissions)
	settings *config.Settings
	explicit bool // explicit_permissions: the author always gets write
}

func newSharing(name string, spec *Sharing, backend permission.Backend, s *config.Settings) (*sharing, error) {
	sh := &sharing{name: name, backend: backend, names: spec.Permissions, bound: spec.Bound, settings: s, global: map[string][]string{}}
	if sh.names == nil {
		sh.names = []string{"read", "write"}
	}
	for _, n := range sh.names {
		if n == "" || n == "create" || strings.ContainsAny(n, "/ ") {
			return nil, errors.New("invalid object permission " + `"` + n + `"` + " in Sharing.Permissions")
		}
	}
	if sh.bound == nil {
		sh.bound = DefaultBound
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
	if rest, ok := strings.CutPrefix(perm, sh.name+":"); ok {
		perm = rest // kinto's "record:create" reads record_create_principals
	}
	return sh.settings.List(sh.name + "_" + perm + "_principals")
}

// check reports whether principals hold perm on objectID, through the global settings or
// the permission backend, following the bound permissions.
func (sh *sharing) check(ctx context.Context, principals []string, objectID, perm string) (bool, error) {
	bound := sh.bound(objectID, perm)
	for _, b := range bound {
		for _, p := range sh.globalPrincipals(b.Permission) {
			if slices.Contains(principals, p) {
				return true, nil
			}
		}
	}
	if len(bound) == 0 {
		return false, nil
	}
	return sh.backend.CheckPermission(ctx, principals, bound)
}

// required returns the permission a request needs and the object it is checked on
// (kinto.core's RouteFactory): GET/HEAD read, PATCH/DELETE write, POST create on the plural
// (read on the object when the body names an existing id), PUT write on an existing object
// and create on the plural otherwise or with If-None-Match: *.
func (sh *sharing) required(ctx context.Context, t *target) (perm, objectID string, err error) {
	switch t.r.Method {
	case http.MethodGet, http.MethodHead:
		perm = "read"
	case http.MethodPost:
		obj, err := t.existing(ctx)
		if err != nil {
			return "", "", err
		}
		if obj != nil {
			return "read", t.uris.object(t.id), nil
		}
		return "create", t.uris.plural, nil
	case http.MethodPut:
		obj, err := t.existing(ctx)
		if err != nil {
			return "", "", err
		}
		if obj == nil || strings.TrimSpace(t.r.Header.Get("If-None-Match")) == "*" {
			return "create", t.uris.plural, nil
		}
		return "write", t.uris.object(t.id), nil
	default:
		perm = "write"
	}
	if t.plural {
		return perm, t.uris.plural, nil
	}
	return perm, t.uris.object(t.id), nil
}

// authorize implements authorizer for shareable resources. See the package documentation
// ("Permissions") for the rules; they are kinto.core's AuthorizationPolicy.permits.
func (sh *sharing) authorize(ctx context.Context, id cliquet.Identity, t *target) (grant, error) {
	perm, objectID, err := sh.required(ctx, t)
	if err != nil {
		return grant{}, err
	}
	principals := id.Principals
	allowed, err := sh.check(ctx, principals, objectID, perm)
	if err != nil {
		return grant{}, err
	}
	if allowed {
		if perm == "create" && t.r.Method == http.MethodPut && t.obj != nil {
			read, err := sh.check(ctx, principals, t.uris.object(t.id), "read")
			return grant{hideExisting: !read}, err
		}
		return grant{}, nil
	}
	if !t.plural && perm == "write" {
		// PATCH or DELETE of a missing object: whoever may read the plural gets the 404.
		obj, err := t.existing(ctx)
		if err != nil {
			return grant{}, err
		}
		if obj == nil {
			if allowed, err = sh.check(ctx, principals, t.uris.plural, "read"); err != nil {
				return grant{}, err
			} else if allowed {
				return grant{}, nil
			}
		}
	}
	if t.plural && t.r.Method != http.MethodPost {
		// A list operation without the permission on the whole collection: the objects
		// shared with the user, when there are some, or an empty list for users who may
		// create objects.
		ids, err := sh.shared(ctx, principals, t.uris, perm)
		if err != nil {
			return grant{}, err
		}
		if len(ids) > 0 {
			return grant{restricted: true, ids: ids}, nil
		}
		if ok, err := sh.check(ctx, principals, t.uris.plural, "create"); err != nil {
			return grant{}, err
		} else if ok {
			return grant{restricted: true}, nil
		}
	}
	if !id.Authenticated() {
		return grant{}, cliquet.ErrUnauthorized()
	}
	return grant{}, cliquet.ErrForbidden()
}

// shared returns the ids of the objects on which principals hold perm (through the bound
// permissions of the pattern object URI "<plural>/*").
func (sh *sharing) shared(ctx context.Context, principals []string, u uris, perm string) ([]string, error) {
	found, err := sh.backend.AccessibleObjects(ctx, principals, sh.bound(u.object("*"), perm))
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(found))
	for uri := range found {
		if id, ok := u.objectID(uri); ok && id != "*" {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}
