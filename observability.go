package cliquet

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// sentryFlushTimeout bounds how long [App.Close] waits for pending Sentry events.
const sentryFlushTimeout = 5 * time.Second

// setupMonitoring builds the logger (unless cfg.Logger is given), the StatsD metrics and the
// Sentry client from the settings. It runs once the project name and version are resolved,
// so that they name the logger, prefix the metrics and tag the Sentry release even when they
// come from Config rather than from the settings.
func (a *App) setupMonitoring(cfg Config) error {
	s := a.monitoringSettings()
	if _, err := monitoring.ParseRenderer(s.String("logging_renderer")); err != nil {
		return fmt.Errorf("cliquet: setting %q: %w", "logging_renderer", err)
	}
	if _, err := monitoring.ParseLevel(s.String("logging_level")); err != nil {
		return fmt.Errorf("cliquet: setting %q: %w", "logging_level", err)
	}
	a.Logger = cfg.Logger
	if a.Logger == nil {
		out := cfg.LogOutput
		if out == nil {
			out = os.Stderr
		}
		logger, err := monitoring.NewLoggerFromSettings(out, s)
		if err != nil {
			return err
		}
		a.Logger = logger
	}
	metrics, err := monitoring.NewMetricsFromSettings(s)
	if err != nil {
		return fmt.Errorf("cliquet: metrics settings (statsd_url, prometheus_*): %w", err)
	}
	sentry, err := monitoring.NewSentryFromSettings(s)
	if err != nil {
		metrics.Close() //nolint:errcheck // already failing
		return fmt.Errorf("cliquet: setting %q: %w", "sentry_dsn", err)
	}
	a.Metrics, a.sentry = metrics, sentry
	logger := a.Logger
	a.closeMonitoring = func() error {
		err := metrics.Close()
		if !sentry.Close(sentryFlushTimeout) {
			logger.Warn("sentry: pending events were not all sent before shutdown", "timeout", sentryFlushTimeout.String())
		}
		return err
	}
	return nil
}

// monitoringSettings returns the settings with project_name and project_version set to
// the resolved project identity when the settings leave them empty.
func (a *App) monitoringSettings() *config.Settings {
	s := a.Settings
	if s.String("project_name") == "" && a.ProjectName != "" {
		s = s.With("project_name", a.ProjectName)
	}
	if s.String("project_version") == "" && a.ProjectVersion != "" {
		s = s.With("project_version", a.ProjectVersion)
	}
	return s
}

// watchBackends decorates the backends with StatsD timers (storage.<name>.<method>, …) when
// metrics are enabled; without metrics the backends are left untouched, so the hot path
// pays nothing. The decorators forward every method of the backends' contracts, so that
// the backends keep every capability (units of work, the joint reads with the permission
// backend...). A backend is named after its setting
// (storage_backend, …); one given in Config is named "custom" unless that setting was set
// explicitly.
func (a *App) watchBackends(cfg Config) {
	if a.Metrics == nil {
		return
	}
	name := func(key string, given bool) string {
		n := a.Settings.String(key)
		if n == "" || given && a.Settings.Origin(key) == "default" {
			return "custom"
		}
		return monitoring.Name(n)
	}
	if a.Storage != nil {
		a.Storage = monitoring.WatchStorage(a.Storage, a.Metrics, name("storage_backend", cfg.Storage != nil))
	}
	if a.Cache != nil {
		a.Cache = monitoring.WatchCache(a.Cache, a.Metrics, name("cache_backend", cfg.Cache != nil))
	}
	if a.Permission != nil {
		a.Permission = monitoring.WatchPermission(a.Permission, a.Metrics, name("permission_backend", cfg.Permission != nil))
	}
}

