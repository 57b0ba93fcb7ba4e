package storagetest

import (
	"errors"

	"github.com/cliquet-go/cliquet/storage"
)

var sortingTests = []subtest{
	{"SortingOnSeveralFields", func(e *env) {
		e.createAll(`{"a": 2, "b": "x", "n": 1}`, `{"a": 1, "b": "y", "n": 2}`, `{"a": 2, "b": "y", "n": 3}`, `{"a": 1, "b": "x", "n": 4}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("a"), desc("b")}})
		e.equal(values(got, "n"), []any{2.0, 4.0, 3.0, 1.0}, "a asc, b desc")
		got = e.list(storage.ListOptions{Sort: []storage.Sort{desc("b"), asc("a")}})
		e.equal(values(got, "n"), []any{2.0, 3.0, 4.0, 1.0}, "b desc, a asc")
	}},
	{"SortingFollowsJSONBOrderAcrossTypes", func(e *env) {
		e.createAll(`{"v": {"k": 1}, "n": "object"}`, `{"n": "absent"}`, `{"v": 1, "n": "number"}`,
			`{"v": null, "n": "null"}`, `{"v": "z", "n": "string"}`, `{"v": [1], "n": "array"}`,
			`{"v": true, "n": "true"}`, `{"v": false, "n": "false"}`, `{"v": -2.5, "n": "negative"}`, `{"v": "", "n": "empty"}`,
			`{"v": [], "n": "no items"}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("v")}})
		e.equal(values(got, "n"), []any{"null", "empty", "string", "negative", "number", "false", "true", "no items", "array", "object", "absent"}, "ascending")
		got = e.list(storage.ListOptions{Sort: []storage.Sort{desc("v")}})
		e.equal(values(got, "n"), []any{"absent", "object", "array", "no items", "true", "false", "number", "negative", "string", "empty", "null"}, "descending")
		// Comparisons agree with the order: an empty array is not below null (as jsonb
		// alone would have it) but among the arrays.
		e.equal(sortedStrings(e.filter(f("v", storage.LT, []any{1})), "n"),
			[]string{"empty", "false", "negative", "no items", "null", "number", "string", "true"}, "v < [1]")
		e.equal(sortedStrings(e.filter(f("v", storage.GT, true)), "n"), []string{"absent", "array", "no items", "object"}, "v > true")
	}},
	{"BooleanSortBringsTrueLast", func(e *env) {
		e.createAll(`{"b": true, "n": 1}`, `{"b": false, "n": 2}`, `{"b": true, "n": 3}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("b"), asc("n")}})
		e.equal(values(got, "n"), []any{2.0, 1.0, 3.0}, "b asc")
	}},
	{"MissingFieldsSortLastAscendingAndFirstDescending", func(e *env) {
		e.createAll(`{"n": 1, "v": 3}`, `{"n": 2}`, `{"n": 3, "v": 1}`)
		e.equal(values(e.list(storage.ListOptions{Sort: []storage.Sort{asc("v")}}), "n"), []any{3.0, 1.0, 2.0}, "ascending")
		e.equal(values(e.list(storage.ListOptions{Sort: []storage.Sort{desc("v")}}), "n"), []any{2.0, 1.0, 3.0}, "descending")
	}},
	{"SortingOnLastModifiedAndID", func(e *env) {
		for _, id := range []string{"b", "c", "a"} {
			e.createIn(scope, storage.Object{ID: id})
		}
		e.equal(ids(e.list(storage.ListOptions{Sort: []storage.Sort{asc("last_modified")}})), []string{"b", "c", "a"}, "last_modified asc")
		e.equal(ids(e.list(storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}})), []string{"a", "c", "b"}, "last_modified desc")
		e.equal(ids(e.list(storage.ListOptions{Sort: []storage.Sort{desc("id")}})), []string{"c", "b", "a"}, "id desc")
	}},
	{"SortingStringsIsByteWise", func(e *env) {
		e.createAll(`{"s": "b"}`, `{"s": "B"}`, `{"s": "a"}`, `{"s": "é"}`, `{"s": "ab"}`)
		e.equal(values(e.list(storage.ListOptions{Sort: []storage.Sort{asc("s")}}), "s"), []any{"B", "a", "ab", "b", "é"}, "ascending")
	}},
	{"SortingOnLastModifiedAppliesToDeletedItems", func(e *env) {
		lm := e.lastModifiedFilter()
		var first, last storage.Object
		for i := 20; i > 0; i-- {
			o := e.createAndDelete(`{}`)
			if i == 1 {
				first = o
			}
			if i == 20 {
				last = o
			}
		}
		got := e.list(storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}, Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal(len(got), 20, "tombstones")
		e.sameObject(got[0], first, "first")
		e.sameObject(got[len(got)-1], last, "last")
	}},
	{"SortingOnLastModifiedMixesDeletedObjects", func(e *env) {
		lm := e.lastModifiedFilter()
		e.createAndDelete(`{}`)
		e.create(`{}`)
		e.createAndDelete(`{}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("last_modified")}, Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal([]bool{got[0].Deleted, got[1].Deleted, got[2].Deleted}, []bool{true, false, true}, "deleted flags")
	}},
	{"SortingOnArbitraryFieldGroupsDeletedAtLast", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{"status": 0}`)
		e.createAndDelete(`{"status": 1}`)
		e.createAndDelete(`{"status": 2}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("status")}, Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal([]bool{got[0].Deleted, got[1].Deleted, got[2].Deleted}, []bool{false, true, true}, "deleted flags")
	}},
	{"SupportSortingOnDeletedFieldGroupsDeletedAtFirst", func(e *env) {
		lm := e.lastModifiedFilter()
		e.createAndDelete(`{}`)
		e.create(`{}`)
		e.createAndDelete(`{}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("deleted")}, Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal([]bool{got[0].Deleted, got[1].Deleted, got[2].Deleted}, []bool{true, true, false}, "deleted flags")
	}},
	{"SortingOnNumericArbitraryField", func(e *env) {
		lm := e.lastModifiedFilter()
		e.createAll(`{"status": 1}`, `{"status": 10}`, `{"status": 6}`, `{"status": 46}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{desc("status")}, Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal(values(got, "status"), []any{46.0, 10.0, 6.0, 1.0}, "statuses")
	}},
}

