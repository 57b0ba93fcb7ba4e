package storagetest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"

	"github.com/cliquet-go/cliquet/storage"
)

var uuid4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

var basicTests = []subtest{
	{"CreateAddsTheObjectID", func(e *env) {
		o := e.create(`{"foo": "bar"}`)
		e.check(uuid4.MatchString(o.ID), "generated id %q is not a UUID4", o.ID)
		other := e.create(`{"foo": "bar"}`)
		e.check(other.ID != o.ID, "two creates got the same id %q", o.ID)
	}},
	{"CreateWorksAsExpected", func(e *env) {
		stored := e.create(`{"foo": "bar", "nested": {"n": [1, 2.5, null, true]}}`)
		e.equal(decode(stored), map[string]any{"foo": "bar", "nested": map[string]any{"n": []any{1.0, 2.5, nil, true}}}, "created data")
		e.sameObject(e.get(scope, stored.ID), stored, "retrieved")
	}},
	{"CreateCopiesTheObjectBeforeModifyingIt", func(e *env) {
		in := storage.Object{Data: raw(`{"foo": "bar"}`)}
		e.createIn(scope, in)
		e.equal(in.ID, "", "caller's id")
		e.equal(string(in.Data), `{"foo": "bar"}`, "caller's data")
	}},
	{"ReturnedObjectsDoNotShareMemoryWithTheBackend", func(e *env) {
		data := raw(`{"foo": "bar"}`)
		created := e.createIn(scope, storage.Object{ID: "a", Data: data})
		copy(data, `{"foo": "BAD"}`)
		for i := range created.Data {
			created.Data[i] = ' '
		}
		got := e.get(scope, "a")
		e.equal(decode(got), map[string]any{"foo": "bar"}, "data after the caller scribbled on its buffers")
		for i := range got.Data {
			got.Data[i] = ' '
		}
		listed := e.list(storage.ListOptions{})
		e.equal(decode(listed[0]), map[string]any{"foo": "bar"}, "listed data after scribbling on a Get result")
		for i := range listed[0].Data {
			listed[0].Data[i] = ' '
		}
		e.equal(decode(e.get(scope, "a")), map[string]any{"foo": "bar"}, "data after scribbling on a List result")
	}},
	{"CreateUsesTheResourceIDGenerator", func(e *env) {
		// Go form of kinto's id_generator: the caller passes the id it generated.
		o := e.createIn(scope, storage.Object{ID: objectID, Data: raw(`{}`)})
		e.equal(o.ID, objectID, "id")
	}},
	{"CreateSupportsUnicodeForParentAndID", func(e *env) {
		s := storage.Scope{Resource: "Rémy", Parent: "Rémy"}
		o := e.createIn(s, storage.Object{ID: "Rémy ✓", Data: raw(`{"name": "Rémy"}`)})
		e.equal(o.ID, "Rémy ✓", "id")
		e.sameObject(e.get(s, "Rémy ✓"), o, "retrieved")
		e.equal(ids(e.listIn(s, storage.ListOptions{})), []string{"Rémy ✓"}, "listed ids")
		e.equal(e.countIn(scope), 0, "objects in another scope")
	}},
	{"CreateDoesNotOverwriteTheProvidedID", func(e *env) {
		o := e.createIn(scope, storage.Object{ID: objectID, Data: raw(`{"foo": "bar"}`)})
		e.equal(o.ID, objectID, "id")
	}},
	{"CreateRaiseUnicityErrorIfProvidedIDExists", func(e *env) {
		first := e.createIn(scope, storage.Object{ID: objectID, Data: raw(`{"foo": "bar"}`)})
		_, err := e.b.Create(e.ctx, scope, storage.Object{ID: objectID, Data: raw(`{"foo": "baz"}`)})
		var ue *storage.UnicityError
		e.check(errors.As(err, &ue), "second create: got %v, want a *storage.UnicityError", err)
		e.equal(ue.Field, "id", "UnicityError.Field")
		e.equal(ue.Existing.ID, objectID, "UnicityError.Existing.ID")
		e.equal(decode(e.get(scope, objectID)), decode(first), "stored data after the conflict")
	}},
	{"CreateDoesGenerateANewLastModifiedField", func(e *env) {
		before := nowMillis()
		o := e.create(`{"foo": "bar"}`)
		e.check(o.LastModified >= before, "last_modified %d is before the call (%d)", o.LastModified, before)
	}},
	{"CreateStripsProtocolFieldsFromData", func(e *env) {
		o := e.createIn(scope, storage.Object{ID: "a", Data: raw(`{"id": "b", "last_modified": 12, "deleted": true, "x": 1}`)})
		e.equal(o.ID, "a", "id")
		e.check(o.LastModified != 12, "last_modified taken from data")
		e.equal(decode(o), map[string]any{"x": 1.0}, "created data")
		e.equal(decode(e.get(scope, "a")), map[string]any{"x": 1.0}, "stored data")
	}},
	{"CreateAcceptsEmptyData", func(e *env) {
		o := e.createIn(scope, storage.Object{})
		e.equal(decode(e.get(scope, o.ID)), map[string]any{}, "stored data")
	}},
	{"GetRaiseOnObjectNotFound", func(e *env) {
		_, err := e.b.Get(e.ctx, scope, objectID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"UpdateCreatesANewObjectWhenNeeded", func(e *env) {
		_, err := e.b.Get(e.ctx, scope, objectID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
		o := e.update(scope, storage.Object{ID: objectID, Data: raw(`{"foo": "bar"}`)})
		e.equal(o.ID, objectID, "id")
		e.check(o.LastModified > 0, "no last_modified")
		e.sameObject(e.get(scope, objectID), o, "retrieved")
		e.equal(e.count(), 1, "count")
	}},
	{"UpdateOverwritesObjectID", func(e *env) {
		stored := e.create(`{"foo": "bar"}`)
		e.update(scope, storage.Object{ID: stored.ID, Data: raw(`{"id": "this-will-be-ignored", "foo": "baz"}`)})
		got := e.get(scope, stored.ID)
		e.equal(decode(got), map[string]any{"foo": "baz"}, "data")
		_, err := e.b.Get(e.ctx, scope, "this-will-be-ignored")
		e.check(errors.Is(err, storage.ErrNotFound), "the id in data created an object: %v", err)
	}},
	{"UpdateReplacesTheWholeData", func(e *env) {
		stored := e.create(`{"foo": "bar", "old": 1}`)
		u := e.update(scope, storage.Object{ID: stored.ID, Data: raw(`{"foo": "baz"}`)})
		e.equal(decode(u), map[string]any{"foo": "baz"}, "returned data")
		e.equal(decode(e.get(scope, stored.ID)), map[string]any{"foo": "baz"}, "stored data")
		e.equal(e.count(), 1, "count")
	}},
	{"UpdateGeneratesANewLastModifiedFieldIfNotPresent", func(e *env) {
		stored := e.create(`{"foo": "bar"}`)
		e.update(scope, storage.Object{ID: stored.ID, Data: raw(`{"foo": "bar"}`)})
		got := e.get(scope, stored.ID)
		e.check(got.LastModified > stored.LastModified, "last_modified %d not above %d", got.LastModified, stored.LastModified)
	}},
	{"DeleteWorksProperly", func(e *env) {
		stored := e.create(`{"foo": "bar"}`)
		tomb := e.del(scope, stored.ID, 0)
		e.check(tomb.LastModified > stored.LastModified, "tombstone %d not above object %d", tomb.LastModified, stored.LastModified)
		_, err := e.b.Get(e.ctx, scope, stored.ID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"DeleteWorksEvenOnSecondTime", func(e *env) {
		e.createIn(scope, storage.Object{ID: "demo"})
		e.del(scope, "demo", 0)
		e.update(scope, storage.Object{ID: "demo", Data: raw(`{}`)})
		last := e.del(scope, "demo", 0)
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 1, "objects and tombstones")
		e.sameObject(all[0], last, "the single tombstone")
	}},
	{"DeleteCanSpecifyTheLastModified", func(e *env) {
		stored := e.create(`{"foo": "bar"}`)
		lm := stored.LastModified + 10
		tomb := e.del(scope, stored.ID, lm)
		e.equal(tomb.LastModified, lm, "tombstone last_modified")
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 1, "listed")
		e.equal(all[0].LastModified, lm, "listed tombstone last_modified")
		e.equal(e.timestamp(scope), lm, "collection timestamp")
	}},
	{"DeleteIgnoresSpecifiedLastModifiedIfNotAboveTheObject", func(e *env) {
		stored := e.create(`{"foo": "bar"}`)
		tomb := e.del(scope, stored.ID, stored.LastModified-5)
		e.check(tomb.LastModified > stored.LastModified, "tombstone %d not above object %d", tomb.LastModified, stored.LastModified)
	}},
	{"DeleteRaiseWhenUnknown", func(e *env) {
		_, err := e.b.Delete(e.ctx, scope, objectID, 0, storage.Condition{})
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"ReturnAllValues", func(e *env) {
		for i := range 10 {
			e.createIn(scope, storage.Object{Data: raw(`{"foo": "bar", "number": ` + itoa(i) + `}`)})
		}
		e.equal(len(e.list(storage.ListOptions{})), 10, "listed")
		e.equal(e.count(), 10, "count")
	}},
	{"ListAllHandleLimit", func(e *env) {
		for i := range 10 {
			e.createIn(scope, storage.Object{Data: raw(`{"number": ` + itoa(i) + `}`)})
		}
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true, Limit: 2})), 2, "listed")
		e.equal(e.count(), 10, "count ignores the limit")
	}},
}

