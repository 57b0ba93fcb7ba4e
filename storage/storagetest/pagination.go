package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

var paginationTests = []subtest{
	{"PaginationRulesOnLastModifiedApplyToDeletedObjects", func(e *env) {
		lm := e.lastModifiedFilter()
		for i := range 15 {
			if i%2 == 0 {
				e.createAndDelete(`{}`)
			} else {
				e.create(`{}`)
			}
		}
		got := e.list(storage.ListOptions{
			Sort:           []storage.Sort{asc("last_modified")},
			Pagination:     [][]storage.Filter{{f("last_modified", storage.GT, 314)}},
			Limit:          5,
			Filters:        []storage.Filter{lm},
			IncludeDeleted: true,
		})
		e.equal(len(got), 5, "page size")
		e.equal([]bool{got[0].Deleted, got[1].Deleted}, []bool{true, false}, "deleted flags")
	}},
	{"PaginationCanSkipEverything", func(e *env) {
		for i := range 5 {
			e.create(`{"i": ` + itoa(i) + `}`)
		}
		got := e.list(storage.ListOptions{Pagination: [][]storage.Filter{{f("i", storage.GT, 7)}}, Limit: 5, IncludeDeleted: true})
		e.equal(len(got), 0, "page size")
	}},
	{"ListAllHandleAPaginationRules", func(e *env) {
		for i := range 10 {
			e.create(`{"number": ` + itoa(i%3) + `}`)
		}
		got := e.list(storage.ListOptions{Limit: 5, Pagination: [][]storage.Filter{{f("number", storage.GT, 1)}}})
		e.equal(len(got), 3, "page size")
	}},
	{"ListAllHandleAllPaginationRules", func(e *env) {
		var last storage.Object
		for i := range 10 {
			last = e.create(`{"number": ` + itoa(i%3) + `}`)
		}
		got := e.list(storage.ListOptions{Limit: 5, Pagination: [][]storage.Filter{
			{f("number", storage.GT, 1)},
			{f("id", storage.EQ, last.ID)},
		}})
		e.equal(len(got), 4, "page size")
	}},
	{"PaginationRulesDoNotDuplicateObjectsMatchingSeveralRules", func(e *env) {
		for i := range 4 {
			e.create(`{"n": ` + itoa(i) + `}`)
		}
		got := e.list(storage.ListOptions{Pagination: [][]storage.Filter{
			{f("n", storage.GT, 0)},
			{f("n", storage.LT, 3)},
		}})
		e.equal(len(got), 4, "objects")
	}},
	{"PaginationWithMissingValues", func(e *env) {
		e.createAll(`{"n": "a", "v": 1}`, `{"n": "b"}`, `{"n": "c", "v": null}`)
		for _, tt := range []struct {
			op   storage.Operator
			want []string
		}{
			{storage.EQ, []string{"b"}},
			{storage.MIN, []string{"b"}},
			{storage.LT, []string{"a", "c"}},
			{storage.NOT, []string{"a", "c"}},
			{storage.MAX, []string{"a", "b", "c"}},
			{storage.GT, []string{}},
		} {
			got := e.list(storage.ListOptions{Pagination: [][]storage.Filter{{f("v", tt.op, storage.Missing)}}})
			e.equal(sortedStrings(got, "n"), tt.want, "v "+tt.op.String()+" storage.Missing")
		}
	}},
	{"ListAllPaginatesCorrectly", func(e *env) {
		// Port of test_list_all_parent_id_paginates_correctly: walk every page as the resource
		// layer does (keyset rules on the sort field and last_modified), with duplicated and
		// absent sort values, and check that no object is skipped or repeated.
		for i := range 12 {
			switch {
			case i%4 == 3:
				e.create(`{"i": ` + itoa(i) + `}`)
			default:
				e.create(`{"i": ` + itoa(i) + `, "secret": "s` + itoa(i%3) + `"}`)
			}
		}
		total := e.count()
		for _, desc := range []bool{false, true} {
			sorting := []storage.Sort{{Field: "secret", Desc: desc}, {Field: "last_modified", Desc: true}}
			want := values(e.list(storage.ListOptions{Sort: sorting}), "i")
			for limit := 1; limit <= 5; limit++ {
				var got []storage.Object
				var rules [][]storage.Filter
				for page := 0; ; page++ {
					objs := e.list(storage.ListOptions{Sort: sorting, Limit: limit, Pagination: rules})
					got = append(got, objs...)
					if len(objs) < limit || page > total {
						break
					}
					last := objs[len(objs)-1]
					var threshold any = storage.Missing
					if v, ok := field(last, "secret"); ok {
						threshold = v
					}
					dir := storage.GT
					if desc {
						dir = storage.LT
					}
					rules = [][]storage.Filter{
						{f("secret", storage.EQ, threshold), f("last_modified", storage.LT, last.LastModified)},
						{f("secret", dir, threshold)},
					}
				}
				e.equal(values(got, "i"), want, fmt.Sprintf("pages of %d (desc=%v)", limit, desc))
			}
		}
	}},
}

