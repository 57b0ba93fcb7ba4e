package storagetest

import (
	"context"
	"fmt"

	"github.com/cliquet-go/cliquet/storage"
)

// getManyTests check [storage.Backend.GetMany] (a Go contract method, without a kinto.core
// counterpart): the objects at the keys in the order of the keys, the zero Object where no
// live object is, and, key by key, exactly what Get returns.
var getManyTests = []subtest{
	{"ReturnsTheObjectsInTheOrderOfTheKeys", func(e *env) {
		var created []storage.Object
		for i := range 30 {
			created = append(created, e.createIn(scope, storage.Object{ID: fmt.Sprintf("o%02d", i), Data: raw(fmt.Sprintf(`{"n": %d}`, i))}))
		}
		// Reversed, then every third object again: neither the ids' nor the writes' order.
		var keys []storage.Key
		var want []storage.Object
		for i := len(created) - 1; i >= 0; i-- {
			keys = append(keys, storage.Key{Scope: scope, ID: created[i].ID})
			want = append(want, created[i])
		}
		for i := 0; i < len(created); i += 3 {
			keys = append(keys, storage.Key{Scope: scope, ID: created[i].ID})
			want = append(want, created[i])
		}
		got := e.getMany(e.ctx, keys)
		for i := range want {
			e.sameObject(got[i], want[i], fmt.Sprintf("result[%d]", i))
		}
	}},
	{"ReturnsTheZeroObjectForMissingIDs", func(e *env) {
		a := e.createIn(scope, storage.Object{ID: "a", Data: raw(`{"x": 1}`)})
		never := storage.Scope{Resource: "never", Parent: "written"}
		got := e.getMany(e.ctx, []storage.Key{
			{Scope: scope, ID: "missing"},
			{Scope: scope, ID: "a"},
			{Scope: never, ID: "a"},
			{Scope: otherScope, ID: "a"},
			{Scope: scope, ID: ""},
		})
		e.zero(got[0], "an unknown id")
		e.sameObject(got[1], a, "result[1]")
		e.zero(got[2], "an id in a never-written collection")
		e.zero(got[3], "an id that exists in another collection only")
		e.zero(got[4], "the empty id")
	}},
	{"ReturnsTheZeroObjectForTombstones", func(e *env) {
		e.createIn(scope, storage.Object{ID: "kept", Data: raw(`{}`)})
		e.createIn(scope, storage.Object{ID: "purged"})
		e.del(scope, "purged", 0)
		e.purge(scope, 0)
		tomb := e.createAndDeleteID("gone", `{"x": 1}`)
		got := e.getMany(e.ctx, []storage.Key{{Scope: scope, ID: tomb.ID}, {Scope: scope, ID: "kept"}, {Scope: scope, ID: "purged"}})
		e.zero(got[0], "a tombstone")
		e.equal(got[1].ID, "kept", "result[1].ID")
		e.zero(got[2], "a purged tombstone")
		// Recreated over its tombstone, the object is there again.
		back := e.createIn(scope, storage.Object{ID: tomb.ID, Data: raw(`{"x": 2}`)})
		e.sameObject(e.getMany(e.ctx, []storage.Key{{Scope: scope, ID: tomb.ID}})[0], back, "the object recreated over its tombstone")
	}},
	{"ReadsAcrossCollectionsAndResources", func(e *env) {
		// Kinto's bucket → collection → record, plus scopes whose names a key layout could
		// mix up, and one id stored in several collections with different data.
		bucket := storage.Scope{Resource: "bucket", Parent: ""}
		coll := storage.Scope{Resource: "collection", Parent: "/buckets/b"}
		record := storage.Scope{Resource: "record", Parent: "/buckets/b/collections/c"}
		tricky := storage.Scope{Resource: "a:b", Parent: "{c}:d %20"}
		tricky2 := storage.Scope{Resource: "a", Parent: "b:{c}:d %20"}
		unicode := storage.Scope{Resource: "Rémy", Parent: "Rémy ✓"}
		want := []storage.Object{
			e.createIn(bucket, storage.Object{ID: "b", Data: raw(`{"level": "bucket"}`)}),
			e.createIn(coll, storage.Object{ID: "c", Data: raw(`{"level": "collection"}`)}),
			e.createIn(record, storage.Object{ID: "r", Data: raw(`{"level": "record"}`)}),
			e.createIn(scope, storage.Object{ID: "same", Data: raw(`{"in": "scope"}`)}),
			e.createIn(otherScope, storage.Object{ID: "same", Data: raw(`{"in": "otherScope"}`)}),
			e.createIn(tricky, storage.Object{ID: "same", Data: raw(`{"in": "tricky"}`)}),
			e.createIn(tricky2, storage.Object{ID: "same", Data: raw(`{"in": "tricky2"}`)}),
			e.createIn(unicode, storage.Object{ID: "Rémy ✓", Data: raw(`{"in": "unicode"}`)}),
		}
		scopes := []storage.Scope{bucket, coll, record, scope, otherScope, tricky, tricky2, unicode}
		keys := make([]storage.Key, len(want))
		for i, o := range want {
			keys[i] = storage.Key{Scope: scopes[i], ID: o.ID}
		}
		got := e.getMany(e.ctx, keys)
		for i := range want {
			e.sameObject(got[i], want[i], fmt.Sprintf("result[%d] (%v)", i, scopes[i]))
		}
		// The same keys in the other order.
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
		got = e.getMany(e.ctx, keys)
		for i := range want {
			e.sameObject(got[i], want[len(want)-1-i], fmt.Sprintf("reversed result[%d]", i))
		}
	}},
	{"AcceptsRepeatedKeys", func(e *env) {
		a := e.createIn(scope, storage.Object{ID: "a", Data: raw(`{"x": "a"}`)})
		b := e.createIn(otherScope, storage.Object{ID: "b", Data: raw(`{"x": "b"}`)})
		ka, kb, kz := storage.Key{Scope: scope, ID: "a"}, storage.Key{Scope: otherScope, ID: "b"}, storage.Key{Scope: scope, ID: "z"}
		got := e.getMany(e.ctx, []storage.Key{ka, kb, ka, kz, ka, kz, kb})
		for i, want := range []storage.Object{a, b, a, {}, a, {}, b} {
			if want.ID == "" {
				e.zero(got[i], fmt.Sprintf("result[%d]", i))
				continue
			}
			e.sameObject(got[i], want, fmt.Sprintf("result[%d]", i))
		}
		// Each result is a copy of its own.
		for i := range got[0].Data {
			got[0].Data[i] = ' '
		}
		e.equal(decode(got[2]), map[string]any{"x": "a"}, "result[2] after scribbling on result[0]")
		e.equal(decode(e.get(scope, "a")), map[string]any{"x": "a"}, "stored data after scribbling on a GetMany result")
	}},
	{"WithoutKeysReturnsAnEmptyResult", func(e *env) {
		e.create(`{}`)
		for _, keys := range [][]storage.Key{nil, {}} {
			got, err := e.b.GetMany(e.ctx, keys)
			e.check(err == nil, "GetMany(%#v): %v", keys, err)
			e.check(got != nil && len(got) == 0, "GetMany(%#v) = %#v, want an empty non-nil slice", keys, got)
		}
	}},
	{"ReturnsWhatGetReturns", func(e *env) {
		objs := []storage.Object{
			e.create(`{"foo": "bar", "nested": {"n": [1, 2.5, null, true]}, "s": "é\u00e9\n\"q\""}`),
			e.create(`{}`),
			e.createIn(scope, storage.Object{ID: "forced", LastModified: 1_000_000_000_000, Data: raw(`{"forced": true}`)}),
			e.createIn(otherScope, storage.Object{ID: "other", Data: raw(`{"big": 12345678901234567890, "neg": -0.5}`)}),
		}
		upd := e.update(scope, storage.Object{ID: objs[1].ID, Data: raw(`{"updated": [{}]}`)})
		scopes := []storage.Scope{scope, scope, scope, otherScope}
		keys := make([]storage.Key, len(objs))
		for i, o := range objs {
			keys[i] = storage.Key{Scope: scopes[i], ID: o.ID}
		}
		got := e.getMany(e.ctx, keys)
		for i := range keys {
			want := e.get(keys[i].Scope, keys[i].ID)
			e.sameObject(got[i], want, fmt.Sprintf("result[%d] against Get", i))
			e.check(!got[i].Deleted, "result[%d] is marked deleted", i)
		}
		e.equal(got[1].LastModified, upd.LastModified, "last_modified of the updated object")
		e.equal(got[2].LastModified, int64(1_000_000_000_000), "a forced last_modified")
	}},
	{"SeesTheWritesOfItsUnitOfWork", func(e *env) {
		committed := e.createIn(scope, storage.Object{ID: "committed", Data: raw(`{"v": 1}`)})
		e.createIn(scope, storage.Object{ID: "doomed", Data: raw(`{}`)})
		keys := []storage.Key{{Scope: scope, ID: "committed"}, {Scope: otherScope, ID: "new"}, {Scope: scope, ID: "doomed"}}
		if !e.units() {
			// Without units of work, writes apply at once: GetMany sees them right away.
			updated := e.update(scope, storage.Object{ID: "committed", Data: raw(`{"v": 2}`)})
			created := e.createIn(otherScope, storage.Object{ID: "new", Data: raw(`{}`)})
			e.del(scope, "doomed", 0)
			got := e.getMany(e.ctx, keys)
			e.sameObject(got[0], updated, "the updated object")
			e.sameObject(got[1], created, "the created object")
			e.zero(got[2], "the deleted object")
			return
		}
		txCtx, tx := e.begin(e.ctx)
		defer func() { _ = tx.Rollback(e.ctx) }()
		// A read before the unit's first write.
		got := e.getMany(txCtx, keys)
		e.sameObject(got[0], committed, "a committed object read in the unit before it writes")
		updated, err := e.b.Update(txCtx, scope, storage.Object{ID: "committed", Data: raw(`{"v": 2}`)}, storage.Condition{})
		e.check(err == nil, "Update in the unit: %v", err)
		created, err := e.b.Create(txCtx, otherScope, storage.Object{ID: "new", Data: raw(`{"fresh": true}`)})
		e.check(err == nil, "Create in the unit: %v", err)
		_, err = e.b.Delete(txCtx, scope, "doomed", 0, storage.Condition{})
		e.check(err == nil, "Delete in the unit: %v", err)
		got = e.getMany(txCtx, keys)
		e.sameObject(got[0], updated, "the unit's own update")
		e.sameObject(got[1], created, "the unit's own create")
		e.zero(got[2], "the unit's own delete")
		for i, k := range keys[:2] {
			want, err := e.b.Get(txCtx, k.Scope, k.ID)
			e.check(err == nil, "Get(%v, %q) in the unit: %v", k.Scope, k.ID, err)
			e.sameObject(got[i], want, fmt.Sprintf("result[%d] against Get in the unit", i))
		}
		if err := tx.Rollback(e.ctx); err != nil {
			e.Fatalf("Rollback: %v", err)
		}
		got = e.getMany(e.ctx, keys)
		e.sameObject(got[0], committed, "the object after the rollback")
		e.zero(got[1], "the object created by the rolled-back unit")
		e.equal(got[2].ID, "doomed", "the object deleted by the rolled-back unit")
	}},
}

// getMany calls GetMany and checks that it returns one object per key.
func (e *env) getMany(ctx context.Context, keys []storage.Key) []storage.Object {
	e.Helper()
	got, err := e.b.GetMany(ctx, keys)
	if err != nil {
		e.Fatalf("GetMany(%v): %v", keys, err)
	}
	if len(got) != len(keys) {
		e.Fatalf("GetMany(%v) returned %d objects for %d keys", keys, len(got), len(keys))
	}
	return got
}

// zero fails the subtest when o is not the zero Object (what GetMany returns for no object).
func (e *env) zero(o storage.Object, what string) {
	e.Helper()
	if o.ID != "" || o.LastModified != 0 || o.Deleted || o.Data != nil {
		e.Fatalf("%s: got %s/%d/%v %s, want the zero Object", what, o.ID, o.LastModified, o.Deleted, o.Data)
	}
}
