package events

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/monitoring"
)

// Bus holds the subscriptions of one application and delivers the events its requests
// record. cliquet.App owns one; App.Subscribe adds to it. It is safe for concurrent use.
type Bus struct {
	logger  *slog.Logger
	metrics *monitoring.Metrics

	mu   sync.RWMutex
	subs map[EventKind][]subscription
}

type subscription struct {
	name    string // listener name for StatsD ("listeners.<name>"); "" for Go subscribers
	fn      Listener
	filters []EventFilter
}

// NewBus returns a bus without subscriptions. logger receives the errors of the listeners
// called after the commit (nil: slog.Default()); metrics, which may be nil, times the
// listeners subscribed with [Bus.SubscribeListener].
func NewBus(logger *slog.Logger, metrics *monitoring.Metrics) *Bus {
	if logger == nil {
		logger = slog.Default()
	}
	return &Bus{logger: logger, metrics: metrics}
}

// Subscribe calls fn with every event of kind that all filters accept (see [ForActions] and
// [ForResources]). Subscribers of one kind are called in subscription order. Subscribe
// early, before requests are served: a subscription made while a request is being served
// may miss its events. It panics on an invalid kind or a nil fn.
func (b *Bus) Subscribe(kind EventKind, fn Listener, filters ...EventFilter) {
	b.add(kind, subscription{fn: fn, filters: filters})
}

// SubscribeListener is [Bus.Subscribe] for a listener configured by name (the
// event_listeners setting): its calls are timed in the metrics as listeners.<name>.
func (b *Bus) SubscribeListener(name string, kind EventKind, fn Listener, filters ...EventFilter) {
	b.add(kind, subscription{name: name, fn: fn, filters: filters})
}

func (b *Bus) add(kind EventKind, s subscription) {
	if kind < ResourceRead || kind > AfterResourceChanged {
		panic(fmt.Sprintf("events: Subscribe with an invalid event kind %d", int(kind)))
	}
	if s.fn == nil {
		panic("events: Subscribe with a nil listener")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs == nil {
		b.subs = map[EventKind][]subscription{}
	}
	b.subs[kind] = append(b.subs[kind], s)
}

func (b *Bus) list(kind EventKind) []subscription {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.subs[kind]
}

// empty reports whether there is no subscription at all.
func (b *Bus) empty() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs) == 0
}

// has reports whether one of kinds has a subscriber.
func (b *Bus) has(kinds ...EventKind) bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for _, k := range kinds {
		if len(b.subs[k]) > 0 {
			return true
		}
	}
	return false
}

// deliver calls the subscribers of e.Kind that accept e and returns the first error.
func (b *Bus) deliver(ctx context.Context, e Event) error {
	for _, s := range b.list(e.Kind) {
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
			b.metrics.Timing("listeners."+s.name, time.Since(start))
		}
		if err != nil {
			return fmt.Errorf("events: %s listener: %w", e.Kind, err)
		}
	}
	return nil
}

// deliverAfter delivers e, turning a listener's panic into an error.
func (b *Bus) deliverAfter(ctx context.Context, e Event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("events: %s listener panicked: %v", e.Kind, p)
		}
	}()
	return b.deliver(ctx, e)
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
	bus    *Bus
	acc    *accumulator
	path   string // the dispatched URL path
	prefix string // the version prefix, trimmed from the path for Event.URI
	root   bool   // the outermost request
}

type frameKey struct{}

func frameFrom(ctx context.Context) *frame {
	f, _ := ctx.Value(frameKey{}).(*frame)
	return f
}

// Wanted reports whether an event of action recorded in ctx would reach a subscriber: the
// request collects events and its bus has subscribers of the matching kinds. Resources call
// it to skip building events nobody listens to.
func Wanted(ctx context.Context, action Action) bool {
	f := frameFrom(ctx)
	if f == nil {
		return false
	}
	return f.bus.has(kindFor(action, false), kindFor(action, true))
}

// Record records e in the request of ctx and reports whether it did (false outside a
// request whose events are collected, or for an event without action or resource name).
// An event with the same resource name, action and parent as one already recorded in the
// request (or batch) is merged into it: its Impacted or Read objects are appended. Empty
// URI, UserID and Params are filled from the request: the dispatched path without the
// version prefix, the authenticated user (authn.IdentityFrom) and the URL parameters ("id"
// renamed "<resource>_id"). Events recorded by a ResourceRead or ResourceChanged listener
// are delivered after the current one.
func Record(ctx context.Context, e Event) bool {
	f := frameFrom(ctx)
	if f == nil || e.Action == "" || e.ResourceName == "" {
		return false
	}
	if e.URI == "" {
		e.URI = f.path
		if rest, ok := strings.CutPrefix(e.URI, f.prefix); ok && f.prefix != "" {
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

// Collect returns the middleware that gives each request its event record (shared by batch
// sub-requests, which run under the batch request's context) and, for the outermost
// request, delivers the After* events once the request has succeeded. prefix is the
// version prefix ("/v1"), trimmed from the paths of the events. Install it outside the
// unit of work, so that the After* events are delivered after its commit.
func (b *Bus) Collect(prefix string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			if b.empty() {
				// Nobody listens (subscriptions are made before serving): no record, no
				// frame; Wanted and Record answer false.
				next.ServeHTTP(w, r)
				return
			}
			if parent := frameFrom(ctx); parent != nil && parent.bus == b {
				f := &frame{bus: b, acc: parent.acc, path: r.URL.Path, prefix: prefix}
				next.ServeHTTP(w, r.WithContext(context.WithValue(ctx, frameKey{}, f)))
				return
			}
			f := &frame{bus: b, acc: &accumulator{}, path: r.URL.Path, prefix: prefix, root: true}
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r.WithContext(context.WithValue(ctx, frameKey{}, f)))
			if sw.status() >= 500 || f.acc.failed || !b.has(AfterResourceRead, AfterResourceChanged) {
				return
			}
			for i := 0; ; i++ {
				e, ok := f.acc.next(i, false)
				if !ok {
					break
				}
				e.Kind = kindFor(e.Action, true)
				if err := b.deliverAfter(ctx, e); err != nil {
					b.logger.ErrorContext(ctx, "event listener failed", "event", e.String(), "error", err.Error())
				}
			}
		})
	}
}

// HoldsBefore reports whether ctx is the outermost request collected by b and b has
// ResourceRead or ResourceChanged subscribers: the unit of work must then hold the
// response, call [Bus.FireBefore] once the handler is done, and commit only when it
// succeeds.
func (b *Bus) HoldsBefore(ctx context.Context) bool {
	f := frameFrom(ctx)
	return f != nil && f.root && f.bus == b && b.has(ResourceRead, ResourceChanged)
}

// FireBefore delivers the ResourceRead and ResourceChanged events recorded in the outermost
// request of ctx, including those that listeners record meanwhile, and returns the first
// error. After an error, the request's After* events are not delivered.
func (b *Bus) FireBefore(ctx context.Context) error {
	f := frameFrom(ctx)
	if f == nil || f.bus != b {
		return nil
	}
	for i := 0; ; i++ {
		e, ok := f.acc.next(i, true)
		if !ok {
			return nil
		}
		e.Kind = kindFor(e.Action, false)
		if err := b.deliver(ctx, e); err != nil {
			f.acc.failed = true
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
