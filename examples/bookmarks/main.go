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
//	go run ./examples/bookmarks --ini examples/bookmarks/postgresql.ini --listen 127.0.0.1:8888
//	go run ./examples/bookmarks --ini examples/bookmarks/redis.ini
//
// The flags: --ini names the file (none means memory backends), --listen the address
// (default 127.0.0.1:8888), and --dry-run makes migrate only report what it would do.
// Settings from the environment (CLIQUET_STORAGE_URL, BOOKMARKS_STORAGE_URL...) win over
// the file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
)

const (
	projectName    = "bookmarks"
	projectVersion = "1.0.0"
	// devSecret keeps "run with no setup" working. Set userid_hmac_secret (or
	// BOOKMARKS_USERID_HMAC_SECRET) in production: changing it changes every user id.
	devSecret = "bookmarks-development-secret"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Stdout, logger); err != nil {
		logger.Error("bookmarks failed", "error", err.Error())
		os.Exit(1)
	}
}

// run parses the command line and runs the server or the migrate command.
func run(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 && args[0] == "migrate" {
		cmd, args = "migrate", args[1:]
	}
	fs := flag.NewFlagSet("bookmarks "+cmd, flag.ContinueOnError)
	fs.SetOutput(stdout)
	ini := fs.String("ini", "", "configuration file (.ini with an [app:main] section); none means memory backends")
	listen := fs.String("listen", "127.0.0.1:8888", "address to listen on")
	dryRun := fs.Bool("dry-run", false, "migrate: only report what would be done")
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings, err := loadSettings(*ini)
	if err != nil {
		return err
	}
	handler, app, err := newServer(settings, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	if cmd == "migrate" {
		return cliquet.Migrate(ctx, app, *dryRun)
	}
	return serve(ctx, *listen, handler, logger)
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
	if err := registerResources(app); err != nil {
		app.Close()
		return nil, nil, fmt.Errorf("bookmarks: register resources: %w", err)
	}
	registerExtras(app, logger) // a listener and a custom view (extras.go)
	return app.Handler(), app, nil
}

// serve runs the HTTP server until ctx ends or SIGINT or SIGTERM arrives, then shuts it
// down gracefully (cliquet.ListenAndServe).
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cliquet.ListenAndServe(ctx, addr, h, logger)
}
