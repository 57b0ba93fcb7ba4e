package main

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// server is Kinto on the toolkit: four shareable resources nested by their parent ids, plus
// the plugins (default bucket, permissions and flush endpoints) and the event subscribers
// that keep group memberships and cascading deletions in step.
type server struct {
	app    *cliquet.App
	store  storage.Backend
	perms  permission.Backend
	secret string // userid_hmac_secret, for the default bucket ids
	schema bool   // experimental_collection_schema_validation

	// bucketRead decides whether a user may read a bucket (404 or 403 for its missing
	// children), following the same rules as the bucket resource.
	bucketCheck func(ctx context.Context, principals []string, uri, perm string) (bool, error)
}

// The storage scopes of Kinto's objects: buckets have no parent; collections and groups
// live under their bucket's URI, records under their collection's URI.
func bucketScope() storage.Scope { return storage.Scope{Resource: "bucket"} }
func collectionScope(bid string) storage.Scope {
	return storage.Scope{Resource: "collection", Parent: bucketURI(bid)}
}
func groupScope(bid string) storage.Scope {
	return storage.Scope{Resource: "group", Parent: bucketURI(bid)}
}
func recordScope(bid, cid string) storage.Scope {
	return storage.Scope{Resource: "record", Parent: collectionURI(bid, cid)}
}

func bucketURI(bid string) string          { return "/buckets/" + bid }
func collectionURI(bid, cid string) string { return bucketURI(bid) + "/collections/" + cid }
func groupURI(bid, gid string) string      { return bucketURI(bid) + "/groups/" + gid }

// relaxedUUID is Kinto's record id generator: UUIDs for new records, and any name a client
// chooses (kinto.js makes its own UUIDs offline).
type relaxedUUID struct{ resource.NameGenerator }

func (relaxedUUID) New() string { return resource.UUIDGenerator{}.New() }

// groupSchema is the JSON Schema of groups: members is a list of principals.
var groupSchema = []byte(`{"type": "object", "properties": {"members": {"type": "array", "items": {"type": "string"}}}}`)

// register mounts Kinto's API on app.
func register(app *cliquet.App) error {
	if app.Permission == nil {
		return errors.New("kinto needs a permission backend")
	}
	s := &server{app: app, store: app.Storage, perms: app.Permission, secret: app.Settings.String("userid_hmac_secret")}
	var err error
	if s.schema, err = app.Settings.Bool("experimental_collection_schema_validation"); err != nil {
		return err
	}
	// The default bucket routes go first: chi prefers their static "default" segment to the
	// {id} and {bid} parameters of the resources.
	s.mountDefaultBucket()

	buckets, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "bucket", Path: "/buckets", ObjectPath: "/buckets/{id}",
		IDGenerator: resource.NameGenerator{},
		Sharing: &resource.Sharing{
			Permissions: []string{"read", "write", "collection:create", "group:create"},
			Principals:  map[string][]string{"create": {permission.Authenticated}},
			Bound:       bound,
		},
	})
	if err != nil {
		return err
	}
	_ = buckets
	s.bucketCheck = s.checker("bucket")
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "collection", Path: "/buckets/{bid}/collections", ObjectPath: "/buckets/{bid}/collections/{id}",
		IDGenerator: resource.NameGenerator{},
		Parent:      s.bucketParent,
		Process:     s.processCollection,
		Sharing: &resource.Sharing{
			Permissions: []string{"read", "write", "record:create"},
			Bound:       bound,
		},
	}); err != nil {
		return err
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "group", Path: "/buckets/{bid}/groups", ObjectPath: "/buckets/{bid}/groups/{id}",
		IDGenerator: resource.NameGenerator{},
		Schema:      groupSchema,
		Parent:      s.bucketParent,
		Process:     processGroup,
		Sharing:     &resource.Sharing{Bound: bound},
	}); err != nil {
		return err
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "record", Path: "/buckets/{bid}/collections/{cid}/records",
		ObjectPath:  "/buckets/{bid}/collections/{cid}/records/{id}",
		IDGenerator: relaxedUUID{},
		Parent:      s.collectionParent,
		Process:     s.processRecord,
		Sharing:     &resource.Sharing{Bound: bound},
	}); err != nil {
		return err
	}

	// Kinto's ResourceChanged subscribers, run inside the request's unit of work.
	app.Subscribe(cliquet.ResourceChanged, s.onGroupsChanged, cliquet.ForResources("group"))
	app.Subscribe(cliquet.ResourceChanged, s.onParentsDeleted,
		cliquet.ForResources("bucket", "collection"), cliquet.ForActions(cliquet.ActionDelete))

	if err := s.mountPermissionsEndpoint(); err != nil {
		return err
	}
	if err := s.mountFlushEndpoint(); err != nil {
		return err
	}
	return s.announce()
}

