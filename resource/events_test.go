package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// recorder keeps the events it receives.
type recorder struct {
	mu     sync.Mutex
	events []events.Event
}

func (rec *recorder) listen(_ context.Context, e events.Event) error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, e)
	return nil
}

// take returns the events received so far and forgets them.
func (rec *recorder) take() []events.Event {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	out := rec.events
	rec.events = nil
	return out
}

// subscribe records the events of kinds in a new recorder.
func subscribe(app *cliquet.App, kinds ...events.EventKind) *recorder {
	rec := &recorder{}
	for _, k := range kinds {
		app.Subscribe(k, rec.listen)
	}
	return rec
}

// userID asks the hello view for the id of user.
func userID(s *server, user string) string {
	s.t.Helper()
	r := s.must(200, req{Method: "GET", Path: "/v1/", User: user})
	return r.Body["user"].(map[string]any)["id"].(string)
}

// asJSON renders v as a generic JSON value, to compare with a response body.
func asJSON(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func lmOf(t *testing.T, v any) int64 {
	t.Helper()
	f, ok := v.(float64)
	if !ok {
		t.Fatalf("last_modified %v is not a number", v)
	}
	return int64(f)
}

// one checks that exactly one event was received and returns it.
func one(t *testing.T, rec *recorder) events.Event {
	t.Helper()
	evs := rec.take()
	if len(evs) != 1 {
		t.Fatalf("got %d events %v, want 1", len(evs), evs)
	}
	return evs[0]
}

func checkPayload(t *testing.T, e events.Event, want map[string]any) {
	t.Helper()
	if got := asJSON(t, e.Payload()); !reflect.DeepEqual(got, asJSON(t, want)) {
		t.Errorf("payload = %v\nwant      %v", got, want)
	}
}

func checkImpacted(t *testing.T, e events.Event, news, olds []map[string]any) {
	t.Helper()
	if len(e.Impacted) != len(news) {
		t.Fatalf("%d impacted objects, want %d: %v", len(e.Impacted), len(news), asJSON(t, e.Impacted))
	}
	for i, imp := range e.Impacted {
		if got := asJSON(t, imp.New); !reflect.DeepEqual(got, asJSON(t, news[i])) {
			t.Errorf("impacted[%d].new = %v, want %v", i, got, news[i])
		}
		switch {
		case olds == nil && imp.Old != nil:
			t.Errorf("impacted[%d].old = %v, want none", i, asJSON(t, imp.Old))
		case olds != nil:
			if got := asJSON(t, imp.Old); !reflect.DeepEqual(got, asJSON(t, olds[i])) {
				t.Errorf("impacted[%d].old = %v, want %v", i, got, olds[i])
			}
		}
	}
}

func TestEventPayloads(t *testing.T) {
	s := newServer(t, nil)
	rec := subscribe(s.app, events.ResourceChanged, events.ResourceRead)
	alice := userID(s, "alice")
	rec.take()

	// Create.
	created := s.create("alice", map[string]any{"name": "de Paris"})
	id := created["id"].(string)
	e := one(t, rec)
	if e.Kind != events.ResourceChanged || e.Parent != alice {
		t.Errorf("kind %v parent %q, want ResourceChanged and %q", e.Kind, e.Parent, alice)
	}
	checkPayload(t, e, map[string]any{"action": "create", "uri": "/mushrooms", "resource_name": "mushroom",
		"user_id": alice, "timestamp": created["last_modified"]})
	checkImpacted(t, e, []map[string]any{created}, nil)
	if e.String() != "<ResourceChanged action=create uri=/mushrooms>" {
		t.Errorf("String() = %q", e.String())
	}

	// Update (PUT replaces).
	objPath := "/v1/mushrooms/" + id
	put := s.must(200, req{Method: "PUT", Path: objPath, User: "alice", Body: map[string]any{"data": map[string]any{"name": "en boite"}}}).data()
	e = one(t, rec)
	checkPayload(t, e, map[string]any{"action": "update", "uri": "/mushrooms/" + id, "resource_name": "mushroom",
		"user_id": alice, "timestamp": put["last_modified"], "mushroom_id": id})
	checkImpacted(t, e, []map[string]any{put}, []map[string]any{created})

	// Update (PATCH).
	patched := s.must(200, req{Method: "PATCH", Path: objPath, User: "alice", Body: map[string]any{"data": map[string]any{"size": 3}}}).data()
	e = one(t, rec)
	if e.Action != events.ActionUpdate {
		t.Errorf("PATCH action %q", e.Action)
	}
	checkImpacted(t, e, []map[string]any{patched}, []map[string]any{put})

	// Read one.
	s.must(200, req{Method: "GET", Path: objPath, User: "alice"})
	e = one(t, rec)
	checkPayload(t, e, map[string]any{"action": "read", "uri": "/mushrooms/" + id, "resource_name": "mushroom",
		"user_id": alice, "timestamp": patched["last_modified"], "mushroom_id": id})
	if e.Kind != events.ResourceRead || len(e.Read) != 1 || !reflect.DeepEqual(asJSON(t, e.Read[0]), asJSON(t, patched)) || e.Impacted != nil {
		t.Errorf("read event %v: read %v", e, asJSON(t, e.Read))
	}

	// Read the list: the timestamp is the collection's (the ETag).
	second := s.create("alice", map[string]any{"name": "de Lyon"})
	rec.take()
	list := s.must(200, req{Method: "GET", Path: "/v1/mushrooms", User: "alice"})
	e = one(t, rec)
	collTS, _ := strconv.ParseInt(etag(list)[1:len(etag(list))-1], 10, 64)
	if e.Action != events.ActionRead || e.Timestamp != collTS || len(e.Read) != 2 || e.URI != "/mushrooms" {
		t.Errorf("list read event %v ts %d (want %d) with %d objects", e, e.Timestamp, collTS, len(e.Read))
	}

	// Delete one: new is the tombstone, old the previous object.
	del := s.must(200, req{Method: "DELETE", Path: objPath, User: "alice"}).data()
	e = one(t, rec)
	checkPayload(t, e, map[string]any{"action": "delete", "uri": "/mushrooms/" + id, "resource_name": "mushroom",
		"user_id": alice, "timestamp": del["last_modified"], "mushroom_id": id})
	checkImpacted(t, e, []map[string]any{{"id": id, "last_modified": del["last_modified"], "deleted": true}},
		[]map[string]any{patched})

	// Plural delete: one pair per deleted object.
	third := s.create("alice", map[string]any{"name": "de Nancy"})
	rec.take()
	tombs := s.must(200, req{Method: "DELETE", Path: "/v1/mushrooms?_sort=last_modified", User: "alice"}).list()
	e = one(t, rec)
	if e.Action != events.ActionDelete || len(tombs) != 2 {
		t.Fatalf("plural delete: %v with %d tombstones", e, len(tombs))
	}
	checkImpacted(t, e, tombs, []map[string]any{second, third})
	if e.Timestamp != max(lmOf(t, tombs[0]["last_modified"]), lmOf(t, tombs[1]["last_modified"])) {
		t.Errorf("plural delete timestamp %d, tombstones %v", e.Timestamp, tombs)
	}

	// Plural delete of nothing: a read of no object.
	s.must(200, req{Method: "DELETE", Path: "/v1/mushrooms", User: "alice"})
	e = one(t, rec)
	if e.Action != events.ActionRead || len(e.Read) != 0 {
		t.Errorf("empty plural delete: %v with %d objects", e, len(e.Read))
	}
}

func TestEventEdgeCases(t *testing.T) {
	s := newServer(t, nil)
	rec := subscribe(s.app, events.ResourceChanged, events.ResourceRead)
	created := s.create("alice", map[string]any{"name": "de Paris"})
	id := created["id"].(string)
	rec.take()

	tests := []struct {
		name   string
		req    req
		status int
		action events.Action // "" when no event is expected
	}{
		{"POST of an existing id emits read, not create",
			req{Method: "POST", Path: "/v1/mushrooms", User: "alice", Body: map[string]any{"data": map[string]any{"id": id, "name": "x"}}},
			200, events.ActionRead},
		{"PUT with a failed precondition emits nothing",
			req{Method: "PUT", Path: "/v1/mushrooms/" + id, User: "alice", Header: map[string]string{"If-Match": `"12345"`},
				Body: map[string]any{"data": map[string]any{"name": "x"}}},
			412, ""},
		{"PUT of a new id emits create",
			req{Method: "PUT", Path: "/v1/mushrooms/4c9c3c3e-2ef4-4c8f-9c5f-1f3e4e4b7d6a", User: "alice", Body: map[string]any{"data": map[string]any{"name": "x"}}},
			201, events.ActionCreate},
		{"a 404 emits nothing", req{Method: "GET", Path: "/v1/mushrooms/4c9c3c3e-0000-4c8f-9c5f-1f3e4e4b7d6a", User: "alice"}, 404, ""},
		{"an anonymous request emits nothing", req{Method: "GET", Path: "/v1/mushrooms"}, 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.must(tt.status, tt.req)
			evs := rec.take()
			switch {
			case tt.action == "" && len(evs) != 0:
				t.Errorf("got events %v, want none", evs)
			case tt.action != "" && (len(evs) != 1 || evs[0].Action != tt.action):
				t.Errorf("got events %v, want one %s", evs, tt.action)
			}
		})
	}
}

