package memory_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/cache/cachetest"
	"github.com/cliquet-go/cliquet/cache/memory"
	"github.com/cliquet-go/cliquet/config"
)

// harness opens views of one shared store, so that prefixes can be checked across backends.
type harness struct{ root *memory.Backend }

func (h harness) New(_ context.Context, _ *testing.T, prefix string) cache.Backend {
	return h.root.WithPrefix(prefix)
}

// Broken returns a closed backend: every call fails with a *cache.BackendError.
func (h harness) Broken(context.Context, *testing.T) cache.Backend {
	b := h.root.WithPrefix("broken_")
	_ = b.Close()
	return b
}

// Lacks declares the optional capabilities a memory cache lacks.
func (harness) Lacks() []cachetest.Capability { return []cachetest.Capability{cachetest.Migrator} }

func TestCloseFailsTheClosedBackendOnly(t *testing.T) {
	ctx := context.Background()
	root := memory.New(nil)
	view := root.WithPrefix("app_")
	if err := view.Set(ctx, "k", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := view.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, err := view.Get(ctx, "k")
	var be *cache.BackendError
	if !errors.As(err, &be) || !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Get on the closed backend: %v, want a *cache.BackendError wrapping memory.ErrClosed", err)
	}
	if err := view.Ping(ctx); !errors.Is(err, memory.ErrClosed) {
		t.Errorf("Ping on the closed backend: %v, want memory.ErrClosed", err)
	}
	if v, err := root.Get(ctx, "app_k"); err != nil || string(v) != "v" {
		t.Errorf("Get through the open backend sharing the entries = %q, %v; want v", v, err)
	}
}

func TestConformance(t *testing.T) { cachetest.Run(t, harness{root: memory.New(nil)}) }

// Memory-specific tests.

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var ctx = context.Background()

