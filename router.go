package cliquet

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
)

// versionedRouter is App.Router: the chi sub-router mounted under the version prefix, whose
// routes are also added to the root router under the prefix.
//
// With the mount alone, every versioned request is routed twice: the root router matches
// "/v1/*", then the sub-router matches the rest, at a cost of about a third of a microsecond
// and three allocations per request. With the copy, the root router routes the request to
// its handler in one pass. Because both trees hold the same versioned routes, chi's
// precedence between them (static segments before parameters before wildcards) is the same
// in both, and a request that matches no copy still falls through to the mount: unknown
// paths and methods get the sub-router's 404 and 405 answers, as before.
//
// Everything that reads routes (Routes, Match, Find, chi.Walk, ServeHTTP) reads the
// sub-router, so patterns stay relative to the prefix. The root's copies skip the
// sub-router's own middleware, which only answers the bare prefix ("/v1"), a path no
// copy matches. Use panics, as on any chi router that already has routes.
type versionedRouter struct {
	chi.Router            // the sub-router mounted under prefix
	root       chi.Router // the router given to Initialize, or an inline router of it
	prefix     string
}

var _ chi.Router = (*versionedRouter)(nil)

// rootPattern is pattern on the root router: under the prefix, keeping a leading method
// ("GET /x", which chi's Handle accepts).
func (v *versionedRouter) rootPattern(pattern string) string {
	if i := strings.IndexAny(pattern, " \t"); i >= 0 {
		return pattern[:i] + " " + v.prefix + strings.TrimLeft(pattern[i+1:], " \t")
	}
	return v.prefix + pattern
}

// With returns an inline router of both trees with the extra middlewares.
func (v *versionedRouter) With(middlewares ...func(http.Handler) http.Handler) chi.Router {
	return &versionedRouter{Router: v.Router.With(middlewares...), root: v.root.With(middlewares...), prefix: v.prefix}
}

// Group calls fn with an inline router of both trees and returns it.
func (v *versionedRouter) Group(fn func(r chi.Router)) chi.Router {
	im := v.With()
	if fn != nil {
		fn(im)
	}
	return im
}

// Route builds a new router with fn and mounts it along pattern on both trees.
func (v *versionedRouter) Route(pattern string, fn func(r chi.Router)) chi.Router {
	sub := chi.NewRouter()
	if fn != nil {
		fn(sub)
	}
	v.Mount(pattern, sub)
	return sub
}

// Mount attaches h along pattern on both trees.
func (v *versionedRouter) Mount(pattern string, h http.Handler) {
	v.Router.Mount(pattern, h)
	v.root.Mount(v.prefix+pattern, h)
}

// Handle routes every method of pattern to h on both trees.
func (v *versionedRouter) Handle(pattern string, h http.Handler) {
	v.Router.Handle(pattern, h)
	v.root.Handle(v.rootPattern(pattern), h)
}

// HandleFunc routes every method of pattern to h on both trees.
func (v *versionedRouter) HandleFunc(pattern string, h http.HandlerFunc) { v.Handle(pattern, h) }

// Method routes method requests to pattern to h on both trees.
func (v *versionedRouter) Method(method, pattern string, h http.Handler) {
	v.Router.Method(method, pattern, h)
	v.root.Method(method, v.prefix+pattern, h)
}

// MethodFunc routes method requests to pattern to h on both trees.
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
