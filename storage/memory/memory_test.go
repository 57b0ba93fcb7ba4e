package memory_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
	"github.com/cliquet-go/cliquet/storage/storagetest"
)

type harness struct{}

func (harness) New(context.Context, *testing.T) storage.Backend { return memory.New(nil) }

// Broken returns a closed backend: every call fails with a *storage.BackendError.
func (harness) Broken(_ context.Context, t *testing.T) storage.Backend {
	b := memory.New(nil)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	return b
}

// Lacks declares the optional capabilities a memory backend lacks.
func (harness) Lacks() []storagetest.Capability {
	return []storagetest.Capability{storagetest.Transactor, storagetest.Migrator}
}

func TestConformance(t *testing.T) { storagetest.Run(t, harness{}) }

var bucket = storage.Scope{Resource: "bucket", Parent: ""}

func TestAClosedBackendFailsEveryCallWithErrClosed(t *testing.T) {
	ctx := context.Background()
	b := memory.New(nil)
	o, err := b.Create(ctx, bucket, storage.Object{ID: "kept"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("Close again: %v", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"Get of an object stored before Close", func() error { _, err := b.Get(ctx, bucket, o.ID); return err }},
		{"GetMany of an object stored before Close", func() error {
			_, err := b.GetMany(ctx, []storage.Key{{Scope: bucket, ID: o.ID}})
			return err
		}},
		{"Create", func() error { _, err := b.Create(ctx, bucket, storage.Object{}); return err }},
		{"List", func() error { _, err := b.List(ctx, bucket, storage.ListOptions{}); return err }},
		{"Timestamp", func() error { _, err := b.Timestamp(ctx, bucket); return err }},
		{"Flush", func() error { return b.Flush(ctx) }},
		{"Ping", func() error { return b.Ping(ctx, false) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			var be *storage.BackendError
			if !errors.As(err, &be) || !errors.Is(err, memory.ErrClosed) {
				t.Fatalf("err = %v, want a *storage.BackendError wrapping memory.ErrClosed", err)
			}
		})
	}
}

// fakeClock is a settable clock for Options.Clock.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func TestTimestampsFollowTheInjectedClock(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	b := memory.New(&memory.Options{Clock: clock.Now})

	ts, err := b.Timestamp(ctx, bucket)
	if err != nil || ts != 1_000_000 {
		t.Fatalf("empty collection timestamp = %d, %v; want 1000000", ts, err)
	}
	o, _ := b.Create(ctx, bucket, storage.Object{})
	if o.LastModified != 1_000_001 {
		t.Errorf("write in the same millisecond got %d, want 1000001", o.LastModified)
	}
	clock.now = time.UnixMilli(500) // the clock goes back
	o, _ = b.Create(ctx, bucket, storage.Object{})
	if o.LastModified != 1_000_002 {
		t.Errorf("write after the clock went back got %d, want 1000002", o.LastModified)
	}
	clock.now = time.UnixMilli(2_000_000)
	o, _ = b.Create(ctx, bucket, storage.Object{})
	if o.LastModified != 2_000_000 {
		t.Errorf("write after the clock moved on got %d, want 2000000", o.LastModified)
	}
}

func TestForcedTimestamps(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name           string
		forced         int64
		wantObject     int64
		wantCollection int64
	}{
		{"a future value becomes the collection timestamp", 5000, 5000, 5000},
		{"a value equal to the collection timestamp is bumped", 1000, 1001, 1001},
		{"a past value is kept and the collection moves by one", 10, 10, 1001},
		{"zero means no forced value", 0, 1001, 1001},
		{"a negative value is ignored", -3, 1001, 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := memory.New(&memory.Options{Clock: func() time.Time { return time.UnixMilli(1000) }})
			if _, err := b.Create(ctx, bucket, storage.Object{ID: "first"}); err != nil {
				t.Fatal(err)
			}
			o, err := b.Create(ctx, bucket, storage.Object{ID: "second", LastModified: tt.forced})
			if err != nil {
				t.Fatal(err)
			}
			ts, _ := b.Timestamp(ctx, bucket)
			if o.LastModified != tt.wantObject || ts != tt.wantCollection {
				t.Errorf("object %d, collection %d; want %d, %d", o.LastModified, ts, tt.wantObject, tt.wantCollection)
			}
		})
	}
}

func TestReadOnlyRefusesToInitialiseATimestamp(t *testing.T) {
	ctx := context.Background()
	b := memory.New(&memory.Options{ReadOnly: true})
	_, err := b.Timestamp(ctx, bucket)
	var be *storage.BackendError
	if !errors.As(err, &be) || !errors.Is(err, storage.ErrReadOnly) {
		t.Fatalf("got %v, want a BackendError wrapping ErrReadOnly", err)
	}
	o, err := b.Create(ctx, bucket, storage.Object{})
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := b.Timestamp(ctx, bucket); err != nil || ts != o.LastModified {
		t.Errorf("timestamp after a write = %d, %v; want %d", ts, err, o.LastModified)
	}
}

func TestRejectsDataThatIsNotAnObject(t *testing.T) {
	ctx := context.Background()
	b := memory.New(nil)
	for _, data := range []string{`[1]`, `"x"`, `null`, `{"a":`} {
		if _, err := b.Create(ctx, bucket, storage.Object{Data: json.RawMessage(data)}); err == nil {
			t.Errorf("Create accepted %s", data)
		}
		if _, err := b.Update(ctx, bucket, storage.Object{ID: "a", Data: json.RawMessage(data)}, storage.Condition{}); err == nil {
			t.Errorf("Update accepted %s", data)
		}
	}
	if n, _ := b.Count(ctx, bucket, nil); n != 0 {
		t.Errorf("count = %d after rejected writes", n)
	}
}

