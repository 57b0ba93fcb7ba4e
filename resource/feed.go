package resource

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
)

// The change feed of a plural URL: GET with Accept: text/event-stream answers a
// Server-Sent Events stream of the changes of the collection (docs/changes.md). The
// storage/feed hub of the app reads the changes; this file serves them over HTTP.

// feedWriteTimeout bounds each write to a stream: a client that accepts nothing for that
// long is gone, and the stream ends. The server's own WriteTimeout, a deadline for the whole
// response, is pushed back before every write (http.ResponseController.SetWriteDeadline),
// so that it does not cut long-lived streams. (Its ReadTimeout does not apply once the
// handler runs: net/http clears the read deadline to watch for the client going away.)
const feedWriteTimeout = 30 * time.Second

// feedSettings are what a resource needs to serve change feeds.
type feedSettings struct {
	hub       *feed.Hub // nil: no change feed (the request gets the 406 of a non-JSON Accept)
	keepalive time.Duration
	retry     string // the SSE retry field of error events, in milliseconds
}

// setupFeed reads the change feed settings of app.
func (rs *core) setupFeed(app *cliquet.App) error {
	rs.changes.hub = app.ChangeFeed()
	if rs.changes.hub == nil {
		return nil
	}
	s := app.Settings
	keepalive, err := s.Seconds("change_feed_keepalive_seconds")
	if err != nil {
		return err
	}
	if keepalive <= 0 {
		keepalive = 15 * time.Second
	}
	rs.changes.keepalive = keepalive
	retry, err := s.Int("retry_after_seconds")
	if err != nil {
		return err
	}
	if retry <= 0 {
		retry = 30
	}
	rs.changes.retry = strconv.Itoa(retry * 1000)
	return nil
}

// orFeed serves list with h, or the change feed when the request asks for an event stream
// and the app has change feeds.
func (rs *core) orFeed(list func(w http.ResponseWriter, r *http.Request) error) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		if rs.changes.hub != nil && cliquet.WantsEventStream(r) {
			if monitoring.IsSubrequest(r.Context()) {
				// A batch answers once all its sub-requests are done: a stream never is.
				return protocol.InvalidParam("headers", "Accept", "A change feed (Accept: text/event-stream) cannot be requested in a batch")
			}
			return rs.streamChanges(w, r)
		}
		return list(w, r)
	}
}

// checkFeedHorizon answers the error that tells the client to resync from scratch (410
// errno 203, storage.HorizonError) when since, a stream's Last-Event-ID or _since, is older
// than the tombstone horizon of the collection scope: changes before the horizon may have
// been purged, so a replay from since would miss deletions. The stream then answers it as
// JSON, before it starts. A purge that raises the horizon during the replay makes the
// replay's reads fail the same way (their ListOptions.Since), which ends the stream with
// that error.
func (rs *core) checkFeedHorizon(ctx context.Context, scope storage.Scope, since int64) error {
	if since <= 0 {
		return nil
	}
	h, err := rs.store.Horizon(ctx, scope)
	if err != nil {
		return err
	}
	return storage.CheckHorizon(scope, since, h)
}

// feedInput is the parsed request of a change feed.
type feedInput struct {
	filters []storage.Filter
	fields  []string
	replay  bool
	since   int64
}

