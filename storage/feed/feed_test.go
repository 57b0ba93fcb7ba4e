package feed_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
	"github.com/cliquet-go/cliquet/storage/memory"
)

var scope = storage.Scope{Resource: "record", Parent: "c1"}

func all(context.Context) (feed.Access, error) { return feed.Access{All: true}, nil }

func newHub(t *testing.T, store storage.Backend, opts feed.Options) *feed.Hub {
	t.Helper()
	h, err := feed.New(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

func subscribe(t *testing.T, h *feed.Hub, sub feed.Subscriber) *feed.Stream {
	t.Helper()
	if sub.Scope == (storage.Scope{}) {
		sub.Scope = scope
	}
	if sub.Authorize == nil {
		sub.Authorize = all
	}
	s, err := h.Subscribe(context.Background(), sub)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// collect takes events until want of them arrived (or the stream ended), failing after 2 s.
func collect(t *testing.T, s *feed.Stream, want int) ([]feed.Event, error) {
	t.Helper()
	var got []feed.Event
	deadline := time.After(2 * time.Second)
	for len(got) < want {
		select {
		case <-s.Ready():
			evs, err := s.Take()
			got = append(got, evs...)
			if err != nil {
				return got, err
			}
		case <-deadline:
			t.Fatalf("%d events within 2 s, want %d: %+v", len(got), want, got)
		}
	}
	return got, nil
}

// until takes events until one at ts or later arrived.
func until(t *testing.T, s *feed.Stream, ts int64) []feed.Event {
	t.Helper()
	var got []feed.Event
	for len(got) == 0 || got[len(got)-1].Object.LastModified < ts {
		evs, err := collect(t, s, 1)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, evs...)
	}
	return got
}

// none checks that nothing arrives for a while.
func none(t *testing.T, s *feed.Stream) {
	t.Helper()
	select {
	case <-s.Ready():
		evs, err := s.Take()
		if len(evs) > 0 || err != nil {
			t.Fatalf("unexpected %+v, %v", evs, err)
		}
	case <-time.After(150 * time.Millisecond):
	}
}

func create(t *testing.T, b storage.Backend, data string) storage.Object {
	t.Helper()
	o, err := b.Create(context.Background(), scope, storage.Object{Data: []byte(data)})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestEventsCarryTheObjectAndTheAction(t *testing.T) {
	ctx := context.Background()
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{})
	before := create(t, b, `{"before": true}`)
	s := subscribe(t, h, feed.Subscriber{})
	if s.Last() != before.LastModified {
		t.Errorf("starting point %d, want the collection timestamp %d", s.Last(), before.LastModified)
	}
	o := create(t, b, `{"a": 1}`)
	u, _ := b.Update(ctx, scope, storage.Object{ID: o.ID, Data: []byte(`{"a": 2}`)}, storage.Condition{})
	got := until(t, s, u.LastModified)
	d, _ := b.Delete(ctx, scope, o.ID, 0, storage.Condition{})
	got = append(got, until(t, s, d.LastModified)...)
	// The create and the update may be read together (one event, the update) or apart.
	last := got[len(got)-2]
	if last.Action != storage.ActionUpdate || last.Object.LastModified != u.LastModified || string(last.Object.Data) != `{"a":2}` {
		t.Errorf("update event %+v", last)
	}
	if len(got) == 3 && (got[0].Action != storage.ActionCreate || got[0].Object.LastModified != o.LastModified) {
		t.Errorf("create event %+v", got[0])
	}
	tomb := got[len(got)-1]
	if tomb.Action != storage.ActionDelete || !tomb.Object.Deleted || tomb.Object.LastModified != d.LastModified {
		t.Errorf("delete event %+v", tomb)
	}
}

func TestReplayThenLiveHasNoGapAndNoDuplicateUnderConcurrentWrites(t *testing.T) {
	ctx := context.Background()
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{PageSize: 7, Buffer: 100000})
	const writers, writes, subscribers = 8, 60, 12
	first := create(t, b, `{"w": -1}`)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range writes {
				id := fmt.Sprintf("w%d-%d", w, i%10) // updates and deletes of a few ids too
				switch i % 3 {
				case 2:
					b.Delete(ctx, scope, id, 0, storage.Condition{}) //nolint:errcheck // may be gone
				default:
					if _, err := b.Update(ctx, scope, storage.Object{ID: id, Data: []byte(fmt.Sprintf(`{"i": %d}`, i))}, storage.Condition{}); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	type result struct {
		events []feed.Event
		err    error
	}
	results := make(chan result, subscribers)
	stop := make(chan struct{})
	for n := range subscribers {
		go func() {
			time.Sleep(time.Duration(n) * 3 * time.Millisecond) // join while the writers write
			s, err := h.Subscribe(ctx, feed.Subscriber{Scope: scope, Authorize: all, Group: fmt.Sprint(n % 3),
				Replay: true, Since: first.LastModified})
			if err != nil {
				results <- result{err: err}
				return
			}
			defer s.Close()
			var got []feed.Event
			err = s.Replay(ctx, feed.Access{All: true}, func(evs []feed.Event) error {
				got = append(got, evs...)
				return nil
			})
			for err == nil {
				select {
				case <-s.Ready():
					var evs []feed.Event
					evs, err = s.Take()
					got = append(got, evs...)
					continue
				case <-stop:
				}
				break
			}
			results <- result{got, err}
		}()
	}
	wg.Wait()
	final, err := b.List(ctx, scope, storage.ListOptions{IncludeDeleted: true,
		Filters: []storage.Filter{{Field: "last_modified", Op: storage.GT, Value: first.LastModified}}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{}
	var latest int64
	for _, o := range final {
		want[o.ID] = o.LastModified
		latest = max(latest, o.LastModified)
	}
	// Let the subscribers catch up, then stop them.
	time.Sleep(300 * time.Millisecond)
	close(stop)
	for range subscribers {
		r := <-results
		if r.err != nil {
			t.Fatal(r.err)
		}
		seen := map[int64]bool{}
		lastOf := map[string]int64{}
		for i, e := range r.events {
			if seen[e.Object.LastModified] {
				t.Fatalf("timestamp %d delivered twice", e.Object.LastModified)
			}
			seen[e.Object.LastModified] = true
			if i > 0 && e.Object.LastModified <= r.events[i-1].Object.LastModified {
				t.Fatalf("events out of order: %d after %d", e.Object.LastModified, r.events[i-1].Object.LastModified)
			}
			lastOf[e.Object.ID] = e.Object.LastModified
		}
		// Each object's final version was delivered: no gap.
		for id, ts := range want {
			if lastOf[id] != ts {
				t.Fatalf("object %s: last event at %d, want its final version %d (%d events)", id, lastOf[id], ts, len(r.events))
			}
		}
		if len(r.events) > 0 && r.events[len(r.events)-1].Object.LastModified != latest {
			t.Fatalf("last event %d, want %d", r.events[len(r.events)-1].Object.LastModified, latest)
		}
	}
}

func TestFiltersAndAccessSelectTheEvents(t *testing.T) {
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{})
	var allowed atomic.Value
	allowed.Store([]string{"a", "b"})
	restricted := subscribe(t, h, feed.Subscriber{Group: "restricted", Authorize: func(context.Context) (feed.Access, error) {
		return feed.Access{IDs: allowed.Load().([]string)}, nil
	}})
	filtered := subscribe(t, h, feed.Subscriber{Group: "filtered", Filters: []storage.Filter{{Field: "done", Op: storage.EQ, Value: true}}})
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		if _, err := b.Create(ctx, scope, storage.Object{ID: id, Data: []byte(fmt.Sprintf(`{"done": %v}`, id != "b"))}); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := collect(t, restricted, 2)
	if got[0].Object.ID != "a" || got[1].Object.ID != "b" {
		t.Errorf("restricted: %+v", got)
	}
	got, _ = collect(t, filtered, 2)
	if got[0].Object.ID != "a" || got[1].Object.ID != "c" {
		t.Errorf("filtered: %+v", got)
	}
	// Access is asked again at each delivery: "a" is no longer shared.
	allowed.Store([]string{"b"})
	b.Update(ctx, scope, storage.Object{ID: "a", Data: []byte(`{"done": true}`)}, storage.Condition{}) //nolint:errcheck
	none(t, restricted)
	b.Update(ctx, scope, storage.Object{ID: "b", Data: []byte(`{"done": false}`)}, storage.Condition{}) //nolint:errcheck
	if got, _ := collect(t, restricted, 1); got[0].Object.ID != "b" {
		t.Errorf("restricted after the change of access: %+v", got)
	}
}

func TestAnAuthorizationErrorEndsTheStreamsOfItsGroup(t *testing.T) {
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{})
	denied := errors.New("forbidden now")
	var deny atomic.Bool
	authorize := func(context.Context) (feed.Access, error) {
		if deny.Load() {
			return feed.Access{}, denied
		}
		return feed.Access{All: true}, nil
	}
	var calls atomic.Int32
	counted := func(ctx context.Context) (feed.Access, error) { calls.Add(1); return authorize(ctx) }
	s1 := subscribe(t, h, feed.Subscriber{Group: "alice", Authorize: counted})
	s2 := subscribe(t, h, feed.Subscriber{Group: "alice", Authorize: counted})
	other := subscribe(t, h, feed.Subscriber{Group: "bob"})
	create(t, b, `{}`)
	collect(t, s1, 1)
	collect(t, s2, 1)
	collect(t, other, 1)
	if n := calls.Load(); n != 1 {
		t.Errorf("%d authorizations for one group and one delivery, want 1", n)
	}
	deny.Store(true)
	create(t, b, `{}`)
	for _, s := range []*feed.Stream{s1, s2} {
		if _, err := collect(t, s, 1); !errors.Is(err, denied) {
			t.Errorf("got %v, want the authorization's error", err)
		}
	}
	if got, err := collect(t, other, 1); err != nil || len(got) != 1 {
		t.Errorf("other group: %+v, %v", got, err)
	}
}

func TestASlowSubscriberIsClosedWithoutHoldingOthers(t *testing.T) {
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{Buffer: 5})
	slow := subscribe(t, h, feed.Subscriber{Group: "slow"})
	fast := subscribe(t, h, feed.Subscriber{Group: "fast"})
	for range 20 {
		o := create(t, b, `{}`)
		until(t, fast, o.LastModified)
	}
	_, err := collect(t, slow, 1000)
	if !errors.Is(err, feed.ErrSlow) {
		t.Fatalf("slow subscriber: got %v, want ErrSlow", err)
	}
}

func TestLimits(t *testing.T) {
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{MaxStreams: 3, MaxStreamsPerUser: 2})
	a1 := subscribe(t, h, feed.Subscriber{User: "alice"})
	subscribe(t, h, feed.Subscriber{User: "alice"})
	var le *feed.LimitError
	if _, err := h.Subscribe(context.Background(), feed.Subscriber{Scope: scope, User: "alice", Authorize: all}); !errors.As(err, &le) || !le.PerUser || le.Max != 2 {
		t.Fatalf("third stream of alice: got %v, want a per-user LimitError", err)
	}
	subscribe(t, h, feed.Subscriber{}) // anonymous: counted against MaxStreams only
	if _, err := h.Subscribe(context.Background(), feed.Subscriber{Scope: scope, User: "bob", Authorize: all}); !errors.As(err, &le) || le.PerUser || le.Max != 3 {
		t.Fatalf("fourth stream: got %v, want a LimitError of the process", err)
	}
	a1.Close()
	a1.Close() // idempotent
	subscribe(t, h, feed.Subscriber{User: "alice"})
	if st := h.Stats(); st.Streams != 3 || st.Topics != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestCloseEndsTheStreams(t *testing.T) {
	b := memory.New(nil)
	h := newHub(t, b, feed.Options{})
	s := subscribe(t, h, feed.Subscriber{})
	h.Close()
	if _, err := collect(t, s, 1); !errors.Is(err, feed.ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(context.Background(), feed.Subscriber{Scope: scope, Authorize: all}); !errors.Is(err, feed.ErrClosed) {
		t.Fatalf("Subscribe after Close: got %v, want ErrClosed", err)
	}
}

// manual is a memory backend whose notifications the test sends itself.
type manual struct {
	*memory.Backend
	mu   sync.Mutex
	fn   func(storage.Change)
	list atomic.Int32 // List calls
}

func (m *manual) Listen(_ context.Context, fn func(storage.Change)) (func(), error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fn = fn
	return func() {}, nil
}

func (m *manual) send(c storage.Change) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fn(c)
}

func (m *manual) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	m.list.Add(1)
	return m.Backend.List(ctx, s, opt)
}

func TestOnlyAnnouncedChangesAreDeliveredUntilALoss(t *testing.T) {
	m := &manual{Backend: memory.New(nil)}
	h := newHub(t, m, feed.Options{})
	s := subscribe(t, h, feed.Subscriber{})
	o1 := create(t, m, `{}`)
	o2 := create(t, m, `{}`)
	m.send(storage.Change{Scope: scope, Timestamp: o1.LastModified, Action: storage.ActionCreate})
	got, _ := collect(t, s, 1)
	none(t, s) // o2 is not announced yet: its action is unknown
	if got[0].Object.ID != o1.ID || got[0].Action != storage.ActionCreate {
		t.Errorf("first event %+v", got[0])
	}
	m.send(storage.Change{Lost: true}) // the listener lost its connection: read everything
	got, _ = collect(t, s, 1)
	if got[0].Object.ID != o2.ID || got[0].Action != storage.ActionUpdate {
		t.Errorf("after a loss: %+v (an unannounced object is an update)", got[0])
	}
}

func TestOneReadPerCollectionWhateverTheSubscribers(t *testing.T) {
	m := &manual{Backend: memory.New(nil)}
	h := newHub(t, m, feed.Options{})
	const n = 200
	streams := make([]*feed.Stream, n)
	for i := range streams {
		streams[i] = subscribe(t, h, feed.Subscriber{Group: fmt.Sprint(i)})
	}
	before := m.list.Load()
	o := create(t, m, `{}`)
	m.send(storage.Change{Scope: scope, Timestamp: o.LastModified, Action: storage.ActionCreate})
	for _, s := range streams {
		collect(t, s, 1)
	}
	if reads := m.list.Load() - before; reads != 1 {
		t.Errorf("%d storage reads for one change and %d subscribers, want 1", reads, n)
	}
}
