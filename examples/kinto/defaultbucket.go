package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// The default bucket (kinto/plugins/default_bucket): /buckets/default is an alias of a
// personal bucket whose id is derived from the user id, created on first use together with
// the collection addressed below it.

// defaultBucketID returns the id of userID's personal bucket: the first 128 bits of
// HMAC-SHA256(secret, userID), written as a UUID (as Kinto does).
func defaultBucketID(secret, userID string) string {
	d := authn.HMACUserID(secret, userID)[:32]
	return d[:8] + "-" + d[8:12] + "-" + d[12:16] + "-" + d[16:20] + "-" + d[20:32]
}

// mountDefaultBucket routes /buckets/default and everything below it to defaultBucket.
func (s *server) mountDefaultBucket() {
	h := http.HandlerFunc(s.defaultBucket)
	s.app.Router.Handle("/buckets/default", h)
	s.app.Router.Handle("/buckets/default/*", h)
}

// defaultBucket creates the user's bucket (and the collection of the URL, except when the
// request creates them itself with PUT), then serves the request as if it had been sent
// to the personal bucket's URL.
func (s *server) defaultBucket(w http.ResponseWriter, r *http.Request) {
	ident := authn.IdentityFrom(r.Context())
	if !ident.Authenticated() {
		protocol.WriteError(w, r, authn.ErrUnauthorized())
		return
	}
	bid := defaultBucketID(s.secret, ident.UserID)
	rest := chi.URLParam(r, "*") // "", or "collections/tasks/records"
	path := "/buckets/" + bid
	if rest != "" {
		path += "/" + rest
	}
	if err := s.ensureDefault(r, bid, rest); err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	rctx := chi.NewRouteContext()
	rctx.Routes = s.app.Router
	rctx.RoutePath = path
	r2 := r.Clone(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
	r2.URL.Path = s.app.Prefix + path
	r2.URL.RawPath = ""
	s.app.Router.ServeHTTP(w, r2)
}

// ensureDefault creates the personal bucket and, for URLs below a collection, the
// collection, unless the request is the PUT that creates it. The user gets write on what
// is created.
func (s *server) ensureDefault(r *http.Request, bid, rest string) error {
	if r.Method == http.MethodPut && rest == "" {
		return nil
	}
	if err := s.createIfMissing(r, bucketScope(), bid, bucketURI(bid)); err != nil {
		return err
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 2 || parts[0] != "collections" || !(resource.NameGenerator{}).Valid(parts[1]) {
		return nil
	}
	if r.Method == http.MethodPut && len(parts) == 2 {
		return nil
	}
	return s.createIfMissing(r, collectionScope(bid), parts[1], collectionURI(bid, parts[1]))
}

// createIfMissing creates an empty object with write for the user, when it does not exist.
func (s *server) createIfMissing(r *http.Request, scope storage.Scope, id, uri string) error {
	ctx := r.Context()
	if _, err := s.store.Get(ctx, scope, id); err == nil {
		return nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	var unicity *storage.UnicityError
	if _, err := s.store.Create(ctx, scope, storage.Object{ID: id, Data: []byte("{}")}); err != nil && !errors.As(err, &unicity) {
		return err
	}
	return s.perms.AddPrincipalToACE(ctx, uri, "write", authn.IdentityFrom(ctx).UserID)
}