var deletedTests = []subtest{
	{"GetShouldNotReturnDeletedItems", func(e *env) {
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		_, err := e.b.Get(e.ctx, scope, t.ID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"DeletingADeletedItemShouldRaiseNotFound", func(e *env) {
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		_, err := e.b.Delete(e.ctx, scope, t.ID, 0, storage.Condition{})
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"RecreatingADeletedObjectShouldDeleteItsTombstone", func(e *env) {
		e.createAndDeleteID("jesus", `{"rebirth": true}`)
		e.createIn(scope, storage.Object{ID: "jesus", Data: raw(`{"rebirth": true}`)})
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 1, "objects and tombstones")
		e.check(!all[0].Deleted, "the tombstone is listed")
		e.equal(e.count(), 1, "count")
	}},
	{"UpdatingADeletedObjectShouldDeleteItsTombstone", func(e *env) {
		e.createAndDeleteID("jesus", `{"rebirth": true}`)
		e.update(scope, storage.Object{ID: "jesus", Data: raw(`{"rebirth": true}`)})
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 1, "objects and tombstones")
		e.check(!all[0].Deleted, "the tombstone is listed")
	}},
	{"DeletingAObjectTwiceShouldUpdateItsTombstone", func(e *env) {
		before := e.createAndDeleteID("jesus", `{"rebirth": true}`)
		after := e.createAndDeleteID("jesus", `{"rebirth": true}`)
		e.check(after.LastModified > before.LastModified, "second tombstone %d not above %d", after.LastModified, before.LastModified)
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 1, "tombstones")
		e.sameObject(all[0], after, "tombstone")
	}},
	{"DeletedItemsHaveDeletedSetToTrue", func(e *env) {
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		e.check(t.Deleted, "Deleted is false")
	}},
	{"DeletedItemsHaveOnlyBasicFields", func(e *env) {
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		e.check(t.ID != "" && t.LastModified > 0, "tombstone %+v lacks id or last_modified", t)
		e.check(len(t.Data) == 0, "tombstone carries data %s", t.Data)
		listed := e.list(storage.ListOptions{IncludeDeleted: true})
		e.check(len(listed) == 1 && listed[0].Deleted && len(listed[0].Data) == 0, "listed tombstone %+v", listed)
	}},
	{"LastModifiedOfADeletedItemIsDeletionTime", func(e *env) {
		before := e.timestamp(scope)
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		now := e.timestamp(scope)
		e.equal(now, t.LastModified, "collection timestamp")
		e.check(before < t.LastModified, "tombstone %d not above %d", t.LastModified, before)
	}},
	{"ListAllDoesNotIncludeDeletedItemsByDefault", func(e *env) {
		e.createAndDelete(`{}`)
		e.equal(len(e.list(storage.ListOptions{})), 0, "listed")
	}},
	{"ListAllCountDoesNotIncludeDeletedItems", func(e *env) {
		lm := e.lastModifiedFilter()
		e.createAndDelete(`{}`)
		e.equal(len(e.list(storage.ListOptions{Filters: []storage.Filter{lm}, IncludeDeleted: true})), 1, "listed")
		e.equal(e.count(lm), 0, "count")
	}},
	{"ListAllCanReturnDeletedItems", func(e *env) {
		lm := e.lastModifiedFilter()
		t := e.createAndDelete(`{"challenge": "accepted"}`)
		got := e.list(storage.ListOptions{Filters: []storage.Filter{lm}, IncludeDeleted: true})
		e.equal(len(got), 1, "listed")
		e.sameObject(got[0], t, "tombstone")
	}},
	{"FilteringOnLastModifiedAppliesToDeletedItems", func(e *env) {
		e.createAndDelete(`{}`)
		lm := e.lastModifiedFilter()
		e.create(`{}`)
		e.createAndDelete(`{}`)
		e.equal(len(e.list(storage.ListOptions{Filters: []storage.Filter{lm}, IncludeDeleted: true})), 2, "listed")
		e.equal(e.count(lm), 1, "count")
	}},
	{"FilteringOnArbitraryFieldExcludesDeletedObjects", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{"status": 0}`)
		e.createAndDelete(`{"status": 0}`)
		filters := []storage.Filter{lm, f("status", storage.EQ, 0)}
		e.equal(len(e.list(storage.ListOptions{Filters: filters, IncludeDeleted: true})), 1, "listed")
		e.equal(e.count(filters...), 1, "count")
	}},
	{"SupportFilteringOnDeletedField", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{}`)
		e.createAndDelete(`{}`)
		filters := []storage.Filter{lm, f("deleted", storage.EQ, true)}
		got := e.list(storage.ListOptions{Filters: filters, IncludeDeleted: true})
		e.check(len(got) == 1 && got[0].Deleted, "listed %+v, want one tombstone", got)
		e.equal(e.count(filters...), 0, "count")
	}},
	{"SupportFilteringOutOnDeletedField", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{}`)
		e.createAndDelete(`{}`)
		filters := []storage.Filter{lm, f("deleted", storage.NOT, true)}
		got := e.list(storage.ListOptions{Filters: filters, IncludeDeleted: true})
		e.check(len(got) == 1 && !got[0].Deleted, "listed %+v, want one live object", got)
		e.equal(e.count(filters...), 1, "count")
	}},
	{"ReturnEmptySetIfFilteringOnDeletedFalse", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{}`)
		e.createAndDelete(`{}`)
		filters := []storage.Filter{lm, f("deleted", storage.EQ, false)}
		e.equal(len(e.list(storage.ListOptions{Filters: filters, IncludeDeleted: true})), 0, "listed")
		e.equal(e.count(filters...), 0, "count")
	}},
	{"ReturnEmptySetIfFilteringOnDeletedWithoutInclude", func(e *env) {
		e.create(`{}`)
		e.createAndDelete(`{}`)
		filters := []storage.Filter{f("deleted", storage.EQ, true)}
		e.equal(len(e.list(storage.ListOptions{Filters: filters})), 0, "listed")
		e.equal(e.count(filters...), 0, "count")
	}},
}

