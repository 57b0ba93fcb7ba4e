package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// horizon reads the collection's horizon.
func (e *env) horizon(s storage.Scope) int64 {
	e.Helper()
	h, err := e.b.Horizon(e.ctx, s)
	if err != nil {
		e.Fatalf("Horizon(%v): %v", s, err)
	}
	return h
}

// delta is the list a client polling with _since=since makes: every change after since,
// tombstones included, newest first, checked against the horizon.
func delta(since int64) storage.ListOptions {
	return storage.ListOptions{Filters: []storage.Filter{f("last_modified", storage.GT, since)},
		Sort: []storage.Sort{desc("last_modified")}, IncludeDeleted: true, Since: since}
}

// tombstones creates and deletes n objects in s, one after the other, and returns the
// tombstones, oldest first.
func (e *env) tombstones(s storage.Scope, n int) []storage.Object {
	e.Helper()
	out := make([]storage.Object, n)
	for i := range out {
		o := e.createIn(s, storage.Object{Data: raw(`{"n": ` + itoa(i) + `}`)})
		out[i] = e.del(s, o.ID, 0)
	}
	return out
}

// checkBeyond fails unless err is the *storage.HorizonError of a delta since since in a
// collection whose horizon is horizon.
func (e *env) checkBeyond(err error, since, horizon int64, what string) {
	e.Helper()
	var he *storage.HorizonError
	if !errors.Is(err, storage.ErrBeyondHorizon) || !errors.As(err, &he) {
		e.Fatalf("%s: got %v, want a *storage.HorizonError matching storage.ErrBeyondHorizon", what, err)
	}
	e.equal([]int64{he.Since, he.Horizon}, []int64{since, horizon}, what+": the error's since and horizon")
}

