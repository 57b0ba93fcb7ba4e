package monitoring_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

var uuidRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// appMux is the application behind the request logger in these tests.
func appMux(t *testing.T) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:abc", "basicauth")
		monitoring.AddFields(r.Context(), slog.String("collection_id", "articles"), slog.Int("nb_records", 2))
		_, _ = io.WriteString(w, `{"data":[]}`)
	})
	mux.HandleFunc("/missing", func(w http.ResponseWriter, r *http.Request) {
		// The protocol error writer, without SetErrno: the errno is read from the body.
		protocol.WriteError(w, r, storage.ErrNotFound)
	})
	mux.HandleFunc("/recorded", func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetErrno(r.Context(), 201)
		protocol.WriteJSON(w, 503, map[string]any{"code": 503})
	})
	mux.HandleFunc("/rid", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, monitoring.RequestID(r.Context()))
	})
	return mux
}

func TestRequestLoggerOverARealServer(t *testing.T) {
	var out testenv.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{})
	srv := httptest.NewServer(monitoring.RequestLogger(logger, monitoring.RequestOptions{})(appMux(t)))
	defer srv.Close()

	tests := []struct {
		name    string
		path    string
		headers map[string]string
		check   func(t *testing.T, resp *http.Response, f map[string]any)
	}{
		{"a success logs method, path, querystring, code, user, agent, lang, fields and request id", "/ok?_limit=2&a=1&a=2",
			map[string]string{"User-Agent": "tester/1", "Accept-Language": "fr-FR", "X-Request-Id": "abc-123"},
			func(t *testing.T, resp *http.Response, f map[string]any) {
				want := map[string]any{"method": "GET", "path": "/ok", "code": 200.0, "uid": "basicauth:abc",
					"authn_type": "basicauth", "agent": "tester/1", "lang": "fr-FR", "rid": "abc-123",
					"collection_id": "articles", "nb_records": 2.0}
				for k, v := range want {
					if f[k] != v {
						t.Errorf("%s = %#v, want %#v", k, f[k], v)
					}
				}
				qs, _ := f["querystring"].(map[string]any)
				if len(qs) != 2 || qs["_limit"] != "2" || qs["a"] != "2" {
					t.Errorf("querystring = %#v", f["querystring"])
				}
				if _, ok := f["errno"]; ok {
					t.Error("errno logged for a success")
				}
				if _, ok := f["t"].(float64); !ok {
					t.Errorf("t = %#v", f["t"])
				}
				if ts, _ := f["time"].(string); !strings.HasSuffix(ts, "Z") {
					t.Errorf("time = %#v", f["time"])
				}
				if got := resp.Header.Get("X-Request-Id"); got != "abc-123" {
					t.Errorf("response X-Request-Id = %q", got)
				}
			}},
		{"an error body's errno is logged", "/missing", nil, func(t *testing.T, resp *http.Response, f map[string]any) {
			want := protocol.FromError(storage.ErrNotFound)
			if f["code"] != float64(want.Code) || f["errno"] != float64(want.Errno) || want.Code != 404 {
				t.Errorf("code, errno = %v, %v", f["code"], f["errno"])
			}
			if _, ok := f["uid"]; ok {
				t.Error("anonymous request logged a uid")
			}
			if qs, ok := f["querystring"].(map[string]any); !ok || len(qs) != 0 {
				t.Errorf("querystring = %#v, want {}", f["querystring"])
			}
		}},
		{"an errno given to SetErrno wins over the body", "/recorded", nil, func(t *testing.T, resp *http.Response, f map[string]any) {
			if f["code"] != 503.0 || f["errno"] != 201.0 {
				t.Errorf("code, errno = %v, %v", f["code"], f["errno"])
			}
		}},
		{"an insane X-Request-Id is replaced by a UUID that the handler and the client see", "/rid",
			map[string]string{"X-Request-Id": "bad id\twith spaces"}, func(t *testing.T, resp *http.Response, f map[string]any) {
				body, _ := io.ReadAll(resp.Body)
				rid := resp.Header.Get("X-Request-Id")
				if !uuidRe.MatchString(rid) || string(body) != rid || f["rid"] != rid {
					t.Errorf("header %q, body %q, logged %v", rid, body, f["rid"])
				}
			}},
		{"a request without X-Request-Id gets a UUID", "/rid", nil, func(t *testing.T, resp *http.Response, f map[string]any) {
			if rid := resp.Header.Get("X-Request-Id"); !uuidRe.MatchString(rid) || f["rid"] != rid {
				t.Errorf("header %q, logged %v", rid, f["rid"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(out.String())
			req, _ := http.NewRequest("GET", srv.URL+tt.path, nil)
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			// The record is written after the response: read the body first, then wait.
			body, _ := io.ReadAll(resp.Body)
			resp.Body = io.NopCloser(bytes.NewReader(body))
			var line string
			deadline := time.Now().Add(2 * time.Second)
			for time.Now().Before(deadline) {
				if s := out.String()[before:]; strings.HasSuffix(s, "\n") {
					line = s
					break
				}
				time.Sleep(2 * time.Millisecond)
			}
			var rec struct {
				Type   string
				Fields map[string]any
			}
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec.Type != "request.summary" {
				t.Errorf("Type = %q", rec.Type)
			}
			tt.check(t, resp, rec.Fields)
		})
	}
}

func TestSubrequestsLogTheirOwnSummaryWithTheParentRequestID(t *testing.T) {
	var out testenv.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{Renderer: "text"})
	var stack http.Handler
	batch := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:parent", "basicauth")
		if monitoring.IsSubrequest(r.Context()) {
			t.Error("the batch request itself is flagged as a sub-request")
		}
		for _, p := range []string{"/a", "/b"} {
			sub := httptest.NewRequest("GET", p, nil).WithContext(monitoring.WithSubrequest(r.Context()))
			if !monitoring.IsSubrequest(sub.Context()) {
				t.Error("WithSubrequest did not flag the context")
			}
			rec := httptest.NewRecorder()
			stack.ServeHTTP(rec, sub)
			if rec.Header().Get("X-Request-Id") != "batch-1" {
				t.Errorf("sub-response X-Request-Id = %q", rec.Header().Get("X-Request-Id"))
			}
		}
		w.WriteHeader(200)
	})
	mux := http.NewServeMux()
	mux.Handle("/batch", batch)
	mux.HandleFunc("/a", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	mux.HandleFunc("/b", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	stack = monitoring.RequestLogger(logger, monitoring.RequestOptions{})(mux)

	req := httptest.NewRequest("POST", "/batch", nil)
	req.Header.Set("X-Request-Id", "batch-1")
	stack.ServeHTTP(httptest.NewRecorder(), req)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("got %d lines:\n%s", len(lines), out.String())
	}
	for i, want := range []string{`"GET /a" 201 `, `"GET /b" 404 `, `"POST /batch" 200 `} {
		if !strings.HasPrefix(lines[i], want) || !strings.Contains(lines[i], "rid=batch-1") {
			t.Errorf("line %d = %s, want prefix %s and rid=batch-1", i, lines[i], want)
		}
	}
	for i := range 2 {
		if !strings.Contains(lines[i], " subrequest.summary ") || strings.Contains(lines[i], "basicauth:parent") {
			t.Errorf("sub-request line %d = %s", i, lines[i])
		}
	}
	if !strings.Contains(lines[2], " request.summary ") || !strings.Contains(lines[2], "uid=basicauth:parent") {
		t.Errorf("batch line = %s", lines[2])
	}
}

