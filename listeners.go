package cliquet

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/cliquet-go/cliquet/internal/registry"
)

// ListenerFactory builds a listener configured by the settings (the event_listeners setting).
// prefix is the settings prefix of the listener, "event_listeners.<name>."; the factory
// reads its own options under it (app.Settings.String(prefix + "url")). The returned
// io.Closer, which may be nil, is closed by [App.Close].
type ListenerFactory func(ctx context.Context, app *App, prefix string) (Listener, io.Closer, error)

// listeners is the registry of listener factories, the only package-level state of the
// events (write-once at init, like the backend registries).
var listeners = registry.New[ListenerFactory]("cliquet: event listener")

// RegisterListener makes a listener factory available to the event_listeners setting under
// name. Dotted Cliquet/Kinto paths resolve by their last segment
// ("cliquet.listeners.redis" is "redis"). It panics when name is empty or already
// registered; call it from an init function. The "redis" listener is built in.
func RegisterListener(name string, f ListenerFactory) {
	if f == nil {
		panic("cliquet: RegisterListener with a nil factory")
	}
	listeners.Register(name, f)
}

// Listeners returns the names of the registered listener factories, sorted.
func Listeners() []string { return listeners.Names() }

// setupListeners builds the listeners named in event_listeners and subscribes them
// (protocol.md 9). For each name, the factory is the registered one of that name (or of the
// last segment of a dotted path), else the one named by event_listeners.<name>.use. The
// listener receives the actions in event_listeners.<name>.actions (default create update
// delete; read is opt-in) of the resources in event_listeners.<name>.resources (default
// all): ResourceRead for read, ResourceChanged for the others. Its calls are timed in
// StatsD as listeners.<name>.
func (a *App) setupListeners(ctx context.Context) error {
	s := a.Settings
	for _, name := range s.List("event_listeners") {
		short := name
		if i := strings.LastIndexByte(name, '.'); i >= 0 {
			short = name[i+1:]
		}
		prefix := "event_listeners." + short + "."
		factory, err := listeners.Lookup(name)
		if err != nil {
			use := s.String("event_listeners." + name + ".use")
			if use == "" {
				return fmt.Errorf("cliquet: setting %q: %w", "event_listeners", err)
			}
			prefix = "event_listeners." + name + "."
			if factory, err = listeners.Lookup(use); err != nil {
				return fmt.Errorf("cliquet: setting %q: %w", prefix+"use", err)
			}
			short = name
		}
		actions := []Action{ActionCreate, ActionUpdate, ActionDelete}
		if names := s.List(prefix + "actions"); len(names) > 0 {
			actions = actions[:0:0]
			for _, n := range names {
				act, err := ParseAction(n)
				if err != nil {
					return fmt.Errorf("cliquet: setting %q: %w", prefix+"actions", err)
				}
				actions = append(actions, act)
			}
		}
		fn, closer, err := factory(ctx, a, prefix)
		if err != nil {
			return fmt.Errorf("cliquet: event listener %q: %w", name, err)
		}
		if closer != nil {
			a.opened = append(a.opened, closer)
		}
		if fn == nil {
			return fmt.Errorf("cliquet: event listener %q: the factory returned no listener", name)
		}
		sub := subscription{name: short, fn: fn,
			filters: []EventFilter{ForActions(actions...), ForResources(s.List(prefix + "resources")...)}}
		reads, writes := false, false
		for _, act := range actions {
			reads = reads || act == ActionRead
			writes = writes || act != ActionRead
		}
		if reads {
			a.subscribe(ResourceRead, sub)
		}
		if writes {
			a.subscribe(ResourceChanged, sub)
		}
		a.Logger.InfoContext(ctx, "event listener set up", "listener", name, "actions", fmt.Sprint(actions))
	}
	return nil
}
