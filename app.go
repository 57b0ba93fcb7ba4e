package cliquet

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
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
	// Router is the sub-router mounted under Prefix; resource.Register mounts routes on it.
	// Routes added to it are also added to the router given to Initialize, under Prefix,
	// so that a request is routed in one pass instead of two, with the same precedence
	// between routes; chi.Walk, Match and Find see them relative to Prefix. Add versioned
	// routes here rather than on the root router under Prefix: a root route there turns
	// the copies off, and one added after them competes with them by chi's precedence.
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
	authenticators atomic.Pointer[[]Authenticator]
	events         eventBus    // resource event subscriptions (events.go)
	changes        *feed.Hub   // the change feed hub (feed.go); nil when disabled
	api            apiRegistry // OpenAPI describers and the cached document (openapi.go)

	versionOnce sync.Mutex
	versionJSON []byte // the version file, cached after its first successful read
}

// Identity is who made a request, as established by the authentication policies.
type Identity struct {
	// UserID is the prefixed user id ("basicauth:2f7a…"), or "" when anonymous.
	UserID string
	// AuthType is the name of the policy that authenticated the request ("basicauth").
	AuthType string
	// Principals are system.Everyone, plus, when authenticated, system.Authenticated and
	// the user id. The user's groups are not among them: [Identity.AllPrincipals] adds them,
	// reading the permission backend once per request, and only when something needs them
	// (a permission check may instead read them in the same round trip as the ACLs).
	Principals []string

	groups *groups // how AllPrincipals finds the groups; nil: there are none
}

// groups resolves the groups of one identity, once (a failure is not kept: the next call
// asks again).
type groups struct {
	mu     sync.Mutex
	done   bool
	perms  permission.Backend
	all    []string
	inline [6]string // all's array for up to three groups
}

// Authenticated reports whether the request carried valid credentials.
func (id Identity) Authenticated() bool { return id.UserID != "" }

// AllPrincipals returns Principals followed by the user's groups (the extra principals the
// permission backend gives the user id and system.Authenticated: see
// permission.Backend.UserPrincipals). The groups are read at the first call for a request
// (with that call's ctx) and kept for the rest of it; an error of the permission backend
// is returned (the protocol answers it 503) and not kept. The result is shared: copy it before
// appending.
func (id Identity) AllPrincipals(ctx context.Context) ([]string, error) {
	g := id.groups
	if g == nil || !id.Authenticated() {
		return id.Principals, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return g.all, nil
	}
	extra, err := g.perms.UserPrincipals(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	all := append(g.inline[:0], id.Principals...)
	for _, p := range extra {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	g.all, g.done = all[:len(all):len(all)], true
	return g.all, nil
}

type ctxKey struct{ name string }

var (
	appKey      = &ctxKey{"app"}
	identityKey = &ctxKey{"identity"}
	// requestContextKey is answered by a *requestContext with itself (cliquet.go).
	requestContextKey = &ctxKey{"request context"}
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

// WithIdentity returns a context carrying id (installed by the authentication middleware).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey, id)
}

// IdentityFrom returns the identity of the request; the zero Identity (anonymous, with
// system.Everyone as its only principal) when none was established.
func IdentityFrom(ctx context.Context) Identity {
	switch id := ctx.Value(identityKey).(type) {
	case Identity: // WithIdentity
		return id
	case *Identity: // the App's request context (cliquet.go), which holds it unboxed
		return *id
	}
	return Identity{Principals: []string{permission.Everyone}}
}
