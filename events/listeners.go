package events

import (
	"context"
	"io"
	"log/slog"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/registry"
)

// ListenerConfig is what a [ListenerFactory] is given to build one listener of the
// event_listeners setting.
type ListenerConfig struct {
	// Settings are the application's settings.
	Settings *config.Settings
	// Prefix is the settings prefix of the listener, "event_listeners.<name>."; the
	// factory reads its own options under it (Settings.String(Prefix + "url")).
	Prefix string
	// Logger is the application's logger.
	Logger *slog.Logger
}

// ListenerFactory builds a listener configured by the settings (the event_listeners
// setting). The returned io.Closer, which may be nil, is closed with the application.
type ListenerFactory func(ctx context.Context, cfg ListenerConfig) (Listener, io.Closer, error)

// listeners is the registry of listener factories: written at init time only, like the
// backend registries of storage, cache and permission.
var listeners = registry.New[ListenerFactory]("event listener")

// RegisterListener makes a listener factory available to the event_listeners setting under
// name. Dotted Cliquet/Kinto paths resolve by their last segment
// ("cliquet.listeners.redis" is "redis"). It panics when name is empty or already
// registered; call it from an init function, as package events/redislistener does for
// "redis".
func RegisterListener(name string, f ListenerFactory) {
	if f == nil {
		panic("events: RegisterListener with a nil factory")
	}
	listeners.Register(name, f)
}

// Listeners returns the names of the registered listener factories, sorted.
func Listeners() []string { return listeners.Names() }

// LookupListener returns the factory registered under name (or under the last segment of a
// dotted path); the error lists the registered names.
func LookupListener(name string) (ListenerFactory, error) { return listeners.Lookup(name) }
