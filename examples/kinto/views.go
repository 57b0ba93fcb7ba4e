package main

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/cliquet-go/cliquet"
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
	return s.app.AddCapability("permissions_endpoint",
		"List of user permissions.",
		"https://kinto.readthedocs.io/en/latest/configuration/settings.html#activating-the-permissions-endpoint", nil)
}

// listPermissions answers GET /permissions: every bucket, collection, group and record on
// which one of the user's principals holds a permission, with the permissions held on it
// (write implies the others), sorted by URI. Equality filters on the entries' fields
// (resource_name=bucket, bucket_id=b1, ...) are applied.
func (s *server) listPermissions(w http.ResponseWriter, r *http.Request) {
	principals, err := cliquet.IdentityFrom(r.Context()).AllPrincipals(r.Context())
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
	q := r.URL.Query()
outer:
	for _, e := range entries {
		for k, v := range q {
			if strings.HasPrefix(k, "_") {
				continue
			}
			if got, ok := e[k].(string); !ok || !slices.Contains(v, got) {
				continue outer
			}
		}
		data = append(data, e)
	}
	protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": data})
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
	out := make([]map[string]any, 0, len(uris))
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
	case len(seg) == 6 && seg[2] == "collections" && seg[4] == "records":
		e["resource_name"] = "record"
		e["collection_id"] = seg[3]
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

type flusher interface {
	Flush(ctx context.Context) error
}

// flush answers POST /__flush__ with 202 once every backend is empty.
func (s *server) flush(w http.ResponseWriter, r *http.Request) {
	for _, b := range []any{s.store, s.perms, s.app.Cache} {
		if f, ok := b.(flusher); ok {
			if err := f.Flush(r.Context()); err != nil {
				protocol.WriteError(w, r, err)
				return
			}
		}
	}
	protocol.WriteJSON(w, http.StatusAccepted, map[string]any{})
}