var deleteAllTests = []subtest{
	{"DeleteAllKeepsTrackOfDeletedObjects", func(e *env) {
		lm := e.lastModifiedFilter()
		e.create(`{"challenge": "accepted"}`)
		e.deleteAll(scope, storage.ListOptions{})
		e.equal(len(e.list(storage.ListOptions{Filters: []storage.Filter{lm}, IncludeDeleted: true})), 1, "listed")
		e.equal(e.count(lm), 0, "count")
	}},
	{"DeleteAllDeletesObjects", func(e *env) {
		e.createAll(`{}`, `{}`)
		e.deleteAll(scope, storage.ListOptions{})
		e.equal(e.count(), 0, "count")
	}},
	{"DeleteAllReturnsTombstones", func(e *env) {
		objs := e.createAll(`{"a": 1}`, `{"a": 2}`)
		before := e.timestamp(scope)
		got := e.deleteAll(scope, storage.ListOptions{Sort: []storage.Sort{asc("a")}})
		e.equal(ids(got), ids(objs), "tombstone ids")
		for _, t := range got {
			e.check(t.Deleted && len(t.Data) == 0 && t.LastModified > before, "tombstone %+v", t)
		}
		e.check(got[0].LastModified != got[1].LastModified, "tombstones share timestamp %d", got[0].LastModified)
		e.equal(e.timestamp(scope), max(got[0].LastModified, got[1].LastModified), "collection timestamp")
	}},
	{"DeleteAllBumpsCollectionTimestamp", func(e *env) {
		e.createAll(`{}`, `{}`)
		before := e.timestamp(scope)
		e.deleteAll(scope, storage.ListOptions{})
		after := e.timestamp(scope)
		e.check(after > before, "timestamp %d not above %d", after, before)
	}},
	{"DeleteAllKeepsTombstones", func(e *env) {
		e.createAll(`{}`, `{}`)
		e.deleteAll(scope, storage.ListOptions{})
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 2, "tombstones")
	}},
	{"DeleteAllBumpsTombstonesTimestamps", func(e *env) {
		objs := e.createAll(`{}`, `{}`)
		e.deleteAll(scope, storage.ListOptions{})
		for _, t := range e.list(storage.ListOptions{IncludeDeleted: true}) {
			for _, o := range objs {
				e.check(t.LastModified != o.LastModified, "tombstone kept timestamp %d", o.LastModified)
			}
		}
	}},
	{"DeleteAllCanDeletePartially", func(e *env) {
		e.createAll(`{"foo": "po"}`, `{"foo": "bar"}`)
		got := e.deleteAll(scope, storage.ListOptions{Filters: []storage.Filter{f("foo", storage.EQ, "bar")}})
		e.equal(len(got), 1, "deleted")
		e.equal(values(e.list(storage.ListOptions{}), "foo"), []any{"po"}, "left")
	}},
	{"DeleteAllSupportsLimit", func(e *env) {
		e.createAll(`{}`, `{}`)
		e.equal(len(e.deleteAll(scope, storage.ListOptions{Limit: 1})), 1, "deleted")
		e.equal(e.count(), 1, "count")
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 2, "objects and tombstones")
	}},
	{"DeleteAllSupportsSorting", func(e *env) {
		for i := range 5 {
			e.create(`{"foo": ` + itoa(i) + `}`)
		}
		sorting := []storage.Sort{desc("foo")}
		got := e.deleteAll(scope, storage.ListOptions{Limit: 2, Sort: sorting})
		e.equal(len(got), 2, "deleted")
		e.equal(values(e.list(storage.ListOptions{Sort: sorting}), "foo"), []any{2.0, 1.0, 0.0}, "left")
	}},
	{"DeleteAllSupportsPaginationRules", func(e *env) {
		for i := range 6 {
			e.create(`{"foo": ` + itoa(i) + `}`)
		}
		got := e.deleteAll(scope, storage.ListOptions{Limit: 4, Pagination: [][]storage.Filter{{f("foo", storage.GT, 3)}}})
		e.equal(len(got), 2, "deleted")
		e.equal(e.count(), 4, "left")
	}},
	{"DeleteAllIgnoresTombstonesAndOtherScopes", func(e *env) {
		e.createAndDelete(`{}`)
		e.create(`{}`)
		e.createIn(otherScope, storage.Object{})
		e.equal(len(e.deleteAll(scope, storage.ListOptions{IncludeDeleted: true})), 1, "deleted")
		e.equal(e.countIn(otherScope), 1, "objects in the other scope")
		e.equal(len(e.deleteAll(storage.Scope{Resource: "never", Parent: "written"}, storage.ListOptions{})), 0, "deleted in an empty scope")
	}},
}

