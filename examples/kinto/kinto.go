package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// server is Kinto on the toolkit: buckets, and under them collections and groups, and
// records under collections, all shareable; plus the plugins (default bucket, permissions
// and flush endpoints) and the event subscriber that keeps group memberships in step.
type server struct {
	app    *cliquet.App
	store  storage.Backend
	perms  permission.Backend
	secret string // userid_hmac_secret, for the default bucket ids
	schema bool   // experimental_collection_schema_validation
	// historyACLs gives history entries the read permission of their objects' readers
	// (explicit_permissions); see history.go.
	historyACLs bool
}

// The storage scopes and URIs of Kinto's objects: collections and groups live under their
// bucket's URI, records under their collection's URI.
func bucketScope() storage.Scope { return storage.Scope{Resource: "bucket"} }
func collectionScope(bid string) storage.Scope {
	return storage.Scope{Resource: "collection", Parent: bucketURI(bid)}
}

func bucketURI(bid string) string          { return "/buckets/" + bid }
func collectionURI(bid, cid string) string { return bucketURI(bid) + "/collections/" + cid }

// relaxedUUID is Kinto's record id generator: UUIDs for new records, and any name a client
// chooses (kinto.js makes its own UUIDs offline).
type relaxedUUID struct{ resource.NameGenerator }

func (relaxedUUID) New() string { return resource.UUIDGenerator{}.New() }

// groupSchema is the JSON Schema of groups: members is a list of principals.
var groupSchema = []byte(`{"type": "object", "properties": {"members": {"type": "array", "items": {"type": "string"}}}}`)

// register mounts Kinto's API on app. The permission tree is the toolkit's: a permission
// on a bucket is held on everything below it, write implies read and the creation of
// children ("collection:create", "group:create" on buckets, "record:create" on
// collections), and bucket_create_principals (default system.Authenticated) says who may
// create buckets.
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
	// resources' parameters.
	s.mountDefaultBucket()

	names := resource.NameGenerator{}
	buckets, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "bucket", IDGenerator: names,
		Sharing: &resource.Sharing{
			Permissions: []string{"read", "write", "collection:create", "group:create"},
			Principals:  map[string][]string{"create": {permission.Authenticated}},
		},
	})
	if err != nil {
		return err
	}
	collections, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "collection", Under: buckets, IDGenerator: names, Process: s.processCollection,
		Sharing: &resource.Sharing{Permissions: []string{"read", "write", "record:create"}},
	})
	if err != nil {
		return err
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "group", Under: buckets, IDGenerator: names, Schema: groupSchema, Process: processGroup,
		Sharing: &resource.Sharing{},
	}); err != nil {
		return err
	}
	records := resource.Spec[resource.Object]{
		Name: "record", Under: collections, IDGenerator: relaxedUUID{}, Sharing: &resource.Sharing{},
	}
	if s.schema {
		records.ParentSchema, records.Process = collectionSchema, stampSchema
	}
	if _, err := resource.Register(app, records); err != nil {
		return err
	}

	// Group memberships follow the groups (their cascaded deletions included), inside the
	// request's unit of work.
	app.Subscribe(events.ResourceChanged, s.onGroupsChanged, events.ForResources("group"))

	if err := s.mountHistory(buckets); err != nil {
		return err
	}
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
	// hello's user carries the id of the personal bucket (Kinto's default_bucket plugin).
	s.app.AddUserInfo(func(r *http.Request, user map[string]any) error {
		user["bucket"] = defaultBucketID(s.secret, authn.IdentityFrom(r.Context()).UserID)
		return nil
	})
	for _, name := range []string{"explicit_permissions", "trailing_slash_redirect_enabled"} {
		s.app.AddPublicSetting(name)
	}
	return nil
}

// processGroup gives groups an empty members list when none is sent.
func processGroup(_ context.Context, _ *http.Request, new resource.Object, _ *resource.Object) (resource.Object, error) {
	if _, ok := new["members"]; !ok {
		new["members"] = []any{}
	}
	return new, nil
}