func TestEmptyPrefixStoresKeysUnprefixed(t *testing.T) {
	root := memory.New(nil)
	if err := root.WithPrefix("prefix_").Set(ctx, "key", []byte("foo"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, err := root.Get(ctx, "prefix_key"); err != nil || string(v) != "foo" {
		t.Fatalf("Get(prefix_key) with no prefix = %q, %v; want foo", v, err)
	}
	if err := root.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if root.Size() != 0 {
		t.Fatalf("size after flushing the empty prefix = %d, want 0 (every key)", root.Size())
	}
}

func TestExpiryFollowsTheInjectedClock(t *testing.T) {
	clock := newClock()
	b := memory.New(&memory.Options{Clock: clock.Now})
	if err := b.Set(ctx, "k", []byte("v"), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(9999 * time.Millisecond)
	if ttl, err := b.TTL(ctx, "k"); err != nil || ttl != time.Millisecond {
		t.Fatalf("TTL 1ms before expiry = %v, %v; want 1ms", ttl, err)
	}
	clock.Advance(time.Millisecond)
	if _, err := b.Get(ctx, "k"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get at expiry: %v, want ErrNotFound", err)
	}
}

func TestTTLIsRoundedUpToTheMillisecond(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
		want time.Duration
	}{
		{"a microsecond lasts one millisecond", time.Microsecond, time.Millisecond},
		{"a whole number of milliseconds is kept", 250 * time.Millisecond, 250 * time.Millisecond},
		{"a fraction of a millisecond rounds up", 1500 * time.Microsecond, 2 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := memory.New(&memory.Options{Clock: newClock().Now})
			if err := b.Set(ctx, "k", []byte("v"), tt.ttl); err != nil {
				t.Fatal(err)
			}
			if got, err := b.TTL(ctx, "k"); err != nil || got != tt.want {
				t.Fatalf("TTL = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestExpiredEntriesArePurgedOnWrites(t *testing.T) {
	clock := newClock()
	b := memory.New(&memory.Options{Clock: clock.Now})
	for i := range 10 {
		if err := b.Set(ctx, fmt.Sprint("old", i), []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	before := b.Size()
	clock.Advance(2 * time.Second)
	if got := b.Size(); got != before {
		t.Fatalf("size changed without a write: %d, want %d", got, before)
	}
	if err := b.Set(ctx, "new", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	if want := len("new") + 1 + memory.EntryOverhead; b.Size() != want {
		t.Fatalf("size after a write = %d, want %d (only the new entry)", b.Size(), want)
	}
}

func TestAddOverQuotaEvictsTheOldestEntries(t *testing.T) {
	clock := newClock()
	// Each entry weighs len("foo000") + len("toto") + EntryOverhead = 74 bytes.
	const entrySize = 6 + 4 + memory.EntryOverhead
	b := memory.New(&memory.Options{MaxSizeBytes: 100 * entrySize, Clock: clock.Now})
	for i := range 100 {
		if err := b.Set(ctx, fmt.Sprintf("foo%03d", i), []byte("toto"), time.Minute); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	if b.Size() != 100*entrySize {
		t.Fatalf("size = %d, want %d", b.Size(), 100*entrySize)
	}
	// Rewriting foo000 makes it the most recent entry: it must survive the eviction.
	if err := b.Set(ctx, "foo000", []byte("toto"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "foobar", []byte("tata"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if b.Size() > 80*entrySize {
		t.Fatalf("size after eviction = %d, want at most 80%% of the budget (%d)", b.Size(), 80*entrySize)
	}
	for _, k := range []string{"foo000", "foobar", "foo099"} {
		if _, err := b.Get(ctx, k); err != nil {
			t.Errorf("Get(%s) after eviction: %v, want it kept", k, err)
		}
	}
	for _, k := range []string{"foo001", "foo020"} {
		if _, err := b.Get(ctx, k); !errors.Is(err, cache.ErrNotFound) {
			t.Errorf("Get(%s) after eviction: %v, want it evicted", k, err)
		}
	}
}

func TestAnEntryLargerThanTheBudgetIsKept(t *testing.T) {
	b := memory.New(&memory.Options{MaxSizeBytes: 100})
	if err := b.Set(ctx, "small", []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 1000)
	if err := b.Set(ctx, "big", big, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "big"); err != nil || len(got) != 1000 {
		t.Fatalf("Get(big) = %d bytes, %v; want the 1000 bytes", len(got), err)
	}
	if _, err := b.Get(ctx, "small"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get(small): %v, want it evicted", err)
	}
}

func TestNegativeBudgetDisablesTheLimit(t *testing.T) {
	b := memory.New(&memory.Options{MaxSizeBytes: -1})
	value := make([]byte, 1<<10)
	for i := range 1024 { // 1 MiB of values, twice the default budget
		if err := b.Set(ctx, fmt.Sprint(i), value, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.Get(ctx, "0"); err != nil {
		t.Fatalf("the first entry was evicted without a limit: %v", err)
	}
}

func TestOverwriteAdjustsTheSize(t *testing.T) {
	b := memory.New(nil)
	if err := b.Set(ctx, "k", make([]byte, 100), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := b.Set(ctx, "k", make([]byte, 10), time.Minute); err != nil {
		t.Fatal(err)
	}
	if want := 1 + 10 + memory.EntryOverhead; b.Size() != want {
		t.Fatalf("size = %d, want %d", b.Size(), want)
	}
	if err := b.Delete(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if b.Size() != 0 {
		t.Fatalf("size after delete = %d, want 0", b.Size())
	}
}

func TestRegisteredFactoryReadsTheSettings(t *testing.T) {
	s := config.MustFromMap(map[string]string{
		"cache_backend":        "kinto.core.cache.memory",
		"cache_prefix":         "app1_",
		"cache_max_size_bytes": "200",
	}, config.Options{Env: []string{}})
	b, err := cache.Open(ctx, s.String("cache_backend"), s)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer b.Close()
	mb, ok := b.(*memory.Backend)
	if !ok {
		t.Fatalf("Open returned %T, want *memory.Backend", b)
	}
	if mb.Prefix() != "app1_" {
		t.Fatalf("prefix = %q, want app1_", mb.Prefix())
	}
	_ = b.Set(ctx, "a", make([]byte, 150), time.Minute)
	_ = b.Set(ctx, "b", make([]byte, 150), time.Minute)
	if _, err := b.Get(ctx, "a"); !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get(a) with a 200-byte budget: %v, want it evicted", err)
	}
}

func TestRegisteredFactoryRejectsABadSize(t *testing.T) {
	s := config.MustFromMap(map[string]string{"cache_max_size_bytes": "lots"}, config.Options{Env: []string{}})
	if _, err := cache.Open(ctx, "memory", s); err == nil {
		t.Fatal("Open with cache_max_size_bytes=lots succeeded, want an error")
	}
}
