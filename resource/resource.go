package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// Resource is a registered resource: the handle returned by [Register]. It is safe for
// concurrent use.
type Resource[T any] struct {
	core
	process  func(ctx context.Context, r *http.Request, new T, old *T) (T, error)
	isObject bool // T is Object: no typed round trip
}

// core is the part of a resource that does not depend on T: configuration and the protocol
// steps shared by every handler.
type core struct {
	name       string
	pluralPath string
	objectPath string
	schema     *validator // nil: schemaless
	ids        IDGenerator
	store      storage.Backend
	parent     func(r *http.Request) (string, error)
	auth       authorizer
	share      *sharing // nil: private per-user resource
	tree       tree     // the resource's place in its resource tree (tree.go)
	// parentSchema validates objects against their parent's schema (Spec.ParentSchema).
	parentSchema *schemaCache
	now          func() time.Time

	paginateBy int // 0: none
	maxFetch   int // storage_max_fetch_size
	// tokenValidity is how long a _token stays valid: pagination_token_validity_seconds,
	// 0 for ever.
	tokenValidity time.Duration
	cacheExpires  int // <name>_cache_expires_seconds, 0: none
	// maxObjectBytes bounds the JSON of a stored object: max_request_body_bytes, 0 for none.
	maxObjectBytes int
	// maxPrincipals bounds the principals of one permission in a write:
	// max_principals_per_permission, 0 for none.
	maxPrincipals int
	scheme, host  string // http_scheme, http_host overrides

	changes feedSettings // the change feed (feed.go)

	bodies bodies // response buffers (handlers.go)
}

// Name returns the resource name.
func (rs *Resource[T]) Name() string { return rs.name }

// PluralPath returns the route pattern of the plural endpoint ("/bookmarks").
func (rs *Resource[T]) PluralPath() string { return rs.pluralPath }

// ObjectPath returns the route pattern of the object endpoint ("/bookmarks/{id}").
func (rs *Resource[T]) ObjectPath() string { return rs.objectPath }

// Scope returns the storage scope of the objects whose parent id is parent.
func (rs *Resource[T]) Scope(parent string) storage.Scope {
	return storage.Scope{Resource: rs.name, Parent: parent}
}

