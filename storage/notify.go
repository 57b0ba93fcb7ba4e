package storage

import (
	"context"
	"errors"
)

// Action is the kind of write a [Change] announces.
type Action string

// The actions of changes.
const (
	// ActionCreate: the write created the object (a Create, or an Update or replacement of an
	// id that had no live object).
	ActionCreate Action = "create"
	// ActionUpdate: the write replaced a live object.
	ActionUpdate Action = "update"
	// ActionDelete: the write turned live objects into tombstones (Delete, DeleteAll).
	ActionDelete Action = "delete"
)

// Change announces a write committed to one collection. Backends announce a small payload
// and no object: a listener reads the changes themselves with a list whose filter is
// last_modified > (the timestamp it has read up to), which keeps permission checks, filters
// and ordering exact.
type Change struct {
	// Scope is the collection written.
	Scope Scope
	// Timestamp is the collection timestamp right after the write. Timestamps increase in
	// commit order, so once a listener received it, every object of the collection whose
	// last_modified is at most Timestamp is committed and visible to any read. For a
	// DeleteAll, it is the largest of the tombstones' timestamps.
	Timestamp int64
	// Action is what the write did. A write with a client-forced last_modified may leave the
	// object with an older timestamp than the collection's: then no object has Timestamp.
	Action Action
	// Lost reports that changes may have been missed (the listening connection was lost and
	// is back): every collection may have changed. Scope, Timestamp and Action are then
	// zero.
	Lost bool
}

// Notifier is implemented by backends that announce the writes committed to them, by this
// process or by any other sharing the backend's server (web heads): PostgreSQL with
// LISTEN/NOTIFY, Redis with pub/sub, memory in process. A backend keeps one listening
// connection per Backend value, whatever the number of listeners, and opens it at the
// first Listen.
type Notifier interface {
	// Listen calls fn with one Change per write committed after Listen returned, until
	// stop is called (stop waits for a call in progress to return, and is idempotent). A
	// write inside a unit of work is announced when the unit commits, and never when it
	// rolls back; a write that changes nothing (a failed [Condition], a DeleteAll that
	// matches nothing) is not announced. A write is never announced before it is visible
	// to every reader, but changes may arrive out of timestamp order. When the backend
	// could not listen for a while (its server was unreachable), changes may have been
	// missed: it calls fn with a Change whose Lost is true once it listens again.
	//
	// fn is called from one goroutine at a time per listener and must return quickly (it
	// holds up the listening connection, or the writer on the memory backend); it must
	// neither call the backend nor stop a listener. Listen fails with a *BackendError
	// when the listening connection cannot be opened, and with [ErrNotifyDisabled] when
	// the backend was configured not to announce its writes.
	Listen(ctx context.Context, fn func(Change)) (stop func(), err error)
}

// ErrNotifyDisabled is returned by [Notifier.Listen] of a backend configured not to announce
// its writes (the storage_notify setting).
var ErrNotifyDisabled = errors.New("storage: change notifications are disabled")

// NotifierOf returns the Notifier of b, looking through decorators that expose the backend
// they wrap with an Unwrap() Backend method (the monitoring wrappers); ok is false when none
// of them implements Notifier.
func NotifierOf(b Backend) (Notifier, bool) {
	for b != nil {
		if n, ok := b.(Notifier); ok {
			return n, true
		}
		u, ok := b.(interface{ Unwrap() Backend })
		if !ok {
			return nil, false
		}
		b = u.Unwrap()
	}
	return nil, false
}
