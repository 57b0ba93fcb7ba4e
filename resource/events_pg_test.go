package resource_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// TestListenerFailureRollsBack checks, on a transactional storage, that a failing
// ResourceChanged listener rolls the request's writes back, including for a 4xx error and
// for a whole batch, and that a failing AfterResourceChanged listener does not.
func TestListenerFailureRollsBack(t *testing.T) {
	// events_test is the database of the events tests; other packages' tests do not use it.
	app := newAppOn(t, pgStore(t, testenv.PostgresDatabase(t, "events_test"), 4), nil)
	failWith := map[string]error{} // by the name the object is created with
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
		t.Fatal(err)
	}
	fail := func(kind events.EventKind) events.Listener {
		return func(_ context.Context, e events.Event) error {
			for _, imp := range e.Impacted {
				var data struct{ Name string }
				if imp.New == nil || json.Unmarshal(imp.New.Data, &data) != nil {
					continue
				}
				if err, ok := failWith[data.Name]; ok && (kind == events.ResourceChanged) == (data.Name[0] == 'b') {
					return err
				}
			}
			return nil
		}
	}
	app.Subscribe(events.ResourceChanged, fail(events.ResourceChanged))
	app.Subscribe(events.AfterResourceChanged, fail(events.AfterResourceChanged))
	// Names starting with "b" fail before the commit, the others after it.
	failWith["boom"] = errors.New("boom")
	failWith["bad"] = protocol.NewError(http.StatusBadRequest, protocol.ErrnoInvalidParameters, "listener says no")
	failWith["after"] = errors.New("after the commit")

	s := &server{t: t, app: app, h: app.Handler()}
	user := fmt.Sprintf("events-%d", time.Now().UnixNano()) // a fresh collection
	count := func() int {
		return len(s.must(200, req{Method: "GET", Path: "/v1/mushrooms", User: user}).list())
	}
	post := func(name string) req {
		return req{Method: "POST", Path: "/v1/mushrooms", User: user, Body: map[string]any{"data": map[string]any{"name": name}}}
	}

	tests := []struct {
		name   string
		req    req
		status int
		stored int // objects in the collection afterwards
	}{
		{"a ResourceChanged error answers 500 and stores nothing", post("boom"), 500, 0},
		{"a ResourceChanged 4xx error is the answer and stores nothing", post("bad"), 400, 0},
		{"an AfterResourceChanged error keeps the write", post("after"), 201, 1},
		{"a ResourceChanged error rolls a whole batch back", req{Method: "POST", Path: "/v1/batch", User: user, Body: map[string]any{
			"defaults": map[string]any{"method": "POST", "path": "/mushrooms"},
			"requests": []any{
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "fine"}}},
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "boom"}}},
			}}}, 500, 1},
		{"without failing listeners a batch commits", req{Method: "POST", Path: "/v1/batch", User: user, Body: map[string]any{
			"defaults": map[string]any{"method": "POST", "path": "/mushrooms"},
			"requests": []any{
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "fine"}}},
				map[string]any{"body": map[string]any{"data": map[string]any{"name": "also fine"}}},
			}}}, 200, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s.t = t
			r := s.do(tt.req)
			if r.Code != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.status, r.Raw)
			}
			if n := count(); n != tt.stored {
				t.Errorf("%d objects stored, want %d", n, tt.stored)
			}
		})
	}
}
