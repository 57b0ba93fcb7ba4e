package cliquet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// Config is what [Initialize] needs besides the router. Only ProjectVersion (or the
// project_version setting) is required; nil fields mean defaults.
type Config struct {
	// Settings are the resolved settings. Nil means the toolkit defaults overridden by the
	// environment (config.Load with no file).
	Settings *config.Settings
	// ProjectName is the default project name; a project_name setting wins.
	ProjectName string
	// ProjectVersion is the default project version ("3.14.116"); a project_version
	// setting wins. The API version defaults to its MAJOR.MINOR.
	ProjectVersion string
	// Logger receives the toolkit's logs, including one "request.summary" record per
	// request. Nil means a logger built from the settings logging_renderer and
	// logging_level (package monitoring), named after the project, writing to LogOutput.
	Logger *slog.Logger
	// LogOutput is where the logger built from the settings writes when Logger is nil; nil
	// means os.Stderr.
	LogOutput io.Writer
	// Storage, Cache and Permission are pre-built backends. A nil one is opened by name
	// from storage_backend, cache_backend or permission_backend (an empty name means no
	// backend). Backends given here are not closed by [App.Close]. With statsd_url set,
	// every backend is timed (storage.<name>.<method>, …) under its setting's name; one
	// given here is named "custom" unless its setting was set explicitly.
	Storage    storage.Backend
	Cache      cache.Backend
	Permission permission.Backend
	// KnownSettings declares the embedder's own setting keys (exact keys or path.Match
	// patterns), beside config.Options.Known and Defaults, so that Initialize does not warn
	// about them as unknown.
	KnownSettings []string
	// Authenticators are extra authentication policies. Those named in multiauth.policies
	// take that place in the chain; the others are appended, in this order.
	Authenticators []authn.Authenticator
}