var concurrencyTests = []subtest{
	{"ConcurrentWritesGetDistinctIncreasingTimestamps", func(e *env) {
		writers, writes := e.opts.Writers, e.opts.WritesPerWriter
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		stamps := make([][]int64, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range writes {
					o, err := e.b.Create(e.ctx, scope, storage.Object{Data: raw(fmt.Sprintf(`{"w": %d, "i": %d}`, w, i))})
					if err != nil {
						errs <- fmt.Errorf("writer %d, write %d: %w", w, i, err)
						return
					}
					stamps[w] = append(stamps[w], o.LastModified)
				}
			}()
		}
		wg.Wait()
		if !e.drain(errs) {
			return
		}
		seen := make(map[int64]bool, writers*writes)
		var highest int64
		for w, s := range stamps {
			e.check(slices.IsSorted(s) && len(slices.Compact(slices.Clone(s))) == len(s), "writer %d saw timestamps go backwards: %v", w, s)
			for _, ts := range s {
				e.check(!seen[ts], "timestamp %d given twice", ts)
				seen[ts] = true
				highest = max(highest, ts)
			}
		}
		e.equal(e.count(), writers*writes, "count")
		e.equal(e.timestamp(scope), highest, "collection timestamp")
		listed := e.list(storage.ListOptions{Sort: []storage.Sort{asc("last_modified")}})
		for i := 1; i < len(listed); i++ {
			e.check(listed[i].LastModified > listed[i-1].LastModified, "listed timestamps not strictly increasing at %d", i)
		}
	}},
	{"ConcurrentReadersNeverSeeTheTimestampDecrease", func(e *env) {
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		var readers, writers sync.WaitGroup
		errs := make(chan error, 8)
		for r := range 4 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				var prev int64
				for ctx.Err() == nil {
					ts, err := e.b.Timestamp(e.ctx, scope)
					if err != nil {
						errs <- fmt.Errorf("reader %d: %w", r, err)
						return
					}
					if ts < prev {
						errs <- fmt.Errorf("reader %d: timestamp went from %d to %d", r, prev, ts)
						return
					}
					prev = ts
				}
			}()
		}
		for w := range 4 {
			writers.Add(1)
			go func() {
				defer writers.Done()
				for i := range 25 {
					o, err := e.b.Create(e.ctx, scope, storage.Object{})
					if err == nil && i%2 == 0 {
						_, err = e.b.Delete(e.ctx, scope, o.ID, 0, storage.Condition{})
					}
					if err != nil {
						errs <- fmt.Errorf("writer %d: %w", w, err)
						return
					}
				}
			}()
		}
		writers.Wait()
		cancel()
		readers.Wait()
		e.drain(errs)
		e.equal(e.count(), 4*12, "live objects")
	}},
}

