// Package memory is a cache backend kept in the process memory (kinto.core's
// cache.memory). Entries are lost when the process exits and are not shared between
// processes.
//
// # Settings
//
// The backend registers itself as "memory" (also "cliquet.cache.memory" and
// "kinto.core.cache.memory"); blank-import the package to make it available to
// cache.Open. It reads:
//
//   - cache_prefix: prepended to every key (default "");
//   - cache_max_size_bytes: the memory budget (default 524288); 0 or a negative value
//     disables the limit.
//
// # Expiry and eviction
//
// Time to live has millisecond precision: a positive ttl is rounded up to the next whole
// millisecond. Expired entries are never returned; they are removed when they are read and
// on every write (Set, Expire, Delete). When the size of the entries exceeds the budget after
// a write, the least recently written entries are evicted until the size falls to 80% of
// the budget (kinto's policy), expired entries first; the entry just written is kept even
// when it alone exceeds the budget.
//
// The size of an entry is len(key) + len(value) + [EntryOverhead], the key including its
// prefix.
package memory

import (
	"container/heap"
	"container/list"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
)

// DefaultMaxSizeBytes is the memory budget used when Options.MaxSizeBytes is 0.
const DefaultMaxSizeBytes = 524288

// EntryOverhead is the number of bytes each entry counts for in addition to its key and
// value (bookkeeping: map slot, expiry, age list and heap links).
const EntryOverhead = 64

// Options configures [New]. A nil *Options means the defaults.
type Options struct {
	// Prefix is prepended to every key. The default is "".
	Prefix string
	// MaxSizeBytes is the memory budget in bytes. 0 means DefaultMaxSizeBytes; a negative
	// value disables the limit.
	MaxSizeBytes int
	// Clock returns the current time. The default is time.Now; tests inject a fake clock.
	Clock func() time.Time
}

// Backend is an in-memory cache.Backend. It is safe for concurrent use. Backends made with
// [Backend.WithPrefix] share its entries.
type Backend struct {
	prefix string
	s      *store
	closed atomic.Bool // set by Close: every call of this backend then fails
}

var _ cache.Backend = (*Backend)(nil)

func init() {
	cache.Register("memory", func(_ context.Context, s *config.Settings) (cache.Backend, error) {
		max, err := s.Int("cache_max_size_bytes")
		if err != nil {
			return nil, err
		}
		if max <= 0 {
			max = -1
		}
		return New(&Options{Prefix: s.String("cache_prefix"), MaxSizeBytes: max}), nil
	})
}

