package storagetest

import (
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

// Capability names an optional interface of storage backends.
type Capability string

// The optional interfaces a harness may declare its backends lack.
const (
	Transactor      Capability = "storage.Transactor"
	Migrator        Capability = "storage.Migrator"
	Flusher         Capability = "storage.Flusher"
	Pinger          Capability = "storage.Pinger"
	TimestampLister Capability = "storage.TimestampLister"
	Notifier        Capability = "storage.Notifier"
)

// Declarer is implemented by harnesses that declare which optional interfaces their backends
// lack. With a Declarer the subtests of an optional interface never skip: when the backend
// implements it they exercise it; when the declaration says it is absent they check that the
// backend indeed does not implement it and, where the toolkit has a fallback, that the
// fallback holds (a backend without [storage.Transactor] applies every write at once; one
// without [storage.Migrator] works without a schema step). A backend lacking an interface the
// harness does not declare absent, or implementing one declared absent, fails the subtest.
// Without a Declarer, the subtests of an interface the backend lacks are skipped.
type Declarer interface {
	// Lacks lists the optional interfaces the harness's backends do not implement.
	Lacks() []Capability
}

// lacks reports whether the backend lacks the capability c, whose type assertion gave
// implemented (see testenv.Lacks).
func (e *env) lacks(c Capability, implemented bool) bool {
	e.Helper()
	d, ok := e.h.(Declarer)
	var declared []Capability
	if ok {
		declared = d.Lacks()
	}
	return testenv.Lacks(e, declared, ok, c, implemented)
}

// writesApplyAtOnce checks the fallback of a backend without units of work: a write made with
// a context that carries none is visible at once to every later call (Get, List, Count, the
// collection timestamp), and a failed conditional write changes nothing.
func (e *env) writesApplyAtOnce() {
	e.Helper()
	before := e.timestamp(scope)
	o := e.create(`{"applied": "at once"}`)
	e.check(o.LastModified > before, "the write's timestamp %d is not after the collection's %d", o.LastModified, before)
	e.equal(e.timestamp(scope), o.LastModified, "collection timestamp right after the write")
	e.sameObject(e.get(scope, o.ID), o, "object read right after its write")
	e.equal(e.count(), 1, "live objects right after the write")
	d := e.del(scope, o.ID, 0)
	listed := e.list(storage.ListOptions{IncludeDeleted: true})
	e.equal(len(listed), 1, "tombstones right after the delete")
	e.equal(e.timestamp(scope), d.LastModified, "collection timestamp right after the delete")
}
