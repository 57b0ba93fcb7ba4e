package storage

import (
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

// ErrNotifyDisabled is returned by [Backend.Listen] of a backend configured not to announce
// its writes (the storage_notify setting).
var ErrNotifyDisabled = errors.New("storage: change notifications are disabled")