var horizonTests = []subtest{
	{"HorizonIsZeroUntilATombstoneIsPurged", func(e *env) {
		e.equal(e.horizon(scope), int64(0), "horizon of a never-written collection")
		e.tombstones(scope, 2)
		e.create(`{}`)
		e.equal(e.horizon(scope), int64(0), "horizon after writes")
		e.equal(e.purge(scope, 1), 0, "tombstones purged before 1")
		e.equal(e.horizon(scope), int64(0), "horizon after a purge that removed nothing")
	}},
	{"PurgeDeletedRaisesTheHorizonToTheNewestPurgedTombstone", func(e *env) {
		t := e.tombstones(scope, 3)
		live := e.create(`{"live": true}`)
		e.equal(e.purge(scope, t[2].LastModified), 2, "purged")
		e.equal(e.horizon(scope), t[1].LastModified, "horizon")
		left := e.list(storage.ListOptions{IncludeDeleted: true, Sort: []storage.Sort{asc("last_modified")}})
		e.equal(ids(left), []string{t[2].ID, live.ID}, "the newer tombstone and the live object are kept")
		e.equal(e.count(), 1, "count")
	}},
	{"HorizonNeverMovesBackwards", func(e *env) {
		t := e.tombstones(scope, 2)
		e.purge(scope, 0)
		h := e.horizon(scope)
		e.equal(h, t[1].LastModified, "horizon after purging everything")
		// A tombstone older than the horizon (replication keeps a forced timestamp in the
		// past), purged later, leaves the horizon where it was.
		old := e.createIn(scope, storage.Object{ID: "old", LastModified: t[0].LastModified - 100})
		e.del(scope, old.ID, t[0].LastModified-50)
		e.equal(e.purge(scope, 0), 1, "purged the old tombstone")
		e.equal(e.horizon(scope), h, "horizon after purging a tombstone below it")
		e.equal(e.purge(scope, 0), 0, "purged again")
		e.equal(e.horizon(scope), h, "horizon after an empty purge")
		newer := e.tombstones(scope, 1)
		e.purge(scope, 0)
		e.equal(e.horizon(scope), newer[0].LastModified, "horizon after purging a newer tombstone")
		e.check(e.timestamp(scope) >= newer[0].LastModified, "the collection timestamp went below the horizon")
	}},
	{"HorizonIsKeptPerCollection", func(e *env) {
		t := e.tombstones(scope, 1)
		o := e.tombstones(otherScope, 1)
		e.purge(scope, 0)
		e.equal(e.horizon(scope), t[0].LastModified, "horizon of the purged collection")
		e.equal(e.horizon(otherScope), int64(0), "horizon of the other collection")
		e.equal(len(e.listIn(otherScope, storage.ListOptions{IncludeDeleted: true})), 1, "tombstones of the other collection")
		_, err := e.b.List(e.ctx, otherScope, delta(o[0].LastModified-1))
		e.check(err == nil, "a delta in the other collection: %v", err)
	}},
	{"DeltaSinceBelowTheHorizonFails", func(e *env) {
		t := e.tombstones(scope, 3)
		after := e.create(`{"after": true}`)
		e.purge(scope, t[1].LastModified+1)
		h := e.horizon(scope)
		e.equal(h, t[1].LastModified, "horizon")
		for _, since := range []int64{1, t[0].LastModified, h - 1} {
			_, err := e.b.List(e.ctx, scope, delta(since))
			e.checkBeyond(err, since, h, fmt.Sprintf("List since %d", since))
		}
		got := e.list(delta(h))
		e.equal(ids(got), []string{after.ID, t[2].ID}, "the delta since the horizon")
		l := e.b
		_, _, err := l.ListWithTimestamp(e.ctx, scope, delta(h-1))
		e.checkBeyond(err, h-1, h, "ListWithTimestamp")
		objs, ts, err := l.ListWithTimestamp(e.ctx, scope, delta(h))
		e.check(err == nil && len(objs) == 2 && ts == after.LastModified, "ListWithTimestamp since the horizon: %v, %d, %v", ids(objs), ts, err)
	}},
	{"ListsThatAreNotDeltasIgnoreTheHorizon", func(e *env) {
		t := e.tombstones(scope, 2)
		live := e.create(`{}`)
		e.purge(scope, 0)
		e.equal(ids(e.list(storage.ListOptions{})), []string{live.ID}, "plain list")
		e.equal(ids(e.list(storage.ListOptions{IncludeDeleted: true})), []string{live.ID}, "list with tombstones")
		before := storage.ListOptions{Filters: []storage.Filter{f("last_modified", storage.LT, live.LastModified+1)}, IncludeDeleted: true}
		e.equal(ids(e.list(before)), []string{live.ID}, "_before")
		// The filter alone, without Since, is not a delta (and Since 0 is a full listing).
		since := storage.ListOptions{Filters: []storage.Filter{f("last_modified", storage.GT, t[0].LastModified-1)}, IncludeDeleted: true}
		e.equal(ids(e.list(since)), []string{live.ID}, "a last_modified filter without Since")
		e.equal(ids(e.list(delta(0))), []string{live.ID}, "Since 0")
		e.equal(e.count(f("last_modified", storage.GT, 1)), 1, "count")
	}},
	{"PurgeTombstonesPurgesEveryCollection", func(e *env) {
		third := storage.Scope{Resource: "other-resource", Parent: "1234"}
		cut := e.tombstones(scope, 2)
		o := e.tombstones(otherScope, 1)
		th := e.tombstones(third, 1)
		// A collection's clock may run a few milliseconds ahead of the wall clock (each
		// write takes at least previous+1): leave room on both sides of the cut.
		time.Sleep(20 * time.Millisecond)
		before := nowMillis()
		time.Sleep(20 * time.Millisecond)
		kept := e.tombstones(scope, 1)
		live := []storage.Object{e.create(`{}`), e.createIn(otherScope, storage.Object{})}
		n, err := e.b.PurgeTombstones(e.ctx, before)
		e.check(err == nil, "PurgeTombstones: %v", err)
		e.equal(n, 4, "tombstones purged in all")
		e.equal(e.horizon(scope), cut[1].LastModified, "horizon of the first collection")
		e.equal(e.horizon(otherScope), o[0].LastModified, "horizon of the second")
		e.equal(e.horizon(third), th[0].LastModified, "horizon of the third")
		e.equal(ids(e.list(storage.ListOptions{IncludeDeleted: true, Sort: []storage.Sort{asc("last_modified")}})),
			[]string{kept[0].ID, live[0].ID}, "what is left of the first collection")
		e.equal(e.countIn(otherScope), 1, "live objects of the second")
		n, err = e.b.PurgeTombstones(e.ctx, 0)
		e.check(err == nil && n == 1, "PurgeTombstones(0) = %d, %v; want the one tombstone left", n, err)
		e.equal(e.horizon(scope), kept[0].LastModified, "horizon after purging everything")
	}},
	{"ConcurrentWritesDuringPurgesLoseNothing", func(e *env) {
		// Writers create and delete while purges run; a client synchronising with deltas,
		// which starts again from scratch whenever a delta reaches below the horizon, ends
		// up with exactly the live objects: a purge never hides a deletion from it, and
		// never removes a live object or a tombstone it has not counted in the horizon.
		const writers, rounds = 4, 40
		var wg sync.WaitGroup
		errs := make(chan error, writers+2)
		stop := make(chan struct{})
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var prev storage.Object // deleted one round after its creation, so the client may see it live
				for i := range rounds + 1 {
					var err error
					if prev.ID != "" {
						_, err = e.b.Delete(e.ctx, scope, prev.ID, 0, storage.Condition{})
						prev = storage.Object{}
					}
					if err == nil && i < rounds {
						var o storage.Object
						o, err = e.b.Create(e.ctx, scope, storage.Object{Data: raw(fmt.Sprintf(`{"w": %d, "i": %d}`, w, i))})
						if i%3 != 0 {
							prev = o
						}
					}
					if err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
					time.Sleep(200 * time.Microsecond)
				}
			}()
		}
		var bg sync.WaitGroup
		bg.Add(2)
		go func() { // the purger
			defer bg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if i%2 == 0 {
					_, err = e.b.PurgeDeleted(e.ctx, scope, 0)
				} else {
					_, err = e.b.PurgeTombstones(e.ctx, nowMillis()+1)
				}
				if err != nil {
					errs <- fmt.Errorf("purge: %w", err)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		l := e.b
		c := &syncClient{l: l, e: e, local: map[string]storage.Object{}}
		go func() { // the client
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := c.poll(); err != nil {
					errs <- fmt.Errorf("client: %w", err)
					return
				}
			}
		}()
		wg.Wait()
		close(stop)
		bg.Wait()
		if !e.drain(errs) {
			return
		}
		e.check(c.resyncs > 0 || c.polls > 0, "the client never polled")
		if err := c.poll(); err != nil {
			e.Fatal(err)
		}
		live := e.list(storage.ListOptions{})
		e.equal(len(live), writers*(rounds+2)/3, "live objects")
		e.equal(e.count(), len(live), "count")
		var stale, missing []string // in the client's copy only, on the server only (or older)
		for _, o := range live {
			if c.local[o.ID].LastModified != o.LastModified {
				missing = append(missing, o.ID)
			}
		}
		for id := range c.local {
			if !slices.ContainsFunc(live, func(o storage.Object) bool { return o.ID == id }) {
				stale = append(stale, id)
			}
		}
		e.check(len(stale)+len(missing) == 0, "after %d deltas and %d resyncs, the client's copy has %d objects the server deleted %v, and lacks %d %v",
			c.polls, c.resyncs, len(stale), stale, len(missing), missing)
		// And without a race: an object the client knows is deleted, its tombstone purged;
		// the next delta fails and the client starts again without it.
		gone := live[0]
		e.del(scope, gone.ID, 0)
		e.purge(scope, 0)
		resyncs := c.resyncs
		if err := c.poll(); err != nil {
			e.Fatal(err)
		}
		_, kept := c.local[gone.ID]
		e.check(c.resyncs == resyncs+1 && !kept, "after a purge of a tombstone it never saw, the client resynced %d times and kept the object: %v",
			c.resyncs-resyncs, kept)
	}},
}

