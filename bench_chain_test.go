package cliquet_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// BenchmarkGetOne serves GET of one record through app.Handler() — the whole middleware
// chain (request logger, metrics, context, Recover, Sentry, headers, CORS, Basic auth,
// events), the router and the resource handler — on memory storage. Run it with
//
//	go test -run '^$' -bench GetOne -benchmem .
//
// It measures; it asserts only the status.
func BenchmarkGetOne(b *testing.B) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       config.MustFromMap(map[string]string{"userid_hmac_secret": "bench"}, config.Options{Env: []string{}}),
		ProjectName:    "bench",
		ProjectVersion: "1.0.0",
		Storage:        memory.New(nil),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { app.Close() })
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "note"}); err != nil {
		b.Fatal(err)
	}
	h := app.Handler()
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
}
