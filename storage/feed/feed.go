// Package feed fans the changes committed to a storage backend out to the subscribers of one
// process: the change feeds that the resource layer serves as Server-Sent Events.
//
// # How changes travel
//
// A [Hub] listens to its backend ([storage.Backend.Listen]: PostgreSQL LISTEN/NOTIFY, Redis
// pub/sub, in process on memory) on one connection, whatever the number of subscribers.
// A notification carries a collection and a timestamp, no object. The subscribers of one
// collection form a topic; on a notification the topic reads the objects changed since the
// last read (a list with last_modified > cursor, tombstones included, oldest first), once
// for all its subscribers, then each subscriber gets the objects it may read (an
// authorization asked once per group of subscribers, see [Subscriber.Group]) that match its
// filters. While a read runs, new notifications only mark the topic to be read again, so
// that a burst of writes costs one read per collection, not one per write or per
// subscriber.
//
// # Order, gaps and duplicates
//
// Timestamps increase in commit order within a collection, so "everything after the
// timestamp I have" is exact: a subscriber joins its topic before it reads its start
// (the collection timestamp, or a replay of the changes after [Subscriber.Since]), events
// read by the topic meanwhile wait in its buffer, and [Stream.Take] drops what the replay
// already gave. Each event is delivered once, in last_modified order. Several writes of one
// object between two reads are one event, with the last version (as a list with _since
// shows them).
//
// # Limits
//
// A subscriber that does not take its events fast enough is closed with [ErrSlow] once
// [Options.Buffer] events wait: it reconnects from the last event it got and replays the
// rest from storage at its own pace, and nobody else waits for it. [Options.MaxStreams] and
// [Options.MaxStreamsPerUser] bound the subscriptions ([LimitError]).
package feed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/internal/match"
)

// Defaults of [Options].
const (
	DefaultBuffer      = 1000
	DefaultPageSize    = 1000
	DefaultAuthorizers = 8
	// readTimeout bounds one read of a topic, and one authorization.
	readTimeout = 30 * time.Second
)

// Options configures a [Hub]. Zero values mean the documented defaults.
type Options struct {
	// MaxStreams bounds the open subscriptions of the hub; 0 means no bound.
	MaxStreams int
	// MaxStreamsPerUser bounds the open subscriptions of one [Subscriber.User] (anonymous
	// subscribers, User "", count against MaxStreams only); 0 means no bound.
	MaxStreamsPerUser int
	// Buffer is how many events may wait for a subscriber before it is closed with
	// [ErrSlow]. Default [DefaultBuffer].
	Buffer int
	// PageSize is the largest number of objects one storage read returns; the topic reads
	// and the replays page through more. Default [DefaultPageSize].
	PageSize int
	// Authorizers is how many authorizations a topic runs at once when it delivers (one per
	// group of subscribers). Default [DefaultAuthorizers].
	Authorizers int
	// Logger receives the failures of the topics' reads. Default: discard.
	Logger *slog.Logger
}

// Errors that end a [Stream]; [Stream.Take] returns them, possibly wrapped.
var (
	// ErrSlow: more than Options.Buffer events waited for the subscriber. It should
	// reconnect from the last event it got.
	ErrSlow = errors.New("feed: the subscriber is too slow")
	// ErrClosed: the hub was closed (the application stops).
	ErrClosed = errors.New("feed: closed")
	// ErrShutdown: the HTTP server of the subscriber is shutting down.
	ErrShutdown = errors.New("feed: server shutting down")
)

// LimitError is returned by [Hub.Subscribe] when a bound of [Options] is reached.
type LimitError struct {
	// PerUser is true for MaxStreamsPerUser, false for MaxStreams.
	PerUser bool
	// Max is the bound reached.
	Max int
}

func (e *LimitError) Error() string {
	if e.PerUser {
		return fmt.Sprintf("feed: %d open streams for this user, the most allowed", e.Max)
	}
	return fmt.Sprintf("feed: %d open streams, the most this server allows", e.Max)
}