// syncClient is a client synchronising a local copy of scope with deltas, as kinto.js does:
// the collection timestamp read with the page is the next delta's start; a delta that
// reaches below the horizon makes it start again from scratch.
type syncClient struct {
	l              storage.Backend
	e              *env
	local          map[string]storage.Object
	since          int64 // 0: never synchronised
	polls, resyncs int
}

func (c *syncClient) poll() error {
	l := c.l
	if c.since > 0 {
		objs, ts, err := l.ListWithTimestamp(c.e.ctx, scope, delta(c.since))
		if err == nil {
			for _, o := range objs {
				if o.Deleted {
					delete(c.local, o.ID)
				} else {
					c.local[o.ID] = o
				}
			}
			c.since = ts
			c.polls++
			return nil
		}
		if !errors.Is(err, storage.ErrBeyondHorizon) {
			return err
		}
	}
	objs, ts, err := l.ListWithTimestamp(c.e.ctx, scope, storage.ListOptions{})
	if err != nil {
		return err
	}
	clear(c.local)
	for _, o := range objs {
		c.local[o.ID] = o
	}
	c.since = ts
	c.resyncs++
	return nil
}

// sharedWrite is write number kind on the object id, which other writers write too: 0 a
// create (a taken id is no error), 1 an update, 2 a delete (a missing object is no error),
// 3 a create with a new id.
func (e *env) sharedWrite(ctx context.Context, kind int, id string) error {
	var err error
	switch kind {
	case 0:
		_, err = e.b.Create(ctx, scope, storage.Object{ID: id, Data: raw(`{}`)})
		var ue *storage.UnicityError
		if errors.As(err, &ue) {
			return nil
		}
	case 1:
		_, err = e.b.Update(ctx, scope, storage.Object{ID: id, Data: raw(`{"updated": true}`)}, storage.Condition{})
	case 2:
		_, err = e.b.Delete(ctx, scope, id, 0, storage.Condition{})
		if errors.Is(err, storage.ErrNotFound) {
			return nil
		}
	default:
		_, err = e.b.Create(ctx, scope, storage.Object{})
	}
	return err
}

