// Package events is the toolkit's resource events (protocol.md 9): what a request did to
// which objects, delivered to subscribers in two phases.
//
// Resources record their events in the request with [Record], merged per (resource,
// action, parent); a batch and its sub-requests share one record. At the end of the
// outermost request the events are delivered by the [Bus] that collects them:
//
//   - ResourceRead and ResourceChanged before the unit of work is committed ([Bus.FireBefore],
//     called by cliquet's unit of work), so a failing listener turns the response into an
//     error (500 unless it returns a *protocol.Error) and the unit of work is rolled back;
//   - AfterResourceRead and AfterResourceChanged once the unit of work is committed (a status
//     below 500), by the middleware of [Bus.Collect]; their errors and panics are only
//     logged.
//
// Nothing is delivered when the request fails with a status of 500 or more. Listeners
// configured by the event_listeners setting are built by the factories registered with
// [RegisterListener]; the Redis listener lives in package events/redislistener.
package events

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cliquet-go/cliquet/storage"
)

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
	return "", fmt.Errorf("events: unknown event action %q (want create, update, delete or read)", s)
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
