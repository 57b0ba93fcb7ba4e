package cliquet

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/go-chi/chi/v5"
)

// versionedRouter is App.Router: the chi sub-router mounted under the version prefix, whose
// routes are also added to the root router under the prefix.
//
// With the mount alone, every versioned request is routed twice: the root router matches
// "/v1/*", then the sub-router matches the rest, with allocations of its own for every
// request. With the copy, the root router routes the request to
// its handler in one pass. Because both trees hold the same versioned routes, chi's
// precedence between them (static segments before parameters before wildcards) is the same
// in both, and a request that matches no copy still falls through to the mount: unknown
// paths and methods get the sub-router's 404 and 405 answers.
//
// The copies are an optimisation that must not change what serves a request, so they stop
// (and routes are then reached through the mount only, as without copies) as soon as the
// root router has a route of its own under the prefix, which the copies could outrank or
// replace. Mounting on "/" adds no copy: the prefix's mount already covers it. Two effects
// remain visible: a route added to the root router under the prefix after the App's routes
// competes with their copies by chi's precedence (before, any root route beat the mount), and
// chi.Walk over the root router lists a versioned route twice, as its copy and through the
// mount. Versioned routes belong on App.Router, and App.Router is the one to walk.
//
// Everything that reads routes (Routes, Match, Find, chi.Walk, ServeHTTP) reads the
// sub-router, so patterns stay relative to the prefix. With's middlewares wrap each handler
// once, and the wrapped handler is what both trees route to. The root's copies skip the
// sub-router's own middleware, which only answers the bare prefix ("/v1"), a path no copy
// matches. Use panics, as on any chi router that already has routes.
type versionedRouter struct {
	chi.Router                 // the sub-router mounted under prefix
	root       chi.Router      // the router given to Initialize
	prefix     string          // "/v1"
	mws        chi.Middlewares // With's, applied to every handler added through this router
	copies     *rootCopies     // shared with the routers derived by With and Group
}

// rootCopies records the root routes the App added, to tell them from the embedder's.
type rootCopies struct {
	mu       sync.Mutex
	patterns map[string]bool
	off      bool // the root has a route of its own under the prefix: no more copies
}

func newVersionedRouter(sub, root chi.Router, prefix string) *versionedRouter {
	return &versionedRouter{Router: sub, root: root, prefix: prefix, copies: &rootCopies{patterns: map[string]bool{}}}
}

var _ chi.Router = (*versionedRouter)(nil)

// copyToRoot calls add, which adds a route on the root router at the root pattern
// rootPattern, unless the root router has routes of its own under the prefix.
func (v *versionedRouter) copyToRoot(rootPattern string, add func()) {
	c := v.copies
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.off {
		return
	}
	for _, r := range v.root.Routes() {
		p := r.Pattern
		if p != v.prefix && !strings.HasPrefix(p, v.prefix+"/") || p == v.prefix+"/*" || c.patterns[p] {
			continue // outside the prefix, the mount itself, or a copy
		}
		c.off = true
		return
	}
	add()
	c.patterns[rootPattern] = true
}

// handler wraps h in With's middlewares.
func (v *versionedRouter) handler(h http.Handler) http.Handler {
	if len(v.mws) == 0 {
		return h
	}
	return v.mws.Handler(h)
}

// With returns a router of both trees whose routes get the extra middlewares.
func (v *versionedRouter) With(middlewares ...func(http.Handler) http.Handler) chi.Router {
	mws := append(append(chi.Middlewares{}, v.mws...), middlewares...)
	return &versionedRouter{Router: v.Router, root: v.root, prefix: v.prefix, mws: mws, copies: v.copies}
}

// Group calls fn with a router of both trees, with the same middlewares, and returns it.
func (v *versionedRouter) Group(fn func(r chi.Router)) chi.Router {
	im := v.With()
	if fn != nil {
		fn(im)
	}
	return im
}

// Route builds a new router with fn and mounts it along pattern.
func (v *versionedRouter) Route(pattern string, fn func(r chi.Router)) chi.Router {
	if fn == nil {
		panic(fmt.Sprintf("chi: attempting to Route() a nil subrouter on '%s'", pattern))
	}
	sub := chi.NewRouter()
	fn(sub)
	v.Mount(pattern, sub)
	return sub
}

// Mount attaches h along pattern on the sub-router, and on the root router under the
// prefix unless pattern is "/".
func (v *versionedRouter) Mount(pattern string, h http.Handler) {
	h = v.handler(h)
	v.Router.Mount(pattern, h)
	if pattern == "/" || pattern == "" {
		return // the root's "/v1/*" mount serves it
	}
	v.copyToRoot(v.prefix+strings.TrimSuffix(pattern, "/")+"/*", func() { v.root.Mount(v.prefix+pattern, h) })
}

// Handle routes every method of pattern to h (or one method: "GET /x", as chi accepts).
func (v *versionedRouter) Handle(pattern string, h http.Handler) {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		v.Method(pattern[:i], strings.TrimLeft(pattern[i+1:], " \t"), h)
		return
	}
	h = v.handler(h)
	v.Router.Handle(pattern, h)
	v.copyToRoot(v.prefix+pattern, func() { v.root.Handle(v.prefix+pattern, h) })
}

// HandleFunc routes every method of pattern to h.
func (v *versionedRouter) HandleFunc(pattern string, h http.HandlerFunc) { v.Handle(pattern, h) }

// Method routes method requests to pattern to h.
func (v *versionedRouter) Method(method, pattern string, h http.Handler) {
	h = v.handler(h)
	v.Router.Method(method, pattern, h)
	v.copyToRoot(v.prefix+pattern, func() { v.root.Method(method, v.prefix+pattern, h) })
}

// MethodFunc routes method requests to pattern to h.
func (v *versionedRouter) MethodFunc(method, pattern string, h http.HandlerFunc) {
	v.Method(method, pattern, h)
}

// Connect routes CONNECT requests to pattern to h.
func (v *versionedRouter) Connect(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodConnect, pattern, h)
}

// Delete routes DELETE requests to pattern to h.
func (v *versionedRouter) Delete(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodDelete, pattern, h)
}

// Get routes GET requests to pattern to h.
func (v *versionedRouter) Get(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodGet, pattern, h)
}

// Head routes HEAD requests to pattern to h.
func (v *versionedRouter) Head(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodHead, pattern, h)
}

// Options routes OPTIONS requests to pattern to h.
func (v *versionedRouter) Options(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodOptions, pattern, h)
}

// Patch routes PATCH requests to pattern to h.
func (v *versionedRouter) Patch(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodPatch, pattern, h)
}

// Post routes POST requests to pattern to h.
func (v *versionedRouter) Post(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodPost, pattern, h)
}

// Put routes PUT requests to pattern to h.
func (v *versionedRouter) Put(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodPut, pattern, h)
}

// Query routes QUERY requests to pattern to h.
func (v *versionedRouter) Query(pattern string, h http.HandlerFunc) { v.Method("QUERY", pattern, h) }

// Trace routes TRACE requests to pattern to h.
func (v *versionedRouter) Trace(pattern string, h http.HandlerFunc) {
	v.Method(http.MethodTrace, pattern, h)
}