// raceOnSharedIDs runs step(w, i) for rounds i in each of several concurrent writers w, then
// checks that Count without filters equals the live objects (and that some are left).
func (e *env) raceOnSharedIDs(rounds int, step func(w, i int) error) {
	e.Helper()
	writers := max(e.opts.Writers/5, 4)
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				if err := step(w, i); err != nil {
					errs <- fmt.Errorf("writer %d, round %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if !e.drain(errs) {
		return
	}
	live := e.list(storage.ListOptions{})
	e.check(len(live) > 0, "no live object left: the test exercised nothing")
	e.equal(e.count(), len(live), "count after the concurrent writes")
}

// liveCountTests check that Count without filters, which backends answer from a counter
// kept with the collection timestamp, always equals the number of live objects.
var liveCountTests = []subtest{
	{"CountFollowsEveryKindOfWrite", func(e *env) {
		check := func(want int, what string) {
			e.Helper()
			e.equal(e.count(), want, "count after "+what)
			e.equal(len(e.list(storage.ListOptions{})), want, "live objects after "+what)
		}
		check(0, "nothing")
		a := e.create(`{"n": 1}`)
		check(1, "a create")
		e.update(scope, storage.Object{ID: a.ID, Data: raw(`{"n": 2}`)})
		check(1, "a replacement")
		b := e.update(scope, storage.Object{ID: "b", Data: raw(`{}`)})
		check(2, "an update that creates")
		_, err := e.b.Create(e.ctx, scope, storage.Object{ID: b.ID})
		var ue *storage.UnicityError
		e.check(errors.As(err, &ue), "Create of a live id: %v", err)
		check(2, "a refused create")
		e.del(scope, b.ID, 0)
		check(1, "a delete")
		_, err = e.b.Delete(e.ctx, scope, b.ID, 0, storage.Condition{})
		e.check(errors.Is(err, storage.ErrNotFound), "Delete of a tombstone: %v", err)
		check(1, "a delete of a tombstone")
		e.update(scope, storage.Object{ID: b.ID, Data: raw(`{}`)})
		check(2, "an update over a tombstone")
		e.del(scope, b.ID, 0)
		e.createIn(scope, storage.Object{ID: b.ID})
		check(2, "a create over a tombstone")
		cur := e.get(scope, a.ID)
		u, err := e.b.Update(e.ctx, scope, storage.Object{ID: a.ID, Data: raw(`{"n": 3}`)}, cond(cur.LastModified))
		e.check(err == nil, "conditional update: %v", err)
		check(2, "a conditional update")
		_, err = e.b.Update(e.ctx, scope, storage.Object{ID: a.ID, Data: raw(`{}`)}, cond(cur.LastModified))
		e.check(errors.Is(err, storage.ErrModified), "stale conditional update: %v", err)
		_, err = e.b.Update(e.ctx, scope, storage.Object{ID: "never", Data: raw(`{}`)}, cond(1))
		e.check(errors.Is(err, storage.ErrModified), "conditional update of a missing object: %v", err)
		_, err = e.b.Delete(e.ctx, scope, a.ID, 0, cond(cur.LastModified))
		e.check(errors.Is(err, storage.ErrModified), "stale conditional delete: %v", err)
		check(2, "failed conditional writes")
		_, err = e.b.Delete(e.ctx, scope, a.ID, 0, cond(u.LastModified))
		e.check(err == nil, "conditional delete: %v", err)
		check(1, "a conditional delete")
		// Writes keeping a timestamp forced by replication, in the past and in the future.
		past := e.timestamp(scope) - 1_000_000
		e.createIn(scope, storage.Object{ID: "r1", LastModified: past})
		e.update(scope, storage.Object{ID: "r2", LastModified: past + 1, Data: raw(`{}`)})
		check(3, "forced creates")
		e.del(scope, "r1", e.timestamp(scope)+1000)
		check(2, "a forced delete")
		for i := range 5 {
			e.create(`{"bulk": ` + itoa(i) + `}`)
		}
		check(7, "more creates")
		e.equal(len(e.deleteAll(scope, storage.ListOptions{Filters: []storage.Filter{f("bulk", storage.LT, 2)}})), 2, "deleted by filter")
		check(5, "a DeleteAll with a filter")
		e.equal(len(e.deleteAll(scope, storage.ListOptions{Limit: 1, Sort: []storage.Sort{asc("last_modified")}})), 1, "deleted with a limit")
		check(4, "a DeleteAll with a limit")
		e.purge(scope, 0)
		check(4, "a purge")
		e.deleteAll(scope, storage.ListOptions{})
		check(0, "a DeleteAll of everything")
		e.purge(scope, 0)
		e.create(`{}`)
		check(1, "a create after the purge")
		e.equal(e.countIn(otherScope), 0, "count of another collection")
	}},
	{"CountStaysExactUnderConcurrentWrites", func(e *env) {
		// Writers race on a few shared ids with every kind of write, so that creates collide,
		// updates bring back tombstones and deletes meet deletes; DeleteAll and purges run
		// meanwhile. Afterwards the counter equals the live objects.
		rounds := max(e.opts.WritesPerWriter*2, 20)
		e.raceOnSharedIDs(rounds, func(w, i int) error {
			switch (w + i) % 7 {
			case 5:
				_, err := e.b.Create(e.ctx, scope, storage.Object{Data: raw(`{"fresh": true}`)})
				return err
			case 6:
				if w%2 == 0 {
					_, err := e.b.DeleteAll(e.ctx, scope, storage.ListOptions{Filters: []storage.Filter{f("fresh", storage.EQ, true)}, Limit: 2})
					return err
				}
				_, err := e.b.PurgeDeleted(e.ctx, scope, 0)
				return err
			}
			return e.sharedWrite(e.ctx, (w+i)%7/2, "shared-"+itoa((w*7+i*3)%12))
		})
	}},
	{"CountStaysExactUnderConcurrentUnitsOfWork", func(e *env) {
		// The same races, each writer's writes grouped two by two in units of work, some
		// rolled back.
		if !e.units() {
			return // CountStaysExactUnderConcurrentWrites covers a backend without units
		}
		e.raceOnSharedIDs(max(e.opts.WritesPerWriter, 10), func(w, i int) error {
			ctx, tx, err := e.b.Begin(e.ctx)
			if err != nil {
				return err
			}
			for j := range 2 {
				if err := e.sharedWrite(ctx, (w+i+j)%4, "shared-"+itoa((w*5+i*3+j)%10)); err != nil {
					_ = tx.Rollback(e.ctx)
					return err
				}
			}
			if i%5 == 4 {
				return tx.Rollback(e.ctx)
			}
			return tx.Commit(e.ctx)
		})
	}},
	{"CountFollowsUnitsOfWork", func(e *env) {
		if !e.units() {
			return // every write applies at once: CountFollowsEveryKindOfWrite covers it
		}
		e.create(`{}`)
		ctx, tx := e.begin(e.ctx)
		for range 3 {
			if _, err := e.b.Create(ctx, scope, storage.Object{}); err != nil {
				e.Fatal(err)
			}
		}
		n, err := e.b.Count(ctx, scope, nil)
		e.check(err == nil && n == 4, "count inside the unit = %d, %v; want 4", n, err)
		e.equal(e.count(), 1, "count outside the uncommitted unit")
		e.check(tx.Rollback(e.ctx) == nil, "rollback")
		e.equal(e.count(), 1, "count after the rollback")
		ctx, tx = e.begin(e.ctx)
		if _, err := e.b.Create(ctx, scope, storage.Object{}); err != nil {
			e.Fatal(err)
		}
		if _, err := e.b.DeleteAll(ctx, otherScope, storage.ListOptions{}); err != nil {
			e.Fatal(err)
		}
		e.check(tx.Commit(e.ctx) == nil, "commit")
		e.equal(e.count(), 2, "count after the commit")
	}},
	{"FlushResetsCountsAndHorizons", func(e *env) {
		e.tombstones(scope, 1)
		e.create(`{}`)
		e.purge(scope, 0)
		e.check(e.horizon(scope) > 0, "no horizon before the flush")
		e.check(e.b.Flush(e.ctx) == nil, "flush")
		e.equal(e.count(), 0, "count after the flush")
		e.equal(e.horizon(scope), int64(0), "horizon after the flush")
		e.create(`{}`)
		e.equal(e.count(), 1, "count after a create")
	}},
}
