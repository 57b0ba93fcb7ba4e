package resource_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	storagememory "github.com/cliquet-go/cliquet/storage/memory"
)

// sseEvent is one Server-Sent Event as a client parses it.
type sseEvent struct {
	ID, Type, Data, Retry string
}

// change decodes the data of a change event.
func (e sseEvent) change(t *testing.T) (string, map[string]any) {
	t.Helper()
	var v struct {
		Action string         `json:"action"`
		Data   map[string]any `json:"data"`
	}
	if err := json.Unmarshal([]byte(e.Data), &v); err != nil {
		t.Fatalf("event data %q: %v", e.Data, err)
	}
	return v.Action, v.Data
}

// feedConn is an open change feed whose events a goroutine parses.
type feedConn struct {
	t        *testing.T
	resp     *http.Response
	events   chan sseEvent
	comments atomic.Int32
	ended    chan struct{} // closed at the end of the body
	cancel   context.CancelFunc
}

// feedRequest opens GET path on base with Accept: text/event-stream as user ("" anonymous).
func feedRequest(t *testing.T, base, path, user string, header map[string]string) (*http.Response, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Accept", "text/event-stream")
	if user != "" {
		r.SetBasicAuth(user, "secret")
	}
	for k, v := range header {
		r.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	return resp, cancel
}

// openFeed opens a change feed and fails unless it answers 200 text/event-stream. The feed
// is closed when the test ends.
func openFeed(t *testing.T, base, path, user string, header map[string]string) *feedConn {
	t.Helper()
	resp, cancel := feedRequest(t, base, path, user, header)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET %s: %d %s: %s", path, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	f := &feedConn{t: t, resp: resp, events: make(chan sseEvent, 10000), ended: make(chan struct{}), cancel: cancel}
	go f.read()
	t.Cleanup(f.close)
	return f
}

func (f *feedConn) close() {
	f.cancel()
	f.resp.Body.Close()
	<-f.ended
}

// read parses the stream (the subset of the SSE format the toolkit writes).
func (f *feedConn) read() {
	defer close(f.ended)
	br := bufio.NewReaderSize(f.resp.Body, 1<<16)
	var e sseEvent
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if e != (sseEvent{}) {
				f.events <- e
			}
			e = sseEvent{}
		case strings.HasPrefix(line, ":"):
			f.comments.Add(1)
		default:
			k, v, _ := strings.Cut(line, ": ")
			switch k {
			case "id":
				e.ID = v
			case "event":
				e.Type = v
			case "data":
				e.Data = v
			case "retry":
				e.Retry = v
			}
		}
	}
}

// next returns the next event, failing after within.
func (f *feedConn) next(within time.Duration) sseEvent {
	f.t.Helper()
	select {
	case e := <-f.events:
		return e
	case <-time.After(within):
		f.t.Fatalf("no event within %s", within)
	}
	return sseEvent{}
}

// none checks that no event comes for a while.
func (f *feedConn) none() {
	f.t.Helper()
	select {
	case e := <-f.events:
		f.t.Fatalf("unexpected event %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
}

// until returns the change events up to the one of object id at ts (changes of an object
// made between two reads of the feed are one event).
func (f *feedConn) until(id string, ts float64) []sseEvent {
	f.t.Helper()
	var out []sseEvent
	for {
		e := f.next(2 * time.Second)
		if e.Type != "" {
			f.t.Fatalf("event %+v before the change of %s at %.0f", e, id, ts)
		}
		out = append(out, e)
		if _, obj := e.change(f.t); obj["id"] == id && obj["last_modified"] == ts {
			return out
		}
	}
}

// ended reports whether the body ended within d.
func (f *feedConn) endsWithin(d time.Duration) bool {
	select {
	case <-f.ended:
		return true
	case <-time.After(d):
		return false
	}
}

// errorEvent waits for the final error event of the stream and returns its JSON error.
func (f *feedConn) errorEvent(within time.Duration) (sseEvent, map[string]any) {
	f.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-f.events:
			if e.Type != "error" {
				continue
			}
			var body map[string]any
			if err := json.Unmarshal([]byte(e.Data), &body); err != nil {
				f.t.Fatalf("error event data %q: %v", e.Data, err)
			}
			if !f.endsWithin(2 * time.Second) {
				f.t.Fatal("the stream stays open after its error event")
			}
			return e, body
		case <-deadline:
			f.t.Fatalf("no error event within %s", within)
		}
	}
}