// feedInputOf parses the querystring of a change feed (a list's, without _sort, _limit and
// _token, which a stream in last_modified order cannot honour) and its starting point:
// Last-Event-ID, else _since.
func (rs *core) feedInputOf(r *http.Request) (feedInput, error) {
	var in feedInput
	q, err := parseQuery(r.URL.RawQuery)
	if err != nil {
		return in, err
	}
	for _, p := range []string{"_sort", "_limit", "_token"} {
		if _, ok := q[p]; ok {
			return in, protocol.InvalidParam("querystring", p, p+" is not supported by change feeds: events come in last_modified order")
		}
	}
	now := rs.now()
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		ts, ok := parseTimestamp(v, now)
		if !ok {
			return in, protocol.InvalidParam("headers", "Last-Event-ID", "Invalid value for Last-Event-ID")
		}
		in.replay, in.since = true, ts
	}
	rest := make(url.Values, len(q))
	for k, v := range q {
		if k == "_since" {
			continue
		}
		rest[k] = v
	}
	if v, ok := q["_since"]; ok {
		// Validated as a list validates it, then used as the starting point.
		since, _, _, err := rs.parseFilters(url.Values{"_since": v}, now)
		if err != nil {
			return in, err
		}
		if !in.replay {
			for _, f := range since {
				in.replay, in.since = true, max(in.since, f.Value.(int64))
			}
		}
	}
	if in.filters, _, _, err = rs.parseFilters(rest, now); err != nil {
		return in, err
	}
	if in.fields, err = rs.parseFields(q); err != nil {
		return in, err
	}
	return in, nil
}

// accessOf turns the grant of a list into what the hub filters events with.
func accessOf(g grant) feed.Access {
	return feed.Access{All: !g.restricted, IDs: g.ids}
}

// valuesOf is a context with the deadline and cancellation of one and the values of
// another: the hub's context for the authorization of a stream, with the values
// (app, identity, route) of the stream's request (detachedRequest).
type valuesOf struct {
	context.Context
	values context.Context
}

func (c valuesOf) Value(key any) any { return c.values.Value(key) }

// detachedRequest returns the copy of r with which the hub authorizes a stream at each
// delivery. Its context carries only the app, the identity (without the memo of the user's
// groups, which the authorization reads with the ACLs anyway) and a copy of the chi route
// context: the request's own context holds the response writers of the toolkit's
// middleware, and through them the connection's buffers, which a stream served on a
// taken-over connection must not keep; and chi recycles its route context for another
// request once the handler returns.
func detachedRequest(r *http.Request) *http.Request {
	ctx := r.Context()
	id := authn.IdentityFrom(ctx)
	d := cliquet.WithApp(context.Background(), cliquet.AppFrom(ctx))
	d = authn.WithIdentity(d, authn.Identity{UserID: id.UserID, AuthType: id.AuthType, Principals: slices.Clone(id.Principals)})
	if rc := chi.RouteContext(ctx); rc != nil {
		c := chi.NewRouteContext()
		c.URLParams.Keys = slices.Clone(rc.URLParams.Keys)
		c.URLParams.Values = slices.Clone(rc.URLParams.Values)
		c.RoutePatterns = slices.Clone(rc.RoutePatterns)
		d = context.WithValue(d, chi.RouteCtxKey, c)
	}
	out := r.WithContext(d)
	out.Body = http.NoBody
	return out
}