// Access is what a subscriber may read of its collection, as its authorization says at
// the time of a delivery.
type Access struct {
	// All lets the subscriber read every object of the collection; otherwise only those
	// whose id is in IDs.
	All bool
	IDs []string
}

// set returns IDs as a set; nil when All.
func (a Access) set() map[string]struct{} {
	if a.All {
		return nil
	}
	m := make(map[string]struct{}, len(a.IDs))
	for _, id := range a.IDs {
		m[id] = struct{}{}
	}
	return m
}

// Subscriber describes one subscription.
type Subscriber struct {
	// Scope is the collection.
	Scope storage.Scope
	// User is counted against Options.MaxStreamsPerUser; "" for anonymous subscribers.
	User string
	// Group names the subscribers of a topic that share one authorization per delivery
	// (the same user on the same URL): Authorize is called once for the group.
	Group string
	// Filters select the objects the subscriber gets (the filters of a list; a tombstone
	// only matches filters on id and last_modified, as in a list with _since).
	Filters []storage.Filter
	// Replay, when true, makes the stream start after Since: [Stream.Replay] reads the
	// changes after it from storage. Otherwise it starts at the collection timestamp read
	// when the subscription is made.
	Replay bool
	Since  int64
	// Authorize returns what the subscriber may read now. It is called at every delivery
	// to the subscriber's group, with a context of the hub (values are the caller's
	// concern); an error ends the stream with that error.
	Authorize func(ctx context.Context) (Access, error)
	// Server, when not nil, ends the stream with ErrShutdown when it shuts down
	// (http.Server.RegisterOnShutdown).
	Server *http.Server
	// Notify, when not nil, is called whenever events or an error wait for Take, beside
	// the signal of [Stream.Ready]: a subscriber served without a goroutine of its own
	// (a hijacked connection) starts one then. It is called from the hub's goroutines and
	// must not block.
	Notify func()
}

// Event is one change delivered to a subscriber.
type Event struct {
	// Action is create, update or delete. It is the action of the write that gave the
	// object its last_modified, as announced by the backend; for an object read without its
	// announcement (a replay, or after the listener lost its connection) it is update, or
	// delete for a tombstone.
	Action storage.Action
	// Object is the object as stored (a tombstone for a deletion). Its Data is shared with
	// the other subscribers: do not modify it.
	Object storage.Object
}

// Hub fans out the changes of one storage backend. It is safe for concurrent use.
type Hub struct {
	store   storage.Backend
	opts    Options
	ctx     context.Context // cancelled by Close
	cancel  context.CancelFunc
	servers sync.Map // *http.Server → struct{}: shutdown hooks registered

	listenMu   sync.Mutex
	stopListen func() // nil until listening

	mu      sync.Mutex
	closed  bool
	topics  map[storage.Scope]*topic
	streams int
	perUser map[string]int
}

// New returns a hub for store, or an error when store is nil. It does not listen before the
// first Subscribe: a backend that cannot announce its writes (its Listen answers
// storage.ErrNotSupported) fails each Subscribe with an error matching
// storage.ErrNotifyDisabled, as one configured not to announce them.
func New(store storage.Backend, opts Options) (*Hub, error) {
	if store == nil {
		return nil, errors.New("feed: no storage backend")
	}
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.PageSize <= 0 {
		opts.PageSize = DefaultPageSize
	}
	if opts.Authorizers <= 0 {
		opts.Authorizers = DefaultAuthorizers
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Hub{store: store, opts: opts, ctx: ctx, cancel: cancel,
		topics: map[storage.Scope]*topic{}, perUser: map[string]int{}}, nil
}

// Stats are the hub's counts.
type Stats struct {
	// Streams is the number of open subscriptions, Topics the number of collections they
	// watch.
	Streams, Topics int
}

// Stats returns the hub's counts.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return Stats{Streams: h.streams, Topics: len(h.topics)}
}

