package cliquet

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/protocol"
)

var versionedPath = regexp.MustCompile(`^/v[0-9]+(/|$)`)

// notFound answers requests that match no route (protocol.md 1.7): redirect to the version
// prefix, 404 errno 116 for another version, redirect away from a trailing slash, or 404
// errno 111. It runs at request time, so it covers routes registered at any moment.
func (a *App) notFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	s := a.Settings
	if path != a.Prefix && !strings.HasPrefix(path, a.Prefix+"/") {
		if versionedPath.MatchString(path) {
			protocol.WriteError(w, r, protocol.NewError(http.StatusNotFound, protocol.ErrnoVersionNotAvailable, protocol.MsgVersionNotFound))
			return
		}
		if on, _ := s.Bool("version_prefix_redirect_enabled"); on {
			ttl, _ := s.Int("version_prefix_redirect_ttl_seconds")
			redirect(w, r, a.Prefix+path, ttl)
			return
		}
	} else if on, _ := s.Bool("trailing_slash_redirect_enabled"); on {
		ttl, _ := s.Int("trailing_slash_redirect_ttl_seconds")
		if path == a.Prefix {
			redirect(w, r, a.Prefix+"/", ttl)
			return
		}
		if strings.HasSuffix(path, "/") && path != a.Prefix+"/" {
			redirect(w, r, strings.TrimRight(path, "/"), ttl)
			return
		}
	}
	protocol.WriteError(w, r, protocol.NewError(http.StatusNotFound, protocol.ErrnoMissingResource, protocol.MsgNotFound))
}

// exactPrefixRedirect sends the bare prefix ("/v1", which chi routes to the sub-router's
// "/") to the not-found logic, which redirects it to "/v1/".
func (a *App) exactPrefixRedirect(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == a.Prefix {
			a.notFound(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// redirect answers 307 to target, keeping the querystring; ttl ≥ 0 adds cache headers.
func redirect(w http.ResponseWriter, r *http.Request, target string, ttl int) {
	if r.URL.RawQuery != "" {
		target += "?" + r.URL.RawQuery
	}
	if ttl >= 0 {
		w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(ttl))
		w.Header().Set("Expires", time.Now().Add(time.Duration(ttl)*time.Second).UTC().Format(http.TimeFormat))
	}
	w.Header().Set("Location", target)
	w.WriteHeader(http.StatusTemporaryRedirect)
}

var probeMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodTrace, http.MethodConnect,
}

// methodNotAllowed answers 405 errno 115 with an Allow header listing the methods the route
// accepts (found by matching the path against the router for each method).
func (a *App) methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	e := protocol.NewError(http.StatusMethodNotAllowed, protocol.ErrnoMethodNotAllowed, protocol.MsgMethodNotAllowed)
	if allowed := a.allowedMethods(r.URL.Path); len(allowed) > 0 {
		e.Header = http.Header{"Allow": {strings.Join(allowed, ", ")}}
	}
	protocol.WriteError(w, r, e)
}

func (a *App) allowedMethods(path string) []string {
	// Match on the sub-router for versioned paths: the root's mount points accept any method.
	router, p := a.root, path
	if rest, ok := strings.CutPrefix(path, a.Prefix); ok && (rest == "" || rest[0] == '/') && a.Router != nil {
		router, p = a.Router, rest
		if p == "" {
			p = "/"
		}
	}
	var allowed []string
	for _, m := range probeMethods {
		if router.Match(chi.NewRouteContext(), m, p) {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