// New returns an empty in-memory cache configured by opts (nil means defaults).
func New(opts *Options) *Backend {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.MaxSizeBytes == 0 {
		o.MaxSizeBytes = DefaultMaxSizeBytes
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	s := &store{max: o.MaxSizeBytes, clock: o.Clock, entries: map[string]*entry{}}
	s.byAge.Init()
	return &Backend{prefix: o.Prefix, s: s}
}

// WithPrefix returns a backend that shares b's entries, budget and clock but prepends prefix
// (instead of b's prefix) to keys: two backends made this way behave like two applications
// sharing one cache server.
func (b *Backend) WithPrefix(prefix string) *Backend {
	return &Backend{prefix: prefix, s: b.s}
}

// Prefix returns the prefix prepended to keys.
func (b *Backend) Prefix() string { return b.prefix }

// Size returns the number of bytes currently accounted for by all the entries of the shared
// store (see the package documentation), expired entries not yet purged included.
func (b *Backend) Size() int {
	b.s.mu.Lock()
	defer b.s.mu.Unlock()
	return b.s.size
}

// Get returns a copy of the value of key, or cache.ErrNotFound when it is missing or expired.
func (b *Backend) Get(_ context.Context, key string) ([]byte, error) {
	if err := b.check("get"); err != nil {
		return nil, err
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.live(b.prefix+key, s.clock())
	if e == nil {
		return nil, cache.ErrNotFound
	}
	return append(make([]byte, 0, len(e.value)), e.value...), nil
}

// Set stores a copy of value under key for ttl. A ttl that is not positive is an error and
// leaves the cache unchanged.
func (b *Backend) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	if err := b.check("set"); err != nil {
		return err
	}
	if ttl <= 0 {
		return fmt.Errorf("cache: memory: set %q: ttl must be positive, got %v", key, ttl)
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.purgeExpired(now)
	k := b.prefix + key
	v := append(make([]byte, 0, len(value)), value...)
	expires := now.Add(roundTTL(ttl))
	if e, ok := s.entries[k]; ok {
		s.size += len(v) - len(e.value)
		e.value, e.expires = v, expires
		heap.Fix(&s.byExpiry, e.index)
		s.byAge.MoveToBack(e.elem)
	} else {
		e := &entry{key: k, value: v, expires: expires}
		s.entries[k] = e
		heap.Push(&s.byExpiry, e)
		e.elem = s.byAge.PushBack(e)
		s.size += e.size()
	}
	s.evict(k)
	return nil
}

// Delete removes key; a missing key is not an error.
func (b *Backend) Delete(_ context.Context, key string) error {
	if err := b.check("delete"); err != nil {
		return err
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.purgeExpired(s.clock())
	if e, ok := s.entries[b.prefix+key]; ok {
		s.remove(e)
	}
	return nil
}

// Expire sets a new time to live on key, or returns cache.ErrNotFound when it is missing or
// expired. A ttl that is not positive expires the key at once.
func (b *Backend) Expire(_ context.Context, key string, ttl time.Duration) error {
	if err := b.check("expire"); err != nil {
		return err
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	s.purgeExpired(now)
	e := s.live(b.prefix+key, now)
	if e == nil {
		return cache.ErrNotFound
	}
	if ttl <= 0 {
		s.remove(e)
		return nil
	}
	e.expires = now.Add(roundTTL(ttl))
	heap.Fix(&s.byExpiry, e.index)
	return nil
}

// TTL returns the remaining time to live of key, or cache.ErrNotFound when it is missing or
// expired.
func (b *Backend) TTL(_ context.Context, key string) (time.Duration, error) {
	if err := b.check("ttl"); err != nil {
		return 0, err
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock()
	e := s.live(b.prefix+key, now)
	if e == nil {
		return 0, cache.ErrNotFound
	}
	return e.expires.Sub(now), nil
}

// Flush removes every key under b's prefix (every key of the shared store when the prefix is
// empty); keys under other prefixes are kept.
func (b *Backend) Flush(_ context.Context) error {
	if err := b.check("flush"); err != nil {
		return err
	}
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.prefix == "" {
		s.entries = map[string]*entry{}
		s.byExpiry = nil
		s.byAge.Init()
		s.size = 0
		return nil
	}
	for k, e := range s.entries {
		if strings.HasPrefix(k, b.prefix) {
			s.remove(e)
		}
	}
	return nil
}

// Ping reports whether the cache can be used: always, unless ctx is done or b is closed.
func (b *Backend) Ping(ctx context.Context) error {
	if err := b.check("ping"); err != nil {
		return err
	}
	return ctx.Err()
}

// InitializeSchema returns cache.ErrNotSupported: the memory backend has no schema.
func (b *Backend) InitializeSchema(context.Context, bool) error { return cache.ErrNotSupported }

// ErrClosed is the cause of the *cache.BackendError every call of a closed backend returns.
var ErrClosed = errors.New("cache: memory: backend closed")

// Close closes b: every later call of b fails with a *cache.BackendError wrapping
// [ErrClosed], as a server backend fails once its connections are closed. The entries are
// kept for the other backends sharing them ([Backend.WithPrefix]), which stay open; they are
// released with the last reference. Closing again does nothing.
func (b *Backend) Close() error {
	b.closed.Store(true)
	return nil
}

// check returns a *cache.BackendError wrapping ErrClosed, for the call named op, once b is
// closed.
func (b *Backend) check(op string) error {
	if b.closed.Load() {
		return &cache.BackendError{Backend: "memory", Op: op, Err: ErrClosed}
	}
	return nil
}

// roundTTL rounds a positive ttl up to a whole number of milliseconds.
func roundTTL(ttl time.Duration) time.Duration {
	if r := ttl % time.Millisecond; r != 0 {
		ttl += time.Millisecond - r
	}
	return ttl
}

// store holds the entries shared by backends with different prefixes.
type store struct {
	mu       sync.Mutex
	max      int // < 0: no limit
	clock    func() time.Time
	entries  map[string]*entry
	byExpiry expiryHeap // soonest expiry first
	byAge    list.List  // of *entry, least recently written first
	size     int
}

type entry struct {
	key     string
	value   []byte
	expires time.Time
	index   int           // position in store.byExpiry
	elem    *list.Element // position in store.byAge
}

func (e *entry) size() int { return len(e.key) + len(e.value) + EntryOverhead }

// live returns the entry of key when it has not expired at now; an expired entry is removed.
func (s *store) live(key string, now time.Time) *entry {
	e, ok := s.entries[key]
	if !ok {
		return nil
	}
	if !now.Before(e.expires) {
		s.remove(e)
		return nil
	}
	return e
}

func (s *store) remove(e *entry) {
	delete(s.entries, e.key)
	heap.Remove(&s.byExpiry, e.index)
	s.byAge.Remove(e.elem)
	s.size -= e.size()
}

func (s *store) purgeExpired(now time.Time) {
	for len(s.byExpiry) > 0 && !now.Before(s.byExpiry[0].expires) {
		s.remove(s.byExpiry[0])
	}
}

// evict brings the size back under budget, keeping the entry whose key is keep.
func (s *store) evict(keep string) {
	if s.max < 0 || s.size <= s.max {
		return
	}
	target := s.max * 8 / 10
	for el := s.byAge.Front(); el != nil && s.size > target; {
		next := el.Next()
		if e := el.Value.(*entry); e.key != keep {
			s.remove(e)
		}
		el = next
	}
}

type expiryHeap []*entry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *expiryHeap) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
