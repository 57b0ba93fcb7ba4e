package cliquet_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// newBenchHandler returns app.Handler() of an app on memory storage with one resource,
// "note", logging to io.Discard through a text handler at level. Its cache and permission
// backends are the memory ones, as in the load harness (bench/serve.go).
func newBenchHandler(b *testing.B, level slog.Level) http.Handler {
	b.Helper()
	settings := map[string]string{"project_name": "bench", "project_version": "1.0.0", "cache_backend": "memory", "permission_backend": "memory"}
	app := cliquet.NewApp(b, settings, cliquet.Config{
		Storage: memory.New(nil),
		Logger:  slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level})),
	})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "note"}); err != nil {
		b.Fatal(err)
	}
	return app.Handler()
}

// BenchmarkGetOne serves GET of one record through app.Handler() — the whole middleware
// chain (request logger, metrics, context, Recover, Sentry, headers, CORS, Basic auth,
// events), the router and the resource handler — on memory storage. The Info variant logs
// every request summary (to io.Discard); the Warn variant logs none, as the load harness
// (bench/serve.go) runs. Run it with
//
//	go test -run '^$' -bench GetOne -benchmem .
//
// It measures; it asserts only the status.
func BenchmarkGetOne(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			h := newBenchHandler(b, level)
			const target = "/v1/notes/00000000-0000-4000-8000-000000000001"
			put := httptest.NewRequest(http.MethodPut, target, strings.NewReader(`{"data":{"title":"bench","done":false}}`))
			put.Header.Set("Content-Type", "application/json")
			put.SetBasicAuth("alice", "secret")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, put)
			if rec.Code != http.StatusCreated {
				b.Fatalf("PUT answered %d %s", rec.Code, rec.Body)
			}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, target, nil)
				r.SetBasicAuth("alice", "secret")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusOK {
					b.Fatalf("GET answered %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkCreate serves POST of a new record (server-generated id) through app.Handler()
// on memory storage, like BenchmarkGetOne. Every iteration adds a record to the
// collection; a new app (with an empty storage) replaces it every 4,096 records, outside
// the timer, so that the heap's growth does not weigh on long runs. Run it with
//
//	go test -run '^$' -bench Create -benchmem .
//
// It measures; it asserts only the status.
func BenchmarkCreate(b *testing.B) {
	const body = `{"data":{"title":"bench","done":false,"n":42}}`
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn} {
		b.Run(level.String(), func(b *testing.B) {
			h := newBenchHandler(b, level)
			b.ReportAllocs()
			for i := 1; b.Loop(); i++ {
				if i%4096 == 0 {
					b.StopTimer()
					h = newBenchHandler(b, level)
					b.StartTimer()
				}
				r := httptest.NewRequest(http.MethodPost, "/v1/notes", strings.NewReader(body))
				r.Header.Set("Content-Type", "application/json")
				r.SetBasicAuth("alice", "secret")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != http.StatusCreated {
					b.Fatalf("POST answered %d %s", w.Code, w.Body)
				}
			}
		})
	}
}