func TestRequestLoggerKeepsFlushingWorking(t *testing.T) {
	var out testenv.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{})
	release := make(chan struct{})
	h := monitoring.RequestLogger(logger, monitoring.RequestOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := w.(http.Flusher)
		if !ok {
			t.Error("the wrapped ResponseWriter is not an http.Flusher")
			return
		}
		_, _ = io.WriteString(w, "first\n")
		f.Flush()
		<-release // the client must have read "first" before the handler returns
		_, _ = io.WriteString(w, "second\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("ResponseController.Flush: %v", err)
		}
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	done := make(chan string, 1)
	go func() { l, _ := br.ReadString('\n'); done <- l }()
	select {
	case l := <-done:
		if l != "first\n" {
			t.Errorf("first chunk = %q", l)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the flushed chunk did not reach the client")
	}
	close(release)
	if l, _ := br.ReadString('\n'); l != "second\n" {
		t.Errorf("second chunk = %q", l)
	}
}

func TestHelpersAreNoOpsOutsideAMonitoredRequest(t *testing.T) {
	ctx := context.Background()
	monitoring.SetUser(ctx, "u", "t")
	monitoring.SetErrno(ctx, 1)
	monitoring.AddFields(ctx, slog.Int("x", 1))
	if monitoring.RequestID(ctx) != "" || monitoring.IsSubrequest(ctx) {
		t.Error("a bare context has a request id or is a sub-request")
	}
}

func TestRequestLoggerSkipsWorkWhenInfoIsDisabled(t *testing.T) {
	var out bytes.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{Level: slog.LevelWarn})
	h := monitoring.RequestLogger(logger, monitoring.RequestOptions{})(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if out.Len() != 0 || rec.Code != 404 || !uuidRe.MatchString(rec.Header().Get("X-Request-Id")) {
		t.Errorf("log %q, code %d, rid %q", out.String(), rec.Code, rec.Header().Get("X-Request-Id"))
	}
}

func TestUserIDGetterIsTheFallback(t *testing.T) {
	var out bytes.Buffer
	logger := monitoring.NewLogger(&out, monitoring.LoggerOptions{Renderer: "text"})
	type key struct{}
	opts := monitoring.RequestOptions{
		UserID:    func(r *http.Request) string { s, _ := r.Context().Value(key{}).(string); return s },
		AuthnType: func(*http.Request) string { return "gateway" },
	}
	h := monitoring.RequestLogger(logger, opts)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	req := httptest.NewRequest("GET", "/", nil)
	h.ServeHTTP(httptest.NewRecorder(), req.WithContext(context.WithValue(req.Context(), key{}, "gw:42")))
	if !strings.Contains(out.String(), "uid=gw:42 authn_type=gateway") {
		t.Errorf("got %s", out.String())
	}
}

// discardWriter is a minimal ResponseWriter for the benchmark.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}

func BenchmarkRequestLogger(b *testing.B) {
	body := []byte(`{"data":[]}`)
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:abc", "basicauth")
		_, _ = w.Write(body)
	})
	run := func(b *testing.B, h http.Handler, path string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Request-Id", "bench-1")
		req.Header.Set("User-Agent", "bench")
		w := &discardWriter{h: http.Header{}}
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(w, req)
		}
	}
	b.Run("bare handler", func(b *testing.B) { run(b, app, "/v1/articles") })
	b.Run("json", func(b *testing.B) {
		logger := monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{})
		run(b, monitoring.RequestLogger(logger, monitoring.RequestOptions{})(app), "/v1/articles")
	})
	b.Run("json with querystring", func(b *testing.B) {
		logger := monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{})
		run(b, monitoring.RequestLogger(logger, monitoring.RequestOptions{})(app), "/v1/articles?_limit=10&_sort=-x")
	})
	b.Run("text", func(b *testing.B) {
		logger := monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{Renderer: "text"})
		run(b, monitoring.RequestLogger(logger, monitoring.RequestOptions{})(app), "/v1/articles")
	})
	b.Run("level above info", func(b *testing.B) {
		logger := monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{Level: slog.LevelWarn})
		run(b, monitoring.RequestLogger(logger, monitoring.RequestOptions{})(app), "/v1/articles")
	})
}

// RequestOptions.Context derives the request's context under the monitoring state, once per
// request: the handler sees both its value and the monitoring state, and a second
// monitoring middleware of the same request does not call it again.
func TestRequestOptionsContext(t *testing.T) {
	type key struct{}
	calls := 0
	opts := monitoring.RequestOptions{Context: func(ctx context.Context) context.Context {
		calls++
		return context.WithValue(ctx, key{}, "derived")
	}}
	var value any
	var rid string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		value, rid = r.Context().Value(key{}), monitoring.RequestID(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
	logger := slog.New(slog.DiscardHandler)
	stack := monitoring.RequestLogger(logger, opts)(monitoring.RequestLogger(logger, opts)(h))
	for i := 1; i <= 2; i++ {
		rec := httptest.NewRecorder()
		stack.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusNoContent || value != "derived" || rid == "" || rec.Header().Get("X-Request-Id") != rid {
			t.Fatalf("request %d: status %d, value %v, request id %q (header %q)", i, rec.Code, value, rid, rec.Header().Get("X-Request-Id"))
		}
		if calls != i {
			t.Fatalf("after %d requests through two monitoring middlewares, Context was called %d times", i, calls)
		}
	}
}