// Initialize loads and checks the settings, opens the backends, installs the toolkit's
// middleware on router and mounts the versioned sub-router (hello, heartbeats, version)
// under "/v<MAJOR>". It must be called before any route is added to router (chi refuses
// middleware after routes). The returned App's Router is where resources are mounted.
//
// Initialize also sets up monitoring from the settings (docs/operations.md): request logs,
// StatsD metrics (statsd_url), Prometheus metrics at /v1/__metrics__ (prometheus_enabled),
// Sentry reports (sentry_dsn) and, when profiler_enabled is true, the profiler on router at
// profiler_path, outside the version prefix.
//
// Startup fails, naming the setting, when a setting has a bad value, when a backend name is
// unknown, when project_version is missing, or when basicauth is enabled without
// userid_hmac_secret. [App.Close] releases what Initialize opened.
func Initialize(router chi.Router, cfg Config) (app *App, err error) {
	if router == nil {
		return nil, errors.New("cliquet: Initialize needs a router")
	}
	s := cfg.Settings
	if s == nil {
		if s, err = config.Load("", config.Options{ProjectName: cfg.ProjectName}); err != nil {
			return nil, err
		}
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	a := &App{
		Settings:     s,
		root:         router,
		heartbeats:   map[string]HeartbeatFunc{},
		capabilities: map[string]map[string]any{},
		publicSettings: []string{
			"batch_max_requests", "readonly",
		},
	}
	defer func() {
		if err != nil {
			a.Close() //nolint:errcheck // already failing
		}
	}()

	a.ProjectName = firstNonEmpty(s.String("project_name"), cfg.ProjectName)
	a.ProjectVersion = firstNonEmpty(s.String("project_version"), cfg.ProjectVersion)
	if a.ProjectVersion == "" {
		return nil, errors.New("cliquet: project_version is not set (setting project_version or Config.ProjectVersion)")
	}
	a.HTTPAPIVersion = s.String("http_api_version")
	if a.HTTPAPIVersion == "" {
		parts := strings.SplitN(a.ProjectVersion, ".", 3)
		a.HTTPAPIVersion = parts[0]
		if len(parts) > 1 {
			a.HTTPAPIVersion += "." + parts[1]
		} else {
			a.HTTPAPIVersion += ".0"
		}
	}
	major, _, _ := strings.Cut(a.HTTPAPIVersion, ".")
	if _, err := strconv.Atoi(major); err != nil {
		return nil, fmt.Errorf("cliquet: setting %q = %q: want MAJOR.MINOR", "http_api_version", a.HTTPAPIVersion)
	}
	a.Prefix = "/v" + major
	if err := a.setupMonitoring(cfg); err != nil {
		return nil, err
	}
	a.warnUnknownSettings(cfg.KnownSettings)
	a.events = events.NewBus(a.Logger, a.Metrics)

	retryAfter, _ := s.Int("retry_after_seconds")
	a.errors = &protocol.ErrorWriter{
		RetryAfterSeconds: retryAfter,
		InfoLink:          s.String("error_info_link"),
		Logger:            a.Logger,
		OnError:           a.onError,
	}

	// The backends opened from the settings log through the app's logger (config.LoggerFrom).
	ctx := config.WithLogger(context.Background(), a.Logger)
	if err := a.openBackends(ctx, cfg); err != nil {
		return nil, err
	}
	a.watchBackends(cfg)
	a.journalPermissions()
	if err := a.setupAuthentication(cfg.Authenticators); err != nil {
		return nil, err
	}
	a.registerBackendHeartbeats()
	if err := a.setupListeners(ctx); err != nil { // event_listeners (listeners.go)
		return nil, err
	}
	if err := a.setupChangeFeed(); err != nil { // feed.go
		return nil, err
	}

	mw, err := a.middleware()
	if err != nil {
		return nil, err
	}
	router.Use(mw...)
	router.NotFound(a.notFound)
	router.MethodNotAllowed(a.methodNotAllowed)

	sub := chi.NewRouter()
	sub.Use(a.exactPrefixRedirect)
	sub.NotFound(a.notFound)
	sub.MethodNotAllowed(a.methodNotAllowed)
	router.Mount(a.Prefix, sub)
	a.Router = sub
	a.mountUtilityViews(a.Router) // GET and HEAD of hello, heartbeats, version (hello.go)
	a.Router.Post(BatchPath, a.batchHandler())
	a.Router.Get(APIPath, a.serveOpenAPI) // the generated OpenAPI document (openapi.go)
	// GET and HEAD of /__metrics__ when prometheus_enabled is true (observability.go).
	if err := a.mountPrometheus(); err != nil {
		return nil, err
	}
	if err := a.mountProfiler(router); err != nil {
		return nil, err
	}
	if err := a.startPurgeJob(); err != nil { // tombstones_purge_interval_seconds (purge.go)
		return nil, err
	}
	return a, nil
}

// warnUnknownSettings logs one warning per setting that is set but known to no part of the
// toolkit nor declared by the embedder (config.Settings.Unknown), with the closest known
// key as a hint: a typo in a key is otherwise silently ignored.
func (a *App) warnUnknownSettings(known []string) {
	for _, u := range a.Settings.Unknown(known...) {
		attrs := []any{"setting", u.Key, "origin", u.Origin}
		msg := "unknown setting " + strconv.Quote(u.Key) + " is ignored"
		if u.Hint != "" {
			attrs = append(attrs, "hint", u.Hint)
			msg += "; did you mean " + strconv.Quote(u.Hint) + "?"
		}
		a.Logger.Warn(msg, attrs...)
	}
}

// Handler returns the router given to Initialize, as an http.Handler to serve.
func (a *App) Handler() http.Handler { return a.root }

// openBackends opens the backends missing from cfg by the names in the settings.
func (a *App) openBackends(ctx context.Context, cfg Config) error {
	s := a.Settings
	a.Storage, a.Cache, a.Permission = cfg.Storage, cfg.Cache, cfg.Permission
	if a.Storage == nil {
		if name := s.String("storage_backend"); name != "" {
			b, err := storage.Open(ctx, name, s)
			if err != nil {
				return fmt.Errorf("cliquet: setting %q: %w", "storage_backend", err)
			}
			a.Storage = b
			a.opened = append(a.opened, b)
		}
	}
	if a.Cache == nil {
		if name := s.String("cache_backend"); name != "" {
			b, err := cache.Open(ctx, name, s)
			if err != nil {
				return fmt.Errorf("cliquet: setting %q: %w", "cache_backend", err)
			}
			a.Cache = b
			a.opened = append(a.opened, b)
		}
	}
	if a.Permission == nil {
		if name := s.String("permission_backend"); name != "" {
			b, err := permission.Open(ctx, name, s)
			if err != nil {
				return fmt.Errorf("cliquet: setting %q: %w", "permission_backend", err)
			}
			a.Permission = b
			a.opened = append(a.opened, b)
		}
	}
	return nil
}

// journalPermissions wraps App.Permission with JournalPermission when requests may run in
// units of work (transaction_per_request), so that a rolled-back request also undoes its
// permission changes. On a storage backend without units of work (its Begin declines with
// storage.ErrNotSupported) no request runs in one, and the journal forwards every call.
func (a *App) journalPermissions() {
	if a.Permission == nil {
		return
	}
	if tx, _ := a.Settings.Bool("transaction_per_request"); tx {
		a.Permission = JournalPermission(a.Permission)
	}
}

// Close ends the open change feed streams, stops the periodic tombstone purge (waiting for
// a purge in progress), closes the backends that Initialize opened (not those given in
// Config), then flushes the metrics and waits up to 5 seconds for pending Sentry events.
// Call it once the server has stopped serving requests.
func (a *App) Close() error {
	a.stopPurgeJob()
	var errs []error
	if a.changes != nil {
		errs = append(errs, a.changes.Close()) // ends the streams before the backends go
	}
	for _, c := range a.opened {
		errs = append(errs, c.Close())
	}
	a.opened = nil
	if a.closeMonitoring != nil {
		errs = append(errs, a.closeMonitoring())
		a.closeMonitoring = nil
	}
	return errors.Join(errs...)
}

// middleware builds the stack installed on the root router, outermost first.
func (a *App) middleware() ([]func(http.Handler) http.Handler, error) {
	s := a.Settings
	mw := a.monitoringMiddleware() // logger, metrics, app context, Recover, Sentry

	// RetryAfter's work is done by contextMiddleware, in monitoringMiddleware.
	mw = append(mw, middleware.SecurityHeaders)
	if vary := s.List("vary"); len(vary) > 0 {
		mw = append(mw, middleware.Vary(vary...))
	}
	maxAge, _, _ := s.OptionalInt("cors_max_age_seconds")
	mw = append(mw, middleware.CORS(middleware.CORSOptions{Origins: s.List("cors_origins"), MaxAgeSeconds: maxAge}))
	if backoff, ok, _ := s.OptionalInt("backoff"); ok {
		pct, _, _ := s.OptionalInt("backoff_percentage")
		mw = append(mw, middleware.Backoff(backoff, pct))
	}
	eos, _ := s.Timestamp("eos")
	if !eos.IsZero() {
		mw = append(mw, middleware.Deprecation(eos, s.String("eos_message"), s.String("eos_url")))
	}
	if ro, _ := s.Bool("readonly"); ro {
		mw = append(mw, middleware.ReadOnly(a.Prefix+BatchPath))
	}
	if limit, _ := s.Int("max_request_body_bytes"); limit > 0 {
		mw = append(mw, middleware.MaxBodySize(int64(limit)))
	}
	// Resource events (events_app.go): the bus's Collect, outside the unit of work, gives the
	// request (and its batch sub-requests) its event record and delivers the After* events
	// once the unit of work is committed; fireEvents, inside it, delivers ResourceRead and
	// ResourceChanged before the commit, so that a failing listener rolls the unit back.
	mw = append(mw, middleware.DefaultCacheControl, a.authenticate, a.events.Collect(a.Prefix))
	if tx, _ := s.Bool("transaction_per_request"); tx && a.Storage != nil {
		mw = append(mw, Transaction(a.Storage))
	}
	mw = append(mw, a.fireEvents)
	return mw, nil
}

// requestContext returns ctx with the App, its ErrorWriter and an identity slot
// (authn.WithSlot) that the authentication middleware fills. The App's monitoring
// middleware calls it when it copies the request for its own state (see
// monitoring.RequestOptions.Context), so that the request is copied once for all of them.
func (a *App) requestContext(ctx context.Context) context.Context {
	return authn.WithSlot(protocol.WithErrorWriter(WithApp(ctx, a), a.errors))
}

// contextMiddleware serves the request through [middleware.Recover] and
// [middleware.RetryAfter] (with the retry_after_seconds setting), in that order: a panic's
// 500 is written outside RetryAfter. The request context carries the App's values
// (requestContext) from the monitoring middleware; a request that comes without them, as
// one served by another App's monitoring, gets them here.
func (a *App) contextMiddleware(next http.Handler) http.Handler {
	seconds, _ := a.Settings.Int("retry_after_seconds")
	inner := middleware.Recover(middleware.RetryAfter(seconds)(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if AppFrom(r.Context()) != a {
			r = r.WithContext(a.requestContext(r.Context()))
		}
		inner.ServeHTTP(w, r)
	})
}

// Migrate brings the schema of every backend of app (cache, storage, then permission) to the
// current version with its InitializeSchema; with dryRun the backends only report what they
// would do. In readonly mode the storage and permission backends are skipped with a warning,
// as kinto does. Everything is reported through app.Logger: the backends opened from the
// settings log there what they apply (or would apply), or that their schema is current; a
// backend without a schema (its InitializeSchema declines with ErrNotSupported) is logged as
// such.
func Migrate(ctx context.Context, app *App, dryRun bool) error {
	readonly, err := app.Settings.Bool("readonly")
	if err != nil {
		return err
	}
	type step struct {
		name string
		m    interface {
			InitializeSchema(context.Context, bool) error
		}
		skippedRO bool
	}
	var steps []step
	noSchema := func(name string, b any) {
		if b != nil {
			app.Logger.InfoContext(ctx, "backend has no schema to migrate", "backend", name, "type", fmt.Sprintf("%T", b))
		}
	}
	if app.Cache != nil {
		steps = append(steps, step{"cache", app.Cache, false})
	}
	if app.Storage != nil {
		steps = append(steps, step{"storage", app.Storage, readonly})
	}
	if app.Permission != nil {
		steps = append(steps, step{"permission", app.Permission, readonly})
	}
	for _, st := range steps {
		if st.skippedRO {
			app.Logger.WarnContext(ctx, "readonly mode: schema migration skipped", "backend", st.name)
			continue
		}
		app.Logger.InfoContext(ctx, "migrating schema", "backend", st.name, "dry_run", dryRun)
		if err := st.m.InitializeSchema(ctx, dryRun); errors.Is(err, errors.ErrUnsupported) {
			noSchema(st.name, st.m)
		} else if err != nil {
			return fmt.Errorf("cliquet: migrate %s: %w", st.name, err)
		}
	}
	return nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
