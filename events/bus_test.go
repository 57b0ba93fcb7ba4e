package events_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/cliquet-go/cliquet/events"
)

// A bus without an App: the events a handler records are merged per resource, action and
// parent, the before-commit kinds are delivered by FireBefore, the After* kinds once the
// response succeeded, with the URI stripped of the prefix.
func TestBusCollectsAndDelivers(t *testing.T) {
	bus := events.NewBus(nil, nil)
	var got []string
	listen := func(ctx context.Context, e events.Event) error {
		got = append(got, e.Kind.String()+" "+string(e.Action)+" "+e.URI+" "+string(rune('0'+len(e.Impacted))))
		return nil
	}
	for _, k := range []events.EventKind{events.ResourceChanged, events.AfterResourceChanged} {
		bus.Subscribe(k, listen, events.ForResources("thing"))
	}
	h := bus.Collect("/v1")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		if !events.Wanted(ctx, events.ActionCreate) || events.Wanted(ctx, events.ActionRead) {
			t.Error("Wanted does not follow the subscriptions")
		}
		for range 2 {
			events.Record(ctx, events.Event{Action: events.ActionCreate, ResourceName: "thing", Impacted: []events.Impacted{{}}})
		}
		events.Record(ctx, events.Event{Action: events.ActionCreate, ResourceName: "other"})
		if !bus.HoldsBefore(ctx) {
			t.Error("HoldsBefore is false in the outermost request")
		}
		if err := bus.FireBefore(ctx); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusCreated)
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/things", nil))
	want := []string{"ResourceChanged create /things 2", "AfterResourceChanged create /things 2"}
	if !slices.Equal(got, want) {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if events.Record(context.Background(), events.Event{Action: events.ActionCreate, ResourceName: "thing"}) {
		t.Error("Record outside a collected request reported success")
	}
}

// A failing before-commit listener fails FireBefore, and the After* events of the request
// are then not delivered; neither are they after a 5xx response.
func TestBusSkipsTheAfterEventsOfAFailedRequest(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fail   bool
		status int
	}{{"a listener failed", true, 200}, {"the response is a 5xx", false, 503}} {
		t.Run(tt.name, func(t *testing.T) {
			bus := events.NewBus(nil, nil)
			after := 0
			bus.Subscribe(events.ResourceChanged, func(context.Context, events.Event) error {
				if tt.fail {
					return errors.New("veto")
				}
				return nil
			})
			bus.Subscribe(events.AfterResourceChanged, func(context.Context, events.Event) error { after++; return nil })
			h := bus.Collect("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				events.Record(r.Context(), events.Event{Action: events.ActionDelete, ResourceName: "thing"})
				if err := bus.FireBefore(r.Context()); (err != nil) != tt.fail {
					t.Errorf("FireBefore = %v", err)
				}
				w.WriteHeader(tt.status)
			}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodDelete, "/things/a", nil))
			if after != 0 {
				t.Errorf("%d After events delivered", after)
			}
		})
	}
}
