package main

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission"
	_ "github.com/cliquet-go/cliquet/permission/postgresql" // permission_backend = postgresql
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
)

// The toolkit tree app (bench serve -app tree): Kinto's shape, shareable buckets,
// collections under buckets and records under collections, the records validated against
// their collection's "schema" field; storage and permissions on PostgreSQL.

// newTreeApp builds the toolkit tree app: storage and permissions both on PostgreSQL (the
// same database), Basic auth as in the flat app.
func newTreeApp(cfg serverConfig, logger *slog.Logger) (http.Handler, func(), error) {
	if cfg.Backend != "postgresql" {
		return nil, nil, errors.New("bench: the tree app runs on postgresql only")
	}
	app, err := initApp(cfg, logger, map[string]string{
		"permission_backend":   "postgresql",
		"permission_url":       cfg.DSN,
		"permission_pool_size": strconv.Itoa(cfg.PoolSize),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := registerTree(app); err != nil {
		app.Close()
		return nil, nil, err
	}
	return app.Handler(), func() { app.Close() }, nil
}

// registerTree registers Kinto's shape: buckets (any authenticated user may create one),
// collections under buckets, records under collections validated against their
// collection's "schema" field.
func registerTree(app *cliquet.App) error {
	names := resource.NameGenerator{}
	buckets, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "bucket", Path: "/buckets", IDGenerator: names,
		Sharing: &resource.Sharing{
			Permissions: []string{"read", "write", "collection:create", "group:create"},
			Principals:  map[string][]string{"create": {permission.Authenticated}},
		},
	})
	if err != nil {
		return err
	}
	collections, err := resource.Register(app, resource.Spec[resource.Object]{
		Name: "collection", Under: buckets, IDGenerator: names,
		Sharing: &resource.Sharing{Permissions: []string{"read", "write", "record:create"}},
	})
	if err != nil {
		return err
	}
	_, err = resource.Register(app, resource.Spec[resource.Object]{
		Name: "record", Under: collections, Sharing: &resource.Sharing{}, ParentSchema: schemaField,
	})
	return err
}

// schemaField is the records' ParentSchema: the collection's "schema" field, nil when it has
// none.
func schemaField(coll storage.Object) ([]byte, error) {
	var d struct {
		Schema json.RawMessage `json:"schema"`
	}
	if err := json.Unmarshal(coll.Data, &d); err != nil {
		return nil, err
	}
	if len(d.Schema) == 0 || string(d.Schema) == "null" {
		return nil, nil
	}
	return d.Schema, nil
}