func TestListenerFailures(t *testing.T) {
	tests := []struct {
		name       string
		kind       events.EventKind
		err        error
		wantStatus int
		wantStored bool
	}{
		{"a ResourceChanged error fails the request with 500", events.ResourceChanged, errors.New("boom"), 500, true},
		{"a ResourceChanged protocol error is the response", events.ResourceChanged,
			protocol.NewError(http.StatusForbidden, protocol.ErrnoForbidden, "no"), 403, true},
		{"an AfterResourceChanged error is only logged", events.AfterResourceChanged, errors.New("boom"), 201, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, nil)
			after := subscribe(s.app, events.AfterResourceChanged)
			s.app.Subscribe(tt.kind, func(context.Context, events.Event) error { return tt.err })
			r := s.do(req{Method: "POST", Path: "/v1/mushrooms", User: "alice", Body: map[string]any{"data": map[string]any{"name": "x"}}})
			if r.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.wantStatus, r.Raw)
			}
			afters := after.take()
			if tt.kind == events.ResourceChanged {
				if len(afters) != 0 {
					t.Errorf("AfterResourceChanged delivered %v after a failed request", afters)
				}
				if _, ok := r.Body["data"]; ok {
					t.Errorf("the failed response still carries the object: %s", r.Raw)
				}
			} else if len(afters) != 1 {
				t.Errorf("AfterResourceChanged delivered %d events, want 1", len(afters))
			}
			// Memory storage has no unit of work: the object stays (see the PostgreSQL test).
			n := len(s.must(200, req{Method: "GET", Path: "/v1/mushrooms", User: "alice"}).list())
			if (n == 1) != tt.wantStored {
				t.Errorf("%d objects stored", n)
			}
		})
	}
}

