package storagetest

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

func itoa(i int) string { return strconv.Itoa(i) }

var timestampTests = []subtest{
	{"TimestampAreIncrementedOnCreate", func(e *env) {
		e.create(`{}`)
		before := e.timestamp(scope)
		o := e.create(`{}`)
		after := e.timestamp(scope)
		e.check(before < after, "timestamp %d not above %d", after, before)
		e.equal(after, o.LastModified, "collection timestamp vs object")
	}},
	{"TimestampAreIncrementedOnUpdate", func(e *env) {
		o := e.create(`{}`)
		before := e.timestamp(scope)
		u := e.update(scope, storage.Object{ID: o.ID, Data: raw(`{"bar": "foo"}`)})
		after := e.timestamp(scope)
		e.check(before < after, "timestamp %d not above %d", after, before)
		e.equal(after, u.LastModified, "collection timestamp vs object")
	}},
	{"TimestampAreIncrementedOnDelete", func(e *env) {
		o := e.create(`{}`)
		before := e.timestamp(scope)
		t := e.del(scope, o.ID, 0)
		after := e.timestamp(scope)
		e.check(before < after, "timestamp %d not above %d", after, before)
		e.equal(after, t.LastModified, "collection timestamp vs tombstone")
	}},
	{"TimestampsAreUniqueWithinTheSameMillisecond", func(e *env) {
		prev := int64(0)
		for i := range 100 {
			o := e.create(`{}`)
			e.check(o.LastModified > prev, "write %d got %d, not above %d", i, o.LastModified, prev)
			prev = o.LastModified
		}
		e.equal(e.timestamp(scope), prev, "collection timestamp")
	}},
	{"TheTimestampIsNotUpdatedWhenResourceRemainsEmpty", func(e *env) {
		first := e.timestamp(scope)
		time.Sleep(2 * time.Millisecond)
		e.list(storage.ListOptions{IncludeDeleted: true})
		e.count()
		_, _ = e.b.Get(e.ctx, scope, objectID)
		e.purge(scope, 0)
		e.deleteAll(scope, storage.ListOptions{})
		second := e.timestamp(scope)
		e.equal(second, first, "timestamp of the empty collection")
	}},
	{"TheFirstWriteIsAboveTheEmptyCollectionTimestamp", func(e *env) {
		empty := e.timestamp(scope)
		o := e.create(`{}`)
		e.check(o.LastModified > empty, "first write %d not above %d", o.LastModified, empty)
		e.equal(e.timestamp(scope), o.LastModified, "collection timestamp")
	}},
	{"TheTimestampAreBasedOnRealTimeMilliseconds", func(e *env) {
		before := nowMillis()
		time.Sleep(2 * time.Millisecond)
		o := e.create(`{}`)
		time.Sleep(2 * time.Millisecond)
		after := nowMillis()
		e.check(before < o.LastModified && o.LastModified < after, "%d < %d < %d does not hold", before, o.LastModified, after)
	}},
	{"ReadsNeverBumpTheTimestamp", func(e *env) {
		o := e.create(`{"a": 1}`)
		ts := e.timestamp(scope)
		for range 3 {
			e.get(scope, o.ID)
			e.list(storage.ListOptions{Filters: []storage.Filter{f("a", storage.EQ, 1)}, IncludeDeleted: true})
			e.count(f("a", storage.EQ, 1))
			e.equal(e.timestamp(scope), ts, "timestamp after reads")
		}
	}},
	{"ObjectsCreatedDuringAFetchAreAboveFetchTimestamp", func(e *env) {
		for range 3 {
			e.create(`{}`)
		}
		fetched := e.timestamp(scope)
		e.list(storage.ListOptions{})
		o := e.create(`{}`)
		e.check(o.LastModified > fetched, "object %d not above fetch timestamp %d", o.LastModified, fetched)
		got := e.list(storage.ListOptions{Filters: []storage.Filter{f("last_modified", storage.GT, fetched)}})
		e.equal(ids(got), []string{o.ID}, "objects since the fetch")
	}},
	{"TimestampAreAlwaysIncrementedAboveExistingValue", func(e *env) {
		// kinto mocks the clock into the past; a forced future timestamp puts the collection
		// ahead of the clock the same way.
		future := nowMillis() + int64(time.Hour/time.Millisecond)
		e.createIn(scope, storage.Object{LastModified: future})
		o := e.create(`{}`)
		e.check(o.LastModified > future, "write %d not above existing %d", o.LastModified, future)
	}},
	{"CreateUsesSpecifiedLastModifiedIfResourceEmpty", func(e *env) {
		const lm = 1_448_881_675_541
		e.createIn(scope, storage.Object{ID: objectID, LastModified: lm, Data: raw(`{"foo": "bar"}`)})
		e.equal(e.get(scope, objectID).LastModified, int64(lm), "object timestamp")
		e.equal(e.timestamp(scope), int64(lm), "collection timestamp")
	}},
	{"CreateKeepsSpecifiedLastModifiedIfInThePast", func(e *env) {
		// kinto.core keeps the collection timestamp unchanged here; the Go contract bumps it to
		// previous+1, so that the collection ETag still changes.
		first := e.create(`{}`)
		before := first.LastModified
		o := e.createIn(scope, storage.Object{ID: objectID, LastModified: before - 10})
		e.equal(o.LastModified, before-10, "returned timestamp")
		e.equal(e.get(scope, objectID).LastModified, before-10, "stored timestamp")
		e.equal(e.timestamp(scope), before+1, "collection timestamp")
	}},
	{"CreateIgnoresSpecifiedLastModifiedIfEqual", func(e *env) {
		first := e.create(`{}`)
		before := first.LastModified
		e.createIn(scope, storage.Object{ID: objectID, LastModified: before})
		got := e.get(scope, objectID).LastModified
		e.check(got > before, "object timestamp %d not above %d", got, before)
		after := e.timestamp(scope)
		e.check(after > before, "collection timestamp %d not above %d", after, before)
		e.equal(after, got, "collection timestamp vs object")
	}},
	{"UpdateUsesSpecifiedLastModifiedIfInFuture", func(e *env) {
		stored := e.create(`{}`)
		forced := stored.LastModified + 10
		u := e.update(scope, storage.Object{ID: stored.ID, LastModified: forced, Data: raw(`{}`)})
		e.equal(u.LastModified, forced, "returned timestamp")
		e.equal(e.get(scope, stored.ID).LastModified, forced, "stored timestamp")
		e.equal(e.timestamp(scope), forced, "collection timestamp")
	}},
	{"UpdateIgnoresSpecifiedLastModifiedIfInThePast", func(e *env) {
		stored := e.create(`{}`)
		before := e.timestamp(scope)
		u := e.update(scope, storage.Object{ID: stored.ID, LastModified: before - 10, Data: raw(`{}`)})
		e.check(u.LastModified > before, "object timestamp %d not above %d", u.LastModified, before)
		e.equal(e.timestamp(scope), u.LastModified, "collection timestamp")
	}},
	{"UpdateIgnoresSpecifiedLastModifiedIfEqual", func(e *env) {
		stored := e.create(`{}`)
		u := e.update(scope, storage.Object{ID: stored.ID, LastModified: stored.LastModified, Data: raw(`{}`)})
		e.check(u.LastModified > stored.LastModified, "object timestamp %d not above %d", u.LastModified, stored.LastModified)
		e.equal(e.get(scope, stored.ID).LastModified, u.LastModified, "stored timestamp")
		e.equal(e.timestamp(scope), u.LastModified, "collection timestamp")
	}},
	{"ForcedLastModifiedEqualToTheCollectionTimestampIsBumped", func(e *env) {
		a := e.create(`{}`)
		b := e.create(`{}`)
		u := e.update(scope, storage.Object{ID: a.ID, LastModified: b.LastModified, Data: raw(`{}`)})
		e.equal(u.LastModified, b.LastModified+1, "updated object timestamp")
		c := e.create(`{}`)
		t := e.del(scope, c.ID, c.LastModified)
		e.check(t.LastModified > c.LastModified, "tombstone %d not above %d", t.LastModified, c.LastModified)
		d := e.create(`{}`)
		t = e.del(scope, a.ID, d.LastModified)
		e.equal(t.LastModified, d.LastModified+1, "tombstone timestamp")
		e.equal(e.timestamp(scope), d.LastModified+1, "collection timestamp")
	}},
	{"ForcedLastModifiedTooFarAheadIsIgnored", func(e *env) {
		// A forced value more than storage.MaxForcedAhead ahead of the clock is treated as
		// none: the write gets a fresh timestamp and the collection clock stays near the
		// current time (values near the int64 maximum overflowed PostgreSQL's bigint, and
		// values above 2^53 froze Redis's clock, whose scripts count in doubles).
		fresh := func(got int64, prev int64, what string) {
			e.Helper()
			e.check(got > prev && got < nowMillis()+60_000, "%s: timestamp %d, want a fresh one above %d", what, got, prev)
		}
		ahead := nowMillis() + int64(storage.MaxForcedAhead/time.Millisecond) + 60_000
		prev := e.timestamp(scope)
		for i, forced := range []int64{math.MaxInt64, math.MaxInt64 - 1000, 1<<53 + 1, ahead} {
			what := fmt.Sprintf("forced %d", forced)
			o := e.createIn(scope, storage.Object{LastModified: forced})
			fresh(o.LastModified, prev, "Create, "+what)
			e.equal(e.get(scope, o.ID).LastModified, o.LastModified, "stored timestamp, "+what)
			u := e.update(scope, storage.Object{ID: o.ID, LastModified: forced, Data: raw(`{"a": 1}`)})
			fresh(u.LastModified, o.LastModified, "Update, "+what)
			n := e.update(scope, storage.Object{ID: "new" + itoa(i), LastModified: forced, Data: raw(`{}`)})
			fresh(n.LastModified, u.LastModified, "Update creating, "+what)
			d := e.del(scope, o.ID, forced)
			fresh(d.LastModified, n.LastModified, "Delete, "+what)
			e.equal(e.timestamp(scope), d.LastModified, "collection timestamp, "+what)
			prev = d.LastModified
		}
		next := e.create(`{}`)
		fresh(next.LastModified, prev, "the next write")
	}},
	{"UpdateKeepsSpecifiedLastModifiedWhenCreating", func(e *env) {
		const lm = 1_448_881_675_541
		u := e.update(scope, storage.Object{ID: objectID, LastModified: lm, Data: raw(`{}`)})
		e.equal(u.LastModified, int64(lm), "returned timestamp")
		e.equal(e.timestamp(scope), int64(lm), "collection timestamp")
	}},
}
