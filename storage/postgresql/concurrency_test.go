package postgresql

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

var stressDuration = flag.Duration("pgstress", 0,
	"duration of the concurrent-writers tests (default 5s, 1s with -short; env CLIQUET_PG_STRESS_DURATION)")

func stressFor(t *testing.T) time.Duration {
	if *stressDuration > 0 {
		return *stressDuration
	}
	if v := os.Getenv("CLIQUET_PG_STRESS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("CLIQUET_PG_STRESS_DURATION: %v", err)
		}
		return d
	}
	if testing.Short() {
		return time.Second
	}
	return 5 * time.Second
}

type event struct {
	id      string
	deleted bool
}

// stress runs 50 writers (spread over writers, half of them inside units of work) into one
// collection for d, while two pollers follow it with last_modified > since. It checks that
// no write fails, that timestamps are distinct, and that every poller sees each write at most
// once, sees nothing that was not written, and ends with every object's latest write.
func stress(t *testing.T, writers []*Backend, d time.Duration) {
	ctx := context.Background()
	s := scope(t)
	const nWriters = 50
	var (
		mu     sync.Mutex
		writes = map[int64]event{} // timestamp → write
		latest = map[string]int64{}
		errs   atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	record := func(o storage.Object) {
		mu.Lock()
		defer mu.Unlock()
		if prev, dup := writes[o.LastModified]; dup {
			t.Errorf("timestamp %d given to %+v and %+v", o.LastModified, prev, o)
		}
		writes[o.LastModified] = event{o.ID, o.Deleted}
		if o.LastModified > latest[o.ID] {
			latest[o.ID] = o.LastModified
		}
	}
	fail := func(what string, err error) {
		if errs.Add(1) <= 5 {
			t.Errorf("%s: %v", what, err)
		}
	}
	for w := range nWriters {
		b := writers[w%len(writers)]
		inUnit := w%2 == 1
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				wctx, tx := ctx, storage.Tx(nil)
				if inUnit {
					wctx, tx, _ = b.Begin(ctx)
				}
				var done []storage.Object
				o, err := b.Create(wctx, s, storage.Object{ID: fmt.Sprintf("w%d-%d", w, k), Data: []byte(`{"k":1}`)})
				if err != nil {
					fail("create", err)
				} else {
					done = append(done, o)
				}
				switch {
				case k%3 == 2: // delete an earlier object
					o, err := b.Delete(wctx, s, fmt.Sprintf("w%d-%d", w, k-2), 0, storage.Condition{})
					if err != nil {
						fail("delete", err)
					} else {
						done = append(done, o)
					}
				case k%5 == 1: // update the previous one
					o, err := b.Update(wctx, s, storage.Object{ID: fmt.Sprintf("w%d-%d", w, k-1), Data: []byte(`{"k":2}`)}, storage.Condition{})
					if err != nil {
						fail("update", err)
					} else {
						done = append(done, o)
					}
				}
				if tx != nil {
					if err := tx.Commit(ctx); err != nil {
						fail("commit", err)
						continue
					}
				}
				for _, o := range done {
					record(o)
				}
			}
		}()
	}

	type seenAt struct {
		ts      int64
		deleted bool
	}
	poll := func(b *Backend, final bool, since int64, seen map[int64]event, last map[string]seenAt) (int64, int) {
		total := 0
		for {
			page, err := b.List(ctx, s, storage.ListOptions{
				Filters:        []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: since}},
				Sort:           []storage.Sort{{Field: "last_modified"}},
				IncludeDeleted: true,
				Limit:          500,
			})
			if err != nil {
				fail("poll", err)
				return since, total
			}
			for _, o := range page {
				if o.LastModified <= since {
					t.Errorf("poller went backwards: %d after %d", o.LastModified, since)
				}
				since = o.LastModified
				if _, dup := seen[o.LastModified]; dup {
					t.Errorf("poller saw timestamp %d twice", o.LastModified)
				}
				seen[o.LastModified] = event{o.ID, o.Deleted}
				last[o.ID] = seenAt{o.LastModified, o.Deleted}
			}
			total += len(page)
			if len(page) < 500 || !final {
				return since, total
			}
		}
	}
	var pollers sync.WaitGroup
	for p := range 2 {
		pollers.Add(1)
		go func() {
			defer pollers.Done()
			b := writers[p%len(writers)]
			seen, last := map[int64]event{}, map[string]seenAt{}
			var since int64
			polls := 0
			for {
				select {
				case <-stop:
					wg.Wait()
					for {
						var n int
						since, n = poll(b, true, since, seen, last)
						if n == 0 {
							break
						}
					}
					mu.Lock()
					defer mu.Unlock()
					for ts, ev := range seen {
						if w, ok := writes[ts]; !ok || w != ev {
							t.Errorf("poller %d saw %+v at %d, written: %+v (%t)", p, ev, ts, w, ok)
						}
					}
					missed := 0
					for id, ts := range latest {
						if got := last[id]; got.ts != ts || got.deleted != writes[ts].deleted {
							if missed++; missed <= 5 {
								t.Errorf("poller %d missed the latest write of %s (ts %d): last saw %+v", p, id, ts, got)
							}
						}
					}
					t.Logf("poller %d: %d polls, %d events seen, %d objects, %d missed", p, polls, len(seen), len(last), missed)
					return
				default:
				}
				since, _ = poll(b, false, since, seen, last)
				polls++
			}
		}()
	}
	start := time.Now()
	time.Sleep(d)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	pollers.Wait()
	if n := errs.Load(); n != 0 {
		t.Errorf("%d failed calls", n)
	}
	mu.Lock()
	t.Logf("%d writers on %d pool(s): %d writes in %s (%.0f writes/s)", nWriters, len(writers), len(writes), elapsed.Round(time.Millisecond),
		float64(len(writes))/elapsed.Seconds())
	if len(writes) < nWriters {
		t.Errorf("only %d writes", len(writes))
	}
	mu.Unlock()
}

func TestConcurrentWritersAreCommitOrdered(t *testing.T) {
	b := newTestBackend(t, Options{PoolSize: 30})
	stress(t, []*Backend{b}, stressFor(t))
}

func TestConcurrentWritersOnTwoPoolsAreCommitOrdered(t *testing.T) {
	b1 := newTestBackend(t, Options{PoolSize: 20})
	b2 := newTestBackend(t, Options{PoolSize: 20})
	stress(t, []*Backend{b1, b2}, stressFor(t))
}