// topic is the subscribers of one collection. Its fields are guarded by Hub.mu.
type topic struct {
	scope       storage.Scope
	ready       chan struct{} // closed once cursor is set (or initErr)
	initErr     error
	cursor      int64 // every change up to it has been read and delivered
	notified    int64 // the highest timestamp announced
	all         bool  // changes may have been missed: read everything after cursor
	actions     map[int64]storage.Action
	streams     map[*Stream]struct{}
	reading     bool // a reader goroutine runs
	initialized bool // cursor is set
	dead        bool // removed from the hub
}

// Stream is one subscription. Its owner calls Replay (when the subscription asked for
// one), then Take each time Ready fires, and Close at the end; these calls must come from
// one goroutine.
type Stream struct {
	hub   *Hub
	topic *topic
	sub   Subscriber
	match *match.Matcher // nil: no filters
	last  int64          // the last timestamp handed out (owner's goroutine only)

	wake   chan struct{} // signalled when events or an error wait
	mu     sync.Mutex
	queue  []Event
	err    error
	closed bool
}

// Subscribe opens a subscription: it counts it against the limits, starts listening to the
// backend when it is the hub's first, joins the topic of sub.Scope and reads its starting
// point. It fails with a *LimitError, ErrClosed, or the backend's error.
func (h *Hub) Subscribe(ctx context.Context, sub Subscriber) (*Stream, error) {
	var m *match.Matcher
	if len(sub.Filters) > 0 {
		var err error
		if m, err = match.Compile(sub.Filters, nil); err != nil {
			return nil, err
		}
	}
	if err := h.reserve(sub.User); err != nil {
		return nil, err
	}
	s := &Stream{hub: h, sub: sub, match: m, wake: make(chan struct{}, 1)}
	if err := h.listen(ctx); err != nil {
		h.release(sub.User)
		return nil, err
	}
	t, err := h.join(ctx, s)
	if err != nil {
		h.release(sub.User)
		return nil, err
	}
	s.topic = t
	if sub.Replay {
		s.last = sub.Since
	} else if s.last, err = h.store.Timestamp(ctx, sub.Scope); err != nil {
		s.Close()
		return nil, err
	}
	if sub.Server != nil {
		h.watchServer(sub.Server)
	}
	return s, nil
}

// reserve counts a subscription of user against the limits.
func (h *Hub) reserve(user string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return ErrClosed
	}
	if h.opts.MaxStreams > 0 && h.streams >= h.opts.MaxStreams {
		return &LimitError{Max: h.opts.MaxStreams}
	}
	if user != "" && h.opts.MaxStreamsPerUser > 0 && h.perUser[user] >= h.opts.MaxStreamsPerUser {
		return &LimitError{PerUser: true, Max: h.opts.MaxStreamsPerUser}
	}
	h.streams++
	if user != "" {
		h.perUser[user]++
	}
	return nil
}

func (h *Hub) release(user string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked(user)
}

func (h *Hub) releaseLocked(user string) {
	h.streams--
	if user != "" {
		if h.perUser[user]--; h.perUser[user] <= 0 {
			delete(h.perUser, user)
		}
	}
}

// listen starts listening to the backend, once.
func (h *Hub) listen(ctx context.Context) error {
	h.listenMu.Lock()
	defer h.listenMu.Unlock()
	if h.stopListen != nil {
		return nil
	}
	stop, err := h.store.Listen(ctx, h.onChange)
	if errors.Is(err, storage.ErrNotSupported) {
		return fmt.Errorf("feed: %w: %w", storage.ErrNotifyDisabled, err)
	}
	if err != nil {
		return err
	}
	h.stopListen = stop
	return nil
}

