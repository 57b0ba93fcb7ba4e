package cliquet_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/events"
	_ "github.com/cliquet-go/cliquet/events/redislistener" // the "redis" listener
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// eventsApp is an app whose custom views store "thing" and "gadget" objects and record their
// events with events.Record.
func eventsApp(t *testing.T, values map[string]string) *cliquet.App {
	t.Helper()
	app, err := newEventsApp(values)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func newEventsApp(values map[string]string) (*cliquet.App, error) {
	return newEventsAppLogging(values, io.Discard)
}

// newEventsAppLogging is newEventsApp with its logs written to w.
func newEventsAppLogging(values map[string]string, w io.Writer) (*cliquet.App, error) {
	base := map[string]string{"storage_backend": "memory"}
	for k, v := range values {
		base[k] = v
	}
	app, err := cliquet.TryApp(base, cliquet.Config{Logger: slog.New(slog.NewTextHandler(w, nil))})
	if err != nil {
		return nil, err
	}
	for _, name := range []string{"thing", "gadget"} {
		app.Router.Put("/"+name+"s/{id}", putView(name))
		app.Router.Get("/"+name+"s/{id}", readView(name))
		app.Router.Delete("/"+name+"s/{id}", deleteView(name))
	}
	return app, nil
}

func scopeOf(r *http.Request, name string) storage.Scope {
	return storage.Scope{Resource: name, Parent: authn.IdentityFrom(r.Context()).UserID}
}

func putView(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, scope := r.Context(), scopeOf(r, name)
		data, _ := io.ReadAll(r.Body)
		obj, err := cliquet.StorageFrom(ctx).Update(ctx, scope, storage.Object{ID: chi.URLParam(r, "id"), Data: data}, storage.Condition{})
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		events.Record(ctx, events.Event{Action: events.ActionUpdate, ResourceName: name, Parent: scope.Parent,
			Timestamp: obj.LastModified, Impacted: []events.Impacted{{New: &obj}}})
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": obj})
	}
}

func readView(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, scope := r.Context(), scopeOf(r, name)
		obj, err := cliquet.StorageFrom(ctx).Get(ctx, scope, chi.URLParam(r, "id"))
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		events.Record(ctx, events.Event{Action: events.ActionRead, ResourceName: name, Parent: scope.Parent,
			Timestamp: obj.LastModified, Read: []storage.Object{obj}})
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": obj})
	}
}

func deleteView(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, scope := r.Context(), scopeOf(r, name)
		tomb, err := cliquet.StorageFrom(ctx).Delete(ctx, scope, chi.URLParam(r, "id"), 0, storage.Condition{})
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		events.Record(ctx, events.Event{Action: events.ActionDelete, ResourceName: name, Parent: scope.Parent,
			Timestamp: tomb.LastModified, Impacted: []events.Impacted{{New: &tomb}}})
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": tomb})
	}
}

// call serves one request as user "alice" and fails unless the status is want.
func call(t *testing.T, app *cliquet.App, want int, method, path, body string) []byte {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	r.SetBasicAuth("alice", "pw")
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, r)
	if rec.Code != want {
		t.Fatalf("%s %s: status %d, want %d: %s", method, path, rec.Code, want, rec.Body)
	}
	return rec.Body.Bytes()
}