var purgeTests = []subtest{
	{"PurgeDeletedRemoveAllTombstones", func(e *env) {
		e.createAll(`{}`, `{}`)
		e.deleteAll(scope, storage.ListOptions{})
		e.equal(e.purge(scope, 0), 2, "purged")
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 0, "listed")
		e.equal(e.count(), 0, "count")
	}},
	{"PurgeDeletedWorksWhenNoTombstones", func(e *env) {
		e.equal(e.purge(scope, 0), 0, "purged")
		e.create(`{}`)
		e.equal(e.purge(scope, 0), 0, "purged with a live object")
		e.equal(e.count(), 1, "count")
	}},
	{"PurgeDeletedRemoveWithBeforeRemoveOldersExclusive", func(e *env) {
		older, newer := e.create(`{}`), e.create(`{}`)
		e.del(scope, older.ID, 0)
		e.del(scope, newer.ID, 0)
		all := e.list(storage.ListOptions{IncludeDeleted: true})
		e.equal(len(all), 2, "tombstones")
		e.equal(e.count(), 0, "count")
		latest := max(all[0].LastModified, all[1].LastModified)
		e.equal(e.purge(scope, latest), 1, "purged")
		left := e.list(storage.ListOptions{IncludeDeleted: true})
		e.check(len(left) == 1 && left[0].LastModified == latest, "left %+v, want the tombstone at %d", left, latest)
	}},
	{"PurgeDeletedWithBeforeOnlyDeletesTombstones", func(e *env) {
		live := e.createAll(`{}`, `{}`)
		e.createAndDelete(`{}`)
		e.createAndDelete(`{}`)
		e.equal(e.purge(scope, e.timestamp(scope)+1), 2, "purged")
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 2, "left")
		for _, o := range live {
			e.get(scope, o.ID)
		}
	}},
	{"PurgeDeletedWithoutBeforeOnlyDeletesTombstones", func(e *env) {
		live := e.createAll(`{}`, `{}`)
		e.createAndDelete(`{}`)
		e.equal(e.purge(scope, 0), 1, "purged")
		e.equal(e.count(), 2, "count")
		for _, o := range live {
			e.get(scope, o.ID)
		}
	}},
	{"PurgeDeletedIsConfinedToItsScope", func(e *env) {
		e.createAndDelete(`{}`)
		o := e.createIn(otherScope, storage.Object{})
		e.del(otherScope, o.ID, 0)
		e.equal(e.purge(scope, 0), 1, "purged")
		e.equal(len(e.listIn(otherScope, storage.ListOptions{IncludeDeleted: true})), 1, "tombstones in the other scope")
	}},
	{"PurgeDeletedNeverLowersTheCollectionTimestamp", func(e *env) {
		t := e.createAndDelete(`{}`)
		e.purge(scope, 0)
		after := e.timestamp(scope)
		e.check(after >= t.LastModified, "timestamp %d went below the purged tombstone %d", after, t.LastModified)
		o := e.create(`{}`)
		e.check(o.LastModified > t.LastModified, "new object %d not above the purged tombstone %d", o.LastModified, t.LastModified)
	}},
}
