// Package cmd is the command line shared by the example services (examples/bookmarks,
// examples/kinto, examples/scores): the --ini and --listen flags, the optional migrate
// subcommand with --dry-run, loading the settings, building the server and serving it until
// SIGINT or SIGTERM. It belongs to the examples, not to the toolkit's API: a real service
// writes its own main, usually much like this one.
package cmd

import (
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
)

// Command describes one example's command line.
type Command struct {
	// Name is the program name, in the usage text and the flag errors.
	Name string
	// DefaultListen is the --listen default, such as "127.0.0.1:8888".
	DefaultListen string
	// Migrate adds the "migrate" subcommand and its --dry-run flag; the flag sets are then
	// named "<Name> serve" and "<Name> migrate".
	Migrate bool
	// LoadSettings reads the --ini file (empty when none) and the environment.
	LoadSettings func(path string) (*config.Settings, error)
	// NewServer builds the service from the settings; Run closes the App when it returns.
	NewServer func(settings *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error)
}

// Run parses args (without the program name) and runs the server, or the migrate command
// when c.Migrate and args start with "migrate". The usage text (-h) goes to out, or to
// stderr when out is nil; -h returns flag.ErrHelp. The server runs until ctx ends or
// SIGINT or SIGTERM arrives (see Serve).
func (c Command) Run(ctx context.Context, args []string, out io.Writer, logger *slog.Logger) error {
	name, migrate := c.Name, false
	if c.Migrate {
		name += " serve"
		if len(args) > 0 && args[0] == "migrate" {
			name, migrate, args = c.Name+" migrate", true, args[1:]
		}
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	if out != nil {
		fs.SetOutput(out)
	}
	ini := fs.String("ini", "", "configuration file (.ini with an [app:main] section); none means memory backends")
	listen := fs.String("listen", c.DefaultListen, "address to listen on")
	dryRun := new(bool)
	if c.Migrate {
		fs.BoolVar(dryRun, "dry-run", false, "migrate: only report what would be done")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	settings, err := c.LoadSettings(*ini)
	if err != nil {
		return err
	}
	handler, app, err := c.NewServer(settings, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	if migrate {
		return cliquet.Migrate(ctx, app, *dryRun)
	}
	return Serve(ctx, *listen, handler, logger)
}

// Serve runs the HTTP server on addr until ctx ends or SIGINT or SIGTERM arrives, then
// shuts it down gracefully (cliquet.ListenAndServe).
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cliquet.ListenAndServe(ctx, addr, h, logger)
}

// Main is an example's main function: it calls run with the process's arguments, os.Stdout
// and a JSON logger on stderr, and when run fails logs "<name> failed" and exits with
// status 1.
func Main(name string, run func(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error) {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Stdout, logger); err != nil {
		logger.Error(name+" failed", "error", err.Error())
		os.Exit(1)
	}
}
