// Package monitoring provides the observability building blocks of the toolkit: structured
// request logs, StatsD metrics, Sentry error reports and runtime profiles. Every piece is a
// plain constructor or a func(http.Handler) http.Handler middleware, so it works with any
// net/http stack; cliquet.Initialize installs them from the settings.
//
// # Logging
//
// [NewLogger] returns a *slog.Logger writing one line per record, either as a mozlog JSON
// object (setting logging_renderer = json, the default) or as a readable line
// (logging_renderer = text). [RequestLogger] writes one "request.summary" record per
// request (method, path, querystring, code, errno, t, uid, agent, lang, rid, …) and manages
// the request id ([RequestID], header X-Request-Id). Inner layers enrich the record with
// [SetUser], [SetErrno] and [AddFields]; the batch endpoint marks sub-requests with
// [WithSubrequest] so that they log "subrequest.summary".
//
// # Metrics
//
// [NewStatsD] connects to a StatsD server (setting statsd_url). A nil *[Metrics] discards
// everything, so code never checks whether StatsD is configured. [WatchStorage],
// [WatchCache] and [WatchPermission] time every backend method (storage.<name>.<method>, …),
// forwarding every method of the backend's contract, so that the backend they wrap keeps
// all its capabilities (and declines what it declines), and [RequestMetrics]
// records per-view timers, status code and authentication counters and the unique users set.
//
// # Sentry
//
// [NewSentry] (setting sentry_dsn) returns a [Sentry] whose [Sentry.Middleware] reports
// panics and 5xx responses, and whose [Sentry.Capture] lets the error writer report the
// cause of a 5xx. Credentials (Authorization, Cookie) are never sent.
//
// # Profiling
//
// [Profiler] serves Go runtime profiles (CPU, heap, goroutines, traces) in the pprof
// formats under a private path (setting profiler_path, default /__profiler__), mounted only
// when profiler_enabled is true. It must never be reachable from the public network.
//
// # Order of the middleware
//
// From the outside in: RequestLogger, RequestMetrics, the recover middleware,
// Sentry.Middleware, authentication (which calls SetUser), then the handlers (whose error
// writer calls SetErrno and, for 5xx, Sentry.Capture). The first monitoring middleware of a
// request wraps the ResponseWriter once; the others share its state.
//
// docs/operations.md lists every log field, metric name and setting.
package monitoring
