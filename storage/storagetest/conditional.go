package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/cliquet-go/cliquet/storage"
)

// Conditional writes (storage.Condition) are a Go contract: kinto.core checks If-Match in its
// resource layer, between a read and a write; here the check is atomic with the write.

// cond is a Condition on timestamp ts.
func cond(ts int64) storage.Condition { return storage.Condition{LastModified: ts} }

// unchanged checks that a failed conditional write left the object and the collection
// timestamp as they were.
func (e *env) unchanged(id string, want storage.Object, wantTS int64, what string) {
	e.Helper()
	if want.ID == "" {
		_, err := e.b.Get(e.ctx, scope, id)
		e.check(errors.Is(err, storage.ErrNotFound), "%s: Get(%q) = %v, want ErrNotFound", what, id, err)
	} else {
		e.sameObject(e.get(scope, id), want, what)
	}
	e.equal(e.timestamp(scope), wantTS, what+": collection timestamp")
}

var conditionalTests = []subtest{
	{"UpdateWithAHoldingConditionWrites", func(e *env) {
		o := e.create(`{"n": 1}`)
		got, err := e.b.Update(e.ctx, scope, storage.Object{ID: o.ID, Data: raw(`{"n": 2}`)}, cond(o.LastModified))
		e.check(err == nil, "conditional Update: %v", err)
		e.check(got.LastModified > o.LastModified, "new timestamp %d is not after %d", got.LastModified, o.LastModified)
		e.equal(decode(got), map[string]any{"n": 2.0}, "returned data")
		e.sameObject(e.get(scope, o.ID), got, "stored object")
		e.equal(e.timestamp(scope), got.LastModified, "collection timestamp")
	}},
	{"UpdateWithAStaleConditionWritesNothing", func(e *env) {
		o := e.create(`{"n": 1}`)
		current := e.update(scope, storage.Object{ID: o.ID, Data: raw(`{"n": 2}`)})
		ts := e.timestamp(scope)
		_, err := e.b.Update(e.ctx, scope, storage.Object{ID: o.ID, Data: raw(`{"n": 3}`)}, cond(o.LastModified))
		e.check(errors.Is(err, storage.ErrModified), "Update with a stale condition: got %v, want ErrModified", err)
		e.unchanged(o.ID, current, ts, "after the failed Update")
	}},
	{"UpdateWithAConditionNeverCreates", func(e *env) {
		ts := e.timestamp(scope)
		_, err := e.b.Update(e.ctx, scope, storage.Object{ID: objectID, Data: raw(`{"n": 1}`)}, cond(ts))
		e.check(errors.Is(err, storage.ErrModified), "conditional Update of a missing object: got %v, want ErrModified", err)
		e.unchanged(objectID, storage.Object{}, ts, "after the failed Update")
		e.equal(e.count(), 0, "count")
	}},
	{"UpdateWithAConditionOnATombstoneWritesNothing", func(e *env) {
		o := e.createIn(scope, storage.Object{ID: objectID, Data: raw(`{"n": 1}`)})
		tomb := e.del(scope, objectID, 0)
		for _, c := range []int64{o.LastModified, tomb.LastModified} {
			_, err := e.b.Update(e.ctx, scope, storage.Object{ID: objectID, Data: raw(`{"n": 2}`)}, cond(c))
			e.check(errors.Is(err, storage.ErrModified), "Update of a tombstone with condition %d: got %v, want ErrModified", c, err)
		}
		e.unchanged(objectID, storage.Object{}, tomb.LastModified, "after the failed Updates")
		listed := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(listed), 1, "objects and tombstones")
		e.sameObject(listed[0], tomb, "tombstone")
	}},
	{"UpdateWithAConditionKeepsAForcedTimestamp", func(e *env) {
		o := e.create(`{"n": 1}`)
		forced := o.LastModified + 1000
		got, err := e.b.Update(e.ctx, scope, storage.Object{ID: o.ID, LastModified: forced, Data: raw(`{"n": 2}`)}, cond(o.LastModified))
		e.check(err == nil, "conditional Update: %v", err)
		e.equal(got.LastModified, forced, "object timestamp")
		e.equal(e.timestamp(scope), forced, "collection timestamp")
	}},
	{"UpdateWithTheZeroConditionUpserts", func(e *env) {
		got, err := e.b.Update(e.ctx, scope, storage.Object{ID: objectID, Data: raw(`{"n": 1}`)}, storage.Condition{})
		e.check(err == nil, "Update with the zero condition: %v", err)
		e.sameObject(e.get(scope, objectID), got, "created object")
	}},
	{"DeleteWithAHoldingConditionDeletes", func(e *env) {
		o := e.create(`{"n": 1}`)
		tomb, err := e.b.Delete(e.ctx, scope, o.ID, 0, cond(o.LastModified))
		e.check(err == nil, "conditional Delete: %v", err)
		e.check(tomb.Deleted && tomb.ID == o.ID && tomb.LastModified > o.LastModified, "tombstone %+v", tomb)
		_, err = e.b.Get(e.ctx, scope, o.ID)
		e.check(errors.Is(err, storage.ErrNotFound), "Get after Delete: %v", err)
		e.equal(e.timestamp(scope), tomb.LastModified, "collection timestamp")
	}},
	{"DeleteWithAStaleConditionDeletesNothing", func(e *env) {
		o := e.create(`{"n": 1}`)
		current := e.update(scope, storage.Object{ID: o.ID, Data: raw(`{"n": 2}`)})
		ts := e.timestamp(scope)
		_, err := e.b.Delete(e.ctx, scope, o.ID, 0, cond(o.LastModified))
		e.check(errors.Is(err, storage.ErrModified), "Delete with a stale condition: got %v, want ErrModified", err)
		e.unchanged(o.ID, current, ts, "after the failed Delete")
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 1, "objects and tombstones")
	}},
	{"DeleteWithAConditionOnAMissingOrDeletedObjectReturnsErrModified", func(e *env) {
		ts := e.timestamp(scope)
		_, err := e.b.Delete(e.ctx, scope, "missing", 0, cond(ts))
		e.check(errors.Is(err, storage.ErrModified), "conditional Delete of a missing object: got %v, want ErrModified", err)
		e.check(!errors.Is(err, storage.ErrNotFound), "conditional Delete of a missing object also matches ErrNotFound")
		o := e.create(`{"n": 1}`)
		tomb := e.del(scope, o.ID, 0)
		_, err = e.b.Delete(e.ctx, scope, o.ID, 0, cond(o.LastModified))
		e.check(errors.Is(err, storage.ErrModified), "conditional Delete of a tombstone: got %v, want ErrModified", err)
		e.unchanged(o.ID, storage.Object{}, tomb.LastModified, "after the failed Delete")
		listed := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(listed), 1, "tombstones")
		e.sameObject(listed[0], tomb, "tombstone")
	}},
	{"ConcurrentConditionalIncrementsLoseNothing", func(e *env) {
		e.concurrentIncrements(false)
	}},
	{"ConcurrentConditionalIncrementsInUnitsOfWorkLoseNothing", func(e *env) {
		if !e.units() {
			// Without units of work each call is applied on its own: the increments made
			// that way must lose nothing either.
			e.concurrentIncrements(false)
			return
		}
		e.concurrentIncrements(true)
	}},
}