// serve runs h on a test HTTP server, closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// post creates an object through base.
func post(t *testing.T, base, path, user string, body any) map[string]any {
	t.Helper()
	return send(t, http.MethodPost, base+path, user, body, http.StatusCreated)
}

// send does one JSON request and fails unless it answers want; it returns the data.
func send(t *testing.T, method, url, user string, body any, want int) map[string]any {
	t.Helper()
	data, err := sendJSON(method, url, user, body, want)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// sendJSON is send for any goroutine: it returns the failure.
func sendJSON(method, url, user string, body any, want int) (map[string]any, error) {
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = strings.NewReader(string(raw))
	}
	r, _ := http.NewRequest(method, url, rd)
	r.Header.Set("Content-Type", "application/json")
	if user != "" {
		r.SetBasicAuth(user, "secret")
	}
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: %d, want %d: %s", method, url, resp.StatusCode, want, raw)
	}
	var out struct {
		Data map[string]any `json:"data"`
	}
	_ = json.Unmarshal(raw, &out)
	return out.Data, nil
}

func TestFeedStreamsTheChangesOfTheCollection(t *testing.T) {
	s := newServer(t, nil)
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	if cc := f.resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control %q", cc)
	}
	created := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"name": "cep"}})
	post(t, srv.URL, "/v1/mushrooms", "bob", map[string]any{"data": map[string]any{"name": "bob's"}}) // another collection
	e := f.next(2 * time.Second)
	action, obj := e.change(t)
	if action != "create" || obj["id"] != created["id"] || obj["name"] != "cep" || e.ID != fmt.Sprintf("%.0f", created["last_modified"]) {
		t.Fatalf("event %+v, want the creation of %v", e, created)
	}
	id := created["id"].(string)
	patched := send(t, http.MethodPatch, srv.URL+"/v1/mushrooms/"+id, "alice", map[string]any{"data": map[string]any{"name": "porcini"}}, 200)
	action, obj = f.next(2 * time.Second).change(t)
	if action != "update" || obj["name"] != "porcini" || obj["last_modified"] != patched["last_modified"] {
		t.Fatalf("update event %s %v", action, obj)
	}
	deleted := send(t, http.MethodDelete, srv.URL+"/v1/mushrooms/"+id, "alice", nil, 200)
	action, obj = f.next(2 * time.Second).change(t)
	if action != "delete" || obj["deleted"] != true || obj["last_modified"] != deleted["last_modified"] || len(obj) != 3 {
		t.Fatalf("delete event %s %v, want the tombstone %v", action, obj, deleted)
	}
	// DELETE on the plural URL: one event per tombstone.
	post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": 1}})
	post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": 2}})
	f.next(2 * time.Second)
	f.next(2 * time.Second)
	send(t, http.MethodDelete, srv.URL+"/v1/mushrooms", "alice", nil, 200)
	for range 2 {
		if action, obj := f.next(2 * time.Second).change(t); action != "delete" || obj["deleted"] != true {
			t.Fatalf("DELETE on the plural URL: %s %v", action, obj)
		}
	}
	f.none()
}

