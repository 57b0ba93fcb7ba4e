package cliquet

import (
	"net/http"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/protocol"
)

// Resource events (package events; docs/events.md). The App's bus collects the events of
// each request outside the unit of work and delivers the After* events after its commit
// (events.Bus.Collect); fireEvents, inside the unit of work, delivers ResourceRead and
// ResourceChanged before the commit, so that a failing listener rolls the unit back.

// Subscribe calls fn with every event of kind that all filters accept (see
// [events.ForActions] and [events.ForResources]). Subscribers of one kind are called in
// subscription order. Subscribe early, before the app serves requests: a subscription made
// while a request is being served may miss its events. It panics on an invalid kind or a
// nil fn.
func (a *App) Subscribe(kind events.EventKind, fn events.Listener, filters ...events.EventFilter) {
	a.events.Subscribe(kind, fn, filters...)
}

// fireEvents delivers ResourceRead and ResourceChanged at the end of the outermost request,
// inside its unit of work. The response is held meanwhile: when a listener fails, it is
// replaced by the listener's error (500 unless a *protocol.Error), so that [Transaction]
// rolls the unit of work back.
func (a *App) fireEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.events.HoldsBefore(r.Context()) || WantsEventStream(r) {
			// A change feed (WantsEventStream) records no event and must not be held.
			next.ServeHTTP(w, r)
			return
		}
		RequireTransaction(r.Context()) // a failing listener must be able to roll the write back
		bw := &bufferedWriter{header: w.Header().Clone()}
		next.ServeHTTP(bw, r)
		if bw.status() < 500 {
			if err := a.events.FireBefore(r.Context()); err != nil {
				vetoCommit(r.Context()) // roll back even when the listener answers a 4xx
				protocol.WriteError(w, r, err)
				return
			}
		}
		bw.flushTo(w)
	})
}