// join adds s to the topic of its scope. The first subscriber of a collection creates the
// topic, which then reads its cursor (the collection timestamp).
func (h *Hub) join(ctx context.Context, s *Stream) (*topic, error) {
	for {
		h.mu.Lock()
		if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		t := h.topics[s.sub.Scope]
		creator := t == nil
		if creator {
			t = &topic{scope: s.sub.Scope, ready: make(chan struct{}), actions: map[int64]storage.Action{},
				streams: map[*Stream]struct{}{}}
			h.topics[t.scope] = t // from now on its notifications are recorded
		}
		h.mu.Unlock()
		if creator {
			h.initTopic(t)
		}
		select {
		case <-t.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		h.mu.Lock()
		switch {
		case t.initErr != nil:
			h.mu.Unlock()
			return nil, t.initErr
		case !t.dead:
			t.streams[s] = struct{}{}
			h.mu.Unlock()
			return t, nil
		}
		h.mu.Unlock() // its last subscriber left meanwhile: join the next topic
	}
}

// initTopic reads the cursor of a new topic: the collection timestamp, read after the topic
// was registered, so that every later change is either announced to it or below it.
func (h *Hub) initTopic(t *topic) {
	ctx, cancel := context.WithTimeout(h.ctx, readTimeout)
	defer cancel()
	ts, err := h.store.Timestamp(ctx, t.scope)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil {
		t.initErr = err
		h.dropLocked(t)
	} else {
		t.cursor = ts
		for at := range t.actions {
			if at <= ts {
				delete(t.actions, at)
			}
		}
		t.initialized = true
		h.scheduleLocked(t)
	}
	close(t.ready)
}

// dropLocked removes t from the hub.
func (h *Hub) dropLocked(t *topic) {
	if !t.dead {
		t.dead = true
		if h.topics[t.scope] == t {
			delete(h.topics, t.scope)
		}
	}
}

// onChange records a notification of the backend and wakes the topic it concerns.
func (h *Hub) onChange(c storage.Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Lost {
		for _, t := range h.topics {
			t.all = true
			h.scheduleLocked(t)
		}
		return
	}
	t := h.topics[c.Scope]
	if t == nil {
		return
	}
	if c.Timestamp > t.cursor {
		t.actions[c.Timestamp] = c.Action
	}
	if c.Timestamp > t.notified {
		t.notified = c.Timestamp
	}
	h.scheduleLocked(t)
}

// scheduleLocked starts t's reader unless it runs (it reads again before it stops) or t is
// not ready.
func (h *Hub) scheduleLocked(t *topic) {
	if t.reading || t.dead || h.closed || !t.initialized { // initTopic schedules it
		return
	}
	if !t.all && t.notified <= t.cursor {
		return
	}
	t.reading = true
	go h.run(t)
}

// run reads and delivers the changes of t until there is nothing new.
func (h *Hub) run(t *topic) {
	for {
		h.mu.Lock()
		if len(t.streams) == 0 || h.closed || t.dead {
			t.reading = false
			h.dropLocked(t)
			h.mu.Unlock()
			return
		}
		from, upto, all := t.cursor, t.notified, t.all
		if !all && upto <= from {
			t.reading = false
			h.mu.Unlock()
			return
		}
		t.all = false
		h.mu.Unlock()

		objs, err := h.read(t.scope, from, upto, all)
		if err != nil {
			h.opts.Logger.Error("feed: reading changes failed", "scope", t.scope.String(), "error", err.Error())
			h.failTopic(t, err)
			return
		}
		cursor := max(from, upto)
		if len(objs) > 0 {
			cursor = max(cursor, objs[len(objs)-1].LastModified)
		}
		h.mu.Lock()
		events := make([]Event, len(objs))
		for i, o := range objs {
			a := storage.ActionUpdate
			if o.Deleted {
				a = storage.ActionDelete
			} else if known, ok := t.actions[o.LastModified]; ok {
				a = known
			}
			events[i] = Event{Action: a, Object: o}
		}
		for ts := range t.actions {
			if ts <= cursor {
				delete(t.actions, ts)
			}
		}
		t.cursor = cursor
		streams := make([]*Stream, 0, len(t.streams))
		for s := range t.streams {
			streams = append(streams, s)
		}
		h.mu.Unlock()
		h.deliver(streams, events)
	}
}

// read returns the objects of scope changed after from, oldest first: up to upto unless
// all, paging through storage.
func (h *Hub) read(scope storage.Scope, from, upto int64, all bool) ([]storage.Object, error) {
	ctx, cancel := context.WithTimeout(h.ctx, readTimeout)
	defer cancel()
	var bound []storage.Filter
	if !all {
		bound = []storage.Filter{{Field: "last_modified", Op: storage.MAX, Value: upto}}
	}
	return readPages(ctx, h.store, scope, from, bound, h.opts.PageSize, nil)
}

// readPages reads the objects of scope after from that match filters, oldest first, a
// page at a time; each page goes to page when it is not nil (and is then not accumulated).
func readPages(ctx context.Context, store storage.Backend, scope storage.Scope, from int64, filters []storage.Filter,
	size int, page func([]storage.Object) error) ([]storage.Object, error) {
	var out []storage.Object
	for {
		fs := append(slices.Clip(filters), storage.Filter{Field: "last_modified", Op: storage.GT, Value: from})
		objs, err := store.List(ctx, scope, storage.ListOptions{Filters: fs, IncludeDeleted: true,
			Sort: []storage.Sort{{Field: "last_modified"}}, Limit: size, Since: from})
		if err != nil {
			return nil, err
		}
		if len(objs) > 0 {
			from = objs[len(objs)-1].LastModified
		}
		if page != nil {
			if len(objs) > 0 {
				if err := page(objs); err != nil {
					return nil, err
				}
			}
		} else {
			out = append(out, objs...)
		}
		if len(objs) < size {
			return out, nil
		}
	}
}

// deliver gives events to the streams, authorizing each group of streams once.
func (h *Hub) deliver(streams []*Stream, events []Event) {
	groups := map[string][]*Stream{}
	var order []string
	for _, s := range streams {
		if _, ok := groups[s.sub.Group]; !ok {
			order = append(order, s.sub.Group)
		}
		groups[s.sub.Group] = append(groups[s.sub.Group], s)
	}
	docs := sync.OnceValue(func() []*match.Doc { return decode(events) })
	work := make(chan []*Stream)
	var wg sync.WaitGroup
	for range min(h.opts.Authorizers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for g := range work {
				h.deliverGroup(g, events, docs)
			}
		}()
	}
	for _, k := range order {
		work <- groups[k]
	}
	close(work)
	wg.Wait()
}