func TestFeedReplaysFromLastEventIDOrSinceThenGoesLive(t *testing.T) {
	s := newServer(t, nil)
	srv := serve(t, s.h)
	var objs []map[string]any
	for i := range 4 {
		objs = append(objs, post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": i}}))
	}
	ts := func(i int) string { return fmt.Sprintf("%.0f", objs[i]["last_modified"]) }
	for _, c := range []struct {
		name   string
		path   string
		header map[string]string
	}{
		{"Last-Event-ID", "/v1/mushrooms", map[string]string{"Last-Event-ID": ts(1)}},
		{"_since", "/v1/mushrooms?_since=" + ts(1), nil},
		{"Last-Event-ID wins over the URL's _since", "/v1/mushrooms?_since=" + ts(0), map[string]string{"Last-Event-ID": ts(1)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := openFeed(t, srv.URL, c.path, "alice", c.header)
			for _, want := range objs[2:] {
				e := f.next(2 * time.Second)
				if action, obj := e.change(t); obj["id"] != want["id"] || action != "update" {
					t.Fatalf("replayed %s %v, want %v", action, obj, want)
				}
			}
			live := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": "live"}})
			if action, obj := f.next(2 * time.Second).change(t); obj["id"] != live["id"] || action != "create" {
				t.Fatalf("live %s %v", action, obj)
			}
			f.none()
			objs = append(objs, live)
		})
	}
}

func TestFeedAppliesTheFiltersAndFieldsOfALists(t *testing.T) {
	s := newServer(t, nil)
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms?edible=true&_fields=name", "alice", nil)
	post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"name": "amanita", "edible": false}})
	cep := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"name": "cep", "edible": true, "size": 3}})
	action, obj := f.next(2 * time.Second).change(t)
	if action != "create" || obj["id"] != cep["id"] || obj["name"] != "cep" || obj["size"] != nil || obj["edible"] != nil {
		t.Fatalf("event %s %v, want cep projected on name", action, obj)
	}
	f.none()
}

func TestFeedRequestErrorsAreJSON(t *testing.T) {
	s := newServer(t, map[string]string{"change_feed_max_streams_per_user": "1"})
	srv := serve(t, s.h)
	openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	cases := []struct {
		name         string
		path, user   string
		header       map[string]string
		code, errno  int
		retryAfter   bool
		locationName string
	}{
		{"anonymous on a private resource", "/v1/mushrooms", "", nil, 401, 104, false, ""},
		{"_sort", "/v1/mushrooms?_sort=name", "bob", nil, 400, 107, false, "_sort"},
		{"_limit", "/v1/mushrooms?_limit=2", "bob", nil, 400, 107, false, "_limit"},
		{"a bad Last-Event-ID", "/v1/mushrooms", "bob", map[string]string{"Last-Event-ID": "yesterday"}, 400, 107, false, "Last-Event-ID"},
		{"a bad _since", "/v1/mushrooms?_since=abc", "bob", nil, 400, 107, false, "_since"},
		{"a second stream of the same user", "/v1/mushrooms", "alice", nil, 429, 117, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, cancel := feedRequest(t, srv.URL, c.path, c.user, c.header)
			defer cancel()
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("%d: body is not JSON: %v", resp.StatusCode, err)
			}
			if resp.StatusCode != c.code || body["errno"] != float64(c.errno) {
				t.Fatalf("%d %v, want %d errno %d", resp.StatusCode, body, c.code, c.errno)
			}
			if c.retryAfter != (resp.Header.Get("Retry-After") != "") {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			if c.locationName != "" && !strings.Contains(fmt.Sprint(body["details"]), c.locationName) {
				t.Errorf("details %v do not name %s", body["details"], c.locationName)
			}
		})
	}
}

func TestFeedIsRefusedInABatch(t *testing.T) {
	s := newServer(t, nil)
	r := s.must(200, req{Method: "POST", Path: "/v1/batch", User: "alice", Body: map[string]any{
		"requests": []any{map[string]any{"path": "/mushrooms", "headers": map[string]string{"Accept": "text/event-stream"}}}}})
	sub := r.Body["responses"].([]any)[0].(map[string]any)
	body, _ := sub["body"].(map[string]any)
	if sub["status"] != float64(400) || body["errno"] != float64(107) || !strings.Contains(fmt.Sprint(body["message"]), "batch") {
		t.Fatalf("sub-response %v", sub)
	}
}