var optionalTests = []subtest{
	{"FlushRemovesEverything", func(e *env) {
		e.create(`{}`)
		e.createAndDelete(`{}`)
		o := e.createIn(otherScope, storage.Object{})
		if err := e.b.Flush(e.ctx); err != nil {
			e.Fatalf("Flush: %v", err)
		}
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 0, "objects and tombstones")
		_, err := e.b.Get(e.ctx, otherScope, o.ID)
		e.check(errors.Is(err, storage.ErrNotFound), "got %v, want storage.ErrNotFound", err)
	}},
	{"PingReturnsNilWhenWorking", func(e *env) {
		for _, readonly := range []bool{false, true} {
			if err := e.b.Ping(e.ctx, readonly); err != nil {
				e.Fatalf("Ping(readonly=%v): %v", readonly, err)
			}
		}
	}},
	{"PingLeavesNoTombstone", func(e *env) {
		for range 3 {
			if err := e.b.Ping(e.ctx, false); err != nil {
				e.Fatalf("Ping: %v", err)
			}
		}
		hb := storage.Scope{Resource: "__heartbeat__", Parent: "__heartbeat__"}
		e.equal(len(e.listIn(hb, storage.ListOptions{IncludeDeleted: true})), 0, "heartbeat objects")
	}},
	{"InitializeSchemaIsIdempotent", func(e *env) {
		err := e.b.InitializeSchema(e.ctx, true)
		if e.lacks(Migrator, !errors.Is(err, storage.ErrNotSupported)) {
			// No schema step: a backend fresh from New works at once (migrate passes it by).
			o := e.create(`{"no": "schema"}`)
			e.get(scope, o.ID)
			e.equal(e.count(), 1, "live objects")
			return
		}
		if err != nil {
			e.Fatalf("InitializeSchema(dryRun=true): %v", err)
		}
		for _, dryRun := range []bool{false, false} {
			if err := e.b.InitializeSchema(e.ctx, dryRun); err != nil {
				e.Fatalf("InitializeSchema(dryRun=%v): %v", dryRun, err)
			}
		}
		o := e.create(`{"still": "works"}`)
		e.get(scope, o.ID)
	}},
	{"TransactionsCommitAndRollBack", func(e *env) {
		if !e.units() {
			e.writesApplyAtOnce()
			return
		}
		txCtx, tx := e.begin(e.ctx)
		if _, err := e.b.Create(txCtx, scope, storage.Object{ID: "committed"}); err != nil {
			e.Fatalf("Create in a transaction: %v", err)
		}
		if _, err := e.b.Get(txCtx, scope, "committed"); err != nil {
			e.Fatalf("Get of an own write in a transaction: %v", err)
		}
		if err := tx.Commit(e.ctx); err != nil {
			e.Fatalf("Commit: %v", err)
		}
		e.get(scope, "committed")
		e.check(tx.Commit(e.ctx) == nil && tx.Rollback(e.ctx) == nil, "Commit/Rollback after Commit must be no-ops returning nil")

		txCtx, tx = e.begin(e.ctx)
		if _, err := e.b.Create(txCtx, scope, storage.Object{ID: "rolled-back"}); err != nil {
			e.Fatalf("Create in a transaction: %v", err)
		}
		if _, err := e.b.Delete(txCtx, scope, "committed", 0, storage.Condition{}); err != nil {
			e.Fatalf("Delete in a transaction: %v", err)
		}
		if err := tx.Rollback(e.ctx); err != nil {
			e.Fatalf("Rollback: %v", err)
		}
		_, err := e.b.Get(e.ctx, scope, "rolled-back")
		e.check(errors.Is(err, storage.ErrNotFound), "rolled-back object: got %v, want storage.ErrNotFound", err)
		e.get(scope, "committed")
		e.equal(len(e.list(storage.ListOptions{IncludeDeleted: true})), 1, "objects and tombstones after the rollback")
	}},
}

// testBackendErrorIsRaisedAnywhere ports test_backend_error_is_raised_anywhere.
func testBackendErrorIsRaisedAnywhere(t *testing.T, h Harness) {
	ctx := context.Background()
	b := h.Broken(ctx, t)
	if b == nil {
		t.Skip("the harness has no broken backend (Harness.Broken returned nil)")
	}
	t.Cleanup(func() { _ = b.Close() })
	calls := map[string]func() error{
		"Timestamp": func() error { _, err := b.Timestamp(ctx, scope); return err },
		"Create":    func() error { _, err := b.Create(ctx, scope, storage.Object{}); return err },
		"Get":       func() error { _, err := b.Get(ctx, scope, objectID); return err },
		"Update": func() error {
			_, err := b.Update(ctx, scope, storage.Object{ID: objectID}, storage.Condition{})
			return err
		},
		"Delete": func() error {
			_, err := b.Delete(ctx, scope, objectID, 0, storage.Condition{})
			return err
		},
		"UpdateWithCondition": func() error {
			_, err := b.Update(ctx, scope, storage.Object{ID: objectID}, storage.Condition{LastModified: 1})
			return err
		},
		"DeleteWithCondition": func() error {
			_, err := b.Delete(ctx, scope, objectID, 0, storage.Condition{LastModified: 1})
			return err
		},
		"GetMany": func() error {
			_, err := b.GetMany(ctx, []storage.Key{{Scope: scope, ID: objectID}, {Scope: otherScope, ID: objectID}})
			return err
		},
		"DeleteAll": func() error { _, err := b.DeleteAll(ctx, scope, storage.ListOptions{}); return err },
		"PurgeDeleted": func() error {
			_, err := b.PurgeDeleted(ctx, scope, 0)
			return err
		},
		"List":  func() error { _, err := b.List(ctx, scope, storage.ListOptions{}); return err },
		"Count": func() error { _, err := b.Count(ctx, scope, nil); return err },
	}
	calls["Flush"] = func() error { return b.Flush(ctx) }
	calls["Ping"] = func() error { return b.Ping(ctx, false) }
	calls["PingReadonly"] = func() error { return b.Ping(ctx, true) }
	calls["ListWithTimestamp"] = func() error { _, _, err := b.ListWithTimestamp(ctx, scope, storage.ListOptions{}); return err }
	names := make([]string, 0, len(calls))
	for name := range calls {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		err := calls[name]()
		if !isBackendError(err) {
			t.Errorf("%s: got %v, want a *storage.BackendError", name, err)
			continue
		}
		var be *storage.BackendError
		errors.As(err, &be)
		if be.Err == nil {
			t.Errorf("%s: BackendError.Err (the original error) is nil", name)
		}
	}
}
