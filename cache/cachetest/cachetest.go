// Package cachetest is the conformance suite of cache backends, ported from kinto.core's
// cache/testing.py (subtest names keep the Python test names so the mapping stays
// traceable).
//
// A backend's test file declares a [Harness] and calls [Run]:
//
//	func TestConformance(t *testing.T) { cachetest.Run(t, harness{}) }
//
// A backend that cannot fail is proven by one line, with [HarnessFunc]; the backends it
// returns for different prefixes must share one store:
//
//	func TestConformance(t *testing.T) {
//		store := mycache.New()
//		cachetest.Run(t, cachetest.HarnessFunc(func(_ context.Context, _ *testing.T, prefix string) cache.Backend { return store.WithPrefix(prefix) }))
//	}
//
// The harness has the shape of those of packages storagetest and permissiontest (New and
// Broken, taking the context and the test, and the HarnessFunc adapter), except that New
// also takes the key prefix of the backend it returns (kinto's cache_prefix setting): the
// suite checks that backends with different prefixes share one store without seeing each
// other's keys, and gives every subtest a prefix of its own so that subtests never see each
// other's keys on a shared server.
//
// The suite uses short time-to-live values (tens of milliseconds) and sleeps briefly to see
// them pass, so it runs in about a second.
package cachetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/cache"
)

// Harness gives the suite the backends it runs against.
type Harness interface {
	// New returns a backend whose keys are prefixed with prefix. All the backends a harness
	// returns share one server (one store, database or Redis database), so that a key set
	// through a backend with prefix "p_" is visible as "p_key" through a backend whose prefix
	// is the empty string. A backend may map the empty prefix to a default namespace of its
	// own (the Redis backend does), so the suite only checks that backends returned for the
	// empty prefix share their keys. The schema, if any, must already be initialized. The suite
	// flushes (for non-empty prefixes) and closes each backend when the subtest ends.
	New(ctx context.Context, t *testing.T, prefix string) cache.Backend
	// Broken returns a backend whose every call fails with a *cache.BackendError (for
	// example one whose server is unreachable, or a closed memory backend), or nil when the
	// backend cannot fail (the subtests that need it are then skipped).
	// The suite closes it when the subtest ends.
	Broken(ctx context.Context, t *testing.T) cache.Backend
}

// HarnessFunc adapts a constructor of backends that cannot fail: New calls it and Broken
// returns nil. The backends it returns must share one store, as [Harness.New] says.
type HarnessFunc func(ctx context.Context, t *testing.T, prefix string) cache.Backend

// New calls f.
func (f HarnessFunc) New(ctx context.Context, t *testing.T, prefix string) cache.Backend {
	return f(ctx, t, prefix)
}

// Broken returns nil.
func (f HarnessFunc) Broken(context.Context, *testing.T) cache.Backend { return nil }

// Run runs every conformance subtest against the backends of h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t, &suite{h: h, base: uniquePrefix(t)})
		})
	}
}

// suite carries what one subtest needs: the harness and a prefix unique to the subtest, so
// that subtests never see each other's keys on a shared server.
type suite struct {
	h    Harness
	base string
}

func uniquePrefix(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random prefix: %v", err)
	}
	return "cachetest_" + hex.EncodeToString(b[:]) + "_"
}

// open returns a backend under the subtest's prefix followed by sub.
func (s *suite) open(t *testing.T, sub string) cache.Backend {
	t.Helper()
	return s.openExact(t, s.base+sub)
}

func (s *suite) openExact(t *testing.T, prefix string) cache.Backend {
	t.Helper()
	ctx := context.Background()
	b := s.h.New(ctx, t, prefix)
	if b == nil {
		t.Fatalf("harness returned a nil backend for prefix %q", prefix)
	}
	t.Cleanup(func() {
		if prefix != "" {
			if err := b.Flush(context.Background()); err != nil {
				t.Errorf("flush %q at cleanup: %v", prefix, err)
			}
		}
		if err := b.Close(); err != nil {
			t.Errorf("close at cleanup: %v", err)
		}
	})
	return b
}