func TestFeedLimitOfTheProcess(t *testing.T) {
	// A stream whose client left is noticed at its next keep-alive at the latest.
	s := newServer(t, map[string]string{"change_feed_max_streams": "2", "change_feed_keepalive_seconds": "1"})
	srv := serve(t, s.h)
	openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "bob", nil)
	resp, cancel := feedRequest(t, srv.URL, "/v1/mushrooms", "carol", nil)
	defer cancel()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), `"errno":201`) || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third stream: %d %s", resp.StatusCode, body)
	}
	f.close() // a place is free again
	deadline := time.Now().Add(3 * time.Second)
	for s.app.ChangeFeed().Stats().Streams > 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	openFeed(t, srv.URL, "/v1/mushrooms", "carol", nil)
}

func TestFeedIsNotAcceptableWhenDisabled(t *testing.T) {
	s := newServer(t, map[string]string{"change_feed_enabled": "false"})
	r := s.do(req{Method: "GET", Path: "/v1/mushrooms", User: "alice", Header: map[string]string{"Accept": "text/event-stream"}})
	expectError(t, r, 406, 107, "headers", "Accept")
	if s.app.ChangeFeed() != nil {
		t.Error("a hub exists although change_feed_enabled is false")
	}
	// JSON clients are unaffected by the feature, on or off.
	on := newServer(t, nil)
	for _, accept := range []string{"", "application/json", "*/*", "application/json, text/event-stream;q=0.5"} {
		r := on.do(req{Method: "GET", Path: "/v1/mushrooms", User: "alice", Header: map[string]string{"Accept": accept}})
		if r.Code != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
			t.Errorf("Accept %q: %d %s", accept, r.Code, r.Header.Get("Content-Type"))
		}
	}
}

func TestFeedKeepAliveComments(t *testing.T) {
	s := newServer(t, map[string]string{"change_feed_keepalive_seconds": "1"})
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	// Two comments at a 1 s interval; the deadline leaves room for a loaded machine, and
	// stays far below the default interval (15 s), which would send none.
	start := time.Now()
	for f.comments.Load() < 2 && time.Since(start) < 6*time.Second {
		time.Sleep(50 * time.Millisecond)
	}
	if n := f.comments.Load(); n < 2 {
		t.Fatalf("%d keep-alive comments in %v, want 2", n, time.Since(start).Round(time.Millisecond))
	}
}

func TestFeedSurvivesTheServerTimeoutsAndEndsAtShutdown(t *testing.T) {
	s := newServer(t, nil)
	srv := httptest.NewUnstartedServer(s.h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 500*time.Millisecond, 500*time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	time.Sleep(1200 * time.Millisecond)
	o := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{}})
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != o["id"] {
		t.Fatalf("after the server timeouts: %v", obj)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go srv.Config.Shutdown(ctx) //nolint:errcheck // checked through the stream
	e, body := f.errorEvent(3 * time.Second)
	if body["code"] != float64(503) || body["errno"] != float64(201) || e.Retry == "" {
		t.Fatalf("shutdown event %+v", e)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the stream took %s to end at shutdown", d)
	}
}

func TestFeedEndsWhenTheAppCloses(t *testing.T) {
	s := newServer(t, nil)
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	s.app.Close()
	if _, body := f.errorEvent(2 * time.Second); body["code"] != float64(503) {
		t.Fatalf("error %v", body)
	}
}

func TestFeedIsNotHeldByBeforeCommitListeners(t *testing.T) {
	s := newServer(t, nil)
	var reads atomic.Int32
	s.app.Subscribe(events.ResourceRead, func(context.Context, events.Event) error { reads.Add(1); return nil })
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	o := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{}})
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != o["id"] {
		t.Fatalf("event %v", obj)
	}
	if n := reads.Load(); n != 0 {
		t.Errorf("%d read events for a stream", n)
	}
}

func TestFeedFollowsPermissionChangesMemory(t *testing.T) {
	runFeedPermissions(t, storagememory.New(nil))
}

