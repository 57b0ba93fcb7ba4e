// Command kinto is a Kinto-compatible JSON storage server built on cliquet-go: buckets,
// collections, groups and records with Kinto's permission tree, the default bucket, the
// permissions endpoint and the flush endpoint (see docs/kinto.md).
//
// Run it with memory backends and no setup:
//
//	go run ./examples/kinto
//	curl -i -u alice:secret http://127.0.0.1:8888/v1/
//
// With a configuration file (the format of Cliquet and Kinto .ini files):
//
//	go run ./examples/kinto --ini kinto.ini --listen :8888
//	go run ./examples/kinto migrate --ini kinto.ini [--dry-run]
//	go run ./examples/kinto purge --ini kinto.ini [--older-than 720h]
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/cliquetcmd"
	"github.com/cliquet-go/cliquet/config"

	// The PostgreSQL backends, selected by storage_backend, permission_backend and
	// cache_backend = postgresql (memory is the default).
	_ "github.com/cliquet-go/cliquet/cache/postgresql"
	_ "github.com/cliquet-go/cliquet/permission/postgresql"
	_ "github.com/cliquet-go/cliquet/storage/postgresql"
)

const (
	projectName    = "kinto"
	projectVersion = "13.6.0" // the Kinto release whose HTTP API (1.22) this example follows
	// devSecret keeps "run with no setup" working. Set userid_hmac_secret (or
	// KINTO_USERID_HMAC_SECRET) in production: changing it changes every user id, and the
	// id of every user's default bucket.
	devSecret = "kinto-development-secret"
)

func main() { cliquetcmd.Main(projectName, run) }

// run parses the command line and runs the server, or the migrate or purge command.
func run(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	return cliquetcmd.Command{
		Name: projectName, DefaultListen: "127.0.0.1:8888", Migrate: true, Purge: true,
		LoadSettings: loadSettings, NewServer: newServer,
	}.Run(ctx, args, stdout, logger)
}

// loadSettings reads path (none when empty) and the environment, with the example's own
// defaults (see defaultSettings).
func loadSettings(path string) (*config.Settings, error) {
	return config.Load(path, config.Options{ProjectName: projectName, Defaults: defaultSettings()})
}

// defaultSettings are Kinto's defaults on top of the toolkit's: the development secret (so
// that the service starts with no setup), bucket creation for every authenticated user,
// records validated by their collection's schema, the permissions endpoint on and the
// flush endpoint off.
func defaultSettings() map[string]string {
	return map[string]string{
		"userid_hmac_secret":                        devSecret,
		"http_api_version":                          "1.22",
		"bucket_create_principals":                  "system.Authenticated",
		"experimental_collection_schema_validation": "true",
		"experimental_permissions_endpoint":         "true",
		"flush_endpoint_enabled":                    "false",
		"project_docs":                              "https://kinto.readthedocs.io/",
	}
}

// newServer builds the service: the toolkit, then the resources of this example.
func newServer(settings *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       settings,
		ProjectName:    projectName,
		ProjectVersion: projectVersion,
		Logger:         logger,
	})
	if err != nil {
		return nil, nil, err
	}
	if err := register(app); err != nil {
		app.Close()
		return nil, nil, fmt.Errorf("kinto: register resources: %w", err)
	}
	return app.Handler(), app, nil
}
