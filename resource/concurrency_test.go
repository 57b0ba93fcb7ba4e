package resource_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// The tests of this file prove with many goroutines that conditional writes never lose an
// update, at the HTTP level: on the memory backend, and on PostgreSQL (where every request is
// a unit of work).

const goroutines = 50

// parallel runs fn(i) for i in [0, n) in n goroutines released together, and fails the test
// with the errors they return.
func parallel(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := fn(i); err != nil {
				errs <- fmt.Errorf("goroutine %d: %w", i, err)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if failed++; failed <= 3 {
			t.Error(err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d goroutines failed", failed, n)
	}
}

// existingOf returns details.existing of a 412 answer.
func existingOf(r *response) map[string]any {
	d, _ := r.Body["details"].(map[string]any)
	e, _ := d["existing"].(map[string]any)
	return e
}

// testConcurrentWrites runs the concurrency scenarios on the "mushroom" resource of s. user
// must own no mushroom yet.
func testConcurrentWrites(t *testing.T, s *server, user string) {
	h := s.h
	path := func(id string) string { return "/v1/mushrooms/" + id }
	ids := map[string]string{} // scenario → object id (ids are UUIDs)
	for _, n := range []string{"same-if-match", "fields", "counter", "put-if-match", "delete-if-match", "put-create", "put-create-once"} {
		ids[n] = uuid.NewString()
	}
	put := func(t *testing.T, id string, data map[string]any) map[string]any {
		t.Helper()
		r, err := call(h, req{Method: "PUT", Path: path(id), User: user, Body: map[string]any{"data": data}})
		if err != nil || r.Code != 201 {
			t.Fatalf("PUT %s: %v %v", id, err, r)
		}
		return r.data()
	}
	get := func(t *testing.T, id string) *response {
		t.Helper()
		r, err := call(h, req{Method: "GET", Path: path(id), User: user})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("concurrent PATCHes with the same If-Match: exactly one succeeds, the others get 412 with the winner", func(t *testing.T) {
		obj := put(t, ids["same-if-match"], map[string]any{"n": 0})
		ifMatch := fmt.Sprintf(`"%.0f"`, obj["last_modified"].(float64))
		var ok atomic.Int32
		stale := make([]*response, goroutines)
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "PATCH", Path: path(ids["same-if-match"]), User: user,
				Body: map[string]any{"data": map[string]any{"n": i + 1}}, Header: map[string]string{"If-Match": ifMatch}})
			switch {
			case err != nil:
				return err
			case r.Code == 200:
				ok.Add(1)
			case r.Code == 412 && r.errno() == 114:
				stale[i] = r
			default:
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		if ok.Load() != 1 {
			t.Fatalf("%d PATCHes succeeded, want exactly 1", ok.Load())
		}
		final := get(t, ids["same-if-match"]).data()
		for _, r := range stale {
			if r == nil {
				continue
			}
			// The 412 shows the object as written by the winner, read after the failed write.
			if e := existingOf(r); e == nil || e["last_modified"] != final["last_modified"] || e["n"] != final["n"] {
				t.Errorf("412 details.existing = %v, want the final object %v", e, final)
			}
			if etag(r) != fmt.Sprintf(`"%.0f"`, final["last_modified"].(float64)) {
				t.Errorf("412 ETag %s, final object %v", etag(r), final["last_modified"])
			}
		}
	})

	t.Run("concurrent PATCHes of different fields without If-Match all succeed and keep every field", func(t *testing.T) {
		put(t, ids["fields"], map[string]any{"base": true})
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "PATCH", Path: path(ids["fields"]), User: user,
				Body: map[string]any{"data": map[string]any{fmt.Sprintf("f%d", i): i}}})
			if err != nil {
				return err
			}
			if r.Code != 200 {
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		final := get(t, ids["fields"]).data()
		if final["base"] != true {
			t.Errorf("field base lost: %v", final)
		}
		for i := range goroutines {
			if v, ok := final[fmt.Sprintf("f%d", i)]; !ok || v != float64(i) {
				t.Errorf("field f%d = %v (present %v), want %d", i, v, ok, i)
			}
		}
	})

	t.Run("GET then PATCH with If-Match retry loops lose no increment", func(t *testing.T) {
		put(t, ids["counter"], map[string]any{"counter": 0})
		var retries atomic.Int32
		parallel(t, goroutines, func(i int) error {
			for attempt := 0; attempt < 10*goroutines; attempt++ {
				g, err := call(h, req{Method: "GET", Path: path(ids["counter"]), User: user})
				if err != nil {
					return err
				}
				if g.Code != 200 {
					return fmt.Errorf("GET: status %d: %s", g.Code, g.Raw)
				}
				n := g.data()["counter"].(float64)
				r, err := call(h, req{Method: "PATCH", Path: path(ids["counter"]), User: user,
					Body: map[string]any{"data": map[string]any{"counter": n + 1}}, Header: map[string]string{"If-Match": etag(g)}})
				if err != nil {
					return err
				}
				switch {
				case r.Code == 200:
					return nil
				case r.Code == 412 && r.errno() == 114:
					retries.Add(1)
				default:
					return fmt.Errorf("PATCH: status %d: %s", r.Code, r.Raw)
				}
			}
			return errors.New("no successful increment")
		})
		if got := get(t, ids["counter"]).data()["counter"]; got != float64(goroutines) {
			t.Fatalf("counter = %v after %d increments (%d retries)", got, goroutines, retries.Load())
		}
		t.Logf("%d increments, %d retries", goroutines, retries.Load())
	})

	t.Run("concurrent PUTs with the same If-Match: exactly one replaces", func(t *testing.T) {
		obj := put(t, ids["put-if-match"], map[string]any{"n": 0})
		ifMatch := fmt.Sprintf(`"%.0f"`, obj["last_modified"].(float64))
		var ok, stale atomic.Int32
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "PUT", Path: path(ids["put-if-match"]), User: user,
				Body: map[string]any{"data": map[string]any{"n": i + 1}}, Header: map[string]string{"If-Match": ifMatch}})
			switch {
			case err != nil:
				return err
			case r.Code == 200:
				ok.Add(1)
			case r.Code == 412 && r.errno() == 114 && existingOf(r) != nil:
				stale.Add(1)
			default:
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		if ok.Load() != 1 || stale.Load() != goroutines-1 {
			t.Fatalf("%d PUTs succeeded and %d got 412, want 1 and %d", ok.Load(), stale.Load(), goroutines-1)
		}
	})

	t.Run("concurrent DELETEs with the same If-Match: exactly one deletes", func(t *testing.T) {
		obj := put(t, ids["delete-if-match"], map[string]any{"n": 0})
		ifMatch := fmt.Sprintf(`"%.0f"`, obj["last_modified"].(float64))
		var ok, stale atomic.Int32
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "DELETE", Path: path(ids["delete-if-match"]), User: user, Header: map[string]string{"If-Match": ifMatch}})
			switch {
			case err != nil:
				return err
			case r.Code == 200:
				ok.Add(1)
			case r.Code == 412 && r.errno() == 114:
				stale.Add(1)
			case r.Code == 404: // deleted before this request read it
			default:
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		if ok.Load() != 1 {
			t.Fatalf("%d DELETEs succeeded (%d got 412), want exactly 1", ok.Load(), stale.Load())
		}
		if r := get(t, ids["delete-if-match"]); r.Code != 404 {
			t.Errorf("GET after the DELETEs: status %d", r.Code)
		}
	})

	t.Run("concurrent PUTs creating one id: one 201, the others replace it", func(t *testing.T) {
		var created, replaced atomic.Int32
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "PUT", Path: path(ids["put-create"]), User: user, Body: map[string]any{"data": map[string]any{"n": i}}})
			switch {
			case err != nil:
				return err
			case r.Code == 201:
				created.Add(1)
			case r.Code == 200:
				replaced.Add(1)
			default:
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		if created.Load() != 1 || replaced.Load() != goroutines-1 {
			t.Fatalf("%d created and %d replaced, want 1 and %d", created.Load(), replaced.Load(), goroutines-1)
		}
	})

	t.Run("concurrent PUTs with If-None-Match: * creating one id: one 201, the others 412", func(t *testing.T) {
		var created, stale atomic.Int32
		parallel(t, goroutines, func(i int) error {
			r, err := call(h, req{Method: "PUT", Path: path(ids["put-create-once"]), User: user,
				Body: map[string]any{"data": map[string]any{"n": i}}, Header: map[string]string{"If-None-Match": "*"}})
			switch {
			case err != nil:
				return err
			case r.Code == 201:
				created.Add(1)
			case r.Code == 412 && r.errno() == 114:
				stale.Add(1)
			default:
				return fmt.Errorf("status %d: %s", r.Code, r.Raw)
			}
			return nil
		})
		if created.Load() != 1 || stale.Load() != goroutines-1 {
			t.Fatalf("%d created and %d got 412, want 1 and %d", created.Load(), stale.Load(), goroutines-1)
		}
	})
}

