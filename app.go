package cliquet

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
)

// App is the handle returned by Initialize: the loaded settings, the opened backends, and the
// versioned router on which resources and custom views are mounted. Its fields are set by
// Initialize and must not be reassigned afterwards. It is safe for concurrent use.
type App struct {
	// Settings are the resolved settings (defaults, .ini file, environment).
	Settings *config.Settings
	// Storage, Cache and Permission are the backends chosen by storage_backend,
	// cache_backend and permission_backend (or given in Config).
	Storage    storage.Backend
	Cache      cache.Backend
	Permission permission.Backend
	// Logger receives the toolkit's logs, including the request summaries.
	Logger *slog.Logger
	// Metrics sends StatsD metrics (setting statsd_url) and records Prometheus metrics
	// (setting prometheus_enabled; see Metrics.Prometheus). It is nil when both are
	// disabled, which is valid: a nil *monitoring.Metrics discards everything, so views may
	// record their own metrics without checking.
	Metrics *monitoring.Metrics
	// Router is the chi sub-router mounted under Prefix; resource.Register mounts routes on
	// it, and so should custom versioned views (patterns relative to the prefix, "/scores").
	// Like any chi router that has routes, it refuses Use: add middleware with With or
	// Group.
	Router chi.Router
	// Prefix is the version prefix, "/v1".
	Prefix string
	// ProjectName, ProjectVersion and HTTPAPIVersion are the resolved project identity.
	ProjectName, ProjectVersion, HTTPAPIVersion string

	root   chi.Router            // the router given to Initialize
	errors *protocol.ErrorWriter // renders this app's errors
	opened []io.Closer           // backends opened by Initialize, closed by Close
	sentry *monitoring.Sentry    // error reports (setting sentry_dsn); nil when disabled
	// closeMonitoring flushes the metrics and the Sentry events; Close calls it once.
	closeMonitoring func() error
	purge           *purgeJob // the periodic tombstone purge (purge.go); nil when off

	mu             sync.RWMutex
	heartbeats     map[string]HeartbeatFunc
	capabilities   map[string]map[string]any
	userInfo       []UserInfoFunc // hello's "user" additions (hello.go)
	publicSettings []string
	// authenticators is the authentication chain, read without the lock on every request:
	// it is replaced, never modified in place, and its writers hold mu.
	authenticators atomic.Pointer[[]authn.Authenticator]
	events         *events.Bus // resource event subscriptions (events_app.go)
	changes        *feed.Hub   // the change feed hub (feed.go); nil when disabled
	api            apiRegistry // OpenAPI describers and the cached document (openapi.go)

	versionOnce sync.Mutex
	versionJSON []byte // the version file, cached after its first successful read
}

type ctxKey struct{ name string }

var (
	appKey = &ctxKey{"app"}
)

// WithApp returns a context carrying app (installed by the toolkit's middleware).
func WithApp(ctx context.Context, app *App) context.Context {
	return context.WithValue(ctx, appKey, app)
}

// AppFrom returns the App serving the request, or nil outside a cliquet request.
func AppFrom(ctx context.Context) *App {
	a, _ := ctx.Value(appKey).(*App)
	return a
}

// StorageFrom returns the storage backend of the App serving the request, for custom views
// that store data themselves (nil outside a cliquet request).
func StorageFrom(ctx context.Context) storage.Backend {
	if a := AppFrom(ctx); a != nil {
		return a.Storage
	}
	return nil
}
