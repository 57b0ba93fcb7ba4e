package resource

import (
	"context"

	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/storage"
)

// notify records the resource event of a successful storage call in the request's event
// accumulator (see events.Record), when someone listens. The objects are:
//
//   - actionRead: the objects read (none for a plural DELETE that deleted nothing);
//   - actionCreate: the created objects;
//   - actionWrite: (new, old) pairs, where new is the stored object (update) or the
//     tombstone (delete) and old the object before the write; an old may be missing (a new
//     not followed by an object of the same id that is not a tombstone).
//
// Objects are rendered as the protocol shows them (storage.Object), without permissions.
func (rs *core) notify(ctx context.Context, act action, scope storage.Scope, objs ...storage.Object) {
	a := eventAction(act, objs)
	if !events.Wanted(ctx, a) {
		return
	}
	e := events.Event{Action: a, ResourceName: rs.name, Parent: scope.Parent}
	switch a {
	case events.ActionRead:
		e.Read = append(make([]storage.Object, 0, len(objs)), objs...)
		if ts, err := rs.store.Timestamp(ctx, scope); err == nil {
			e.Timestamp = ts
		}
		for _, o := range objs {
			e.Timestamp = max(e.Timestamp, o.LastModified)
		}
	case events.ActionCreate:
		for i := range objs {
			n := objs[i]
			e.Impacted = append(e.Impacted, events.Impacted{New: &n})
			e.Timestamp = max(e.Timestamp, n.LastModified)
		}
	default: // update, delete
		for i := 0; i < len(objs); i++ {
			n := objs[i]
			imp := events.Impacted{New: &n}
			if i+1 < len(objs) && objs[i+1].ID == n.ID && !objs[i+1].Deleted {
				o := objs[i+1]
				imp.Old = &o
				i++
			}
			e.Impacted = append(e.Impacted, imp)
			e.Timestamp = max(e.Timestamp, n.LastModified)
		}
	}
	events.Record(ctx, e)
}

// eventAction maps the handler's action to the event's: a write whose first object is a
// tombstone is a deletion.
func eventAction(act action, objs []storage.Object) events.Action {
	switch act {
	case actionRead:
		return events.ActionRead
	case actionCreate:
		return events.ActionCreate
	}
	if len(objs) > 0 && objs[0].Deleted {
		return events.ActionDelete
	}
	return events.ActionUpdate
}

// withPrevious interleaves the tombstones of a plural DELETE with the objects they replace
// (found by id in live), as notify expects: tomb1, old1, tomb2, old2, ...
func withPrevious(tombs, live []storage.Object) []storage.Object {
	byID := make(map[string]int, len(live))
	for i, o := range live {
		byID[o.ID] = i
	}
	out := make([]storage.Object, 0, 2*len(tombs))
	for _, t := range tombs {
		out = append(out, t)
		if i, ok := byID[t.ID]; ok {
			out = append(out, live[i])
		}
	}
	return out
}