// announce adds Kinto's capabilities and public settings to the hello view.
func (s *server) announce() error {
	if err := s.app.AddCapability("default_bucket",
		"The default bucket is an alias for a personal bucket where collections are created implicitly.",
		"https://kinto.readthedocs.io/en/latest/api/1.x/buckets.html#personal-bucket-default", nil); err != nil {
		return err
	}
	if s.schema {
		if err := s.app.AddCapability("schema",
			"Validates collection records with JSON schemas.",
			"https://kinto.readthedocs.io/en/latest/api/1.x/collections.html#collection-json-schema", nil); err != nil {
			return err
		}
	}
	for _, name := range []string{"explicit_permissions", "trailing_slash_redirect_enabled"} {
		s.app.AddPublicSetting(name)
	}
	return nil
}

// checker returns a permission check with the rules of a shareable resource named name:
// the <name>_<perm>_principals settings, then the ACLs of the bound permissions.
func (s *server) checker(name string) func(ctx context.Context, principals []string, uri, perm string) (bool, error) {
	return func(ctx context.Context, principals []string, uri, perm string) (bool, error) {
		b := bound(uri, perm)
		for _, x := range b {
			key := name + "_" + strings.TrimPrefix(x.Permission, name+":") + "_principals"
			for _, p := range s.app.Settings.List(key) {
				for _, q := range principals {
					if p == q {
						return true, nil
					}
				}
			}
		}
		if len(b) == 0 {
			return false, nil
		}
		return s.perms.CheckPermission(ctx, principals, b)
	}
}

// bucketParent is the Parent hook of collections and groups: the bucket's URI, once the
// bucket is known to exist.
func (s *server) bucketParent(r *http.Request) (string, error) {
	bid := chi.URLParam(r, "bid")
	if err := s.mustExist(r, bucketScope(), bid, "bucket", ""); err != nil {
		return "", err
	}
	return bucketURI(bid), nil
}

// collectionParent is the Parent hook of records: the collection's URI, once the bucket
// and the collection are known to exist.
func (s *server) collectionParent(r *http.Request) (string, error) {
	bid, cid := chi.URLParam(r, "bid"), chi.URLParam(r, "cid")
	if err := s.mustExist(r, bucketScope(), bid, "bucket", ""); err != nil {
		return "", err
	}
	if err := s.mustExist(r, collectionScope(bid), cid, "collection", bucketURI(bid)); err != nil {
		return "", err
	}
	return collectionURI(bid, cid), nil
}

// mustExist checks that a parent object exists. A missing one is answered as Kinto does
// once its authorization policy ran: 401 to anonymous users, 404 to users who may read the
// enclosing bucket (readable, the URI of an existing bucket; "" for none), 403 otherwise.
func (s *server) mustExist(r *http.Request, scope storage.Scope, id, name, readable string) error {
	if !(resource.NameGenerator{}).Valid(id) {
		return protocol.InvalidParam("path", name+"_id", "Invalid "+name+" id")
	}
	ctx := r.Context()
	_, err := s.store.Get(ctx, scope, id)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return err
	}
	ident := cliquet.IdentityFrom(ctx)
	if !ident.Authenticated() {
		return cliquet.ErrUnauthorized()
	}
	if readable != "" {
		ok, err := s.bucketCheck(ctx, ident.Principals, readable, "read")
		if err != nil {
			return err
		}
		if ok {
			e := protocol.NewError(http.StatusNotFound, protocol.ErrnoInvalidResourceID, protocol.MsgNotFound)
			e.Details = map[string]any{"id": id, "resource_name": name}
			return e
		}
	}
	return cliquet.ErrForbidden()
}

// processGroup gives groups an empty members list when none is sent.
func processGroup(_ context.Context, _ *http.Request, new resource.Object, _ *resource.Object) (resource.Object, error) {
	if _, ok := new["members"]; !ok {
		new["members"] = []any{}
	}
	return new, nil
}
