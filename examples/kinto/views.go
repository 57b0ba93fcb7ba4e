package main

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
)

// objectPermissions are every permission name of Kinto's objects.
var objectPermissions = []string{"read", "write", "collection:create", "group:create", "record:create"}

// mountPermissionsEndpoint adds GET /permissions (setting experimental_permissions_endpoint).
func (s *server) mountPermissionsEndpoint() error {
	on, err := s.app.Settings.Bool("experimental_permissions_endpoint")
	if err != nil || !on {
		return err
	}
	s.app.Router.Get("/permissions", s.listPermissions)
	s.app.Router.Head("/permissions", s.listPermissions)
	return s.app.AddCapability("permissions_endpoint",
		"List of user permissions.",
		"https://kinto.readthedocs.io/en/latest/configuration/settings.html#activating-the-permissions-endpoint", nil)
}

// listPermissions answers GET and HEAD /permissions, a plural endpoint as Kinto's: every
// bucket, collection, group and record on which one of the user's principals holds a
// permission, with the permissions held on it (write implies the others), plus the root
// entry ("/", bucket:create) when bucket_create_principals grants it, filtered, sorted and
// paginated by the querystring (permquery.go), with Total-Objects (and the older
// Total-Records), the ETag of an entry set that has no timestamp ("0", as Kinto) and
// Next-Page.
func (s *server) listPermissions(w http.ResponseWriter, r *http.Request) {
	middleware.ExposeHeaders(w, "ETag", "Next-Page", "Total-Objects", "Total-Records")
	paginateBy, _ := s.app.Settings.Int("paginate_by")
	q := r.URL.Query()
	pq, err := parsePermQuery(q, paginateBy)
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	principals, err := authn.IdentityFrom(r.Context()).AllPrincipals(r.Context())
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	entries, err := s.permissionEntries(r.Context(), principals)
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	data := make([]map[string]any, 0, len(entries))
	for _, e := range entries {
		if pq.match(e) {
			data = append(data, e)
		}
	}
	slices.SortStableFunc(data, pq.compare)
	total := strconv.Itoa(len(data))
	w.Header().Set("Total-Objects", total)
	w.Header().Set("Total-Records", total)
	w.Header().Set("ETag", `"0"`)
	if r.Method == http.MethodHead {
		w.WriteHeader(http.StatusOK)
		return
	}
	page := data[min(pq.offset, len(data)):]
	if pq.limit > 0 && len(page) > pq.limit {
		page = page[:pq.limit]
		next := url.Values{}
		for k, v := range q {
			next[k] = v
		}
		next.Set("_limit", strconv.Itoa(pq.limit))
		next.Set("_token", nextToken(pq.offset+pq.limit))
		w.Header().Set("Next-Page", s.app.URL(r, "/permissions")+"?"+next.Encode())
	}
	out := make([]map[string]any, len(page))
	for i, e := range page {
		out[i] = pq.project(e)
	}
	protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": out})
}

// permissionEntries builds the entries of the permissions endpoint.
func (s *server) permissionEntries(ctx context.Context, principals []string) ([]map[string]any, error) {
	var bindings []permission.Binding
	for _, p := range objectPermissions {
		bindings = append(bindings, permission.Binding{ObjectID: "/buckets/*", Permission: p})
	}
	found, err := s.perms.AccessibleObjects(ctx, principals, bindings)
	if err != nil {
		return nil, err
	}
	uris := make([]string, 0, len(found))
	for uri := range found {
		uris = append(uris, uri)
	}
	slices.Sort(uris)
	out := make([]map[string]any, 0, len(uris)+1)
	if s.mayCreateBuckets(principals) {
		out = append(out, map[string]any{"uri": "/", "resource_name": "root", "permissions": []string{"bucket:create"}})
	}
	for _, uri := range uris {
		e := describe(uri)
		if e == nil {
			continue
		}
		var perms []string
		for _, p := range found[uri] {
			for _, q := range implied(e["resource_name"].(string), p) {
				if !slices.Contains(perms, q) {
					perms = append(perms, q)
				}
			}
		}
		slices.Sort(perms)
		e["permissions"] = perms
		out = append(out, e)
	}
	return out, nil
}

// mayCreateBuckets reports whether one of principals is in bucket_create_principals (the
// root entry of the permissions endpoint).
func (s *server) mayCreateBuckets(principals []string) bool {
	allowed := []string{permission.Authenticated} // the bucket resource's default
	if !s.app.Settings.IsUnset("bucket_create_principals") {
		allowed = s.app.Settings.List("bucket_create_principals")
	}
	return slices.ContainsFunc(allowed, func(p string) bool {
		return slices.Contains(principals, p)
	})
}

// implied lists the permissions that perm on an object of kind brings on that same object
// (the entries show them): write brings every other one, including the bucket's and the
// collection's child creations.
func implied(kind, perm string) []string {
	if perm != "write" {
		return []string{perm}
	}
	switch kind {
	case "bucket":
		return []string{"write", "read", "collection:create", "group:create"}
	case "collection":
		return []string{"write", "read", "record:create"}
	}
	return []string{"write", "read"}
}

// describe returns the entry fields of an object URI: id, uri, resource_name and the ids
// of its parents (bucket_id, collection_id); nil for other URIs.
func describe(uri string) map[string]any {
	seg := strings.Split(strings.TrimPrefix(uri, "/"), "/")
	if seg[0] != "buckets" {
		return nil
	}
	e := map[string]any{"uri": uri, "id": seg[len(seg)-1], "bucket_id": seg[1]}
	switch {
	case len(seg) == 2:
		e["resource_name"] = "bucket"
	case len(seg) == 4 && seg[2] == "collections":
		e["resource_name"] = "collection"
		e["collection_id"] = seg[3]
	case len(seg) == 4 && seg[2] == "groups":
		e["resource_name"] = "group"
		e["group_id"] = seg[3]
	case len(seg) == 6 && seg[2] == "collections" && seg[4] == "records":
		e["resource_name"] = "record"
		e["collection_id"] = seg[3]
		e["record_id"] = seg[5]
	default:
		return nil
	}
	return e
}

// mountFlushEndpoint adds POST /__flush__ (setting flush_endpoint_enabled, off by default),
// which empties the storage, permission and cache backends.
func (s *server) mountFlushEndpoint() error {
	on, err := s.app.Settings.Bool("flush_endpoint_enabled")
	if err != nil || !on {
		return err
	}
	s.app.Router.Post("/__flush__", s.flush)
	return s.app.AddCapability("flush_endpoint",
		"The __flush__ endpoint can be used to remove all data from all backends.",
		"https://kinto.readthedocs.io/en/latest/configuration/settings.html#activating-the-flush-endpoint", nil)
}

// flush answers POST /__flush__ with 202 once every backend is empty.
func (s *server) flush(w http.ResponseWriter, r *http.Request) {
	flushes := []func(context.Context) error{s.store.Flush, s.perms.Flush}
	if s.app.Cache != nil {
		flushes = append(flushes, s.app.Cache.Flush)
	}
	for _, flush := range flushes {
		if err := flush(r.Context()); err != nil {
			protocol.WriteError(w, r, err)
			return
		}
	}
	protocol.WriteJSON(w, http.StatusAccepted, map[string]any{})
}