var (
	resourceName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]*$`)
	routeParam   = regexp.MustCompile(`\{[^}]*\}`)
	allPlural    = []string{http.MethodGet, http.MethodPost, http.MethodDelete}
	allObject    = []string{http.MethodGet, http.MethodPut, http.MethodPatch, http.MethodDelete}
)

// Register validates spec and mounts the resource's endpoints on app.Router: GET, HEAD, POST
// and DELETE on the plural URL, GET, HEAD, PUT, PATCH and DELETE on the object URL, minus the
// methods disabled by spec, by the settings plural_<name>_<method>_enabled and
// object_<name>_<method>_enabled (Cliquet's collection_/record_ spellings are read too) or by
// readonly (which keeps GET and HEAD only). Disabled methods are not routed, so the router
// answers 405 (errno 115 under cliquet.Initialize). Register also describes the enabled
// methods, with the resource's JSON Schema, in the app's OpenAPI document (GET /v1/__api__,
// see [cliquet.App.AddAPIDescriber]).
//
// It returns an error, and mounts nothing, when the spec is invalid (bad name or path, an
// object path without {id}, an unknown method, a schema that does not compile, a struct T
// whose schema cannot be derived), when a setting has a bad value, when app has no storage
// backend, or when one of the routes is already registered.
func Register[T any](app *cliquet.App, spec Spec[T]) (*Resource[T], error) {
	if app == nil || app.Router == nil {
		return nil, errors.New("resource: Register needs an App with a Router")
	}
	if app.Storage == nil {
		return nil, fmt.Errorf("resource %s: the app has no storage backend", spec.Name)
	}
	if app.Settings == nil {
		return nil, fmt.Errorf("resource %s: the app has no settings", spec.Name)
	}
	if !resourceName.MatchString(spec.Name) {
		return nil, fmt.Errorf("resource: invalid name %q: want ^[a-zA-Z][a-zA-Z0-9_]*$", spec.Name)
	}
	rs := &Resource[T]{process: spec.Process}
	var zero T
	_, rs.isObject = any(zero).(Object)
	rs.name = spec.Name
	var under *core
	if spec.Under != nil {
		if under = spec.Under.node(); under == nil {
			return nil, fmt.Errorf("resource %s: Under is not a registered resource", spec.Name)
		}
		if spec.Parent != nil {
			return nil, fmt.Errorf("resource %s: Under and Parent are exclusive", spec.Name)
		}
	}
	rs.pluralPath = spec.Path
	if rs.pluralPath == "" {
		rs.pluralPath = "/" + spec.Name + "s"
		if under != nil {
			rs.pluralPath = defaultNestedPath(under, spec.Name)
		}
	}
	if !strings.HasPrefix(rs.pluralPath, "/") || strings.HasSuffix(rs.pluralPath, "/") {
		return nil, fmt.Errorf("resource %s: path %q must start and not end with /", spec.Name, rs.pluralPath)
	}
	rs.objectPath = spec.ObjectPath
	if rs.objectPath == "" {
		rs.objectPath = rs.pluralPath + "/{id}"
	}
	if !strings.HasPrefix(rs.objectPath, "/") || !strings.Contains(rs.objectPath, "{id}") {
		return nil, fmt.Errorf("resource %s: object path %q must start with / and contain {id}", spec.Name, rs.objectPath)
	}
	if rs.objectPath == rs.pluralPath {
		return nil, fmt.Errorf("resource %s: plural and object paths are the same", spec.Name)
	}

	var schemaDoc []byte // for the OpenAPI document; nil when schemaless
	switch {
	case spec.Schema != nil:
		v, err := compileSchema(spec.Name, spec.Schema)
		if err != nil {
			return nil, err
		}
		rs.schema, schemaDoc = v, spec.Schema
	case !rs.isObject:
		t := reflect.TypeOf(zero)
		if t == nil || t.Kind() != reflect.Struct {
			return nil, fmt.Errorf("resource %s: type %v is neither resource.Object nor a struct; give Spec.Schema", spec.Name, t)
		}
		doc, err := deriveSchema(t)
		if err != nil {
			return nil, fmt.Errorf("resource %s: deriving a schema from %v: %w", spec.Name, t, err)
		}
		v, err := compileSchema(spec.Name, doc)
		if err != nil {
			return nil, err
		}
		rs.schema, schemaDoc = v, doc
	}

	rs.ids = spec.IDGenerator
	if rs.ids == nil {
		rs.ids = UUIDGenerator{}
	}
	if id := rs.ids.New(); !rs.ids.Valid(id) {
		return nil, fmt.Errorf("resource %s: the id generator makes an id it rejects: %q", spec.Name, id)
	}
	rs.store = app.Storage
	rs.parent = spec.Parent
	rs.auth = authenticatedOnly{}
	if spec.Sharing != nil {
		if app.Permission == nil {
			return nil, fmt.Errorf("resource %s: a shareable resource needs the app's permission backend", spec.Name)
		}
		sh, err := newSharing(spec.Name, spec.Sharing, app.Permission, app.Settings)
		if err != nil {
			return nil, fmt.Errorf("resource %s: %w", spec.Name, err)
		}
		rs.share, rs.auth = sh, sh
	}
	rs.tree.plural, rs.tree.object = newTmpl(rs.pluralPath), newTmpl(rs.objectPath)
	if under != nil {
		if err := rs.setUnder(under); err != nil {
			return nil, err
		}
		if spec.ParentSchema != nil {
			rs.parentSchema = newSchemaCache(spec.Name, spec.ParentSchema)
		}
	} else if spec.ParentSchema != nil {
		return nil, fmt.Errorf("resource %s: ParentSchema needs Under", spec.Name)
	}
	rs.now = time.Now

	s := app.Settings
	var err error
	if n, set, err := s.OptionalInt("paginate_by"); err != nil {
		return nil, err
	} else if set && n > 0 {
		rs.paginateBy = n
	}
	if rs.maxFetch, err = s.Int("storage_max_fetch_size"); err != nil {
		return nil, err
	}
	if rs.maxFetch <= 0 {
		rs.maxFetch = 10000
	}
	validity, err := s.Int("pagination_token_validity_seconds")
	if err != nil {
		return nil, err
	}
	rs.tokenValidity = time.Duration(max(validity, 0)) * time.Second
	if rs.maxObjectBytes, err = s.Int("max_request_body_bytes"); err != nil {
		return nil, err
	}
	rs.maxObjectBytes = max(rs.maxObjectBytes, 0)
	if rs.maxPrincipals, err = s.Int("max_principals_per_permission"); err != nil {
		return nil, err
	}
	rs.maxPrincipals = max(rs.maxPrincipals, 0)
	if n, set, err := s.OptionalInt(spec.Name + "_cache_expires_seconds"); err != nil {
		return nil, err
	} else if set && n > 0 {
		rs.cacheExpires = n
	}
	rs.scheme, rs.host = s.String("http_scheme"), s.String("http_host")
	if err := rs.setupFeed(app); err != nil { // feed.go
		return nil, err
	}
	readonly, err := s.Bool("readonly")
	if err != nil {
		return nil, err
	}

	plural, err := enabledMethods(s, spec.Name, "plural", "collection", spec.PluralMethods, allPlural, readonly)
	if err != nil {
		return nil, err
	}
	object, err := enabledMethods(s, spec.Name, "object", "record", spec.ObjectMethods, allObject, readonly)
	if err != nil {
		return nil, err
	}
	if err := checkFreeRoutes(app.Router, rs.pluralPath, rs.objectPath); err != nil {
		return nil, fmt.Errorf("resource %s: %w", spec.Name, err)
	}
	api, err := newAPIDescription(&rs.core, schemaDoc, plural, object) // resource/openapi.go
	if err != nil {
		return nil, err
	}

	handlers := map[string]http.HandlerFunc{}
	for _, m := range plural {
		switch m {
		case http.MethodGet:
			handlers["plural "+http.MethodGet] = rs.handle(rs.orFeed(rs.listObjects))
			handlers["plural "+http.MethodHead] = rs.handle(rs.listObjects)
		case http.MethodPost:
			handlers["plural "+m] = rs.handle(rs.createObject)
		case http.MethodDelete:
			handlers["plural "+m] = rs.handle(rs.deleteObjects)
		}
	}
	for _, m := range object {
		switch m {
		case http.MethodGet:
			handlers["object "+http.MethodGet] = rs.handle(rs.getObject)
			handlers["object "+http.MethodHead] = rs.handle(rs.getObject)
		case http.MethodPut:
			handlers["object "+m] = rs.handle(rs.putObject)
		case http.MethodPatch:
			handlers["object "+m] = rs.handle(rs.patchObject)
		case http.MethodDelete:
			handlers["object "+m] = rs.handle(rs.deleteObject)
		}
	}
	if err := mount(app.Router, rs.pluralPath, rs.objectPath, handlers); err != nil {
		return nil, fmt.Errorf("resource %s: %w", spec.Name, err)
	}
	app.AddAPIDescriber(api) // GET /v1/__api__ documents the resource
	return rs, nil
}

// enabledMethods resolves the methods of one endpoint from the spec and the settings.
func enabledMethods(s interface {
	IsUnset(string) bool
	Bool(string) (bool, error)
}, name, kind, legacy string, fromSpec, all []string, readonly bool) ([]string, error) {
	wanted := all
	if fromSpec != nil {
		wanted = nil
		for _, m := range fromSpec {
			m = strings.ToUpper(m)
			if m == http.MethodHead {
				continue // HEAD follows GET
			}
			ok := false
			for _, a := range all {
				ok = ok || a == m
			}
			if !ok {
				return nil, fmt.Errorf("resource %s: method %s is not one of the %s methods %v", name, m, kind, all)
			}
			wanted = append(wanted, m)
		}
	}
	var out []string
	for _, m := range wanted {
		if readonly && m != http.MethodGet {
			continue
		}
		enabled := true
		for _, prefix := range []string{kind, legacy} {
			key := prefix + "_" + name + "_" + strings.ToLower(m) + "_enabled"
			if s.IsUnset(key) {
				continue
			}
			v, err := s.Bool(key)
			if err != nil {
				return nil, err
			}
			enabled = enabled && v
		}
		if enabled {
			out = append(out, m)
		}
	}
	return out, nil
}

// checkFreeRoutes fails when a route with the same shape as one of paths exists on r.
func checkFreeRoutes(r chi.Router, paths ...string) error {
	shape := func(p string) string { return routeParam.ReplaceAllString(p, "{}") }
	wanted := map[string]string{}
	for _, p := range paths {
		wanted[shape(p)] = p
	}
	var conflict string
	_ = chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if p, ok := wanted[shape(strings.TrimSuffix(route, "/*"))]; ok && conflict == "" {
			conflict = fmt.Sprintf("route %s conflicts with the already registered %s %s", p, method, route)
		}
		return nil
	})
	if conflict != "" {
		return errors.New(conflict)
	}
	return nil
}

// mount adds the handlers ("plural GET" → h) to r, turning chi's panics into errors.
func mount(r chi.Router, pluralPath, objectPath string, handlers map[string]http.HandlerFunc) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("mounting routes: %v", p)
		}
	}()
	for key, h := range handlers {
		kind, method, _ := strings.Cut(key, " ")
		path := pluralPath
		if kind == "object" {
			path = objectPath
		}
		r.Method(method, path, h)
	}
	return nil
}

// handle adapts a handler returning an error; every error is rendered by protocol.WriteError.
// An error response exposes the base CORS list only (protocol.md 5.4): the headers the
// handler exposed before failing (middleware.ExposeHeaders, which replaces the header's value)
// are dropped.
func (rs *core) handle(h func(w http.ResponseWriter, r *http.Request) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		base := w.Header()[exposeHeadersKey]
		if err := h(w, r); err != nil {
			if base != nil {
				w.Header()[exposeHeadersKey] = base
			}
			protocol.WriteError(w, r, err)
		}
	}
}

// exposeHeadersKey is the canonical name of the CORS expose list.
const exposeHeadersKey = "Access-Control-Expose-Headers"

// action is what a request did, for the events emitted by notify.
type action int

const (
	actionRead   action = iota // GET, HEAD
	actionCreate               // POST, PUT of a new object
	actionWrite                // PUT, PATCH, DELETE
)

// notify (resource/events.go) is called after every successful storage call with the
// objects read or written.

// notFound is the 404 errno 110 answer for a missing object.
func (rs *core) notFound(id string) error {
	e := protocol.NewError(http.StatusNotFound, protocol.ErrnoInvalidResourceID, protocol.MsgNotFound)
	e.Details = map[string]any{"id": id, "resource_name": rs.name}
	return e
}

// objectID reads and validates the {id} URL parameter.
func (rs *core) objectID(r *http.Request) (string, error) {
	id := chi.URLParam(r, "id")
	if !rs.validID(id) {
		return "", protocol.InvalidParam("path", "id", "Invalid object id")
	}
	return id, nil
}

// validID reports whether id may name an object: the generator accepts it and, whatever
// the generator accepts, every backend can store it and, on a shareable resource, it holds
// no '*' (a wildcard in the permission backend: deleting the object's ACL would delete its
// siblings') and no '/' (a separator of the ACLs' URIs).
func (rs *core) validID(id string) bool {
	if !rs.ids.Valid(id) || jsoncheck.String(id) != nil {
		return false
	}
	return rs.share == nil || !strings.ContainsAny(id, "*/")
}

// cacheHeaders sets Cache-Control (and Expires) on GET responses.
func (rs *core) cacheHeaders(h http.Header, r *http.Request) {
	if rs.cacheExpires > 0 && !authn.IdentityFrom(r.Context()).Authenticated() {
		h.Set("Cache-Control", "max-age="+strconv.Itoa(rs.cacheExpires))
		h.Set("Expires", rs.now().Add(time.Duration(rs.cacheExpires)*time.Second).UTC().Format(http.TimeFormat))
		return
	}
	if v := h["Cache-Control"]; len(v) == 1 && v[0] == "no-cache" {
		return // already so (middleware.DefaultCacheControl)
	}
	h["Cache-Control"] = []string{"no-cache"} // as Header.Set, without canonicalising the key
}

// nextPageURL is the absolute URL of the next page: the request URL with _limit and _token set.
func (rs *core) nextPageURL(r *http.Request, q map[string][]string, limit int, token string) string {
	scheme := rs.scheme
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	host := rs.host
	if host == "" {
		host = r.Host
	}
	params := make(map[string][]string, len(q)+2)
	for k, v := range q {
		params[k] = v
	}
	params["_limit"] = []string{strconv.Itoa(limit)}
	params["_token"] = []string{token}
	return scheme + "://" + host + r.URL.EscapedPath() + "?" + encodeQuery(params)
}

// stripMeta returns a shallow copy of m without the protocol fields.
func stripMeta(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "id", "last_modified", "deleted":
		default:
			out[k] = v
		}
	}
	return out
}

// validateNew validates the data of a POST or PUT body; absent data counts as {} and is
// reported as "data is missing" when the schema rejects {}.
func (rs *core) validateNew(data map[string]any) error {
	if data == nil {
		if err := rs.schema.validate(map[string]any{}); err != nil {
			return protocol.InvalidParam("body", "data", "data is missing")
		}
		return nil
	}
	if rs.schema == nil {
		return nil // no schema: spare the copy
	}
	return rs.schema.validate(stripMeta(data))
}

// toT converts a decoded object (with id and last_modified) to T.
func (rs *Resource[T]) toT(m map[string]any) (T, error) {
	var t T
	if rs.isObject {
		return any(m).(T), nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return t, err
	}
	err = json.Unmarshal(b, &t)
	return t, err
}

// fromT converts T back to a map, numbers kept as json.Number, with the key order of T's
// JSON encoding (nil for an Object, whose order is its writer's).
func (rs *Resource[T]) fromT(t T) (map[string]any, *keyOrder, error) {
	if rs.isObject {
		return any(t).(Object), nil, nil
	}
	b, err := json.Marshal(t)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if err := decodeJSON(b, &m); err != nil {
		return nil, nil, err
	}
	return m, orderOf(b), nil
}

// prepare turns validated data (carrying its final id) into the object to store: it runs
// the Process hook (or the typed round trip that drops unknown fields) and applies the
// client-forced last_modified rules of protocol.md 3.3: the value is the one of T when T
// has a last_modified field, else the one of the body.
//
// On a nested resource it first validates data against the parent's schema
// (Spec.ParentSchema), and the hook's context carries the ancestors ([Ancestors]).
//
// ord is the key order of data (see keyOrder); the stored object keeps it.
func (rs *Resource[T]) prepare(t *target, id string, data map[string]any, old *storage.Object, ord *keyOrder) (storage.Object, error) {
	r := t.r
	if err := rs.checkParentSchema(t, data); err != nil {
		return storage.Object{}, err
	}
	data["id"] = id
	// The client-forced last_modified, read before the typed round trip, which loses it
	// when T has no field for it.
	forced := data["last_modified"]
	m := data
	if rs.process != nil || !rs.isObject {
		nt, err := rs.toT(data)
		if err != nil {
			return storage.Object{}, protocol.InvalidParam("body", "data", err.Error())
		}
		if rs.process != nil {
			var ot *T
			if old != nil {
				o, err := rs.toT(decodeData(*old))
				if err != nil {
					return storage.Object{}, err
				}
				ot = &o
			}
			ctx := r.Context()
			if t.ancestors != nil {
				ctx = context.WithValue(ctx, ancestorsKey{}, t.ancestors)
			}
			if nt, err = rs.process(ctx, r, nt, ot); err != nil {
				return storage.Object{}, err
			}
		}
		var typed *keyOrder
		if m, typed, err = rs.fromT(nt); err != nil {
			return storage.Object{}, err
		}
		if !rs.isObject {
			ord = typed // T's fields, in their declaration order
		}
		if v, ok := m["last_modified"]; ok {
			forced = v // T carries it (and the Process hook may have changed it)
		}
	}
	obj := storage.Object{ID: id}
	if lm, ok := integer(forced); ok && lm > 0 && (old == nil || lm > old.LastModified) {
		obj.LastModified = lm
	}
	if err := rs.checkForced(forced, old); err != nil {
		return storage.Object{}, err
	}
	raw, err := marshalData(m, ord)
	if err != nil {
		return storage.Object{}, err
	}
	obj.Data = raw
	return obj, nil
}

// checkObjectSize refuses the result of a PATCH, raw (JSON), when it is larger than
// max_request_body_bytes: whatever a JSON Patch's copies or a merge make of a small request,
// no PATCH stores an object that could not be sent in a body. The HTML escapes that
// encoding/json writes (\u003c for '<', also \u003e and \u0026) count as the one byte a
// client sends, so that an object stored from a body within the limit stays within it.
func (rs *core) checkObjectSize(raw []byte) error {
	if rs.maxObjectBytes <= 0 || len(raw) <= rs.maxObjectBytes {
		return nil
	}
	n := len(raw)
	for _, esc := range [...]string{`\u003c`, `\u003e`, `\u0026`} {
		n -= (len(esc) - 1) * bytes.Count(raw, []byte(esc))
	}
	if n > rs.maxObjectBytes {
		return protocol.InvalidParam("body", "data", fmt.Sprintf(
			"The object would be %d bytes, more than max_request_body_bytes (%d)", n, rs.maxObjectBytes))
	}
	return nil
}

// checkForced refuses a client-forced last_modified that would be kept (on a create, or
// above the stored object's) and is not before now + maxTimestampAhead, the bound of _since:
// one value near the int64 maximum would push the collection timestamp out of the
// backends' range (PostgreSQL's bigint, the doubles of Redis's scripts) for every later
// write. Numbers too large for an int64, in any spelling, are refused too; values that are
// not numbers are still ignored (protocol.md 3.3).
func (rs *core) checkForced(v any, old *storage.Object) error {
	var f float64
	switch x := v.(type) {
	case json.Number:
		if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
			f = float64(n)
			if old != nil && n <= old.LastModified {
				return nil // dropped
			}
		} else if f, err = x.Float64(); err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil
		}
	case float64:
		f = x
		if old != nil && f <= float64(old.LastModified) {
			return nil // dropped
		}
	default:
		return nil
	}
	if f < float64(rs.now().Add(maxTimestampAhead).UnixMilli()) {
		return nil
	}
	return protocol.InvalidParam("body", "data.last_modified",
		"last_modified should be an epoch timestamp in milliseconds, at most one day ahead")
}

// integer reads an integral JSON number.
func integer(v any) (int64, bool) {
	switch x := v.(type) {
	case json.Number:
		n, err := strconv.ParseInt(string(x), 10, 64)
		return n, err == nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), true
		}
	case int64:
		return x, true
	case int:
		return int64(x), true
	}
	return 0, false
}

// canonical re-encodes JSON with sorted keys, to compare documents.
func canonical(raw []byte) []byte {
	var v any
	if len(bytes.TrimSpace(raw)) == 0 {
		return []byte("{}")
	}
	if err := decodeJSON(raw, &v); err != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}