func TestRecord(t *testing.T) {
	app := eventsApp(t, nil)
	var got []events.Event
	app.Subscribe(events.ResourceChanged, func(_ context.Context, e events.Event) error {
		got = append(got, e)
		return nil
	})
	call(t, app, 200, "POST", "/v1/batch", `{"requests": [
		{"method": "PUT", "path": "/things/a", "body": {"n": 1}},
		{"method": "PUT", "path": "/things/b", "body": {"n": 2}},
		{"method": "PUT", "path": "/gadgets/c", "body": {"n": 3}}]}`)
	if len(got) != 2 {
		t.Fatalf("%d events, want 2 (merged per resource): %v", len(got), got)
	}
	e := got[0]
	if e.URI != "/things/a" || !reflect.DeepEqual(e.Params, map[string]string{"thing_id": "a"}) ||
		!strings.HasPrefix(e.UserID, "basicauth:") || len(e.Impacted) != 2 || e.Impacted[1].New.ID != "b" {
		t.Errorf("merged event %+v", e)
	}
	if got[1].ResourceName != "gadget" || got[1].Params["gadget_id"] != "c" {
		t.Errorf("second event %+v", got[1])
	}
	if events.Record(context.Background(), events.Event{Action: events.ActionRead, ResourceName: "thing"}) {
		t.Error("Record outside a request reported success")
	}
	if events.Wanted(context.Background(), events.ActionRead) {
		t.Error("Wanted outside a request")
	}
}

