package resource

// Benchmarks of the resource hot paths. They measure, they assert nothing about speed; the
// load harness (bench/, docs/benchmarks.md) gives the end-to-end numbers.
//
//	go test -run '^$' -bench . -benchmem ./resource

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// discardWriter is a ResponseWriter that keeps headers and the status only.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func (w *discardWriter) reset() {
	clear(w.h)
	w.status = 0
}

// benchApp is a cliquet app with memory storage and one schemaless "bookmark" resource
// holding n records in alice's collection.
func benchApp(b *testing.B, n int) (*cliquet.App, *Resource[Object], []storage.Object) {
	b.Helper()
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
	rs, err := Register(app, Spec[Object]{Name: "bookmark"})
	if err != nil {
		b.Fatal(err)
	}
	scope := rs.Scope("basicauth:" + authn.HMACUserID("bench", "alice:secret"))
	objs := make([]storage.Object, n)
	for i := range n {
		o, err := app.Storage.Create(context.Background(), scope, storage.Object{
			ID:   fmt.Sprintf("00000000-0000-4000-8000-%012x", i),
			Data: benchData(i),
		})
		if err != nil {
			b.Fatal(err)
		}
		objs[i] = o
	}
	return app, rs, objs
}

func benchData(i int) []byte {
	return fmt.Appendf(nil, `{"title":"Bookmark %d","url":"https://example.com/%d","score":%d,"unread":%t,"tags":["go","bench"]}`,
		i, i, (i*7919)%1000, i%2 == 0)
}

// BenchmarkListQuery parses a list querystring into storage filters, sorts, limit and
// fields: querystring parsing plus the filter/sort translation.
func BenchmarkListQuery(b *testing.B) {
	_, rs, _ := benchApp(b, 0)
	for _, q := range []struct{ name, raw string }{
		{"first page", "_limit=20"},
		{"filter and sort", "unread=true&min_score=10&in_title=a,b,c&_sort=-score,title&_limit=20&_fields=title,url"},
		{"since", "_since=1700000000000&_sort=last_modified"},
	} {
		b.Run(q.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, "/v1/bookmarks?"+q.raw, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := rs.listInput(r, true); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListQueryToken parses a list querystring carrying a pagination token.
func BenchmarkListQueryToken(b *testing.B) {
	_, rs, objs := benchApp(b, 1)
	tok := encodeToken([]storage.Sort{{Field: "score", Desc: true}, {Field: "last_modified", Desc: true}}, objs[0], 20, time.Now())
	r := httptest.NewRequest(http.MethodGet, "/v1/bookmarks?_sort=-score&_limit=20&_token="+tok, nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, lq, err := rs.listInput(r, true); err != nil || len(lq.pagination) == 0 {
			b.Fatal(err, lq.pagination)
		}
	}
}

// BenchmarkEncodePage renders a page of 20 records as the list response body.
func BenchmarkEncodePage(b *testing.B) {
	_, rs, objs := benchApp(b, 20)
	for _, c := range []struct {
		name   string
		fields []string
	}{{"all fields", nil}, {"with _fields", []string{"title", "url", "id", "last_modified"}}} {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				w.reset()
				rs.writeList(w, objs, c.fields)
			}
		})
	}
}

// BenchmarkHandlers runs full requests through the app (middleware, Basic auth, resource
// handler, memory storage) on a collection of 1,000 records.
func BenchmarkHandlers(b *testing.B) {
	app, _, objs := benchApp(b, 1000)
	h := app.Handler()
	cases := []struct {
		name, method, target string
		body                 string
		want                 int
	}{
		{"GET one record", http.MethodGet, "/v1/bookmarks/" + objs[500].ID, "", http.StatusOK},
		{"list first page of 20", http.MethodGet, "/v1/bookmarks?_limit=20", "", http.StatusOK},
		{"list filter and sort", http.MethodGet, "/v1/bookmarks?unread=true&_sort=-score&_limit=20", "", http.StatusOK},
		{"list since 100", http.MethodGet, "/v1/bookmarks?_since=" + strconv.FormatInt(objs[899].LastModified, 10), "", http.StatusOK},
		{"POST create", http.MethodPost, "/v1/bookmarks", `{"data":` + string(benchData(1)) + `}`, http.StatusCreated},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := &discardWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				r := httptest.NewRequest(c.method, c.target, body)
				r.SetBasicAuth("alice", "secret")
				if body != nil {
					r.Header.Set("Content-Type", "application/json")
				}
				w.reset()
				h.ServeHTTP(w, r)
				if w.status != c.want && !(w.status == 0 && c.want == http.StatusOK) {
					b.Fatalf("status %d, want %d", w.status, c.want)
				}
			}
		})
	}
}
