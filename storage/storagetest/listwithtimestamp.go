package storagetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/cliquet-go/cliquet/storage"
)

// listWithTimestampTests check ListWithTimestamp against Timestamp + List.
var listWithTimestampTests = []subtest{
	{"ListWithTimestampReturnsWhatTimestampAndListReturn", func(e *env) {
		l := e.b
		for i := range 12 {
			o := e.create(fmt.Sprintf(`{"n": %d, "even": %v, "name": "o%02d"}`, i%5, i%2 == 0, i))
			if i%4 == 3 {
				e.del(scope, o.ID, 0)
			}
		}
		e.create(`{"other": true}`)
		first := e.list(storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}, Limit: 4})
		cases := []struct {
			name string
			opt  storage.ListOptions
		}{
			{"no options", storage.ListOptions{}},
			{"the default order with a limit", storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}, Limit: 5}},
			{"a filter, two sorts and a limit", storage.ListOptions{
				Filters: []storage.Filter{f("even", storage.EQ, true)},
				Sort:    []storage.Sort{asc("n"), desc("name")}, Limit: 3,
			}},
			{"an absent field first in descending order", storage.ListOptions{Sort: []storage.Sort{desc("other"), asc("id")}}},
			{"tombstones included", storage.ListOptions{IncludeDeleted: true, Sort: []storage.Sort{asc("last_modified")}}},
			{"a keyset page", storage.ListOptions{
				Sort:       []storage.Sort{desc("last_modified")},
				Pagination: [][]storage.Filter{{f("last_modified", storage.LT, first[len(first)-1].LastModified)}},
				Limit:      3,
			}},
			{"an empty page", storage.ListOptions{Filters: []storage.Filter{f("n", storage.GT, 100)}}},
		}
		for _, c := range cases {
			wantTS := e.timestamp(scope)
			want := e.list(c.opt)
			got, ts, err := l.ListWithTimestamp(e.ctx, scope, c.opt)
			if err != nil {
				e.Fatalf("%s: ListWithTimestamp: %v", c.name, err)
			}
			e.equal(ts, wantTS, c.name+": timestamp")
			e.check(got != nil, "%s: a nil page, want an empty slice", c.name)
			e.equal(len(got), len(want), c.name+": page length")
			if len(c.opt.Sort) == 0 { // no order: compare as sets
				byID := func(a, b storage.Object) int { return strings.Compare(a.ID, b.ID) }
				slices.SortFunc(got, byID)
				slices.SortFunc(want, byID)
			}
			for i := range min(len(got), len(want)) {
				e.sameObject(got[i], want[i], fmt.Sprintf("%s: object %d", c.name, i))
			}
		}
	}},
	{"ListWithTimestampOfANeverWrittenCollectionFixesItsTimestamp", func(e *env) {
		l := e.b
		empty := storage.Scope{Resource: "record", Parent: "never-written"}
		got, ts, err := l.ListWithTimestamp(e.ctx, empty, storage.ListOptions{})
		if err != nil {
			e.Fatalf("ListWithTimestamp: %v", err)
		}
		e.equal(len(got), 0, "objects")
		e.check(ts > 0, "timestamp %d of a never-written collection, want the current time", ts)
		e.equal(e.timestamp(empty), ts, "Timestamp after ListWithTimestamp")
		_, again, err := l.ListWithTimestamp(e.ctx, empty, storage.ListOptions{})
		if err != nil {
			e.Fatalf("ListWithTimestamp: %v", err)
		}
		e.equal(again, ts, "second ListWithTimestamp")
		o := e.createIn(empty, storage.Object{Data: raw(`{}`)})
		e.check(o.LastModified > ts, "first write %d not above the fixed timestamp %d", o.LastModified, ts)
	}},
	{"ListWithTimestampReadsThePageAndTheTimestampTogether", func(e *env) {
		// Writers create while readers list the 10 newest objects with their timestamp. Each
		// page must be exactly the 10 newest objects whose timestamp is at most the returned
		// one: nothing newer (the page is not ahead of its timestamp), nothing missing (no
		// write covered by the timestamp is absent).
		l := e.b
		const writers, writes, readers, limit = 4, 25, 2, 10
		opt := storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}, Limit: limit}
		type read struct {
			page []storage.Object
			ts   int64
		}
		var (
			wg, rg sync.WaitGroup
			mu     sync.Mutex
			reads  []read
			errs   = make(chan error, writers+readers)
		)
		ctx, stop := context.WithCancel(e.ctx)
		defer stop()
		for range readers {
			rg.Add(1)
			go func() {
				defer rg.Done()
				for ctx.Err() == nil {
					page, ts, err := l.ListWithTimestamp(e.ctx, scope, opt)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					reads = append(reads, read{page, ts})
					mu.Unlock()
				}
			}()
		}
		e.createConcurrently(&wg, writers, writes, errs)
		wg.Wait()
		stop()
		rg.Wait()
		close(errs)
		for err := range errs {
			e.Fatalf("concurrent ListWithTimestamp: %v", err)
		}
		all := e.list(storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}})
		e.equal(len(all), writers*writes, "objects written")
		e.check(len(reads) > 0, "no read completed")
		for n, r := range reads {
			bound := r.ts
			var want []string
			for _, o := range all {
				if o.LastModified <= bound && len(want) < limit {
					want = append(want, o.ID)
				}
			}
			if got := ids(r.page); !slices.Equal(got, want) {
				e.Fatalf("read %d at timestamp %d: page %v, want the %d newest objects up to it %v", n, r.ts, got, limit, want)
			}
		}
		e.Logf("%d reads during %d writes", len(reads), writers*writes)
	}},
}
