package redis_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/redis"
)

// testURL returns CLIQUET_TEST_REDIS_URL pointed at database 3, away from the other
// packages' keys, skipping (or failing in CI) when it is unset.
func testURL(t testing.TB) string {
	t.Helper()
	return testenv.RedisURL(t, 3)
}

// newBackend returns a backend on its own key prefix, flushed and closed at the end of the test.
func newBackend(t testing.TB, prefix string) *redis.Backend {
	t.Helper()
	if prefix == "" {
		prefix = testenv.UniquePrefix(t, "cliquettest:")
	}
	b, err := redis.New(context.Background(), redis.Options{URL: testURL(t), Prefix: prefix, PoolSize: 60})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Flush(context.Background()); err != nil {
			t.Errorf("flush: %v", err)
		}
		b.Close()
	})
	return b
}

func data(t testing.TB, v any) json.RawMessage {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestScopesWithSeparatorsDoNotCollide(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, "")
	scopes := []storage.Scope{
		{Resource: "a:b", Parent: "c"},
		{Resource: "a", Parent: "b:c"},
		{Resource: "a}", Parent: "{b"},
		{Resource: "a%3Ab", Parent: "c"},
		{Resource: "é ✓", Parent: "\x00\n"},
		{Resource: "", Parent: ""},
	}
	for i, s := range scopes {
		if _, err := b.Create(ctx, s, storage.Object{ID: "x", Data: data(t, map[string]int{"n": i})}); err != nil {
			t.Fatalf("create in %q: %v", s, err)
		}
	}
	for i, s := range scopes {
		o, err := b.Get(ctx, s, "x")
		if err != nil {
			t.Fatalf("get in %q: %v", s, err)
		}
		if want := fmt.Sprintf(`{"n":%d}`, i); string(o.Data) != want {
			t.Errorf("scope %q holds %s, want %s", s, o.Data, want)
		}
		if n, err := b.Count(ctx, s, nil); err != nil || n != 1 {
			t.Errorf("scope %q counts %d (%v), want 1", s, n, err)
		}
	}
}

