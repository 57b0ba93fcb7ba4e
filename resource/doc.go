// Package resource implements the Cliquet / kinto.core resource protocol on top of a
// [storage.Backend]: one call to [Register] mounts a plural URL (GET, HEAD, POST, DELETE) and
// an object URL (GET, HEAD, PUT, PATCH, DELETE) with timestamps and ETags, optimistic
// concurrency control (If-Match / If-None-Match), filtering, sorting, keyset pagination,
// partial responses, synchronisation with _since and tombstones, and JSON (merge) patches.
//
// # Records
//
// Resources are generic over the record type T. With T = [Object] (map[string]any) and no
// Spec.Schema the resource is schemaless, as in kinto.core: any JSON object is accepted and
// any field can be filtered, sorted or selected with _fields. With a struct T, the data is
// decoded into T for the hooks and re-encoded from T before it is stored, so unknown fields
// are dropped (as Cliquet's schemas did); a JSON Schema is derived from T unless Spec.Schema
// gives one. Whatever T, storage keeps raw JSON, and reads render it without re-encoding.
//
// # Schemas derived from struct types
//
// Every exported field is a property named by its json tag (fields tagged json:"-" are
// skipped; embedded structs are flattened; "id" and "last_modified" are protocol fields and
// never validated). Go types map to JSON Schema types: string → string, bool → boolean,
// integers → integer, floats → number, slices and arrays → array (with items), maps with
// string keys and structs → object, pointers → the type or null, time.Time → string with
// format date-time, interfaces and types with their own MarshalJSON → anything. The cliquet
// tag adds constraints, comma-separated:
//
//	URL   string `json:"url" cliquet:"required,format=uri"`
//	Title string `json:"title,omitempty" cliquet:"maxLength=200"`
//
// Options are required, format=<name> (asserted: uri, email, date-time, ...), minLength,
// maxLength, minItems, maxItems (integers), minimum and maximum (numbers), and readonly
// for a field the server sets (CreatedBy string `json:"created_by" cliquet:"readonly"`):
// its schema says readOnly: true, the Process hook may set it, a client value that differs
// from the stored one (any value on a creation) is refused with 400 errno 107 naming
// data.<field> (refused rather than dropped, so that the client learns the value is not
// kept; the stored value is accepted, so that an object read and sent back whole is not
// refused), and a PUT or PATCH without it keeps the stored value. A readonly field may not
// be required. Top-level properties marked readOnly in an explicit Spec.Schema behave the
// same way. A field is
// optional unless tagged required; give it omitempty so that an absent value is not stored
// as the zero value. The derived schema allows additional properties, which the typed round
// trip then drops. An explicit Spec.Schema decides itself (additionalProperties: false makes
// unknown fields a 400).
//
// When a resource has a schema, only its top-level properties (plus id, last_modified and
// deleted) may be used in filters, _sort and _fields; other names are a 400.
//
// # Parents and authorization
//
// Objects live in collections addressed by a storage scope: the resource name and a parent
// id. By default the parent id is the authenticated user id, which makes every collection
// private to its user (Cliquet's UserResource); Spec.Parent changes that. Anonymous requests
// are answered 401 errno 104 on every method.
//
// Spec.Under nests a shareable resource under another (comments under articles, Kinto's
// records under collections under buckets): the objects of one parent object form one
// collection, whose parent id is the parent object's URI ("/articles/a1"). The plural path
// defaults to the parent's object path followed by "/<name>s", with one URL parameter per
// ancestor. The ancestors are read with the object; when one is missing the request is
// answered 401 errno 104 (anonymous), 404 errno 110 naming it (users who may read the
// object enclosing it) or 403 errno 121. Deleting an object deletes its descendants,
// leaving no tombstones, and their ACLs, and reports one delete event per child collection.
// Spec.ParentSchema validates children against a schema held by their parent, and
// [Ancestors] gives the Process hook the ancestors as read.
//
// # Permissions
//
// With Spec.Sharing the resource is shareable (kinto.core's Resource): its objects share one
// collection (parent id "" unless Spec.Parent or Spec.Under says otherwise) and each object
// has an ACL in the app's [permission.Backend], under its URI without the version prefix
// ("/articles/abc", URL parameters substituted). Object bodies carry it as
// "permissions": {"read": [principals], "write": [...]}; lists and DELETE responses do not,
// and responses show it only to users who hold write on the object ({} otherwise). Nobody
// may create objects until the setting <name>_create_principals (or
// Sharing.Principals["create"]) names who may.
//
// The required permission is read for GET and HEAD, write for PATCH and DELETE, create on
// the plural URI for POST (read on the object when the body names an existing id) and for
// PUT of a new object or with If-None-Match: *, write for PUT of an existing object. A user
// holds it when one of its principals (system.Everyone, system.Authenticated, the user id,
// its groups: authn.Identity.AllPrincipals) is granted it, or a permission that implies
// it, by the setting <name>_<permission>_principals (or Sharing.Principals) or by the
// object's ACL. Write implies read (Sharing.Implied changes what implies what). On a nested
// resource, permissions are also inherited: a permission held on an object is held on its
// descendants that have a permission of that name, and creating objects is the
// "<name>:create" permission of the parent object, which the parent's write implies; each
// level's settings apply to its own objects. Lists (GET, HEAD, DELETE on the plural URL)
// without the permission on the plural URI (the parent object, on a nested resource) are
// restricted to the objects the user holds it on, or empty for users who may create;
// otherwise, as for every refusal, the answer is 401 errno 104 for anonymous users and 403
// errno 121 for others. An object the user may not read is 403 whether it exists or not;
// PATCH and DELETE of a missing object are 404 only for users who may read the plural URI.
//
// Writes store the ACL with the object: POST and PATCH replace the listed permissions, PUT
// with a permissions field also empties the others, merge-patch null empties one, JSON
// Patch ops on /permissions/<perm>/<principal> add or remove one; the author always gets
// write (explicit_permissions). Inside a unit of work (cliquet.Transaction), a POST without
// an id writes the object and its ACL in one statement when the storage backend can
// (PostgreSQL with the permission tables in its database), or saves the ACL first and then
// writes the object as the unit's final write, rolling the unit back (cliquet.RollbackUnit)
// when that write fails, so that the permission journal undoes the ACL. PUT, POST with an
// id, PATCH and DELETE write the object first, in the unit's transaction, then the ACL.
// Without a unit of work the ACL is saved after the object. Deletions remove the ACLs.
//
// # Validation errors
//
// Invalid input is answered 400 errno 107 with details naming its location (body,
// querystring, headers, path); a schema violation on field url is reported as
// {"location": "body", "name": "data.url", "description": ...}. Errors go through
// [protocol.WriteError].
//
// # Reading from custom views
//
// The handle [Register] returns reads the resource's objects typed, through the app's storage
// backend: [Resource.Get], [Resource.List] and [Resource.Count], with the options [Where],
// [WhereOp], [SortBy] and [Limit]. They take the parent id of the collection (the user id of
// a private resource, "" for a flat shareable one, the parent object's URI for a nested one)
// and check no permission: a custom view authorizes itself. A missing object is an error
// matching storage.ErrNotFound.
package resource
