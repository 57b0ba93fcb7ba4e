package cliquet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// gapApp initialises an app from settings (on top of a test baseline) with logger.
func gapApp(t *testing.T, values map[string]string, logger *slog.Logger) *cliquet.App {
	t.Helper()
	base := map[string]string{"project_version": "1.0.0", "userid_hmac_secret": "gap-secret"}
	for k, v := range values {
		base[k] = v
	}
	s, err := config.FromMap(base, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{Settings: s, Logger: logger})
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func TestTheCauseOfA500IsLoggedNotSent(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	app := gapApp(t, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	const cause = "disk quota exceeded on /srv/secret-volume"
	app.Router.Get("/fails", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteError(w, r, fmt.Errorf("custom view: %w", fmt.Errorf("%s", cause)))
	})
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/fails", nil))

	var body map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body.String(), err)
	}
	if rec.Code != 500 || body["errno"] != float64(protocol.ErrnoUndefined) {
		t.Fatalf("status %d body %s, want 500 errno 999", rec.Code, rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "quota") || strings.Contains(rec.Body.String(), "custom view") {
		t.Fatalf("the cause leaked into the response: %s", rec.Body.String())
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["level"] == "ERROR" && strings.Contains(fmt.Sprint(m["error"]), cause) {
			line = m
		}
	}
	if line == nil {
		t.Fatalf("no ERROR log line with the cause %q in:\n%s", cause, logs.String())
	}
	if line["path"] != "/v1/fails" || line["errno"] != float64(999) {
		t.Errorf("log line %v: want path /v1/fails and errno 999", line)
	}
}

// gapCountingStore is a memory backend counting the calls of its storage.Backend methods
// and whether it was closed.
type gapCountingStore struct {
	*memory.Backend
	creates, lists, gets atomic.Int64
	closed               atomic.Bool
}

func (c *gapCountingStore) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	c.creates.Add(1)
	return c.Backend.Create(ctx, s, o)
}

func (c *gapCountingStore) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, s, id)
}

// GetMany counts as a Get (memory storage's, which the embedding would promote uncounted).
func (c *gapCountingStore) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	c.gets.Add(1)
	return c.Backend.GetMany(ctx, keys)
}

func (c *gapCountingStore) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	c.lists.Add(1)
	return c.Backend.List(ctx, s, opt)
}

// ListWithTimestamp counts as a List (memory storage is a storage.TimestampLister, which
// the embedding promotes).
func (c *gapCountingStore) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	c.lists.Add(1)
	return c.Backend.ListWithTimestamp(ctx, s, opt)
}

func (c *gapCountingStore) Close() error {
	c.closed.Store(true)
	return c.Backend.Close()
}

func TestAThirdPartyStorageBackendIsOpenedByName(t *testing.T) {
	t.Parallel()
	// A name of this run only: -count=N runs this test N times in one process, and the
	// registry refuses a name twice.
	name := fmt.Sprintf("review-gaps-counting-%d", time.Now().UnixNano())
	var (
		opened   *gapCountingStore
		urlSeen  string
		openings atomic.Int64
	)
	storage.Register(name, func(_ context.Context, s *config.Settings) (storage.Backend, error) {
		openings.Add(1)
		urlSeen = s.String("storage_url")
		opened = &gapCountingStore{Backend: memory.New(nil)}
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

	app := gapApp(t, map[string]string{"storage_backend": name, "storage_url": "counting://here"}, slog.New(slog.DiscardHandler))
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
