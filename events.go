package cliquet

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// Resource events (protocol.md 9; docs/events.md).
//
// Every request gets an accumulator, created by the outermost dispatch and shared by the
// sub-requests of a batch. Resources record their events in it (see [AddResourceEvent]),
// merged per (resource, action, parent). At the end of the outermost request the events are
// delivered in two phases:
//
//   - ResourceRead and ResourceChanged, by fireEvents, which sits inside the Transaction
//     middleware: before the unit of work is committed, so a failing listener turns the
//     response into an error (500 unless it returns a *protocol.Error) and the unit of work
//     is rolled back;
//   - AfterResourceRead and AfterResourceChanged, by collectEvents, which sits outside the
//     Transaction middleware: once the unit of work is committed (a status below 500);
//     their errors and panics are only logged.
//
// Nothing is delivered when the request fails with a status of 500 or more.

// Action is what a resource event reports.
type Action string

// The actions of resource events.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
	ActionRead   Action = "read"
)

// ParseAction returns the Action named s ("create", "update", "delete" or "read").
func ParseAction(s string) (Action, error) {
	switch a := Action(strings.ToLower(strings.TrimSpace(s))); a {
	case ActionCreate, ActionUpdate, ActionDelete, ActionRead:
		return a, nil
	}
	return "", fmt.Errorf("cliquet: unknown event action %q (want create, update, delete or read)", s)
}

// EventKind is when a subscriber is called.
type EventKind int

// The event kinds. Read events carry [Event.Read]; the others carry [Event.Impacted].
const (
	// ResourceRead is delivered before the unit of work is committed; an error fails the
	// request.
	ResourceRead EventKind = iota + 1
	// ResourceChanged is delivered before the unit of work is committed; an error fails the
	// request (500, or the *protocol.Error returned) and rolls the unit of work back.
	ResourceChanged
	// AfterResourceRead is delivered after the request succeeded; errors are only logged.
	AfterResourceRead
	// AfterResourceChanged is delivered after the unit of work was committed; errors are
	// only logged.
	AfterResourceChanged
)

// String returns the kind's name, "ResourceChanged".
func (k EventKind) String() string {
	switch k {
	case ResourceRead:
		return "ResourceRead"
	case ResourceChanged:
		return "ResourceChanged"
	case AfterResourceRead:
		return "AfterResourceRead"
	case AfterResourceChanged:
		return "AfterResourceChanged"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// after reports whether k is delivered after the commit.
func (k EventKind) after() bool { return k == AfterResourceRead || k == AfterResourceChanged }

// kindFor returns the kind under which an event of action a is delivered.
func kindFor(a Action, after bool) EventKind {
	switch {
	case a == ActionRead && after:
		return AfterResourceRead
	case a == ActionRead:
		return ResourceRead
	case after:
		return AfterResourceChanged
	}
	return ResourceChanged
}

// Impacted is one object written by a request. New is the object as stored (a tombstone for a
// deletion); Old is the object before the write, nil on creation.
type Impacted struct {
	New *storage.Object `json:"new,omitempty"`
	Old *storage.Object `json:"old,omitempty"`
}

// Event is one resource event: the objects of one resource, under one parent, affected by
// one action during a request (or a whole batch). Listeners receive a copy and must not
// modify its slices, maps or objects, which other listeners share.
type Event struct {
	// Kind is when the event is delivered; set on delivery.
	Kind EventKind
	// Action is what happened.
	Action Action
	// ResourceName is the name of the resource ("bookmark").
	ResourceName string
	// Parent is the parent id of the objects (their storage scope); not in the payload.
	Parent string
	// URI is the path of the request that produced the event, without the version prefix
	// ("/bookmarks/abc"). For merged events, the first request's.
	URI string
	// UserID is the prefixed id of the user ("basicauth:…"), "" when anonymous.
	UserID string
	// Timestamp is the collection timestamp (epoch milliseconds) after the action.
	Timestamp int64
	// Params are the URL parameters of the request, with "id" renamed "<resource>_id"
	// ("bookmark_id").
	Params map[string]string
	// Impacted are the written objects (create, update, delete events).
	Impacted []Impacted
	// Read are the objects read (read events).
	Read []storage.Object
}

// Payload returns the event's payload as protocol.md 9 defines it (what the Redis listener
// pushes): action, uri, resource_name, user_id (null when anonymous), timestamp, and the URL
// parameters. Objects are not part of it.
func (e Event) Payload() map[string]any {
	p := make(map[string]any, len(e.Params)+5)
	for k, v := range e.Params {
		p[k] = v
	}
	p["action"] = string(e.Action)
	p["uri"] = e.URI
	p["resource_name"] = e.ResourceName
	p["timestamp"] = e.Timestamp
	if e.UserID == "" {
		p["user_id"] = nil
	} else {
		p["user_id"] = e.UserID
	}
	return p
}

// String returns "<ResourceChanged action=create uri=/bookmarks>".
func (e Event) String() string {
	return fmt.Sprintf("<%s action=%s uri=%s>", e.Kind, e.Action, e.URI)
}

// Listener is called with each event it subscribed to, on the request's goroutine.
type Listener func(ctx context.Context, e Event) error

// EventFilter selects the events a subscriber receives; all filters must accept an event.
type EventFilter func(e Event) bool

// ForActions accepts the events of the given actions.
func ForActions(actions ...Action) EventFilter {
	return func(e Event) bool { return slices.Contains(actions, e.Action) }
}

// ForResources accepts the events of the given resource names; no name accepts all.
func ForResources(names ...string) EventFilter {
	return func(e Event) bool { return len(names) == 0 || slices.Contains(names, e.ResourceName) }
}

type subscription struct {
	name    string // listener name for StatsD ("listeners.<name>"); "" for Go subscribers
	fn      Listener
	filters []EventFilter
}

// eventBus holds an App's subscriptions. The zero value is ready to use.
type eventBus struct {
	mu   sync.RWMutex
	subs map[EventKind][]subscription
}

func (b *eventBus) add(kind EventKind, s subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[EventKind][]subscription{}
	}
	b.subs[kind] = append(b.subs[kind], s)
}

func (b *eventBus) list(kind EventKind) []subscription {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.subs[kind]
}

// empty reports whether there is no subscription at all.
func (b *eventBus) empty() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs) == 0
}

