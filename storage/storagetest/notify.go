package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
)

// announceWait bounds how long the suite waits for a change to be announced; the feed
// promises a change on another web head within a second.
const announceWait = 2 * time.Second

// listen starts a listener on the backend, stopped when the subtest ends (and by the
// returned function); ok is false when the backend does not announce its writes (and its
// harness declares it).
func (e *env) listen() (*testenv.Changes, func(), bool) {
	e.Helper()
	if !e.announces() {
		return nil, nil, false
	}
	var stop func()
	l := testenv.Listen(e.T, notifierFunc(func(ctx context.Context, fn func(storage.Change)) (func(), error) {
		s, err := e.b.Listen(ctx, fn)
		stop = s
		return s, err
	}))
	return l, stop, true
}

// notifierFunc is a testenv.Listener made of its Listen method.
type notifierFunc func(ctx context.Context, fn func(storage.Change)) (func(), error)

func (f notifierFunc) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	return f(ctx, fn)
}

// await waits until the log holds a change of s at ts and returns it.
func (e *env) await(l *testenv.Changes, s storage.Scope, ts int64) storage.Change {
	e.Helper()
	return l.Await(e.T, announceWait, testenv.At(s, ts))
}

// quiet checks that the log receives nothing more than its first n changes for a while.
func (e *env) quiet(l *testenv.Changes, n int, what string) {
	e.Helper()
	time.Sleep(200 * time.Millisecond)
	if got := l.All(); len(got) > n {
		e.Fatalf("%s: unexpected changes %+v", what, got[n:])
	}
}

