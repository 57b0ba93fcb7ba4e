package resource

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/storage"
)

// Object is the schemaless record type: Register[Object] gives kinto.core's behaviour, where a
// record may hold any JSON fields.
type Object = map[string]any

// Spec configures one resource for [Register]. Only Name is required; every other zero value
// means the kinto.core default. Function fields are hooks, checked once when Register runs.
type Spec[T any] struct {
	// Name names the resource ("bookmark"). It is the storage scope's Resource, the default
	// URL (Name + "s") and the key of the per-resource settings
	// (plural_<name>_<method>_enabled, <name>_cache_expires_seconds). It must match
	// ^[a-zA-Z][a-zA-Z0-9_]*$.
	Name string
	// Path is the plural URL under the version prefix; it defaults to "/" + Name + "s". It
	// may contain chi URL parameters ("/buckets/{bid}/collections"), which a Parent hook can
	// read with chi.URLParam.
	Path string
	// ObjectPath is the URL of one object; it defaults to Path + "/{id}" and must contain the
	// "{id}" parameter.
	ObjectPath string
	// Schema is an optional JSON Schema document validating the object's data (without id
	// and last_modified). When nil and T is a struct, a schema is derived from T's fields
	// (see the package documentation); when nil and T is Object, the resource is schemaless.
	Schema []byte
	// IDGenerator makes and validates object ids; nil means [UUIDGenerator].
	IDGenerator IDGenerator
	// Parent returns the parent id of the objects addressed by the request, that is the
	// collection they belong to. Nil means private per-user collections (the parent id is the
	// authenticated user id) or, for a shareable resource, one shared collection (parent id
	// ""). An error it returns is rendered (a *protocol.Error keeps its status). On a private
	// resource every method requires an authenticated user (401 errno 104 otherwise).
	Parent func(r *http.Request) (string, error)
	// Under nests the resource under a parent resource registered before it (Kinto's
	// records under collections under buckets): the objects of one parent object form one
	// collection, whose storage parent id is the parent object's URI ("/buckets/b1"). Both
	// resources must be shareable. Path then defaults to the parent's object path with {id}
	// renamed {<parent name>_id}, followed by "/" + Name + "s"; a Path of your own must carry
	// one URL parameter per ancestor, in order from the root, and ObjectPath the same
	// parameters followed by {id}.
	//
	// The toolkit then reads the ancestors with the object in one storage call and answers
	// a missing ancestor as kinto.core does (401 to anonymous users, 404 to users who may
	// read the enclosing object, 403 otherwise); it inherits permissions down the tree (a
	// permission held on an object is held on its descendants, and creating objects here is
	// the "<name>:create" permission of the parent object, which the parent's write
	// grants); and deleting an object deletes its descendants (without tombstones) and
	// their ACLs. Under and Parent are exclusive.
	Under Node
	// ParentSchema, on a nested resource, returns an extra JSON Schema that the objects of
	// one parent object must satisfy, read from that parent (Kinto's collection schemas);
	// nil when the parent has none. The toolkit compiles each parent's schema once per
	// version of the parent (its URI and timestamp) and validates creations and updates
	// against it, after Schema. An error returned is rendered as is.
	ParentSchema func(parent storage.Object) ([]byte, error)
	// Sharing makes the resource shareable: per-object ACLs kept in the app's permission
	// backend decide who may do what (see the package documentation, "Permissions"). Nil
	// means a private per-user resource.
	Sharing *Sharing
	// Process runs before every write that creates or replaces an object (POST, PUT, PATCH),
	// after validation. old is nil on creation. The returned value is what gets stored; a
	// returned *protocol.Error is rendered as is (other errors become 500).
	Process func(ctx context.Context, r *http.Request, new T, old *T) (T, error)
	// PluralMethods lists the enabled methods of the plural URL among GET, POST and DELETE;
	// nil means all of them. HEAD follows GET.
	PluralMethods []string
	// ObjectMethods lists the enabled methods of the object URL among GET, PUT, PATCH and
	// DELETE; nil means all of them. HEAD follows GET.
	ObjectMethods []string
}

// IDGenerator makes the ids of objects created without one and validates ids given by
// clients (in URLs and in POST bodies). Implementations must be safe for concurrent use, and
// New must always return an id that Valid accepts. Whatever Valid says, an id holding invalid
// UTF-8 or the NUL character is refused (400), as no backend stores it faithfully.
type IDGenerator interface {
	New() string
	Valid(id string) bool
}

// The patterns of the ids the generators accept, published in the OpenAPI document; Valid
// checks them by hand (a test checks both against these expressions).
var (
	uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
)

// UUIDGenerator is the default [IDGenerator]: New returns random (version 4) UUIDs and Valid
// accepts any lowercase hyphenated UUID, whatever its version.
type UUIDGenerator struct{}

// New returns a new random UUID.
func (UUIDGenerator) New() string { return uuid.NewString() }

// Valid reports whether id is a lowercase hyphenated UUID: it matches uuidPattern, checked
// by hand because the regular expression costs a few percent of a GET of one object.
func (UUIDGenerator) Valid(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// NameGenerator is an [IDGenerator] for human-chosen ids such as bucket names: Valid accepts
// ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ and New returns 32 random hexadecimal characters.
type NameGenerator struct{}

// New returns 32 random hexadecimal characters.
func (NameGenerator) New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// Valid reports whether id matches ^[a-zA-Z0-9][a-zA-Z0-9_-]*$ (namePattern, checked by
// hand).
func (NameGenerator) Valid(id string) bool {
	if id == "" {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && (c == '_' || c == '-')) {
			return false
		}
	}
	return true
}

// Sharing configures a shareable resource (kinto.core's Resource, Cliquet's
// ShareableResource). The zero value is valid: permissions read and write, write implying
// read, and nobody allowed to create until a <name>_create_principals setting (or
// Principals) says so.
type Sharing struct {
	// Permissions lists the object permission names accepted in the permissions field of
	// request bodies; nil means {"read", "write"}. "create" is always the permission checked
	// on the plural URI for creations and must not be listed.
	Permissions []string
	// Principals are the default global grants, by permission ("create", "read", "write",
	// ...): principals that hold the permission on every object of the resource. The setting
	// <name>_<permission>_principals (for example article_create_principals =
	// system.Authenticated) replaces an entry when it is set.
	Principals map[string][]string
	// Implied maps a permission to the permissions that also grant it on the same object;
	// an entry replaces the default. By default read is granted by write, and so is the
	// creation of the objects of a resource nested under this one ("record:create" on a
	// collection, for a resource "record" whose Spec.Under is the collections). Permissions
	// are also inherited down a resource tree: a permission held on an object is held on
	// its descendants that have a permission of the same name (see Spec.Under).
	Implied map[string][]string
}