func TestConcurrentWritesOnMemory(t *testing.T) {
	t.Parallel()
	testConcurrentWrites(t, newServer(t, nil), "alice")
}

func TestConcurrentWritesOnPostgreSQL(t *testing.T) {
	t.Parallel()
	// cas_test is the database of this test, created when missing.
	app := newAppOn(t, pgStore(t, testenv.PostgresDatabase(t, "cas_test"), 10), nil)
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
		t.Fatal(err)
	}
	// A user of its own: fresh collections at every run.
	testConcurrentWrites(t, &server{t: t, app: app, h: app.Handler()}, fmt.Sprintf("cas-%d", time.Now().UnixNano()))
}

// meddlingStore is a memory backend where another writer always gets in first: before each
// conditional Update it rewrites the object itself.
type meddlingStore struct {
	storage.Backend
	conditional atomic.Int32
}

func (m *meddlingStore) Update(ctx context.Context, s storage.Scope, o storage.Object, cond storage.Condition) (storage.Object, error) {
	if cond != (storage.Condition{}) {
		m.conditional.Add(1)
		cur, err := m.Backend.Get(ctx, s, o.ID)
		if err != nil {
			return storage.Object{}, err
		}
		if _, err := m.Backend.Update(ctx, s, cur, storage.Condition{}); err != nil {
			return storage.Object{}, err
		}
	}
	return m.Backend.Update(ctx, s, o, cond)
}

// TestPatchRetriesAreBounded checks that a PATCH without If-Match that keeps losing the race
// gives up after 20 attempts (with a growing random backoff between them) with a 412 showing
// the object as it is.
func TestPatchRetriesAreBounded(t *testing.T) {
	t.Parallel()
	store := &meddlingStore{Backend: memory.New(nil)}
	app := newAppOn(t, store, nil)
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom"}); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: app, h: app.Handler()}
	path := "/v1/mushrooms/" + uuid.NewString()
	s.must(201, req{Method: "PUT", Path: path, User: "alice", Body: map[string]any{"data": map[string]any{"n": 1}}})
	r := s.do(req{Method: "PATCH", Path: path, User: "alice", Body: map[string]any{"data": map[string]any{"n": 2}}})
	expectError(t, r, 412, 114, "", "")
	if n := store.conditional.Load(); n != 20 {
		t.Errorf("%d conditional writes, want 20", n)
	}
	current := s.must(200, req{Method: "GET", Path: path, User: "alice"}).data()
	if e := existingOf(r); e == nil || e["last_modified"] != current["last_modified"] || e["n"] != float64(1) {
		t.Errorf("details.existing = %v, want the current object %v", e, current)
	}
}