// monitoringMiddleware returns the outermost layers of the stack: the request logger, the
// request metrics, the app context and recover, then Sentry, which reports a panic and
// panics again so that Recover, outside it, still answers 500.
func (a *App) monitoringMiddleware() []func(http.Handler) http.Handler {
	opts := monitoring.RequestOptions{RouteName: a.routeName, Context: a.requestContext}
	return []func(http.Handler) http.Handler{
		monitoring.RequestLogger(a.Logger, opts),
		monitoring.RequestMetrics(a.Metrics, opts),
		a.contextMiddleware, // also Recover's
		a.sentryMiddleware(opts),
	}
}

// sentryMiddleware is the Sentry middleware, except for the heartbeat view: its 503 is the
// expected answer while a backend is down, polled every few seconds by load balancers, and
// not an error to report.
func (a *App) sentryMiddleware(opts monitoring.RequestOptions) func(http.Handler) http.Handler {
	if a.sentry == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	mw := a.sentry.Middleware(opts)
	heartbeat := a.Prefix + "/__heartbeat__"
	return func(next http.Handler) http.Handler {
		reported := mw(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == heartbeat {
				next.ServeHTTP(w, r)
				return
			}
			reported.ServeHTTP(w, r)
		})
	}
}

// routeName names the route of r for the view.<route>.<METHOD> timer: its chi route pattern
// (see monitoring.Name), or "unmatched" when no route matched, including the requests that
// reached the versioned sub-router without matching any of its routes (their pattern is
// only the mount's "/v1/*"), so that scans of random URLs create no new metric names.
func (a *App) routeName(r *http.Request) string {
	rc := chi.RouteContext(r.Context())
	if rc == nil {
		return monitoring.Name(r.URL.Path)
	}
	p := rc.RoutePattern()
	if p == "" || p == a.Prefix+"/*" {
		return "unmatched"
	}
	return monitoring.Name(p)
}

// onError is the ErrorWriter hook: it records the errno for the request summary and reports
// the cause of 5xx responses to Sentry. Recovered panics were already reported by the Sentry
// middleware, with their stack.
func (a *App) onError(r *http.Request, e *protocol.Error, cause error) {
	monitoring.SetErrno(r.Context(), int(e.Errno))
	if e.Code >= 500 {
		var p *middleware.PanicError
		if !errors.As(cause, &p) {
			a.sentry.Capture(r.Context(), cause, r)
		}
	}
}

// MetricsPath is where the Prometheus metrics are served, under the version prefix, when
// prometheus_enabled is true (kinto's kinto.plugins.prometheus view).
const MetricsPath = "/__metrics__"

// mountPrometheus serves the app's Prometheus registry at MetricsPath (GET and HEAD, with
// no authentication, as kinto's view) and announces the "prometheus" capability, when
// prometheus_enabled is true; otherwise the path is not routed and answers 404.
func (a *App) mountPrometheus() error {
	p := a.Metrics.Prometheus()
	if p == nil {
		return nil
	}
	a.Router.Get(MetricsPath, p.ServeHTTP)
	a.Router.Head(MetricsPath, headOf(p.ServeHTTP))
	return a.AddCapability("prometheus", "Prometheus metrics.", "https://github.com/Kinto/kinto/",
		map[string]any{"prefix": p.Prefix(), "path": a.Prefix + MetricsPath})
}

// mountProfiler serves the Go runtime profiles on the root router, outside the version
// prefix, when profiler_enabled is true.
func (a *App) mountProfiler(router chi.Router) error {
	on, err := a.Settings.Bool("profiler_enabled")
	if err != nil || !on {
		return err
	}
	path := "/" + strings.Trim(a.Settings.String("profiler_path"), "/")
	if path == "/" || path == a.Prefix || strings.HasPrefix(path, a.Prefix+"/") {
		return fmt.Errorf("cliquet: setting %q = %q: want a path such as %q, outside the root and the version prefix %s",
			"profiler_path", a.Settings.String("profiler_path"), monitoring.DefaultProfilerPath, a.Prefix)
	}
	h := monitoring.Profiler(path)
	router.Handle(path, h)
	router.Handle(path+"/*", h)
	return nil
}