func (b *eventBus) has(kinds ...EventKind) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, k := range kinds {
		if len(b.subs[k]) > 0 {
			return true
		}
	}
	return false
}

// Subscribe calls fn with every event of kind that all filters accept (see [ForActions] and
// [ForResources]). Subscribers of one kind are called in subscription order. Subscribe
// early, before the app serves requests: a subscription made while a request is being
// served may miss its events. It panics on an invalid kind or a nil fn.
func (a *App) Subscribe(kind EventKind, fn Listener, filters ...EventFilter) {
	a.subscribe(kind, subscription{fn: fn, filters: filters})
}

func (a *App) subscribe(kind EventKind, s subscription) {
	if kind < ResourceRead || kind > AfterResourceChanged {
		panic(fmt.Sprintf("cliquet: Subscribe with an invalid event kind %d", int(kind)))
	}
	if s.fn == nil {
		panic("cliquet: Subscribe with a nil listener")
	}
	a.events.add(kind, s)
}

// deliver calls the subscribers of e.Kind that accept e and returns the first error.
func (a *App) deliver(ctx context.Context, e Event) error {
	for _, s := range a.events.list(e.Kind) {
		accepted := true
		for _, f := range s.filters {
			accepted = accepted && f(e)
		}
		if !accepted {
			continue
		}
		start := time.Now()
		err := s.fn(ctx, e)
		if s.name != "" {
			a.Metrics.Timing("listeners."+s.name, time.Since(start))
		}
		if err != nil {
			return fmt.Errorf("cliquet: %s listener: %w", e.Kind, err)
		}
	}
	return nil
}

// groupKey merges the events of one request (protocol.md 1.6: per resource, action and parent).
type groupKey struct {
	resource, parent string
	action           Action
}

// accumulator is the list of events of one outermost request, shared by its sub-requests.
type accumulator struct {
	mu     sync.Mutex
	events []*Event
	open   map[groupKey]int // events that may still be merged into
	failed bool             // a before-commit listener failed
}

func (acc *accumulator) add(e Event) {
	acc.mu.Lock()
	defer acc.mu.Unlock()
	k := groupKey{e.ResourceName, e.Parent, e.Action}
	if i, ok := acc.open[k]; ok {
		cur := acc.events[i]
		cur.Impacted = append(cur.Impacted, e.Impacted...)
		cur.Read = append(cur.Read, e.Read...)
		return
	}
	if acc.open == nil {
		acc.open = map[groupKey]int{}
	}
	e.Impacted = slices.Clone(e.Impacted)
	e.Read = slices.Clone(e.Read)
	acc.open[k] = len(acc.events)
	acc.events = append(acc.events, &e)
}

// next returns a copy of event i, and closes it to merging (events recorded later, such as
// those a listener records, form a new event). ok is false past the end.
func (acc *accumulator) next(i int, close bool) (e Event, ok bool) {
	acc.mu.Lock()
	defer acc.mu.Unlock()
	if i >= len(acc.events) {
		return Event{}, false
	}
	e = *acc.events[i]
	if close {
		k := groupKey{e.ResourceName, e.Parent, e.Action}
		if j, ok := acc.open[k]; ok && j == i {
			delete(acc.open, k)
		}
	}
	return e, true
}

// frame is what one dispatch (a request or a batch sub-request) puts in its context.
type frame struct {
	app  *App
	acc  *accumulator
	path string // the dispatched URL path
	root bool   // the outermost request
}

type eventsKey struct{}

func frameFrom(ctx context.Context) *frame {
	f, _ := ctx.Value(eventsKey{}).(*frame)
	return f
}