// createConcurrently starts writers goroutines, each creating writes objects in scope
// ({"w": writer, "i": n}); a writer sends its first failure to errs and stops. wg is done
// when they all are.
func (e *env) createConcurrently(wg *sync.WaitGroup, writers, writes int, errs chan<- error) {
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				if _, err := e.b.Create(e.ctx, scope, storage.Object{Data: raw(fmt.Sprintf(`{"w": %d, "i": %d}`, w, i))}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
}

// notifyTests check the optional announcement of committed writes (Listen).
var notifyTests = []subtest{
	{"EveryWriteIsAnnouncedWithItsTimestampAndAction", func(e *env) {
		l, _, ok := e.listen()
		if !ok {
			return
		}
		o := e.create(`{"n": 1}`)
		e.equal(e.await(l, scope, o.LastModified).Action, storage.ActionCreate, "action of Create")
		u := e.update(scope, storage.Object{ID: o.ID, Data: raw(`{"n": 2}`)})
		e.equal(e.await(l, scope, u.LastModified).Action, storage.ActionUpdate, "action of an Update of a live object")
		n := e.update(scope, storage.Object{ID: "new-by-update", Data: raw(`{}`)})
		e.equal(e.await(l, scope, n.LastModified).Action, storage.ActionCreate, "action of an Update of a new id")
		d := e.del(scope, o.ID, 0)
		e.equal(e.await(l, scope, d.LastModified).Action, storage.ActionDelete, "action of Delete")
		r := e.update(scope, storage.Object{ID: o.ID, Data: raw(`{"n": 3}`)})
		e.equal(e.await(l, scope, r.LastModified).Action, storage.ActionCreate, "action of an Update over a tombstone")
		e.create(`{"n": 4}`)
		tombs := e.deleteAll(scope, storage.ListOptions{Sort: []storage.Sort{asc("last_modified")}})
		e.equal(len(tombs), 3, "tombstones of DeleteAll")
		last := tombs[len(tombs)-1].LastModified
		e.equal(e.await(l, scope, last).Action, storage.ActionDelete, "action of DeleteAll")
		e.equal(e.await(l, scope, last).Timestamp, e.timestamp(scope), "DeleteAll's change timestamp")
		for _, c := range l.All() {
			e.check(!c.Lost && c.Scope == scope, "unexpected change %+v", c)
		}
	}},
	{"WritesThatChangeNothingAreNotAnnounced", func(e *env) {
		l, _, ok := e.listen()
		if !ok {
			return
		}
		o := e.create(`{}`)
		e.await(l, scope, o.LastModified)
		n := len(l.All())
		_, err := e.b.Update(e.ctx, scope, storage.Object{ID: o.ID, Data: raw(`{}`)}, storage.Condition{LastModified: o.LastModified - 1})
		e.check(errors.Is(err, storage.ErrModified), "conditional Update: got %v, want ErrModified", err)
		_, err = e.b.Delete(e.ctx, scope, o.ID, 0, storage.Condition{LastModified: o.LastModified + 1})
		e.check(errors.Is(err, storage.ErrModified), "conditional Delete: got %v, want ErrModified", err)
		_, err = e.b.Delete(e.ctx, scope, "missing", 0, storage.Condition{})
		e.check(errors.Is(err, storage.ErrNotFound), "Delete of a missing id: got %v, want ErrNotFound", err)
		_, err = e.b.Create(e.ctx, scope, storage.Object{ID: o.ID, Data: raw(`{}`)})
		var ue *storage.UnicityError
		e.check(errors.As(err, &ue), "Create of a live id: got %v, want *UnicityError", err)
		e.equal(len(e.deleteAll(scope, storage.ListOptions{Filters: []storage.Filter{f("nothing", storage.EQ, 1)}})), 0, "tombstones")
		e.timestamp(otherScope) // a read, even the first one of a collection
		e.quiet(l, n, "after writes that change nothing")
	}},
	{"ScopesAreAnnouncedExactly", func(e *env) {
		l, _, ok := e.listen()
		if !ok {
			return
		}
		odd := []storage.Scope{
			otherScope,
			{Resource: "record", Parent: "/buckets/b1/collections/c:1"},
			{Resource: "test", Parent: "with {braces} %25, spaces, \"quotes\" and ünïcödé"},
			{Resource: "test", Parent: ""},
		}
		for _, s := range odd {
			o := e.createIn(s, storage.Object{Data: raw(`{}`)})
			e.equal(e.await(l, s, o.LastModified).Action, storage.ActionCreate, fmt.Sprintf("action in %v", s))
		}
	}},
	{"AnnouncedWritesAreVisible", func(e *env) {
		// Concurrent writers; every change received is checked against a read made right
		// after it arrived: the object with its timestamp must be there.
		l, _, ok := e.listen()
		if !ok {
			return
		}
		const writers, writes = 8, 10
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		e.createConcurrently(&wg, writers, writes, errs)
		seen, checked := 0, 0
		deadline := time.After(10 * time.Second)
		for checked < writers*writes && len(errs) == 0 {
			got := l.All()
			for _, c := range got[seen:] {
				objs := e.list(storage.ListOptions{Filters: []storage.Filter{f("last_modified", storage.EQ, c.Timestamp)}, IncludeDeleted: true})
				e.check(len(objs) == 1, "change %+v announced but its object is not visible: %+v", c, objs)
				checked++
			}
			seen = len(got)
			if checked == writers*writes {
				break
			}
			select {
			case <-time.After(5 * time.Millisecond):
			case <-deadline:
				e.Fatalf("%d changes announced out of %d writes", checked, writers*writes)
			}
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			e.Fatalf("Create: %v", err)
		}
	}},
	{"UnitsOfWorkAnnounceOnCommitOnly", func(e *env) {
		if !e.units() {
			return // every write is committed, and announced, at once
		}
		l, _, ok := e.listen()
		if !ok {
			return
		}
		ctx, unit := e.begin(e.ctx)
		rolled, err := e.b.Create(ctx, scope, storage.Object{Data: raw(`{"rolled": "back"}`)})
		if err != nil {
			e.Fatalf("Create in a unit: %v", err)
		}
		if err := unit.Rollback(e.ctx); err != nil {
			e.Fatalf("Rollback: %v", err)
		}
		ctx, unit = e.begin(e.ctx)
		kept, err := e.b.Create(ctx, scope, storage.Object{Data: raw(`{"kept": true}`)})
		if err != nil {
			e.Fatalf("Create in a unit: %v", err)
		}
		e.quiet(l, 0, "before the commit")
		if err := unit.Commit(e.ctx); err != nil {
			e.Fatalf("Commit: %v", err)
		}
		e.await(l, scope, kept.LastModified)
		for _, c := range l.All() {
			e.check(c.Timestamp != rolled.LastModified || kept.LastModified == rolled.LastModified,
				"the rolled back write was announced: %+v", c)
		}
	}},
	{"StopEndsTheCalls", func(e *env) {
		l, stop, ok := e.listen()
		if !ok {
			return
		}
		second, stop2, _ := e.listen()
		o := e.create(`{}`)
		e.await(l, scope, o.LastModified)
		e.await(second, scope, o.LastModified)
		stop()
		stop() // idempotent
		n := len(l.All())
		p := e.create(`{}`)
		e.await(second, scope, p.LastModified) // the other listener still listens
		e.quiet(l, n, "after stop")
		stop2()
		m := len(second.All())
		e.create(`{}`)
		e.quiet(second, m, "after the last stop")
		third, _, _ := e.listen() // listening again after every listener stopped
		q := e.create(`{}`)
		e.await(third, scope, q.LastModified)
	}},
	{"ListenOnABrokenBackendFails", func(e *env) {
		if !e.announces() {
			return
		}
		broken := e.h.Broken(e.ctx, e.T)
		if broken == nil {
			return // the backend cannot fail
		}
		defer broken.Close()
		stop, err := broken.Listen(e.ctx, func(storage.Change) {})
		var be *storage.BackendError
		if !errors.As(err, &be) {
			if stop != nil {
				stop()
			}
			e.Fatalf("Listen on a broken backend: got %v, want a *storage.BackendError", err)
		}
	}},
}