var accessTests = []subtest{
	{"ParentCannotAccessOtherParentObject", func(e *env) {
		o := e.create(`{"foo": "bar"}`)
		_, err := e.b.Get(e.ctx, otherScope, o.ID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"ParentCannotDeleteOtherParentObject", func(e *env) {
		o := e.create(`{"foo": "bar"}`)
		_, err := e.b.Delete(e.ctx, otherScope, o.ID, 0, storage.Condition{})
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
		e.get(scope, o.ID)
	}},
	{"ParentCannotUpdateOtherParentObject", func(e *env) {
		o := e.create(`{"foo": "bar"}`)
		e.update(otherScope, storage.Object{ID: o.ID, Data: raw(`{"another": "object"}`)})
		e.equal(decode(e.get(scope, o.ID)), map[string]any{"foo": "bar"}, "data under the first parent")
	}},
	{"SameIDLivesUnderTwoParentsAndTwoResources", func(e *env) {
		otherResource := storage.Scope{Resource: "other", Parent: scope.Parent}
		for i, s := range []storage.Scope{scope, otherScope, otherResource} {
			e.createIn(s, storage.Object{ID: "same", Data: raw(`{"n": ` + itoa(i) + `}`)})
		}
		for i, s := range []storage.Scope{scope, otherScope, otherResource} {
			e.equal(decode(e.get(s, "same")), map[string]any{"n": float64(i)}, "data in "+s.String())
			e.equal(e.countIn(s), 1, "count in "+s.String())
		}
		e.del(scope, "same", 0)
		e.get(otherScope, "same")
		e.get(otherResource, "same")
		e.equal(len(e.listIn(otherScope, storage.ListOptions{IncludeDeleted: true})), 1, "objects in the other parent")
	}},
	{"ScopesHaveTheirOwnTimestamps", func(e *env) {
		e.create(`{}`)
		before := e.timestamp(otherScope)
		e.create(`{}`)
		e.deleteAll(scope, storage.ListOptions{})
		e.equal(e.timestamp(otherScope), before, "other scope's timestamp after writes in scope")
	}},
	{"PaginationRulesAreConfinedByParent", func(e *env) {
		a := storage.Scope{Resource: "test", Parent: "/a"}
		b := storage.Scope{Resource: "test", Parent: "/b"}
		var intermediate int64
		for i := range 4 {
			o := e.createIn(a, storage.Object{Data: raw(`{"foo": ` + itoa(i) + `}`)})
			if i == 3 {
				intermediate = o.LastModified
			}
		}
		for i := range 4 {
			e.createIn(b, storage.Object{Data: raw(`{"foo": ` + itoa(i) + `}`)})
		}
		page := e.listIn(a, storage.ListOptions{
			Sort:  []storage.Sort{desc("foo"), desc("last_modified")},
			Limit: 10,
			Pagination: [][]storage.Filter{
				{f("foo", storage.GT, 1)},
				{f("last_modified", storage.GT, intermediate)},
			},
		})
		e.equal(values(page, "foo"), []any{3.0, 2.0}, "page")
	}},
}

// keyOrderTests check that data keeps its writer's key order, at every depth, whatever the
// backend's own representation (PostgreSQL's jsonb orders keys by length): clients such as
// Kinto's web admin build forms from the order of a JSON schema's properties.
var keyOrderTests = []subtest{
	{"DataKeepsItsKeyOrder", func(e *env) {
		const data = `{"zeta":1,"alpha":{"title":"T","b":[{"y":1,"x":2}],"a":null},"mid":"m","aa":true}`
		want := keyOrder(e, raw(data))
		created := e.createIn(scope, storage.Object{ID: "o", Data: raw(data)})
		e.equal(keyOrder(e, created.Data), want, "keys of the created data")
		e.equal(keyOrder(e, e.get(scope, "o").Data), want, "keys of the data read back")
		e.equal(keyOrder(e, e.list(storage.ListOptions{})[0].Data), want, "keys of the listed data")
		got, err := e.b.GetMany(e.ctx, []storage.Key{{Scope: scope, ID: "o"}})
		if err != nil {
			e.Fatalf("GetMany: %v", err)
		}
		e.equal(keyOrder(e, got[0].Data), want, "keys of the data GetMany reads")
		const replaced = `{"z":{"2":2,"10":10,"1":1},"b":[],"a":1}`
		updated := e.update(scope, storage.Object{ID: "o", Data: raw(replaced)})
		e.equal(keyOrder(e, updated.Data), keyOrder(e, raw(replaced)), "keys of the updated data")
		e.equal(keyOrder(e, e.get(scope, "o").Data), keyOrder(e, raw(replaced)), "keys of the updated data read back")
	}},
	{"ProtocolFieldsAreDroppedWithoutReordering", func(e *env) {
		created := e.createIn(scope, storage.Object{ID: "o", Data: raw(`{"zeta": 1, "id": "x", "beta": {"id": 2, "a": 1}, "last_modified": 3, "alpha": 0, "deleted": false}`)})
		want := []string{"zeta", "beta", "beta.id", "beta.a", "alpha"}
		e.equal(keyOrder(e, created.Data), want, "keys of the created data")
		e.equal(keyOrder(e, e.get(scope, "o").Data), want, "keys of the data read back")
	}},
}

// keyOrder lists the keys of the JSON object data in document order, nested keys as dotted
// paths (array elements' keys under the array's path).
func keyOrder(e *env, data json.RawMessage) []string {
	e.Helper()
	d := json.NewDecoder(bytes.NewReader(data))
	var (
		out  []string
		path []string // the keys of the enclosing objects
		// inObject[i] tells whether nesting level i is an object (expecting a key next when
		// keyNext[i]), else an array.
		inObject, keyNext []bool
	)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return out
		}
		if err != nil {
			e.Fatalf("data %s: %v", data, err)
		}
		top := len(inObject) - 1
		if top >= 0 && inObject[top] && keyNext[top] {
			if k, ok := tok.(string); ok {
				path = append(path, k)
				out = append(out, strings.Join(path, "."))
				keyNext[top] = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'):
			inObject, keyNext = append(inObject, true), append(keyNext, true)
			continue
		case json.Delim('['):
			inObject, keyNext = append(inObject, false), append(keyNext, false)
			continue
		case json.Delim('}'), json.Delim(']'):
			inObject, keyNext = inObject[:top], keyNext[:top]
		}
		// A value (scalar or closed container) ends: its object expects a key again.
		if top = len(inObject) - 1; top >= 0 && inObject[top] {
			keyNext[top] = true
			path = path[:len(path)-1]
		}
	}
}
