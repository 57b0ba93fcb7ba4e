package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cliquet-go/cliquet/storage"
)

// Many concurrent writers: the writes share pipelines, each is its own transaction (a write
// that PostgreSQL refuses fails alone), and every acknowledged write is visible at once from
// another connection.
func TestWritePipelineIsolatesWritesAndDeliversAfterCommit(t *testing.T) {
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), PoolSize: 8, WriteWorkers: 2})
	ctx := context.Background()
	if err := be.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	const writers, each = 40, 25
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := storage.Scope{Resource: "pipe", Parent: fmt.Sprintf("c%d", w%7)}
			for i := range each {
				bad := (w+i)%5 == 0
				data := fmt.Sprintf(`{"w":%d,"i":%d}`, w, i)
				if bad {
					data = `{"text":"\u0000"}` // jsonb cannot hold NUL: PostgreSQL refuses it
				}
				o, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(data)})
				switch {
				case bad && !errors.Is(err, ErrInvalidData):
					errs <- fmt.Errorf("writer %d write %d: NUL data gave %v, want ErrInvalidData", w, i, err)
					continue
				case bad:
					continue
				case err != nil:
					errs <- fmt.Errorf("writer %d write %d: %v", w, i, err)
					continue
				}
				// Read it back on a pooled connection, not through the pipeline.
				got, err := be.Get(ctx, s, o.ID)
				if err != nil || got.LastModified != o.LastModified {
					errs <- fmt.Errorf("writer %d write %d: acknowledged at %d, read back %+v, %v", w, i, o.LastModified, got, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	n, err := be.Count(ctx, storage.Scope{Resource: "pipe", Parent: "c0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Error("no object stored in c0")
	}
	pipelines, writes := be.pipe.pipelines.Load(), be.pipe.writes.Load()
	if writes < writers*each {
		t.Errorf("%d writes went through the pipeline, want at least %d", writes, writers*each)
	}
	if pipelines >= writes {
		t.Errorf("%d pipelines for %d writes: no write shared a pipeline", pipelines, writes)
	}
	t.Logf("%d writes in %d pipelines", writes, pipelines)
}

// Writes inside a unit of work's transaction do not go through the pipeline; nor does any
// write when the pipeline is off.
func TestWritePipelineCarriesAutocommitWritesOnly(t *testing.T) {
	ctx := context.Background()
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline")})
	s := storage.Scope{Resource: "pipe-unit", Parent: "p"}
	uctx, tx, _ := be.Begin(ctx)
	for range 3 {
		if _, err := be.Create(uctx, s, storage.Object{Data: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if n := be.pipe.writes.Load(); n != 0 {
		t.Errorf("%d writes of a unit of work went through the pipeline", n)
	}
	if n, _ := be.Count(ctx, s, nil); n != 0 {
		t.Errorf("%d objects after the rollback", n)
	}
	if _, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	// Two statements: the common create finds no clock row (the unit's was rolled back),
	// and the general one creates it.
	if n := be.pipe.writes.Load(); n != 2 {
		t.Errorf("an autocommit create in a new collection: %d pipelined statements, want 2", n)
	}
	if n, err := be.Count(ctx, s, nil); err != nil || n != 1 {
		t.Errorf("Count after the create in a new collection = %d, %v; want 1", n, err)
	}

	off := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), WriteWorkers: -1})
	if off.pipe != nil {
		t.Fatal("WriteWorkers -1 still made a pipeline")
	}
	if _, err := off.Create(ctx, s, storage.Object{Data: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

// The default number of workers follows the process's CPUs within the pool's bounds, and
// New uses it when Options.WriteWorkers is 0.
func TestDefaultWriteWorkers(t *testing.T) {
	for _, c := range []struct{ pool, procs, want int }{
		{25, 1, 2}, {25, 2, 2}, {25, 4, 2}, {25, 8, 4}, {25, 64, 12},
		{1, 8, 1}, {2, 8, 1}, {4, 2, 2}, {6, 16, 3},
	} {
		if got := DefaultWriteWorkers(c.pool, c.procs); got != c.want {
			t.Errorf("DefaultWriteWorkers(pool %d, procs %d) = %d, want %d", c.pool, c.procs, got, c.want)
		}
	}
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), PoolSize: 6})
	want := DefaultWriteWorkers(6, runtime.GOMAXPROCS(0))
	if be.pipe == nil {
		t.Fatalf("New with WriteWorkers 0 and PoolSize 6 made no pipeline, want %d workers", want)
	}
	if be.pipe.workers != want {
		t.Errorf("New with WriteWorkers 0 and PoolSize 6: %d workers, want %d", be.pipe.workers, want)
	}
}

// Closing the backend while writes are queued ends every call: each write either succeeds
// or fails, none hangs.
func TestWritePipelineCloseEndsWaitingWrites(t *testing.T) {
	ctx := context.Background()
	be, err := New(ctx, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), WriteWorkers: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := be.InitializeSchema(ctx, false); err != nil {
		t.Fatal(err)
	}
	s := storage.Scope{Resource: "pipe-close", Parent: "p"}
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(`{}`)})
			if err != nil && !errors.Is(err, errClosed) {
				var be *storage.BackendError
				if !errors.As(err, &be) {
					t.Errorf("a write ended by Close: %v", err)
				}
			}
		}()
	}
	be.Close()
	wg.Wait()
	if _, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(`{}`)}); err == nil {
		t.Error("a write after Close succeeded")
	}
}

