// Package cliquetcmd is the command line of a service built with cliquet, so that its main
// is a few lines: the --ini and --listen flags, optional "migrate" (with --dry-run) and
// "purge" (with --older-than) subcommands, loading the settings (the .ini file, then the
// environment), building the server, and serving it until SIGINT or SIGTERM with a
// graceful shutdown.
//
//	func main() {
//		cliquetcmd.Command{
//			Name: "myservice", DefaultListen: "127.0.0.1:8888", Migrate: true, Purge: true,
//			NewServer: newServer, // cliquet.Initialize, then resource.Register...
//		}.Main()
//	}
//
// The command line is then
//
//	myservice [--ini file.ini] [--listen addr]            serve
//	myservice migrate [--ini file.ini] [--dry-run]        create or upgrade the backends' schemas
//	myservice purge [--ini file.ini] [--older-than 720h]  remove old tombstones
//
// The examples (examples/bookmarks, examples/kinto, examples/scores) use it; see
// docs/operations.md. A service that needs more flags writes its own main around
// [cliquet.ListenAndServe], [cliquet.Migrate] and [cliquet.PurgeTombstones], which is what
// this package does.
package cliquetcmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
)

// Command describes a service's command line. Name and NewServer are required.
type Command struct {
	// Name is the program name, in the usage text and the flag errors, and the project
	// name the default LoadSettings reads the environment with (<NAME>_<SETTING>).
	Name string
	// DefaultListen is the --listen default, such as "127.0.0.1:8888"; empty means
	// ":8888".
	DefaultListen string
	// Migrate adds the "migrate" subcommand and its --dry-run flag; the flag sets are then
	// named "<Name> serve" and "<Name> migrate".
	Migrate bool
	// Purge adds the "purge" subcommand and its --older-than flag (a duration such as
	// 720h; default: the tombstones_retention_seconds setting), which removes the older
	// tombstones of every collection ([cliquet.PurgeTombstones]) and prints how many; the
	// flag sets are then named "<Name> serve" and "<Name> purge".
	Purge bool
	// LoadSettings reads the --ini file (empty when none was given) and the environment.
	// Nil means config.Load(path, config.Options{ProjectName: Name}).
	LoadSettings func(path string) (*config.Settings, error)
	// NewServer builds the service from the settings: usually cliquet.Initialize, the
	// resources and views, and app.Handler(). Run closes the App when it returns.
	NewServer func(settings *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error)
}

// Run parses args (without the program name) and runs the server, or the migrate command
// ([cliquet.Migrate]) when c.Migrate and args start with "migrate", or the purge command
// ([cliquet.PurgeTombstones]) when c.Purge and args start with "purge". The usage text (-h)
// and the purge command's report go to out, or to standard error when out is nil; -h
// returns flag.ErrHelp, and a bad flag an error naming it. The server runs until ctx ends
// or SIGINT or SIGTERM arrives (see [Serve]); Run then closes the App and returns nil.
func (c Command) Run(ctx context.Context, args []string, out io.Writer, logger *slog.Logger) error {
	if c.NewServer == nil {
		return errors.New("cliquetcmd: Command.NewServer is nil")
	}
	name, sub := c.Name, ""
	if c.Migrate || c.Purge {
		name += " serve"
		if len(args) > 0 && (c.Migrate && args[0] == "migrate" || c.Purge && args[0] == "purge") {
			name, sub, args = c.Name+" "+args[0], args[0], args[1:]
		}
	}
	if out == nil {
		out = os.Stderr
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	listenDefault := c.DefaultListen
	if listenDefault == "" {
		listenDefault = ":8888"
	}
	ini := fs.String("ini", "", "configuration file (.ini with an [app:main] section); none means memory backends")
	listen := fs.String("listen", listenDefault, "address to listen on")
	dryRun := new(bool)
	if c.Migrate {
		fs.BoolVar(dryRun, "dry-run", false, "migrate: only report what would be done")
	}
	olderThan := new(time.Duration)
	if c.Purge {
		fs.DurationVar(olderThan, "older-than", 0, "purge: remove the tombstones older than this (720h); default: the tombstones_retention_seconds setting")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	load := c.LoadSettings
	if load == nil {
		load = func(path string) (*config.Settings, error) {
			return config.Load(path, config.Options{ProjectName: c.Name})
		}
	}
	settings, err := load(*ini)
	if err != nil {
		return err
	}
	handler, app, err := c.NewServer(settings, logger)
	if err != nil {
		return err
	}
	defer app.Close()

	switch sub {
	case "migrate":
		return cliquet.Migrate(ctx, app, *dryRun)
	case "purge":
		if *olderThan < 0 {
			return fmt.Errorf("%s: --older-than %s is negative", name, *olderThan)
		}
		n, err := cliquet.PurgeTombstones(ctx, app, *olderThan)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "purged %d tombstones\n", n)
		return nil
	}
	return Serve(ctx, *listen, handler, logger)
}

// Main runs c with the process's arguments, standard output and a JSON logger on standard
// error (see [Main]).
func (c Command) Main() { Main(c.Name, c.Run) }

// Serve runs the HTTP server on addr until ctx ends or SIGINT or SIGTERM arrives, then
// shuts it down gracefully ([cliquet.ListenAndServe]: timeouts, a "listening" record, up to
// 15 seconds for the requests in flight). It returns nil after a shutdown.
func Serve(ctx context.Context, addr string, h http.Handler, logger *slog.Logger) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	return cliquet.ListenAndServe(ctx, addr, h, logger)
}

// Main is a service's main function: it calls run with the process's arguments (without
// the program name), os.Stdout and a JSON logger on standard error. When run returns
// flag.ErrHelp (-h) it exits with status 0; when run fails otherwise it logs
// "<name> failed" with the error and exits with status 1.
func Main(name string, run func(ctx context.Context, args []string, stdout io.Writer, logger *slog.Logger) error) {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	if err := run(context.Background(), os.Args[1:], os.Stdout, logger); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		logger.Error(name+" failed", "error", err.Error())
		os.Exit(1)
	}
}