func TestMalformedFiltersAreErrors(t *testing.T) {
	ctx := context.Background()
	b := memory.New(nil)
	bad := []storage.Filter{{Field: "name", Op: storage.LIKE, Value: 12}}
	if _, err := b.List(ctx, bucket, storage.ListOptions{Filters: bad}); err == nil {
		t.Error("List accepted LIKE 12")
	}
	if _, err := b.Count(ctx, bucket, bad); err == nil {
		t.Error("Count accepted LIKE 12")
	}
	if _, err := b.DeleteAll(ctx, bucket, storage.ListOptions{Filters: bad}); err == nil {
		t.Error("DeleteAll accepted LIKE 12")
	}
}

func TestCancelledContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := memory.New(nil)
	if _, err := b.Create(ctx, bucket, storage.Object{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Create: got %v, want context.Canceled", err)
	}
	if _, err := b.List(ctx, bucket, storage.ListOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("List: got %v, want context.Canceled", err)
	}
}

func TestRegisteredAsMemory(t *testing.T) {
	for _, name := range []string{"memory", "kinto.core.storage.memory", "cliquet.storage.memory"} {
		b, err := storage.Open(context.Background(), name, config.MustFromMap(nil, config.Options{Env: []string{}}))
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, ok := b.(*memory.Backend); !ok {
			t.Errorf("Open(%q) returned %T", name, b)
		}
	}
}

func BenchmarkGet(b *testing.B) {
	ctx := context.Background()
	m := memory.New(nil)
	data := json.RawMessage(`{"title": "a bookmark", "url": "https://example.com/", "tags": ["a", "b"]}`)
	for i := range 1000 {
		m.Create(ctx, bucket, storage.Object{ID: fmt.Sprint(i), Data: data})
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := m.Get(ctx, bucket, fmt.Sprint(i%1000)); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

func BenchmarkListFiltered(b *testing.B) {
	ctx := context.Background()
	m := memory.New(nil)
	for i := range 1000 {
		m.Create(ctx, bucket, storage.Object{Data: json.RawMessage(fmt.Sprintf(`{"n": %d, "s": "item %d"}`, i, i))})
	}
	opt := storage.ListOptions{
		Filters: []storage.Filter{{Field: "n", Op: storage.GT, Value: 500}},
		Sort:    []storage.Sort{{Field: "n", Desc: true}},
		Limit:   25,
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.List(ctx, bucket, opt); err != nil {
			b.Fatal(err)
		}
	}
}

func Example() {
	ctx := context.Background()
	b := memory.New(nil)
	articles := storage.Scope{Resource: "article", Parent: "basicauth:alice"}

	b.Create(ctx, articles, storage.Object{ID: "a1", Data: json.RawMessage(`{"title": "Go", "stars": 5}`)})
	b.Create(ctx, articles, storage.Object{ID: "a2", Data: json.RawMessage(`{"title": "Python", "stars": 3}`)})
	b.Create(ctx, articles, storage.Object{ID: "a3", Data: json.RawMessage(`{"title": "Rust"}`)})
	b.Delete(ctx, articles, "a2", 0, storage.Condition{})

	objs, _ := b.List(ctx, articles, storage.ListOptions{
		Sort: []storage.Sort{{Field: "stars", Desc: true}}, // absent fields come first when descending
	})
	for _, o := range objs {
		fmt.Println(o.ID, string(o.Data))
	}
	n, _ := b.Count(ctx, articles, []storage.Filter{{Field: "title", Op: storage.LIKE, Value: "*o*"}})
	fmt.Println("titles with an o:", n)
	// Output:
	// a3 {"title":"Rust"}
	// a1 {"title":"Go","stars":5}
	// titles with an o: 1
}

// Example_conditionalUpdate shows a compare-and-swap: an Update conditional on the timestamp
// that was read fails with storage.ErrModified once someone else has written the object.
func Example_conditionalUpdate() {
	ctx := context.Background()
	b := memory.New(nil)
	counters := storage.Scope{Resource: "counter", Parent: "basicauth:alice"}
	read, _ := b.Create(ctx, counters, storage.Object{ID: "visits", Data: json.RawMessage(`{"n": 1}`)})

	// Another writer gets in first...
	b.Update(ctx, counters, storage.Object{ID: "visits", Data: json.RawMessage(`{"n": 2}`)}, storage.Condition{})
	// ...so the write based on the first read fails and writes nothing.
	_, err := b.Update(ctx, counters, storage.Object{ID: "visits", Data: json.RawMessage(`{"n": 2}`)},
		storage.Condition{LastModified: read.LastModified})
	fmt.Println(errors.Is(err, storage.ErrModified))

	// Read again and retry with the new timestamp.
	read, _ = b.Get(ctx, counters, "visits")
	saved, err := b.Update(ctx, counters, storage.Object{ID: "visits", Data: json.RawMessage(`{"n": 3}`)},
		storage.Condition{LastModified: read.LastModified})
	fmt.Println(string(saved.Data), err)
	// Output:
	// true
	// {"n":3} <nil>
}
