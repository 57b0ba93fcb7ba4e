package cliquet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

func TestAThirdPartyStorageBackendIsOpenedByName(t *testing.T) {
	t.Parallel()
	// A name of this run only: -count=N runs this test N times in one process, and the
	// registry refuses a name twice.
	name := fmt.Sprintf("third-party-counting-%d", time.Now().UnixNano())
	var (
		opened   *countingStore
		urlSeen  string
		openings atomic.Int64
	)
	storage.Register(name, func(_ context.Context, s *config.Settings) (storage.Backend, error) {
		openings.Add(1)
		urlSeen = s.String("storage_url")
		opened = &countingStore{Backend: memory.New(nil)}
		return opened, nil
	})
	t.Run("registering the same name again panics", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Fatal("a second storage.Register under the same name did not panic")
			}
		}()
		storage.Register(name, func(context.Context, *config.Settings) (storage.Backend, error) { return nil, nil })
	})
	if !slices.Contains(storage.Backends(), name) {
		t.Fatalf("storage.Backends() = %v lacks %s", storage.Backends(), name)
	}

	app := loggingApp(t, map[string]string{"storage_backend": name, "storage_url": "counting://here"}, slog.New(slog.DiscardHandler))
	if openings.Load() != 1 || opened == nil {
		t.Fatalf("the factory was called %d times", openings.Load())
	}
	if urlSeen != "counting://here" {
		t.Fatalf("the factory saw storage_url %q", urlSeen)
	}
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "gadget"}); err != nil {
		t.Fatal(err)
	}
	h := app.Handler()
	do := func(method, path, body string) map[string]any {
		t.Helper()
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.SetBasicAuth("alice", "pw")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 300 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body.String())
		}
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	created := do("POST", "/v1/gadgets", `{"data": {"name": "widget"}}`)["data"].(map[string]any)
	if opened.creates.Load() != 1 {
		t.Fatalf("%d Create calls on the registered backend after a POST, want 1", opened.creates.Load())
	}
	list := do("GET", "/v1/gadgets", "")["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != created["id"] {
		t.Fatalf("list = %v, want the created %v", list, created["id"])
	}
	if opened.lists.Load() == 0 {
		t.Fatalf("no List call on the registered backend after a GET")
	}
	do("GET", "/v1/gadgets/"+created["id"].(string), "")
	if opened.gets.Load() == 0 {
		t.Fatalf("no Get call on the registered backend after a GET of the object")
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if !opened.closed.Load() {
		t.Fatal("App.Close did not close the backend it opened by name")
	}
}