func TestAfterEventsFollowBeforeEvents(t *testing.T) {
	s := newServer(t, nil)
	var order []string
	var mu sync.Mutex
	for _, k := range []events.EventKind{events.AfterResourceChanged, events.ResourceChanged, events.AfterResourceRead, events.ResourceRead} {
		s.app.Subscribe(k, func(_ context.Context, e events.Event) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, e.Kind.String()+":"+string(e.Action))
			return nil
		})
	}
	s.create("alice", map[string]any{"name": "x"})
	s.must(200, req{Method: "GET", Path: "/v1/mushrooms", User: "alice"})
	want := []string{"ResourceChanged:create", "AfterResourceChanged:create", "ResourceRead:read", "AfterResourceRead:read"}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("delivery order %v, want %v", order, want)
	}
}

func TestBatchEvents(t *testing.T) {
	s := newServer(t, nil, func(app *cliquet.App) error {
		for _, name := range []string{"mushroom", "psilo"} {
			if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: name}); err != nil {
				return err
			}
		}
		app.Router.Get("/boom", func(w http.ResponseWriter, r *http.Request) {
			protocol.WriteError(w, r, errors.New("boom"))
		})
		return nil
	})
	rec := subscribe(s.app, events.ResourceChanged, events.ResourceRead)
	after := subscribe(s.app, events.AfterResourceChanged)
	batch := func(body map[string]any, want int) {
		t.Helper()
		s.must(want, req{Method: "POST", Path: "/v1/batch", User: "alice", Body: body})
	}
	body := map[string]any{"data": map[string]any{"name": "x"}}

	t.Run("impacted objects are merged per action", func(t *testing.T) {
		path := "/mushrooms/9a0f3e4c-8a9b-4c1d-8e2f-3a4b5c6d7e8f"
		batch(map[string]any{
			"defaults": map[string]any{"method": "PUT", "path": path},
			"requests": []any{
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "foo"}}},
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "bar"}}},
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "baz"}}},
				map[string]any{"method": "DELETE"},
			},
		}, 200)
		evs := rec.take()
		if len(evs) != 3 {
			t.Fatalf("%d events, want 3: %v", len(evs), evs)
		}
		name := func(o any) any { return asJSON(t, o).(map[string]any)["name"] }
		if evs[0].Action != "create" || len(evs[0].Impacted) != 1 || evs[0].Impacted[0].Old != nil {
			t.Errorf("first event %v %v", evs[0], asJSON(t, evs[0].Impacted))
		}
		up := evs[1].Impacted
		if evs[1].Action != "update" || len(up) != 2 || name(up[0].Old) != "foo" || name(up[0].New) != "bar" ||
			name(up[1].Old) != "bar" || name(up[1].New) != "baz" {
			t.Errorf("update event %v %v", evs[1], asJSON(t, up))
		}
		if evs[2].Action != "delete" || len(evs[2].Impacted) != 1 || evs[2].Impacted[0].Old == nil || !evs[2].Impacted[0].New.Deleted {
			t.Errorf("delete event %v %v", evs[2], asJSON(t, evs[2].Impacted))
		}
		if evs[1].URI != path {
			t.Errorf("merged event uri %q, want the first request's %q", evs[1].URI, path)
		}
		if n := len(after.take()); n != 3 {
			t.Errorf("%d AfterResourceChanged events, want 3", n)
		}
	})
	t.Run("one event is sent per resource", func(t *testing.T) {
		batch(map[string]any{
			"defaults": map[string]any{"method": "POST", "body": body},
			"requests": []any{map[string]any{"path": "/mushrooms"}, map[string]any{"path": "/mushrooms"}, map[string]any{"path": "/psilos"}},
		}, 200)
		evs := rec.take()
		if len(evs) != 2 || len(evs[0].Impacted) != 2 || evs[1].ResourceName != "psilo" {
			t.Errorf("events %v", evs)
		}
	})
	t.Run("one event is sent per parent", func(t *testing.T) {
		basic := func(user string) map[string]any {
			r, _ := http.NewRequest("GET", "/", nil)
			r.SetBasicAuth(user, "secret")
			return map[string]any{"Authorization": r.Header.Get("Authorization")}
		}
		batch(map[string]any{
			"defaults": map[string]any{"method": "POST", "path": "/mushrooms", "body": body},
			"requests": []any{map[string]any{"headers": basic("mat")}, map[string]any{"headers": basic("toto")}, map[string]any{"headers": basic("mat")}},
		}, 200)
		evs := rec.take()
		if len(evs) != 2 || len(evs[0].Impacted) != 2 || evs[0].Parent == evs[1].Parent {
			t.Errorf("events %v", evs)
		}
	})
	t.Run("one event is sent per action", func(t *testing.T) {
		batch(map[string]any{
			"defaults": map[string]any{"path": "/psilos"},
			"requests": []any{map[string]any{"method": "POST", "body": body}, map[string]any{"method": "DELETE"}, map[string]any{"method": "GET"}},
		}, 200)
		evs := rec.take()
		if len(evs) != 3 || evs[0].Action != "create" || evs[1].Action != "delete" || evs[2].Action != "read" {
			t.Errorf("events %v", evs)
		}
	})
	t.Run("events are not sent when a sub-request fails", func(t *testing.T) {
		after.take()
		batch(map[string]any{"requests": []any{
			map[string]any{"method": "POST", "path": "/mushrooms", "body": body},
			map[string]any{"path": "/boom"},
		}}, 500)
		if evs := rec.take(); len(evs) != 0 {
			t.Errorf("events %v sent for a failed batch", evs)
		}
		if evs := after.take(); len(evs) != 0 {
			t.Errorf("after events %v sent for a failed batch", evs)
		}
	})
}

func TestListenerCanRecordEvents(t *testing.T) {
	s := newServer(t, nil)
	after := subscribe(s.app, events.AfterResourceChanged)
	var seen []string
	s.app.Subscribe(events.ResourceChanged, func(ctx context.Context, e events.Event) error {
		seen = append(seen, string(e.Action)+":"+e.ResourceName)
		if e.ResourceName == "mushroom" {
			// A cascade: the listener records an event of its own.
			events.Record(ctx, events.Event{Action: events.ActionCreate, ResourceName: "audit", Parent: e.Parent})
		}
		return nil
	}, events.ForActions(events.ActionCreate))
	s.create("alice", map[string]any{"name": "x"})
	if want := []string{"create:mushroom", "create:audit"}; !reflect.DeepEqual(seen, want) {
		t.Errorf("delivered %v, want %v", seen, want)
	}
	if evs := after.take(); len(evs) != 2 || evs[1].ResourceName != "audit" || evs[1].URI != "/mushrooms" {
		t.Errorf("after events %v", evs)
	}
}