// runFeedPermissions checks that a stream gets the changes of the objects its user may
// read when each change is delivered, on store.
func runFeedPermissions(t *testing.T, store storage.Backend) {
	bob := principalOf("bob")
	app := newAppWith(t, cliquet.Config{Storage: store, Permission: memory.New()},
		map[string]string{"article_create_principals": "system.Authenticated"})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "article", Sharing: &resource.Sharing{}}); err != nil {
		t.Fatal(err)
	}
	srv := serve(t, app.Handler())
	shared := post(t, srv.URL, "/v1/articles", "alice", map[string]any{"data": map[string]any{"n": 1},
		"permissions": map[string]any{"read": []string{bob}}})
	private := post(t, srv.URL, "/v1/articles", "alice", map[string]any{"data": map[string]any{"n": 2}})
	f := openFeed(t, srv.URL, "/v1/articles", "bob", map[string]string{"Last-Event-ID": "0"})
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != shared["id"] {
		t.Fatalf("replay gave %v, want the shared article only", obj)
	}
	url := srv.URL + "/v1/articles/"
	patch := func(id string, n int, perms map[string]any) {
		t.Helper()
		body := map[string]any{"data": map[string]any{"n": n}}
		if perms != nil {
			body["permissions"] = perms
		}
		send(t, http.MethodPatch, url+id, "alice", body, 200)
	}
	patch(private["id"].(string), 3, nil)
	patch(shared["id"].(string), 4, nil)
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != shared["id"] || obj["n"] != float64(4) {
		t.Fatalf("event %v, want the update of the shared article", obj)
	}
	// Without units of work (memory, Redis), a write that changes an object and its ACL
	// at once is announced before its new ACL is saved: see docs/changes.md.
	ctx, tx, err := store.Begin(context.Background())
	if err == nil {
		_ = tx.Rollback(ctx)
	}
	announcedFirst := errors.Is(err, storage.ErrNotSupported)
	// Alice stops sharing: bob gets no more of its changes, although his stream stays
	// open (he may still create articles, so his list is empty, not forbidden). The write
	// that stops sharing may still reach him when it is announced first, if its delivery
	// wins the race with the ACL; the next write never does.
	patch(shared["id"].(string), 5, map[string]any{"read": []string{}})
	patch(shared["id"].(string), 6, nil)
	if announcedFirst {
		select {
		case e := <-f.events:
			if _, obj := e.change(t); obj["id"] != shared["id"] || obj["n"] != float64(5) {
				t.Fatalf("event %v after the article stopped being shared", obj)
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
	f.none()
	// Alice shares the other article: its changes reach bob. (The write that shares it
	// reaches him too when storage has units of work, which commit the object after its
	// ACL is saved; when it is announced first, only if the ACL wins the race.)
	patch(private["id"].(string), 7, map[string]any{"read": []string{bob}})
	want := float64(7)
	if announcedFirst {
		select {
		case e := <-f.events:
			f.events <- e // the race went the ACL's way
		case <-time.After(300 * time.Millisecond):
			patch(private["id"].(string), 8, nil)
			want = 8
		}
	}
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != private["id"] || obj["n"] != want {
		t.Fatalf("event %v, want the newly shared article at n=%.0f", obj, want)
	}
}

func TestFeedEndsWhenTheUserLosesReadOnTheParent(t *testing.T) {
	ts := newTreeServer(t, storagememory.New(nil), memory.New())
	srv := serve(t, ts.h)
	bob := principalOf("bob")
	send(t, http.MethodPut, srv.URL+"/v1/shelves/s1", "alice", map[string]any{"data": map[string]any{}}, 201)
	send(t, http.MethodPut, srv.URL+"/v1/shelves/s1/folders/f1", "alice", map[string]any{"data": map[string]any{},
		"permissions": map[string]any{"read": []string{bob}}}, 201)
	f := openFeed(t, srv.URL, "/v1/shelves/s1/folders/f1/notes", "bob", nil)
	send(t, http.MethodPut, srv.URL+"/v1/shelves/s1/folders/f1/notes/n1", "alice", map[string]any{"data": map[string]any{"x": 1}}, 201)
	if action, obj := f.next(2 * time.Second).change(t); action != "create" || obj["id"] != "n1" {
		t.Fatalf("event %s %v", action, obj)
	}
	send(t, http.MethodPatch, srv.URL+"/v1/shelves/s1/folders/f1", "alice", map[string]any{"permissions": map[string]any{"read": []string{}}}, 200)
	send(t, http.MethodPut, srv.URL+"/v1/shelves/s1/folders/f1/notes/n2", "alice", map[string]any{"data": map[string]any{"x": 2}}, 201)
	e, body := f.errorEvent(2 * time.Second)
	if body["code"] != float64(403) || body["errno"] != float64(121) || e.Retry != "" {
		t.Fatalf("error event %+v", e)
	}
}

func TestFeedClosesASlowClientWithoutHoldingWritersOrOthers(t *testing.T) {
	s := newServer(t, map[string]string{"change_feed_buffer_size": "4"})
	srv := serve(t, s.h)
	// The slow client does not read: its socket buffers fill with large objects, the
	// handler blocks in Write, and the hub's buffer for it overflows.
	slowResp, cancel := feedRequest(t, srv.URL, "/v1/mushrooms", "alice", nil)
	defer cancel()
	defer slowResp.Body.Close()
	fast := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	big := strings.Repeat("x", 128<<10)
	var lastID string
	var slowest time.Duration
	for i := range 40 {
		start := time.Now()
		o := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": i, "big": big}})
		slowest = max(slowest, time.Since(start))
		lastID = o["id"].(string)
		fast.until(lastID, o["last_modified"].(float64))
	}
	if slowest > 5*time.Second { // generous: -race and 2 shared cores; a write waiting for the slow client would wait for ever
		t.Errorf("a write took %s while a client was slow", slowest)
	}
	// Now the slow client reads: some events, then the error telling it to reconnect.
	slow := &feedConn{t: t, resp: slowResp, events: make(chan sseEvent, 100), ended: make(chan struct{}), cancel: cancel}
	go slow.read()
	var received int
	for {
		e := slow.next(5 * time.Second)
		if e.Type == "error" {
			var body map[string]any
			json.Unmarshal([]byte(e.Data), &body) //nolint:errcheck
			if body["code"] != float64(429) || body["errno"] != float64(117) || !strings.Contains(body["message"].(string), "Last-Event-ID") {
				t.Fatalf("slow client's error %v", body)
			}
			break
		}
		received++
	}
	if received >= 40 {
		t.Fatalf("the slow client received every event (%d): it was not slow", received)
	}
	if !slow.endsWithin(2 * time.Second) {
		t.Fatal("the slow client's stream stays open")
	}
}

// twoHeads serves two apps on one storage backend, each on its own test server.
func twoHeads(t *testing.T, newApp func(t *testing.T) *cliquet.App) (a, b string) {
	t.Helper()
	for i, base := range []*string{&a, &b} {
		app := newApp(t)
		if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
			t.Fatalf("head %d: %v", i, err)
		}
		*base = serve(t, app.Handler()).URL
	}
	return a, b
}

// checkTwoHeads writes through head a and expects the change on a stream of head b within a
// second, creations, updates and deletions.
func checkTwoHeads(t *testing.T, a, b string) {
	t.Helper()
	f := openFeed(t, b, "/v1/mushrooms", "alice", nil)
	for i := range 5 {
		start := time.Now()
		o := post(t, a, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": i}})
		action, obj := f.next(time.Second).change(t)
		if obj["id"] != o["id"] || action != "create" {
			t.Fatalf("head b got %s %v, want the creation of %v", action, obj, o)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("head b got the change after %s", d)
		}
		send(t, http.MethodDelete, a+"/v1/mushrooms/"+o["id"].(string), "alice", nil, 200)
		if action, _ := f.next(time.Second).change(t); action != "delete" {
			t.Fatalf("head b got %s, want the deletion", action)
		}
	}
}

func TestFeedAcrossTwoWebHeadsMemory(t *testing.T) {
	store := storagememory.New(nil)
	a, b := twoHeads(t, func(t *testing.T) *cliquet.App { return newAppOn(t, store, nil) })
	checkTwoHeads(t, a, b)
}

// jsonDecode decodes the JSON body of resp into v.
func jsonDecode(resp *http.Response, v any) error { return json.NewDecoder(resp.Body).Decode(v) }

func TestFeedOverHTTP2IsServedByItsHandler(t *testing.T) {
	s := newServer(t, nil)
	srv := httptest.NewUnstartedServer(s.h)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/mushrooms", nil)
	r.Header.Set("Accept", "text/event-stream")
	r.SetBasicAuth("alice", "secret")
	resp, err := srv.Client().Do(r)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%s %d %s", resp.Proto, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	f := &feedConn{t: t, resp: resp, events: make(chan sseEvent, 100), ended: make(chan struct{}), cancel: cancel}
	go f.read()
	body, _ := json.Marshal(map[string]any{"data": map[string]any{"over": "h2"}})
	pr, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/mushrooms", strings.NewReader(string(body)))
	pr.Header.Set("Content-Type", "application/json")
	pr.SetBasicAuth("alice", "secret")
	presp, err := srv.Client().Do(pr)
	if err != nil || presp.StatusCode != 201 {
		t.Fatalf("POST: %v %v", presp, err)
	}
	presp.Body.Close()
	if action, obj := f.next(2 * time.Second).change(t); action != "create" || obj["over"] != "h2" {
		t.Fatalf("event %s %v", action, obj)
	}
	cancel()
	<-f.ended
}

func TestFeedWorksUnderTheMonitoringDecorators(t *testing.T) {
	// With statsd_url set, the storage backend is wrapped to time its calls: the hub finds
	// the backend's Notifier under the wrapper.
	s := newServer(t, map[string]string{"statsd_url": "udp://127.0.0.1:9"})
	if s.app.ChangeFeed() == nil {
		t.Fatal("no change feed under a watched storage backend")
	}
	srv := serve(t, s.h)
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", nil)
	o := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{}})
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != o["id"] {
		t.Fatalf("event %v", obj)
	}
}