// streamChanges serves a change feed: it parses and authorizes the request as a list (a
// JSON error before the stream starts), subscribes to the collection, answers 200 with
// text/event-stream, replays the changes after the starting point and then sends each
// change as it is committed, until the client leaves, the server stops, or the stream
// ends with an error event.
//
// On HTTP/1.x the connection is then taken over from net/http (hijacked) and the handler
// returns: an idle stream holds no goroutine and none of net/http's buffers, only its
// connection and its subscription; writing its events is the job of a goroutine started
// when some wait (see detached). Where the connection cannot be taken over (HTTP/2, a
// ResponseWriter without Hijack), the handler serves the stream itself until it ends.
func (rs *core) streamChanges(w http.ResponseWriter, r *http.Request) error {
	in, err := rs.feedInputOf(r)
	if err != nil {
		return err
	}
	t, g, err := rs.authorize(r, true, "", "")
	if err != nil {
		return err
	}
	ctx := r.Context()
	if in.replay {
		if err := rs.checkFeedHorizon(ctx, t.scope, in.since); err != nil {
			return err
		}
	}
	id := authn.IdentityFrom(ctx)
	srv, _ := ctx.Value(http.ServerContextKey).(*http.Server)
	frozen := detachedRequest(r)
	var owner atomic.Pointer[detached] // set once the connection is taken over
	stream, err := rs.changes.hub.Subscribe(ctx, feed.Subscriber{
		Scope:   t.scope,
		User:    id.UserID,
		Group:   id.UserID + " " + r.URL.Path,
		Filters: in.filters,
		Replay:  in.replay,
		Since:   in.since,
		Authorize: func(hctx context.Context) (feed.Access, error) {
			_, g, err := rs.authorize(frozen.WithContext(valuesOf{hctx, frozen.Context()}), true, "", "")
			return accessOf(g), err
		},
		Server: srv,
		Notify: func() {
			if d := owner.Load(); d != nil {
				d.kick()
			}
		},
	})
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	if r.ProtoMajor == 1 {
		// The body ends when the connection closes, without chunked framing, so that the
		// connection can be written to directly once taken over (net/http's setup for
		// Server-Sent Events).
		h.Set("Transfer-Encoding", "identity")
	}
	w.WriteHeader(http.StatusOK)
	if r.ProtoMajor == 1 {
		// Nothing more is read from the client: net/http's buffers go with its handler.
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			d := &detached{conn: conn, stream: stream, retry: rs.changes.retry, keepalive: rs.changes.keepalive}
			d.out = sse{write: conn.Write, deadline: conn.SetWriteDeadline, fields: in.fields}
			if in.replay && !d.replay(ctx, accessOf(g)) {
				return nil
			}
			owner.Store(d)
			d.start()
			return nil
		}
	}
	defer stream.Close()
	rc := http.NewResponseController(w)
	out := sse{write: w.Write, flush: rc.Flush, deadline: rc.SetWriteDeadline, fields: in.fields}
	if err := out.flushNow(); err != nil {
		return nil // the client left
	}
	if in.replay {
		if err := stream.Replay(ctx, accessOf(g), out.events); err != nil {
			if ctx.Err() == nil {
				out.fail(err, rs.changes.retry)
			}
			return nil
		}
	}
	keepalive := time.NewTicker(rs.changes.keepalive)
	defer keepalive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-keepalive.C:
			if out.comment() != nil {
				return nil
			}
		case <-stream.Ready():
			events, err := stream.Take()
			if len(events) > 0 && out.events(events) != nil {
				return nil
			}
			if err != nil {
				out.fail(err, rs.changes.retry)
				return nil
			}
		}
	}
}

// sse writes Server-Sent Events to one response.
type sse struct {
	write    func([]byte) (int, error)
	flush    func() error // nil: writes are not buffered
	deadline func(time.Time) error
	fields   []string // _fields; nil for every field
	buf      []byte
}

// events writes one event per change and flushes them.
func (s *sse) events(events []feed.Event) error {
	s.buf = s.buf[:0]
	for _, e := range events {
		s.buf = append(s.buf, "id: "...)
		s.buf = strconv.AppendInt(s.buf, e.Object.LastModified, 10)
		s.buf = append(s.buf, "\ndata: {\"action\":\""...)
		s.buf = append(s.buf, e.Action...)
		s.buf = append(s.buf, "\",\"data\":"...)
		start := len(s.buf)
		s.buf = renderObject(s.buf, e.Object, s.fields)
		oneLine(s.buf[start:])
		s.buf = append(s.buf, "}\n\n"...)
	}
	err := s.send()
	if cap(s.buf) > maxPooledBody {
		s.buf = nil // a burst of large objects: do not keep its buffer
	}
	return err
}

// comment writes the keep-alive comment, which proxies see as traffic.
func (s *sse) comment() error {
	s.buf = append(s.buf[:0], ": keep-alive\n\n"...)
	return s.send()
}

// oneLine turns the line breaks of JSON text into spaces: outside strings (which escape
// theirs) they are white space, and an event's data must hold on one line.
func oneLine(b []byte) {
	if !bytes.ContainsAny(b, "\r\n") {
		return
	}
	for i, c := range b {
		if c == '\r' || c == '\n' {
			b[i] = ' '
		}
	}
}

