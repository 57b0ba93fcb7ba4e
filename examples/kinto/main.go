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
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
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

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Stdout, logger); err != nil {
		logger.Error("kinto failed", "error", err.Error())
		os.Exit(1)
	}
}

// run parses the command line and runs the server or the migrate command.
func run(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error {
	cmd := "serve"
	if len(args) > 0 && args[0] == "migrate" {
		cmd, args = "migrate", args[1:]
	}
	fs := flag.NewFlagSet("kinto "+cmd, flag.ContinueOnError)
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

// serve runs the HTTP server until SIGINT or SIGTERM, then shuts it down gracefully.
func serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("listening", "url", "http://"+ln.Addr().String()+"/v1/")

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