func TestEventFilters(t *testing.T) {
	tests := []struct {
		name   string
		filter events.EventFilter
		event  events.Event
		want   bool
	}{
		{"ForActions accepts a listed action", events.ForActions(events.ActionCreate, events.ActionDelete), events.Event{Action: events.ActionDelete}, true},
		{"ForActions rejects another action", events.ForActions(events.ActionCreate), events.Event{Action: events.ActionRead}, false},
		{"ForResources accepts a listed resource", events.ForResources("toad", "mushroom"), events.Event{ResourceName: "mushroom"}, true},
		{"ForResources rejects another resource", events.ForResources("toad"), events.Event{ResourceName: "mushroom"}, false},
		{"ForResources without names accepts all", events.ForResources(), events.Event{ResourceName: "mushroom"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter(tt.event); got != tt.want {
				t.Errorf("filter = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestListenerSettingsErrors(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
		want     string
	}{
		{"an unknown listener name fails", map[string]string{"event_listeners": "nope"}, `unknown backend "nope"`},
		{"an unknown use fails", map[string]string{"event_listeners": "q", "event_listeners.q.use": "kinto.listeners.kafka"}, "event_listeners.q.use"},
		{"an unknown action fails", map[string]string{"event_listeners": "redis", "event_listeners.redis.url": "redis://" + testenv.RefusedAddr + "/0",
			"event_listeners.redis.actions": "create explode"}, "event_listeners.redis.actions"},
		{"the redis listener needs a url", map[string]string{"event_listeners": "redis", "event_listeners.redis.url": ""}, "event_listeners.redis.url"},
		{"a bad redis url fails", map[string]string{"event_listeners": "redis", "event_listeners.redis.url": "http://x"}, "event_listeners.redis.url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, err := newEventsApp(tt.settings)
			if err == nil {
				app.Close()
				t.Fatal("Initialize succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
	if !reflect.DeepEqual(events.Listeners(), []string{"probe", "redis"}) {
		t.Errorf("Listeners() = %v", events.Listeners())
	}
}

// redisURL returns the test Redis server on database 5, or skips (fails in CI).
func redisURL(t *testing.T) string {
	t.Helper()
	return testenv.RedisURL(t, 5)
}

func TestRedisListener(t *testing.T) {
	rurl := redisURL(t)
	opts, err := goredis.ParseURL(rurl)
	if err != nil {
		t.Fatal(err)
	}
	client := goredis.NewClient(opts)
	defer client.Close()
	ctx := context.Background()
	suffix := fmt.Sprint(time.Now().UnixNano())
	writes, audit := "cliquet-test.events."+suffix, "cliquet-test.audit."+suffix
	t.Cleanup(func() { client.Del(context.Background(), writes, audit) })

	app := eventsApp(t, map[string]string{
		// "redis" by name, with the default actions; "audit" by a Cliquet dotted path.
		"event_listeners":                 "redis audit",
		"event_listeners.redis.url":       rurl,
		"event_listeners.redis.pool_size": "2",
		"event_listeners.redis.listname":  writes,
		"event_listeners.audit.use":       "cliquet.listeners.redis",
		"event_listeners.audit.url":       rurl,
		"event_listeners.audit.listname":  audit,
		"event_listeners.audit.actions":   "read delete",
		"event_listeners.audit.resources": "thing",
	})
	put := call(t, app, 200, "PUT", "/v1/things/a", `{"n": 1}`)
	call(t, app, 200, "GET", "/v1/things/a", "")
	call(t, app, 200, "DELETE", "/v1/things/a", "")
	call(t, app, 200, "PUT", "/v1/gadgets/g", `{"n": 2}`)
	call(t, app, 200, "GET", "/v1/gadgets/g", "")

	actions := func(list string) []string {
		items, err := client.LRange(ctx, list, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i := len(items) - 1; i >= 0; i-- { // LPUSH: newest first
			var p map[string]any
			if err := json.Unmarshal([]byte(items[i]), &p); err != nil {
				t.Fatalf("payload %q: %v", items[i], err)
			}
			out = append(out, fmt.Sprint(p["action"], ":", p["resource_name"]))
		}
		return out
	}
	if got, want := actions(writes), []string{"update:thing", "delete:thing", "update:gadget"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", writes, got, want)
	}
	if got, want := actions(audit), []string{"read:thing", "delete:thing"}; !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %v, want %v", audit, got, want)
	}

	// The payload only: no objects.
	first, err := client.LIndex(ctx, writes, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Data struct {
			LastModified int64 `json:"last_modified"`
		} `json:"data"`
	}
	json.Unmarshal(put, &body) //nolint:errcheck // checked through the comparison
	var payload map[string]any
	json.Unmarshal([]byte(first), &payload) //nolint:errcheck // checked below
	uid, _ := payload["user_id"].(string)
	want := map[string]any{"action": "update", "uri": "/things/a", "resource_name": "thing", "thing_id": "a",
		"user_id": uid, "timestamp": float64(body.Data.LastModified)}
	if !strings.HasPrefix(uid, "basicauth:") || !reflect.DeepEqual(payload, want) {
		t.Errorf("payload %s, want %v", first, want)
	}
}

func TestRedisListenerFailureIsLogged(t *testing.T) {
	// Nothing listens there: the push fails, the request does not, and the failure is
	// logged with the event it lost.
	var logs syncBuffer
	app, err := newEventsAppLogging(map[string]string{"event_listeners": "redis",
		"event_listeners.redis.url": "redis://" + testenv.RefusedAddr + "/0"}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	call(t, app, 200, "PUT", "/v1/things/a", `{"n": 1}`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "redis listener: cannot push the payload") {
		if time.Now().After(deadline) {
			t.Fatalf("the failed push was not logged; logs:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := logs.String(); !strings.Contains(got, "level=ERROR") || !strings.Contains(got, "/things/a") {
		t.Errorf("the log record does not name the event at ERROR level:\n%s", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// probe is a listener factory for the StatsD test: it waits a little and records nothing.
func probe(context.Context, events.ListenerConfig) (events.Listener, io.Closer, error) {
	return func(context.Context, events.Event) error { time.Sleep(time.Millisecond); return nil }, nil, nil
}

func init() { events.RegisterListener("probe", probe) }

func TestListenerTimings(t *testing.T) {
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	app := eventsApp(t, map[string]string{"event_listeners": "probe", "statsd_url": "udp://" + conn.LocalAddr().String()})
	call(t, app, 200, "PUT", "/v1/things/a", `{"n": 1}`)
	app.Close() // flushes the metrics

	var seen strings.Builder
	buf := make([]byte, 64<<10)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && !strings.Contains(seen.String(), ".listeners.probe:") {
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond)) //nolint:errcheck // a test socket
		n, _, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			t.Fatal(err)
		}
		seen.Write(buf[:n])
		seen.WriteByte('\n')
	}
	if !strings.Contains(seen.String(), ".listeners.probe:") || !strings.Contains(seen.String(), "|ms") {
		t.Errorf("no listeners.probe timing in %q", seen.String())
	}
}