// fail writes the final error event of a stream: "event: error" with the JSON error body
// (the status and errno a JSON answer would have) and, for errors worth retrying later
// (503), the SSE retry field.
func (s *sse) fail(err error, retry string) {
	e := protocol.FromError(err)
	body, _ := protocol.MarshalJSON(e)
	s.buf = append(s.buf[:0], "event: error\n"...)
	if e.Code == http.StatusServiceUnavailable {
		s.buf = append(append(append(s.buf, "retry: "...), retry...), '\n')
	}
	s.buf = append(append(append(s.buf, "data: "...), body...), "\n\n"...)
	_ = s.send()
}

// send writes the buffer (and flushes it), within feedWriteTimeout.
func (s *sse) send() error {
	_ = s.deadline(time.Now().Add(feedWriteTimeout))
	if len(s.buf) > 0 {
		if _, err := s.write(s.buf); err != nil {
			return err
		}
	}
	if s.flush != nil {
		return s.flush()
	}
	return nil
}

// flushNow sends the response headers.
func (s *sse) flushNow() error {
	s.buf = s.buf[:0]
	return s.send()
}

// detached serves a change feed on a connection taken over from net/http. It holds no
// goroutine while the stream is idle: when events wait (the hub calls kick), or when the
// keep-alive timer fires, one goroutine starts, writes what waits and stops. A slow client
// holds only that goroutine, for at most feedWriteTimeout per write, while the hub's
// buffer for it fills up (feed.ErrSlow then ends the stream).
type detached struct {
	conn      net.Conn
	stream    *feed.Stream
	out       sse
	retry     string
	keepalive time.Duration
	timer     *time.Timer

	mu    sync.Mutex
	busy  bool // a goroutine runs write
	again bool // kicked while busy: write runs once more
	ping  bool // the keep-alive is due
	done  bool
}

// replay writes the changes after the starting point; false when the stream ended.
func (d *detached) replay(ctx context.Context, a feed.Access) bool {
	if err := d.stream.Replay(ctx, a, d.out.events); err != nil {
		d.out.fail(err, d.retry)
		d.end()
		return false
	}
	return true
}

// start arms the keep-alive and writes what waited during the replay.
func (d *detached) start() {
	d.timer = time.AfterFunc(d.keepalive, d.tick)
	d.kick()
}

// tick marks the keep-alive due and re-arms the timer.
func (d *detached) tick() {
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		return
	}
	d.ping = true
	d.timer.Reset(d.keepalive)
	d.mu.Unlock()
	d.kick()
}

// kick makes sure a goroutine writes what waits.
func (d *detached) kick() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done {
		return
	}
	if d.busy {
		d.again = true
		return
	}
	d.busy = true
	go d.write()
}

// write sends the waiting events (and the keep-alive when due) until nothing waits; it
// ends the stream on an error (the stream's own, sent as the final event, or the
// connection's).
func (d *detached) write() {
	for {
		d.mu.Lock()
		ping := d.ping
		d.ping, d.again = false, false
		d.mu.Unlock()
		events, err := d.stream.Take()
		if len(events) > 0 && d.out.events(events) != nil {
			d.end()
			return
		}
		if err != nil {
			d.out.fail(err, d.retry)
			d.end()
			return
		}
		if ping && (!d.alive() || d.out.comment() != nil) {
			d.end()
			return
		}
		d.mu.Lock()
		if !d.again {
			d.busy = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
	}
}

// alive reports whether the client is still there: a read that waits a millisecond at
// most finds the end of the stream (or an error) once it closed its side.
func (d *detached) alive() bool {
	var b [64]byte
	_ = d.conn.SetReadDeadline(time.Now().Add(time.Millisecond))
	_, err := d.conn.Read(b[:])
	var ne net.Error
	return err == nil || errors.As(err, &ne) && ne.Timeout()
}

// end closes the connection and the subscription.
func (d *detached) end() {
	d.mu.Lock()
	d.done = true
	if d.timer != nil {
		d.timer.Stop()
	}
	d.mu.Unlock()
	d.conn.Close()
	d.stream.Close()
}
