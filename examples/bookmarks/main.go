// Command bookmarks is a small cliquet service: a private bookmark list per user.
//
// Run it with memory backends and no setup:
//
//	go run ./examples/bookmarks
//	curl -i -u alice:secret http://127.0.0.1:8888/v1/
//
// With a configuration file (the format of Cliquet and Kinto .ini files): postgresql.ini
// and redis.ini, beside this file, point at the test servers of scripts/services.sh (their
// comments say how to prepare them). From the repository root:
//
//	go run ./examples/bookmarks migrate --ini examples/bookmarks/postgresql.ini [--dry-run]
//	go run ./examples/bookmarks purge --ini examples/bookmarks/postgresql.ini --older-than 720h
//	go run ./examples/bookmarks --ini examples/bookmarks/postgresql.ini --listen 127.0.0.1:8888
//	go run ./examples/bookmarks --ini examples/bookmarks/redis.ini
//
// The flags: --ini names the file (none means memory backends), --listen the address
// (default 127.0.0.1:8888), --dry-run makes migrate only report what it would do, and
// --older-than is how old the tombstones purge removes are (default: the
// tombstones_retention_seconds setting).
// Settings from the environment (CLIQUET_STORAGE_URL, BOOKMARKS_STORAGE_URL...) win over
// the file.
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
)

const (
	projectName    = "bookmarks"
	projectVersion = "1.0.0"
	// devSecret keeps "run with no setup" working. Set userid_hmac_secret (or
	// BOOKMARKS_USERID_HMAC_SECRET) in production: changing it changes every user id.
	devSecret = "bookmarks-development-secret"
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
// defaults: the development secret, so that the service starts with no setup.
func loadSettings(path string) (*config.Settings, error) {
	return config.Load(path, config.Options{
		ProjectName: projectName,
		Defaults:    map[string]string{"userid_hmac_secret": devSecret},
	})
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
	bookmarks, err := registerResources(app)
	if err != nil {
		app.Close()
		return nil, nil, fmt.Errorf("bookmarks: register resources: %w", err)
	}
	registerExtras(app, bookmarks, logger) // a listener and a custom view (extras.go)
	return app.Handler(), app, nil
}
