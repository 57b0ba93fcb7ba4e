package storagetest

import (
	"context"
	"errors"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

// Capability names an optional part of the storage contract: methods of [storage.Backend]
// that a backend may answer with [storage.ErrNotSupported].
type Capability string

// The optional capabilities a harness may declare its backends lack. (The joint reads and
// writes with a permission backend need no declaration: every backend may decline them
// call by call, and the suite checks that a declined call does nothing.)
const (
	// Transactor is units of work, Begin.
	Transactor Capability = "storage.Backend.Begin"
	// Migrator is the schema step, InitializeSchema.
	Migrator Capability = "storage.Backend.InitializeSchema"
	// Notifier is the announcement of committed writes, Listen.
	Notifier Capability = "storage.Backend.Listen"
)

// Declarer is implemented by harnesses that declare which optional capabilities their
// backends lack. With a Declarer the subtests of an optional capability never skip: when
// the backend provides it they exercise it; when the declaration says it is absent they check
// that the backend indeed answers [storage.ErrNotSupported] and, where the toolkit has a
// fallback, that the fallback holds (a backend without units of work applies every write at
// once; one without a schema step works without one). A backend lacking a capability the
// harness does not declare absent, or providing one declared absent, fails the subtest.
// Without a Declarer, the subtests of a capability the backend lacks are skipped.
type Declarer interface {
	// Lacks lists the optional capabilities the harness's backends do not provide.
	Lacks() []Capability
}

// lacks reports whether the backend lacks the capability c; implemented is false when the
// backend answered storage.ErrNotSupported (see testenv.Lacks).
func (e *env) lacks(c Capability, implemented bool) bool {
	e.Helper()
	d, ok := e.h.(Declarer)
	var declared []Capability
	if ok {
		declared = d.Lacks()
	}
	return testenv.Lacks(e, declared, ok, c, implemented)
}

// units reports whether the backend has units of work: its Begin does not answer
// storage.ErrNotSupported (the unit it starts is rolled back), after checking the harness's
// declaration (see lacks).
func (e *env) units() bool {
	e.Helper()
	ctx, tx, err := e.b.Begin(e.ctx)
	supported := !errors.Is(err, storage.ErrNotSupported)
	switch {
	case err == nil:
		if err := tx.Rollback(ctx); err != nil {
			e.Fatalf("Rollback of an empty unit of work: %v", err)
		}
	case supported:
		e.Fatalf("Begin: %v", err)
	}
	return !e.lacks(Transactor, supported)
}

// begin starts a unit of work on a backend that has them (see units).
func (e *env) begin(ctx context.Context) (context.Context, storage.Tx) {
	e.Helper()
	ctx, tx, err := e.b.Begin(ctx)
	if err != nil {
		e.Fatalf("Begin: %v", err)
	}
	return ctx, tx
}

// announces reports whether the backend announces its writes: its Listen does not answer
// storage.ErrNotSupported (the listener it starts is stopped at once), after checking the
// harness's declaration (see lacks). A backend configured not to announce
// (storage.ErrNotifyDisabled) fails the subtest: the suite needs its announcements on.
func (e *env) announces() bool {
	e.Helper()
	stop, err := e.b.Listen(e.ctx, func(storage.Change) {})
	supported := !errors.Is(err, storage.ErrNotSupported)
	switch {
	case err == nil:
		stop()
	case supported:
		e.Fatalf("Listen: %v", err)
	}
	return !e.lacks(Notifier, supported)
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
