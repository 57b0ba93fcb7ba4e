package cliquet

import (
	"context"
	"fmt"
	"strings"

	"github.com/cliquet-go/cliquet/events"
)

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
		factory, err := events.LookupListener(name)
		if err != nil {
			use := s.String("event_listeners." + name + ".use")
			if use == "" {
				return fmt.Errorf("cliquet: setting %q: %w", "event_listeners", err)
			}
			prefix = "event_listeners." + name + "."
			if factory, err = events.LookupListener(use); err != nil {
				return fmt.Errorf("cliquet: setting %q: %w", prefix+"use", err)
			}
			short = name
		}
		actions := []events.Action{events.ActionCreate, events.ActionUpdate, events.ActionDelete}
		if names := s.List(prefix + "actions"); len(names) > 0 {
			actions = actions[:0:0]
			for _, n := range names {
				act, err := events.ParseAction(n)
				if err != nil {
					return fmt.Errorf("cliquet: setting %q: %w", prefix+"actions", err)
				}
				actions = append(actions, act)
			}
		}
		fn, closer, err := factory(ctx, events.ListenerConfig{Settings: s, Prefix: prefix, Logger: a.Logger})
		if err != nil {
			return fmt.Errorf("cliquet: event listener %q: %w", name, err)
		}
		if closer != nil {
			a.opened = append(a.opened, closer)
		}
		if fn == nil {
			return fmt.Errorf("cliquet: event listener %q: the factory returned no listener", name)
		}
		filters := []events.EventFilter{events.ForActions(actions...), events.ForResources(s.List(prefix + "resources")...)}
		reads, writes := false, false
		for _, act := range actions {
			reads = reads || act == events.ActionRead
			writes = writes || act != events.ActionRead
		}
		if reads {
			a.events.SubscribeListener(short, events.ResourceRead, fn, filters...)
		}
		if writes {
			a.events.SubscribeListener(short, events.ResourceChanged, fn, filters...)
		}
		a.Logger.InfoContext(ctx, "event listener set up", "listener", name, "actions", fmt.Sprint(actions))
	}
	return nil
}