func TestPipedRowScan(t *testing.T) {
	var n int64
	var b []byte
	var str string
	if err := (pipedRow{values: [][]byte{[]byte("42"), []byte(`{"a":1}`), []byte("x")}}).Scan(&n, &b, &str); err != nil {
		t.Fatal(err)
	}
	if n != 42 || string(b) != `{"a":1}` || str != "x" {
		t.Errorf("scanned %d %s %q", n, b, str)
	}
	if err := (pipedRow{}).Scan(&n); !errors.Is(err, errNoRowsForTest()) {
		t.Errorf("no row: %v", err)
	}
	if err := (pipedRow{values: [][]byte{[]byte("x")}}).Scan(&n); err == nil {
		t.Error("a non-number scanned into an int64")
	}
	if err := (pipedRow{values: [][]byte{[]byte("1")}}).Scan(&n, &b); err == nil {
		t.Error("two destinations for one value")
	}
	var f float64
	if err := (pipedRow{values: [][]byte{[]byte("1")}}).Scan(&f); err == nil {
		t.Error("an unsupported destination type")
	}
	if _, err := textArg(1.5); err == nil {
		t.Error("a float parameter was accepted")
	}
}

func errNoRowsForTest() error { return pgx.ErrNoRows }

// Concurrent creates into many collections share grouped statements: every object is
// stored with its data intact (quotes, backslashes, non-ASCII, no data at all), and the
// timestamps of each collection are unique.
func TestWritePipelineGroupsCreatesOfDistinctCollections(t *testing.T) {
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), PoolSize: 8, WriteWorkers: 1})
	ctx := context.Background()
	const collections, writers, each = 100, 30, 20
	res := fmt.Sprintf("grouped-%d", be.pipe.writes.Load())
	if err := be.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range collections { // clock rows exist, as in a warm service
		if _, err := be.Timestamp(ctx, storage.Scope{Resource: res, Parent: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	datas := []string{`{"t":"a\"b\\c \u00e9 \u2028 {x,y}"}`, `{"n":null,"l":[1,"NULL"]}`, ``, `{"title":"plain"}`}
	type made struct {
		s    storage.Scope
		o    storage.Object
		sent string
	}
	var mu sync.Mutex
	var all []made
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := storage.Scope{Resource: res, Parent: fmt.Sprint((w*each + i) % collections)}
				sent := datas[(w+i)%len(datas)]
				o, err := be.Create(ctx, s, storage.Object{Data: json.RawMessage(sent)})
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				mu.Lock()
				all = append(all, made{s, o, sent})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, m := range all {
		got, err := be.Get(ctx, m.s, m.o.ID)
		if err != nil {
			t.Fatalf("Get %s: %v", m.o.ID, err)
		}
		want := m.sent
		if want == "" {
			want = "{}"
		}
		if !sameJSON(t, got.Data, json.RawMessage(want)) || got.LastModified != m.o.LastModified {
			t.Errorf("stored %s at %d, sent %s and acknowledged at %d", got.Data, got.LastModified, want, m.o.LastModified)
		}
		k := m.s.Parent + "/" + fmt.Sprint(m.o.LastModified)
		if seen[k] {
			t.Errorf("timestamp %s given twice", k)
		}
		seen[k] = true
	}
	if len(all) != writers*each {
		t.Fatalf("%d creates acknowledged, want %d", len(all), writers*each)
	}
	if g := be.pipe.grouped.Load(); g == 0 {
		t.Error("no create went through a grouped statement")
	} else {
		t.Logf("%d of %d creates grouped, in %d pipelines", g, writers*each, be.pipe.pipelines.Load())
	}
}

// Grouped creates keep every collection's live counter exact when some of their ids are
// taken by live objects or tombstones, and when some collections have no clock row yet.
func TestWritePipelineGroupedCreatesKeepTheCountsExact(t *testing.T) {
	be := newTestBackend(t, Options{URL: testDatabase(t, "storage_pg_test_pipeline"), PoolSize: 8, WriteWorkers: 1})
	ctx := context.Background()
	const collections, writers, each = 40, 20, 24
	res := fmt.Sprintf("grouped-count-%d", time.Now().UnixNano())
	scopeOf := func(i int) storage.Scope { return storage.Scope{Resource: res, Parent: fmt.Sprint(i)} }
	for i := range collections / 2 { // half of them warm, with a live id and a tombstone
		s := scopeOf(i)
		if _, err := be.Create(ctx, s, storage.Object{ID: "taken"}); err != nil {
			t.Fatal(err)
		}
		if _, err := be.Create(ctx, s, storage.Object{ID: "dead"}); err != nil {
			t.Fatal(err)
		}
		if _, err := be.Delete(ctx, s, "dead", 0, storage.Condition{}); err != nil {
			t.Fatal(err)
		}
	}
	before := be.pipe.grouped.Load()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := [...]string{"", "", "taken", "dead"}[(w+i)%4]
				_, err := be.Create(ctx, scopeOf((w*each+i)%collections), storage.Object{ID: id, Data: json.RawMessage(`{}`)})
				var ue *storage.UnicityError
				if err != nil && !errors.As(err, &ue) {
					t.Errorf("Create(%q): %v", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	for i := range collections {
		n, err := be.Count(ctx, scopeOf(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		objs, err := be.List(ctx, scopeOf(i), storage.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if n != len(objs) {
			t.Errorf("collection %d: count %d, %d live objects", i, n, len(objs))
		}
	}
	if be.pipe.grouped.Load() == before {
		t.Error("no create went through a grouped statement")
	}
}

func TestTextArray(t *testing.T) {
	got := string(textArray([][]byte{[]byte(`plain`), nil, []byte(`a"b\c`), []byte(``), []byte(`{x,y}`)}))
	want := `{"plain",NULL,"a\"b\\c","","{x,y}"}`
	if got != want {
		t.Errorf("textArray = %s, want %s", got, want)
	}
}
