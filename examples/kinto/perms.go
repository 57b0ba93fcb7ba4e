package main

import (
	"strings"

	"github.com/cliquet-go/cliquet/permission"
)

// bound is the Sharing.Bound of the four resources: Kinto's permission inheritance tree
// (kinto/authorization.py). A permission check of perm on the object uri is satisfied by
// any of the returned bindings:
//
//	bucket      read: bucket read|write            write: bucket write
//	            collection:create, group:create: itself or bucket write
//	collection  read: collection read|write, bucket read|write
//	            write: collection write, bucket write
//	            record:create: itself, collection write, bucket write
//	group       read: group read|write, bucket read|write   write: group write, bucket write
//	record      read: record read|write + the collection's read
//	            write: record write + the collection's write
//
// The toolkit asks about plural URIs too: "create" on /buckets is bucket:create (granted by
// the bucket_create_principals setting only), "create" on /buckets/b/collections is
// collection:create on the bucket, and read or write on a plural URI is that permission on
// its parent object. A uri may be a pattern with "*" as the id (restricted lists).
func bound(uri, perm string) []permission.Binding {
	seg := strings.Split(strings.TrimPrefix(uri, "/"), "/")
	bind := func(obj string, perms ...string) []permission.Binding {
		out := make([]permission.Binding, len(perms))
		for i, p := range perms {
			out[i] = permission.Binding{ObjectID: obj, Permission: p}
		}
		return out
	}
	switch len(seg) {
	case 1: // /buckets
		if perm == "create" {
			return bind(uri, "create")
		}
		return nil
	case 2: // /buckets/b
		switch perm {
		case "read":
			return bind(uri, "read", "write")
		case "write":
			return bind(uri, "write")
		case "collection:create", "group:create":
			return bind(uri, perm, "write")
		}
		return nil
	case 3: // /buckets/b/collections, /buckets/b/groups
		parent := "/" + strings.Join(seg[:2], "/")
		if perm == "create" {
			return bound(parent, strings.TrimSuffix(seg[2], "s")+":create")
		}
		return bound(parent, perm)
	case 4: // /buckets/b/collections/c, /buckets/b/groups/g
		parent := "/" + strings.Join(seg[:2], "/")
		switch perm {
		case "read":
			return append(bind(uri, "read", "write"), bound(parent, "read")...)
		case "write":
			return append(bind(uri, "write"), bound(parent, "write")...)
		case "record:create":
			if seg[2] == "collections" {
				return append(bind(uri, perm, "write"), bound(parent, "write")...)
			}
		}
		return nil
	case 5: // /buckets/b/collections/c/records
		parent := "/" + strings.Join(seg[:4], "/")
		if perm == "create" {
			return bound(parent, "record:create")
		}
		return bound(parent, perm)
	case 6: // /buckets/b/collections/c/records/r
		parent := "/" + strings.Join(seg[:4], "/")
		switch perm {
		case "read":
			return append(bind(uri, "read", "write"), bound(parent, "read")...)
		case "write":
			return append(bind(uri, "write"), bound(parent, "write")...)
		}
	}
	return nil
}

// implied lists the permissions that perm on an object of kind brings on that same
// object (the permissions endpoint shows them): write brings every other one, and the
// bucket's and collection's child creations.
func implied(kind, perm string) []string {
	if perm != "write" {
		if perm == "read" {
			return []string{"read"}
		}
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