// deliverGroup authorizes the streams of one group and gives each the events it may read.
func (h *Hub) deliverGroup(g []*Stream, events []Event, docs func() []*match.Doc) {
	ctx, cancel := context.WithTimeout(h.ctx, readTimeout)
	defer cancel()
	var (
		a   Access
		err error
	)
	for _, s := range g {
		if s.isClosed() {
			continue // its owner left: its context may be gone
		}
		a, err = s.sub.Authorize(ctx)
		break
	}
	if err != nil {
		for _, s := range g {
			s.fail(err)
		}
		return
	}
	ids := a.set()
	for _, s := range g {
		var out []Event
		for i, e := range events {
			if ids != nil {
				if _, ok := ids[e.Object.ID]; !ok {
					continue
				}
			}
			if s.match != nil && !s.match.Match(docs()[i]) {
				continue
			}
			out = append(out, e)
		}
		s.push(out)
	}
}

// decode turns events into documents for the filters of the subscribers.
func decode(events []Event) []*match.Doc {
	docs := make([]*match.Doc, len(events))
	for i, e := range events {
		d := &match.Doc{ID: e.Object.ID, LastModified: e.Object.LastModified, Deleted: e.Object.Deleted}
		if !d.Deleted {
			d.Data, _ = match.Decode(e.Object.Data) // stored data is valid JSON
		}
		docs[i] = d
	}
	return docs
}

// failTopic ends the streams of t with err and drops t.
func (h *Hub) failTopic(t *topic, err error) {
	h.mu.Lock()
	t.reading = false
	h.dropLocked(t)
	streams := make([]*Stream, 0, len(t.streams))
	for s := range t.streams {
		streams = append(streams, s)
	}
	h.mu.Unlock()
	for _, s := range streams {
		s.fail(err)
	}
}