// WantsEvents reports whether an event of action recorded in ctx would reach a subscriber:
// the request collects events and the app has subscribers of the matching kinds. Resources
// call it to skip building events nobody listens to.
func WantsEvents(ctx context.Context, action Action) bool {
	f := frameFrom(ctx)
	if f == nil {
		return false
	}
	return f.app.events.has(kindFor(action, false), kindFor(action, true))
}

// AddResourceEvent records e in the request of ctx and reports whether it did (false outside
// a request served by an App, or for an event without action or resource name). An event
// with the same resource name, action and parent as one already recorded in the request (or
// batch) is merged into it: its Impacted or Read objects are appended. Empty URI, UserID and
// Params are filled from the request: the dispatched path without the version prefix, the
// authenticated user and the URL parameters ("id" renamed "<resource>_id"). Events recorded
// by a ResourceRead or ResourceChanged listener are delivered after the current one.
func AddResourceEvent(ctx context.Context, e Event) bool {
	f := frameFrom(ctx)
	if f == nil || e.Action == "" || e.ResourceName == "" {
		return false
	}
	if e.URI == "" {
		e.URI = f.path
		if rest, ok := strings.CutPrefix(e.URI, f.app.Prefix); ok && f.app.Prefix != "" {
			e.URI = rest
			if e.URI == "" {
				e.URI = "/"
			}
		}
	}
	if e.UserID == "" {
		e.UserID = authn.IdentityFrom(ctx).UserID
	}
	if e.Params == nil {
		e.Params = map[string]string{}
		if rc := chi.RouteContext(ctx); rc != nil {
			for i, k := range rc.URLParams.Keys {
				if k == "*" || k == "" || i >= len(rc.URLParams.Values) {
					continue
				}
				if k == "id" {
					k = e.ResourceName + "_id"
				}
				e.Params[k] = rc.URLParams.Values[i]
			}
		}
	}
	e.Kind = 0
	f.acc.add(e)
	return true
}

// collectEvents gives each request its event accumulator (shared by batch sub-requests) and,
// for the outermost request, delivers the After* events once the request (and so its unit of
// work, see [Transaction]) has succeeded.
func (a *App) collectEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if a.events.empty() {
			// Nobody listens (Subscribe is documented to be called before serving): no
			// accumulator, no frame; WantsEvents and AddResourceEvent answer false.
			next.ServeHTTP(w, r)
			return
		}
		if parent := frameFrom(ctx); parent != nil && parent.app == a {
			f := &frame{app: a, acc: parent.acc, path: r.URL.Path}
			next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, eventsKey{}, f)))
			return
		}
		f := &frame{app: a, acc: &accumulator{}, path: r.URL.Path, root: true}
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, eventsKey{}, f)))
		if sw.status() >= 500 || f.acc.failed || !a.events.has(AfterResourceRead, AfterResourceChanged) {
			return
		}
		for i := 0; ; i++ {
			e, ok := f.acc.next(i, false)
			if !ok {
				break
			}
			e.Kind = kindFor(e.Action, true)
			if err := a.deliverAfter(ctx, e); err != nil {
				logFrom(r).ErrorContext(ctx, "event listener failed", "event", e.String(), "error", err.Error())
			}
		}
	})
}

// deliverAfter delivers e, turning a listener's panic into an error.
func (a *App) deliverAfter(ctx context.Context, e Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("cliquet: %s listener panicked: %v", e.Kind, p)
		}
	}()
	return a.deliver(ctx, e)
}

// fireEvents delivers ResourceRead and ResourceChanged at the end of the outermost request,
// inside its unit of work. The response is held meanwhile: when a listener fails, it is
// replaced by the listener's error (500 unless a *protocol.Error), so that [Transaction]
// rolls the unit of work back.
func (a *App) fireEvents(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := frameFrom(r.Context())
		if f == nil || !f.root || f.app != a || !a.events.has(ResourceRead, ResourceChanged) || WantsEventStream(r) {
			// A change feed (WantsEventStream) records no event and must not be held.
			next.ServeHTTP(w, r)
			return
		}
		RequireTransaction(r.Context()) // a failing listener must be able to roll the write back
		bw := &bufferedWriter{header: w.Header().Clone()}
		next.ServeHTTP(bw, r)
		if bw.status() < 500 {
			if err := a.fireBefore(r.Context(), f.acc); err != nil {
				f.acc.failed = true
				vetoCommit(r.Context()) // roll back even when the listener answers a 4xx
				protocol.WriteError(w, r, err)
				return
			}
		}
		bw.flushTo(w)
	})
}

// fireBefore delivers the before-commit events, including those recorded by listeners.
func (a *App) fireBefore(ctx context.Context, acc *accumulator) error {
	for i := 0; ; i++ {
		e, ok := acc.next(i, true)
		if !ok {
			return nil
		}
		e.Kind = kindFor(e.Action, false)
		if err := a.deliver(ctx, e); err != nil {
			return err
		}
	}
}

// statusWriter records the response status.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}

// Unwrap gives http.ResponseController access to the underlying writer.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