// concurrentIncrements runs 20 goroutines that each increment a counter 5 times with
// Get → Update(Condition) retry loops (each attempt in its own unit of work when units is
// true), and checks that no increment is lost.
func (e *env) concurrentIncrements(units bool) {
	const workers, increments = 20, 5
	o := e.createIn(scope, storage.Object{ID: objectID, Data: raw(`{"counter": 0}`)})
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		retries int
		errs    = make(chan error, workers)
	)
	attempt := func(ctx context.Context) error {
		cur, err := e.b.Get(ctx, scope, objectID)
		if err != nil {
			return err
		}
		var d struct {
			Counter int `json:"counter"`
		}
		if err := json.Unmarshal(cur.Data, &d); err != nil {
			return err
		}
		_, err = e.b.Update(ctx, scope, storage.Object{ID: objectID, Data: raw(fmt.Sprintf(`{"counter": %d}`, d.Counter+1))},
			cond(cur.LastModified))
		return err
	}
	inUnit := func(attempt func(context.Context) error) error {
		ctx, tx, err := e.b.Begin(e.ctx)
		if err != nil {
			return err
		}
		if err := attempt(ctx); err != nil {
			if rerr := tx.Rollback(ctx); rerr != nil {
				return rerr
			}
			return err
		}
		return tx.Commit(ctx)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < increments; {
				var err error
				if units {
					err = inUnit(attempt)
				} else {
					err = attempt(e.ctx)
				}
				switch {
				case err == nil:
					i++
				case errors.Is(err, storage.ErrModified):
					mu.Lock()
					retries++
					mu.Unlock()
				default:
					errs <- fmt.Errorf("worker %d, increment %d: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if !e.drain(errs) {
		return
	}
	final := e.get(scope, objectID)
	e.equal(decode(final), map[string]any{"counter": float64(workers * increments)}, "final counter")
	e.check(final.LastModified > o.LastModified, "final timestamp %d is not after %d", final.LastModified, o.LastModified)
	e.equal(e.timestamp(scope), final.LastModified, "collection timestamp (failed attempts must not move it)")
	e.Logf("%d increments, %d retries", workers*increments, retries)
}