// A replay from before the collection's tombstone horizon is refused with 410 errno 203:
// the deletions it would need were purged.
func TestFeedRefusesAReplayFromBeforeTheHorizon(t *testing.T) {
	s := newServer(t, nil)
	srv := serve(t, s.h)
	var objs []map[string]any
	for i := range 3 {
		objs = append(objs, post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": i}}))
	}
	gone := s.must(200, req{Method: "DELETE", Path: "/v1/mushrooms/" + objs[1]["id"].(string), User: "alice"})
	scope := storage.Scope{Resource: "mushroom", Parent: principalOf("alice")}
	if n, err := s.app.Storage.PurgeDeleted(context.Background(), scope, 0); err != nil || n != 1 {
		t.Fatalf("PurgeDeleted = %d, %v", n, err)
	}
	old := fmt.Sprintf("%.0f", objs[0]["last_modified"])
	resp, cancel := feedRequest(t, srv.URL, "/v1/mushrooms", "alice", map[string]string{"Last-Event-ID": old})
	defer cancel()
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 410 || body["errno"] != float64(203) {
		t.Fatalf("a replay from before the horizon: %d %v, %v; want 410 errno 203", resp.StatusCode, body, err)
	}
	// From the horizon on, the replay is complete: it streams.
	horizon := fmt.Sprintf("%.0f", gone.data()["last_modified"])
	f := openFeed(t, srv.URL, "/v1/mushrooms", "alice", map[string]string{"Last-Event-ID": horizon})
	live := post(t, srv.URL, "/v1/mushrooms", "alice", map[string]any{"data": map[string]any{"n": "live"}})
	if _, obj := f.next(2 * time.Second).change(t); obj["id"] != live["id"] {
		t.Fatalf("after the horizon: %v", obj)
	}
}