func (s *suite) broken(t *testing.T) cache.Backend {
	t.Helper()
	b := s.h.Broken(context.Background(), t)
	if b == nil {
		t.Skip("the backend cannot fail (the harness has no broken backend)")
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// Durations used by the suite. Expiring TTLs are short; "long" ones outlive any subtest.
const (
	short = 80 * time.Millisecond
	wait  = 160 * time.Millisecond
	long  = 42 * time.Second
)

type test struct {
	name string
	run  func(t *testing.T, s *suite)
}

var bg = context.Background()

func mustSet(t *testing.T, b cache.Backend, key string, value []byte, ttl time.Duration) {
	t.Helper()
	if err := b.Set(bg, key, value, ttl); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func wantValue(t *testing.T, b cache.Backend, key string, want []byte) {
	t.Helper()
	got, err := b.Get(bg, key)
	if err != nil {
		t.Fatalf("Get(%q): %v, want %q", key, err, want)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%q) = %q, want %q", key, got, want)
	}
}

func wantMissing(t *testing.T, b cache.Backend, key string) {
	t.Helper()
	got, err := b.Get(bg, key)
	if !errors.Is(err, cache.ErrNotFound) {
		t.Fatalf("Get(%q) = %q, %v; want cache.ErrNotFound", key, got, err)
	}
}

func wantBackendError(t *testing.T, op string, err error) {
	t.Helper()
	var be *cache.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("%s on a broken backend: error %v (%T), want a *cache.BackendError", op, err, err)
	}
	if be.Backend == "" || be.Op == "" || be.Err == nil {
		t.Fatalf("%s: BackendError %+v should name its backend and operation and wrap a cause", op, be)
	}
}

var tests = []test{
	{"backend_error_is_raised_anywhere", func(t *testing.T, s *suite) {
		b := s.broken(t)
		_, errGet := b.Get(bg, "foobar")
		_, errTTL := b.TTL(bg, "foobar")
		calls := []struct {
			op  string
			err error
		}{
			{"Flush", b.Flush(bg)},
			{"TTL", errTTL},
			{"Expire", b.Expire(bg, "foobar", time.Second)},
			{"Get", errGet},
			{"Set", b.Set(bg, "foobar", []byte("toto"), long)},
			{"Delete", b.Delete(bg, "foobar")},
		}
		for _, c := range calls {
			wantBackendError(t, c.op, c.err)
		}
	}},
	{"initialize_schema_is_idempotent", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		err := b.InitializeSchema(bg, false)
		if s.lacks(t, Migrator, !errors.Is(err, cache.ErrNotSupported)) {
			// No schema step: a backend fresh from New works at once.
			mustSet(t, b, "foobar", []byte("toto"), long)
			wantValue(t, b, "foobar", []byte("toto"))
			return
		}
		if err != nil {
			t.Fatalf("InitializeSchema call 1 (dryRun=false): %v", err)
		}
		for i, dry := range []bool{false, true} {
			if err := b.InitializeSchema(bg, dry); err != nil {
				t.Fatalf("InitializeSchema call %d (dryRun=%v): %v", i+2, dry, err)
			}
		}
		mustSet(t, b, "foobar", []byte("toto"), long)
		wantValue(t, b, "foobar", []byte("toto"))
	}},
	{"ping_returns_true_if_available", func(t *testing.T, s *suite) {
		if err := s.open(t, "").Ping(bg); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	}},
	{"ping_returns_false_if_unavailable", func(t *testing.T, s *suite) {
		wantBackendError(t, "Ping", s.broken(t).Ping(bg))
	}},
	{"ping_is_bounded_by_its_context", func(t *testing.T, s *suite) {
		ctx, cancel := context.WithCancel(bg)
		cancel()
		if err := s.open(t, "").Ping(ctx); err == nil {
			t.Fatal("Ping with a cancelled context succeeded, want an error")
		}
	}},
	{"set_adds_the_object", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		wantValue(t, b, "foobar", []byte("toto"))
	}},
	{"values_remain_bytes", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		binary := make([]byte, 256)
		for i := range binary {
			binary[i] = byte(i)
		}
		values := []struct {
			name  string
			value []byte
		}{
			{"plain text", []byte("toto")},
			{"JSON", []byte(`{"b": [1, 2], "c": "\u00e9"}`)},
			{"every byte value, NUL and invalid UTF-8 included", binary},
			{"unicode", []byte("h\u00e9llo w\u00f6rld \u2603 \U0001F600")},
			{"empty value", []byte{}},
			{"large value", bytes.Repeat([]byte("0123456789abcdef"), 4096)},
		}
		for i, v := range values {
			t.Run(v.name, func(t *testing.T) {
				key := fmt.Sprintf("value%d", i)
				mustSet(t, b, key, v.value, long)
				got, err := b.Get(bg, key)
				if err != nil {
					t.Fatalf("Get: %v", err)
				}
				if got == nil {
					t.Fatal("Get returned a nil slice, want an empty or filled one")
				}
				if !bytes.Equal(got, v.value) {
					t.Fatalf("Get = %q (%d bytes), want %q (%d bytes)", got, len(got), v.value, len(v.value))
				}
			})
		}
	}},
	{"stored_value_is_not_aliased", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		v := []byte("toto")
		mustSet(t, b, "foobar", v, long)
		v[0] = 'X'
		got, err := b.Get(bg, "foobar")
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		if string(got) != "toto" {
			t.Fatalf("changing the slice given to Set changed the stored value: %q", got)
		}
		got[0] = 'Y'
		wantValue(t, b, "foobar", []byte("toto"))
	}},
	{"keys_with_special_characters", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		keys := []string{"a%b", "a_b", "a*b", "a?b", "[ab]", `back\slash`, "sp ace", "caf\u00e9", "new\nline", "", "colon:key"}
		for i, k := range keys {
			mustSet(t, b, k, []byte(fmt.Sprint(i)), long)
		}
		for i, k := range keys {
			wantValue(t, b, k, []byte(fmt.Sprint(i)))
		}
		wantMissing(t, b, "axb")
		wantMissing(t, b, "a")
	}},
	{"get_returns_not_found_if_unknown", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		wantMissing(t, b, "unknown")
	}},
	{"delete_removes_the_object", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		mustSet(t, b, "other", []byte("titi"), long)
		if err := b.Delete(bg, "foobar"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantMissing(t, b, "foobar")
		wantValue(t, b, "other", []byte("titi"))
		if _, err := b.TTL(bg, "foobar"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("TTL of a deleted key: %v, want cache.ErrNotFound", err)
		}
	}},
	{"delete_does_not_fail_if_object_is_unknown", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		if err := b.Delete(bg, "foobar"); err != nil {
			t.Fatalf("Delete of a missing key: %v, want nil", err)
		}
	}},
	{"expire_expires_the_value", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		if err := b.Expire(bg, "foobar", short); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		time.Sleep(wait)
		wantMissing(t, b, "foobar")
	}},
	{"expire_extends_the_time_to_live", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), time.Second)
		if err := b.Expire(bg, "foobar", long); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		ttl, err := b.TTL(bg, "foobar")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		if ttl <= 40*time.Second || ttl > long {
			t.Fatalf("TTL after Expire(%v) = %v, want in (40s, %v]", long, ttl, long)
		}
		wantValue(t, b, "foobar", []byte("toto"))
	}},
	{"expire_with_zero_expires_at_once", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		if err := b.Expire(bg, "foobar", 0); err != nil {
			t.Fatalf("Expire(0): %v", err)
		}
		wantMissing(t, b, "foobar")
	}},
	{"expire_fails_if_object_is_unknown", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		if err := b.Expire(bg, "unknown", long); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Expire of a missing key: %v, want cache.ErrNotFound", err)
		}
		wantMissing(t, b, "unknown")
	}},
	{"expire_fails_if_object_has_expired", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), short)
		time.Sleep(wait)
		if err := b.Expire(bg, "foobar", long); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Expire of an expired key: %v, want cache.ErrNotFound", err)
		}
		wantMissing(t, b, "foobar")
	}},
	{"set_with_ttl_expires_the_value", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), short)
		mustSet(t, b, "kept", []byte("titi"), long)
		time.Sleep(wait)
		wantMissing(t, b, "foobar")
		wantValue(t, b, "kept", []byte("titi"))
	}},
	{"set_rejects_a_non_positive_ttl", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		for _, ttl := range []time.Duration{0, -time.Second} {
			err := b.Set(bg, "foobar", []byte("toto"), ttl)
			if err == nil {
				t.Fatalf("Set with ttl %v succeeded, want an error", ttl)
			}
			var be *cache.BackendError
			if errors.As(err, &be) {
				t.Fatalf("Set with ttl %v: %v is a BackendError, want a usage error", ttl, err)
			}
			wantMissing(t, b, "foobar")
		}
	}},
	{"set_overwrites_the_value_and_resets_the_ttl", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		mustSet(t, b, "foobar", []byte("tata"), long)
		wantValue(t, b, "foobar", []byte("tata"))
		mustSet(t, b, "foobar", []byte("titi"), short)
		// ErrNotFound is fine: on a loaded machine the short ttl may already have passed.
		if ttl, err := b.TTL(bg, "foobar"); err != nil && !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("TTL: %v", err)
		} else if err == nil && ttl > short {
			t.Fatalf("TTL after overwrite = %v, want at most %v", ttl, short)
		}
		time.Sleep(wait)
		wantMissing(t, b, "foobar")
		mustSet(t, b, "foobar", []byte("again"), long)
		wantValue(t, b, "foobar", []byte("again"))
	}},
	{"ttl_return_the_time_to_live", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), long)
		if err := b.Expire(bg, "foobar", 10*time.Second); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		ttl, err := b.TTL(bg, "foobar")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		if ttl <= 9*time.Second || ttl > 10*time.Second {
			t.Fatalf("TTL = %v, want in (9s, 10s]", ttl)
		}
	}},
	{"ttl_has_millisecond_precision", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), 1500*time.Millisecond)
		ttl, err := b.TTL(bg, "foobar")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		if ttl <= time.Second || ttl > 1500*time.Millisecond {
			t.Fatalf("TTL = %v, want in (1s, 1.5s]", ttl)
		}
	}},
	{"ttl_decreases_over_time", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), 10*time.Second)
		first, err := b.TTL(bg, "foobar")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
		second, err := b.TTL(bg, "foobar")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		if second >= first || first-second < 40*time.Millisecond {
			t.Fatalf("TTL went from %v to %v in 50ms, want a decrease of about 50ms", first, second)
		}
	}},
	{"ttl_return_not_found_if_unknown", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		if ttl, err := b.TTL(bg, "unknown"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("TTL of a missing key = %v, %v; want cache.ErrNotFound", ttl, err)
		}
	}},
	{"ttl_return_not_found_once_expired", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		mustSet(t, b, "foobar", []byte("toto"), short)
		time.Sleep(wait)
		if ttl, err := b.TTL(bg, "foobar"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("TTL of an expired key = %v, %v; want cache.ErrNotFound", ttl, err)
		}
	}},
	{"cache_prefix_is_set", func(t *testing.T, s *suite) {
		plain := s.open(t, "")
		prefixed := s.open(t, "prefix_")
		mustSet(t, prefixed, "key", []byte("foo"), long)
		wantValue(t, plain, "prefix_key", []byte("foo"))
		wantMissing(t, plain, "key")
	}},
	{"cache_when_prefix_is_not_set", func(t *testing.T, s *suite) {
		one := s.openExact(t, "")
		other := s.openExact(t, "")
		key := s.base + "key" // unique, as the empty prefix is shared by every subtest
		t.Cleanup(func() { _ = one.Delete(context.Background(), key) })
		mustSet(t, one, key, []byte("foo"), long)
		wantValue(t, other, key, []byte("foo"))
		if err := other.Delete(bg, key); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantMissing(t, one, key)
	}},
	{"prefix_value_use_to_get_data", func(t *testing.T, s *suite) {
		plain := s.open(t, "")
		prefixed := s.open(t, "prefix_")
		mustSet(t, plain, "prefix_key", []byte("foo"), long)
		wantValue(t, prefixed, "key", []byte("foo"))
	}},
	{"prefix_value_use_to_delete_data", func(t *testing.T, s *suite) {
		plain := s.open(t, "")
		prefixed := s.open(t, "prefix_")
		mustSet(t, plain, "prefix_key", []byte("foo"), long)
		mustSet(t, plain, "key", []byte("bar"), long)
		if err := prefixed.Delete(bg, "key"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		wantMissing(t, plain, "prefix_key")
		wantValue(t, plain, "key", []byte("bar"))
	}},
	{"prefix_value_used_with_ttl", func(t *testing.T, s *suite) {
		plain := s.open(t, "")
		prefixed := s.open(t, "prefix_")
		mustSet(t, plain, "prefix_key", []byte("foo"), 10*time.Second)
		ttl, err := prefixed.TTL(bg, "key")
		if err != nil {
			t.Fatalf("TTL: %v", err)
		}
		if ttl <= 9*time.Second || ttl > 10*time.Second {
			t.Fatalf("TTL = %v, want in (9s, 10s]", ttl)
		}
	}},
	{"prefix_value_used_with_expire", func(t *testing.T, s *suite) {
		plain := s.open(t, "")
		prefixed := s.open(t, "prefix_")
		mustSet(t, plain, "prefix_foobar", []byte("toto"), 10*time.Second)
		if err := prefixed.Expire(bg, "foobar", 0); err != nil {
			t.Fatalf("Expire: %v", err)
		}
		if _, err := plain.TTL(bg, "prefix_foobar"); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("TTL after expiring through the prefixed backend: %v, want cache.ErrNotFound", err)
		}
		wantMissing(t, plain, "prefix_foobar")
	}},
	{"prefixes_are_isolated", func(t *testing.T, s *suite) {
		a := s.open(t, "a_")
		b := s.open(t, "b_")
		mustSet(t, a, "key", []byte("from a"), long)
		mustSet(t, b, "key", []byte("from b"), long)
		wantValue(t, a, "key", []byte("from a"))
		wantValue(t, b, "key", []byte("from b"))
		mustSet(t, a, "only_a", []byte("x"), long)
		wantMissing(t, b, "only_a")
		if err := b.Delete(bg, "only_a"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if err := b.Expire(bg, "only_a", 0); !errors.Is(err, cache.ErrNotFound) {
			t.Fatalf("Expire of another prefix's key: %v, want cache.ErrNotFound", err)
		}
		wantValue(t, a, "only_a", []byte("x"))
	}},
	{"flush_removes_every_key", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		for i := range 20 {
			mustSet(t, b, fmt.Sprintf("key%d", i), []byte("v"), long)
		}
		if err := b.Flush(bg); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		for i := range 20 {
			wantMissing(t, b, fmt.Sprintf("key%d", i))
		}
		mustSet(t, b, "key0", []byte("again"), long)
		wantValue(t, b, "key0", []byte("again"))
	}},
	{"flush_leaves_other_prefixes_untouched", func(t *testing.T, s *suite) {
		a := s.open(t, "a_")
		b := s.open(t, "b_")
		plain := s.open(t, "")
		mustSet(t, a, "key", []byte("from a"), long)
		mustSet(t, b, "key", []byte("from b"), long)
		mustSet(t, plain, "c_key", []byte("from c"), long)
		if err := a.Flush(bg); err != nil {
			t.Fatalf("Flush: %v", err)
		}
		wantMissing(t, a, "key")
		wantValue(t, b, "key", []byte("from b"))
		wantValue(t, plain, "c_key", []byte("from c"))
	}},
	{"flush_treats_the_prefix_literally", func(t *testing.T, s *suite) {
		// Characters that are wildcards in SQL LIKE or Redis MATCH patterns must not widen
		// the set of flushed keys.
		for i, pair := range [][2]string{{"p%_", "pXY"}, {"p*", "pZ"}, {"p?", "pQ"}, {"[p]", "p"}, {`p\`, "p"}} {
			t.Run(fmt.Sprintf("prefix %q does not flush prefix %q", pair[0], pair[1]), func(t *testing.T) {
				wild := s.open(t, fmt.Sprint(i, pair[0]))
				other := s.open(t, fmt.Sprint(i, pair[1]))
				mustSet(t, wild, "key", []byte("wild"), long)
				mustSet(t, other, "key", []byte("other"), long)
				if err := wild.Flush(bg); err != nil {
					t.Fatalf("Flush: %v", err)
				}
				wantMissing(t, wild, "key")
				wantValue(t, other, "key", []byte("other"))
			})
		}
	}},
	{"concurrent_sets_and_gets", func(t *testing.T, s *suite) {
		b := s.open(t, "")
		const workers, rounds = 8, 25
		var wg sync.WaitGroup
		errs := make(chan error, workers*rounds)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					own := fmt.Sprintf("w%d_r%d", w, r)
					want := []byte(fmt.Sprintf("value %d/%d", w, r))
					if err := b.Set(bg, own, want, long); err != nil {
						errs <- fmt.Errorf("Set(%s): %w", own, err)
						return
					}
					if err := b.Set(bg, "shared", want, long); err != nil {
						errs <- fmt.Errorf("Set(shared): %w", err)
						return
					}
					got, err := b.Get(bg, own)
					if err != nil || !bytes.Equal(got, want) {
						errs <- fmt.Errorf("Get(%s) = %q, %v; want %q", own, got, err, want)
						return
					}
					if _, err := b.Get(bg, "shared"); err != nil {
						errs <- fmt.Errorf("Get(shared): %w", err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		for w := range workers {
			wantValue(t, b, fmt.Sprintf("w%d_r%d", w, rounds-1), []byte(fmt.Sprintf("value %d/%d", w, rounds-1)))
		}
	}},
}
