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
// maxLength, minItems, maxItems (integers), minimum and maximum (numbers). A field is
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
// # Validation errors
//
// Invalid input is answered 400 errno 107 with details naming its location (body,
// querystring, headers, path); a schema violation on field url is reported as
// {"location": "body", "name": "data.url", "description": ...}. Errors go through
// [protocol.WriteError].
package resource