// watchServer makes srv's shutdown end the streams it serves, once per server.
func (h *Hub) watchServer(srv *http.Server) {
	if _, loaded := h.servers.LoadOrStore(srv, struct{}{}); loaded {
		return
	}
	srv.RegisterOnShutdown(func() {
		for _, s := range h.all() {
			if s.sub.Server == srv {
				s.fail(ErrShutdown)
			}
		}
	})
}

// all returns every open stream.
func (h *Hub) all() []*Stream {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*Stream
	for _, t := range h.topics {
		for s := range t.streams {
			out = append(out, s)
		}
	}
	return out
}

// Close ends every stream with ErrClosed and stops listening; later Subscribes fail with
// ErrClosed. It is idempotent.
func (h *Hub) Close() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()
	for _, s := range h.all() {
		s.fail(ErrClosed)
	}
	h.cancel()
	h.listenMu.Lock()
	if h.stopListen != nil {
		h.stopListen()
	}
	h.listenMu.Unlock()
	return nil
}

// Ready fires when events or an error wait for [Stream.Take].
func (s *Stream) Ready() <-chan struct{} { return s.wake }

// Take returns the events waiting, after the ones already handed out (by Take or
// Replay), and, once none is left, the error that ended the stream.
func (s *Stream) Take() ([]Event, error) {
	s.mu.Lock()
	q, err := s.queue, s.err
	s.queue = nil
	s.mu.Unlock()
	out := q[:0]
	for _, e := range q {
		if e.Object.LastModified > s.last {
			out = append(out, e)
			s.last = e.Object.LastModified
		}
	}
	if len(q) > 0 {
		if err != nil {
			s.signal() // the error comes at the next Take
		}
		return out, nil
	}
	return nil, err
}

// Replay reads the changes after the subscription's Since that a (the subscriber's access
// when it subscribed) lets it read and that match its filters, oldest first, a page at a
// time, and gives each page to write. Actions are update, or delete for tombstones.
func (s *Stream) Replay(ctx context.Context, a Access, write func([]Event) error) error {
	filters := slices.Clip(s.sub.Filters)
	if !a.All {
		if len(a.IDs) == 0 {
			return nil
		}
		ids := make([]any, len(a.IDs))
		for i, id := range a.IDs {
			ids[i] = id
		}
		filters = append(filters, storage.Filter{Field: "id", Op: storage.IN, Value: ids})
	}
	_, err := readPages(ctx, s.hub.store, s.sub.Scope, s.last, filters, s.hub.opts.PageSize, func(objs []storage.Object) error {
		events := make([]Event, len(objs))
		for i, o := range objs {
			events[i] = Event{Action: storage.ActionUpdate, Object: o}
			if o.Deleted {
				events[i].Action = storage.ActionDelete
			}
		}
		s.last = objs[len(objs)-1].LastModified
		return write(events)
	})
	return err
}

// Last returns the timestamp of the last event handed out, or the starting point.
func (s *Stream) Last() int64 { return s.last }

// push queues events, or ends the stream with ErrSlow when the buffer overflows.
func (s *Stream) push(events []Event) {
	if len(events) == 0 {
		return
	}
	s.mu.Lock()
	if s.err != nil || s.closed {
		s.mu.Unlock()
		return
	}
	if len(s.queue)+len(events) > s.hub.opts.Buffer {
		s.queue, s.err = nil, ErrSlow
	} else {
		s.queue = append(s.queue, events...)
	}
	s.mu.Unlock()
	s.signal()
}

// fail ends the stream with err (the first error stays).
func (s *Stream) fail(err error) {
	s.mu.Lock()
	if s.err == nil {
		s.err = err
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Stream) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
	if s.sub.Notify != nil {
		s.sub.Notify()
	}
}

func (s *Stream) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Close leaves the topic and frees the subscription's place in the limits. It is
// idempotent.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.queue = nil
	s.mu.Unlock()
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if t := s.topic; t != nil {
		delete(t.streams, s)
		if len(t.streams) == 0 && !t.reading {
			h.dropLocked(t)
		}
	}
	h.releaseLocked(s.sub.User)
}