func TestFlushRemovesOnlyKeysUnderThePrefix(t *testing.T) {
	ctx := context.Background()
	mine := newBackend(t, "cliquettest:*flush["+uuid.NewString()[:8]+"]:")
	other := newBackend(t, testenv.UniquePrefix(t, "cliquettest:"))
	s := storage.Scope{Resource: "r", Parent: "p"}
	for _, b := range []*redis.Backend{mine, other} {
		if _, err := b.Create(ctx, s, storage.Object{ID: "a"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mine.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := mine.Get(ctx, s, "a"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("after flush, get = %v, want ErrNotFound", err)
	}
	if _, err := other.Get(ctx, s, "a"); err != nil {
		t.Errorf("the other prefix lost its object: %v", err)
	}
}

func TestTimestampIsStoredAtFirstReadAndKept(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, "")
	s := storage.Scope{Resource: "r", Parent: "p"}
	before := time.Now().UnixMilli()
	ts, err := b.Timestamp(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if ts < before-1000 || ts > time.Now().UnixMilli()+1000 {
		t.Errorf("first timestamp %d is not close to now (%d)", ts, before)
	}
	time.Sleep(5 * time.Millisecond)
	again, err := b.Timestamp(ctx, s)
	if err != nil || again != ts {
		t.Errorf("second read = %d (%v), want %d", again, err, ts)
	}
	o, err := b.Create(ctx, s, storage.Object{})
	if err != nil {
		t.Fatal(err)
	}
	if o.LastModified <= ts {
		t.Errorf("write after read got %d, want > %d", o.LastModified, ts)
	}
}

func TestForcedTimestamps(t *testing.T) {
	ctx := context.Background()
	b := newBackend(t, "")
	s := storage.Scope{Resource: "r", Parent: "p"}
	first, err := b.Create(ctx, s, storage.Object{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		write func() (storage.Object, error)
		check func(o storage.Object, clock int64) error
	}{
		{"create keeps a past value and bumps the clock by one", func() (storage.Object, error) {
			return b.Create(ctx, s, storage.Object{ID: "old", LastModified: 1000})
		}, func(o storage.Object, clock int64) error {
			if o.LastModified != 1000 {
				return fmt.Errorf("object ts %d, want 1000", o.LastModified)
			}
			if clock != first.LastModified+1 {
				return fmt.Errorf("clock %d, want %d", clock, first.LastModified+1)
			}
			return nil
		}},
		{"create with a future value moves the clock to it", func() (storage.Object, error) {
			return b.Create(ctx, s, storage.Object{ID: "future", LastModified: first.LastModified + 100000})
		}, func(o storage.Object, clock int64) error {
			if o.LastModified != first.LastModified+100000 || clock != o.LastModified {
				return fmt.Errorf("object ts %d, clock %d, want both %d", o.LastModified, clock, first.LastModified+100000)
			}
			return nil
		}},
		{"create with the clock value is bumped to stay unique", func() (storage.Object, error) {
			return b.Create(ctx, s, storage.Object{ID: "same", LastModified: first.LastModified + 100000})
		}, func(o storage.Object, clock int64) error {
			if o.LastModified != first.LastModified+100001 || clock != o.LastModified {
				return fmt.Errorf("object ts %d, clock %d, want both %d", o.LastModified, clock, first.LastModified+100001)
			}
			return nil
		}},
		{"update drops a value not greater than the stored one", func() (storage.Object, error) {
			return b.Update(ctx, s, storage.Object{ID: "old", LastModified: 999}, storage.Condition{})
		}, func(o storage.Object, clock int64) error {
			if o.LastModified == 999 || o.LastModified != clock {
				return fmt.Errorf("object ts %d, clock %d, want a fresh ts equal to the clock", o.LastModified, clock)
			}
			return nil
		}},
		{"delete keeps a greater value", func() (storage.Object, error) {
			return b.Delete(ctx, s, "a", first.LastModified+200000, storage.Condition{})
		}, func(o storage.Object, clock int64) error {
			if !o.Deleted || o.LastModified != first.LastModified+200000 || clock != o.LastModified {
				return fmt.Errorf("tombstone %+v, clock %d", o, clock)
			}
			return nil
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := tt.write()
			if err != nil {
				t.Fatal(err)
			}
			clock, err := b.Timestamp(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.check(o, clock); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestConcurrentWritersGetDistinctTimestampsAndAPollerSeesEachOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("2 s concurrency test")
	}
	ctx := context.Background()
	b := newBackend(t, "")
	s := storage.Scope{Resource: "record", Parent: "concurrency"}
	const writers = 50
	deadline := time.Now().Add(2 * time.Second)

	var (
		mu      sync.Mutex
		written = map[int64]string{} // ts → id
		errs    []error
	)
	seen := map[string]int64{}
	var dups []string
	pollDone := make(chan error, 1)
	stop := make(chan struct{})
	go func() {
		var since int64
		for {
			select {
			case <-stop:
				stop = nil
			default:
			}
			last := stop == nil
			objs, err := b.List(ctx, s, storage.ListOptions{
				Filters:        []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: since}},
				Sort:           []storage.Sort{{Field: "last_modified"}},
				IncludeDeleted: true,
			})
			if err != nil {
				pollDone <- err
				return
			}
			for _, o := range objs {
				if _, dup := seen[o.ID]; dup {
					dups = append(dups, o.ID)
				}
				seen[o.ID] = o.LastModified
				since = max(since, o.LastModified)
			}
			if last {
				pollDone <- nil
				return
			}
		}
	}()

	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev int64
			for n := 0; time.Now().Before(deadline); n++ {
				o, err := b.Create(ctx, s, storage.Object{ID: fmt.Sprintf("w%d-%d", w, n), Data: json.RawMessage(`{"n":1}`)})
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					if other, dup := written[o.LastModified]; dup {
						errs = append(errs, fmt.Errorf("%s and %s share timestamp %d", o.ID, other, o.LastModified))
					}
					written[o.LastModified] = o.ID
					if o.LastModified <= prev {
						errs = append(errs, fmt.Errorf("writer %d: timestamp %d after %d", w, o.LastModified, prev))
					}
					prev = o.LastModified
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := <-pollDone; err != nil {
		t.Fatalf("poller: %v", err)
	}
	for _, err := range errs[:min(len(errs), 10)] {
		t.Error(err)
	}
	if len(errs) > 0 {
		t.Fatalf("%d write errors", len(errs))
	}
	if len(dups) > 0 {
		t.Errorf("the poller saw %d objects twice, e.g. %s", len(dups), dups[0])
	}
	if len(seen) != len(written) {
		t.Errorf("the poller saw %d objects, %d were written", len(seen), len(written))
	}
	for ts, id := range written {
		if seen[id] != ts {
			t.Errorf("write %s@%d seen as %d", id, ts, seen[id])
			break
		}
	}
	t.Logf("%d writes by %d writers in 2 s (%.0f/s), all distinct and seen once", len(written), writers, float64(len(written))/2)
}

func TestTwoWebHeadsShareOneClock(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix(t, "cliquettest:")
	heads := []*redis.Backend{newBackend(t, prefix), newBackend(t, prefix)}
	s := storage.Scope{Resource: "record", Parent: "heads"}
	var (
		mu  sync.Mutex
		all = map[int64]bool{}
		wg  sync.WaitGroup
	)
	const perWriter = 100
	for h, b := range heads {
		for w := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range perWriter {
					var o storage.Object
					var err error
					id := fmt.Sprintf("h%d-w%d-%d", h, w, (n/2)%10)
					if n%2 == 1 {
						o, err = b.Delete(ctx, s, id, 0, storage.Condition{})
					} else {
						o, err = b.Update(ctx, s, storage.Object{ID: id, Data: data(t, map[string]int{"n": n})}, storage.Condition{})
					}
					mu.Lock()
					switch {
					case err != nil:
						t.Errorf("head %d: %v", h, err)
					case all[o.LastModified]:
						t.Errorf("timestamp %d given twice", o.LastModified)
					default:
						all[o.LastModified] = true
					}
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	if len(all) != 2*5*perWriter {
		t.Fatalf("%d distinct timestamps, want %d", len(all), 2*5*perWriter)
	}
	var latest int64
	for ts := range all {
		latest = max(latest, ts)
	}
	for h, b := range heads {
		ts, err := b.Timestamp(ctx, s)
		if err != nil || ts != latest {
			t.Errorf("head %d reads timestamp %d (%v), want %d", h, ts, err, latest)
		}
	}
}

func TestBrokenServerGivesBackendErrors(t *testing.T) {
	ctx := context.Background()
	b, err := redis.New(ctx, redis.Options{URL: "redis://" + testenv.FreeAddr(t) + "/3", DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, readonly := range []bool{true, false} {
		err := b.Ping(ctx, readonly)
		var be *storage.BackendError
		if !errors.As(err, &be) || be.Backend != "redis" || be.Op != "ping" {
			t.Errorf("Ping(readonly=%v) = %v, want a redis *storage.BackendError", readonly, err)
		}
	}
	if err := b.Flush(ctx); !errors.As(err, new(*storage.BackendError)) {
		t.Errorf("Flush = %v, want a *storage.BackendError", err)
	}
}

func TestFactoryReadsSettings(t *testing.T) {
	ctx := context.Background()
	prefix := testenv.UniquePrefix(t, "cliquettest:")
	s, err := config.FromMap(map[string]string{
		"storage_backend":      "kinto.core.storage.redis",
		"storage_url":          testURL(t),
		"storage_pool_size":    "3",
		"storage_pool_timeout": "2.5",
		"storage_prefix":       prefix,
	}, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	sb, err := storage.Open(ctx, s.String("storage_backend"), s)
	if err != nil {
		t.Fatal(err)
	}
	b := sb.(*redis.Backend)
	t.Cleanup(func() { b.Flush(ctx); b.Close() })
	o := b.Client().Options()
	if o.PoolSize != 3 || o.PoolTimeout != 2500*time.Millisecond || o.DB != 3 {
		t.Errorf("pool size %d, timeout %v, db %d; want 3, 2.5s, 3", o.PoolSize, o.PoolTimeout, o.DB)
	}
	if _, err := b.Create(ctx, storage.Scope{Resource: "r", Parent: "p"}, storage.Object{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	keys, err := b.Client().Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 { // :ts and :obj
		t.Errorf("keys under the prefix: %q, want the clock and the object hash", keys)
	}
}

func TestFactoryRejectsBadSettings(t *testing.T) {
	tests := []struct {
		name     string
		settings map[string]string
	}{
		{"a pool size that is not a number", map[string]string{"storage_pool_size": "many"}},
		{"a URL with an unknown scheme", map[string]string{"storage_url": "http://localhost/0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := config.MustFromMap(tt.settings, config.Options{Env: []string{}})
			if b, err := storage.Open(context.Background(), "redis", s); err == nil {
				b.Close()
				t.Fatal("Open succeeded")
			}
		})
	}
}
