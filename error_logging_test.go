package cliquet_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// loggingApp builds an app with values over the test baseline, logging to logger.
func loggingApp(t *testing.T, values map[string]string, logger *slog.Logger) *cliquet.App {
	t.Helper()
	base := map[string]string{"project_version": "1.0.0", "storage_backend": "memory"}
	for k, v := range values {
		base[k] = v
	}
	return cliquet.NewApp(t, base, cliquet.Config{Logger: logger})
}

func TestTheCauseOfA500IsLoggedNotSent(t *testing.T) {
	t.Parallel()
	var logs testenv.Buffer
	app := loggingApp(t, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
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

// countingStore is a memory backend counting the calls of its storage.Backend methods
// and whether it was closed.
type countingStore struct {
	*memory.Backend
	creates, lists, gets atomic.Int64
	closed               atomic.Bool
}

func (c *countingStore) Create(ctx context.Context, s storage.Scope, o storage.Object) (storage.Object, error) {
	c.creates.Add(1)
	return c.Backend.Create(ctx, s, o)
}

func (c *countingStore) Get(ctx context.Context, s storage.Scope, id string) (storage.Object, error) {
	c.gets.Add(1)
	return c.Backend.Get(ctx, s, id)
}

// GetMany counts as a Get (memory storage's, which the embedding would promote uncounted).
func (c *countingStore) GetMany(ctx context.Context, keys []storage.Key) ([]storage.Object, error) {
	c.gets.Add(1)
	return c.Backend.GetMany(ctx, keys)
}

func (c *countingStore) List(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, error) {
	c.lists.Add(1)
	return c.Backend.List(ctx, s, opt)
}

// ListWithTimestamp counts as a List (the embedding would otherwise forward it uncounted).
func (c *countingStore) ListWithTimestamp(ctx context.Context, s storage.Scope, opt storage.ListOptions) ([]storage.Object, int64, error) {
	c.lists.Add(1)
	return c.Backend.ListWithTimestamp(ctx, s, opt)
}

func (c *countingStore) Close() error {
	c.closed.Store(true)
	return c.Backend.Close()
}
