package monitoring_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/monitoring"
)

// sentryEvent is the part of a Sentry event payload the tests look at.
type sentryEvent struct {
	Level       string
	Message     string
	Environment string
	Release     string
	Tags        map[string]string
	User        struct{ ID string }
	Request     struct {
		URL         string
		Method      string
		QueryString string `json:"query_string"`
		Headers     map[string]string
	}
	Exception []struct{ Type, Value string }
}

// sentrySink is a local HTTP server standing in for the Sentry ingestion endpoint.
type sentrySink struct {
	srv    *httptest.Server
	mu     sync.Mutex
	raw    []string
	events []sentryEvent
}

func newSentrySink(t *testing.T) *sentrySink {
	s := &sentrySink{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("sink: %v", err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.raw = append(s.raw, r.URL.Path+"\n"+string(b))
		// An envelope: a header line, then (item header, payload) line pairs.
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sc.Scan()
		for sc.Scan() {
			var item struct{ Type string }
			_ = json.Unmarshal(sc.Bytes(), &item)
			if !sc.Scan() {
				break
			}
			if item.Type == "event" {
				var ev sentryEvent
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Errorf("sink: event payload: %v", err)
				}
				s.events = append(s.events, ev)
			}
		}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sentrySink) DSN() string {
	return "http://public@" + strings.TrimPrefix(s.srv.URL, "http://") + "/1"
}

func (s *sentrySink) snapshot() ([]sentryEvent, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sentryEvent(nil), s.events...), strings.Join(s.raw, "\n")
}

// recoverJSON stands in for the root package's recover middleware.
func recoverJSON(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(500)
				_, _ = io.WriteString(w, `{"code":500,"errno":999}`)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func TestSentryReportsPanicsAnd5xxWithTheRequestButNoCredentials(t *testing.T) {
	sink := newSentrySink(t)
	s, err := monitoring.NewSentry(sink.DSN(), "staging", monitoring.SentryOptions{Release: "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	app := http.NewServeMux()
	app.HandleFunc("/boom", func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:alice", "basicauth")
		panic(errors.New("kaboom"))
	})
	app.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	app.HandleFunc("/captured", func(w http.ResponseWriter, r *http.Request) {
		s.Capture(r.Context(), errors.New("database is on fire"), r)
		w.WriteHeader(500)
	})
	app.HandleFunc("/fine", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	h := monitoring.RequestLogger(monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{}), monitoring.RequestOptions{})(
		recoverJSON(s.Middleware(monitoring.RequestOptions{})(app)))
	srv := httptest.NewServer(h)
	defer srv.Close()

	for _, p := range []string{"/boom?x=1", "/unavailable", "/captured", "/fine"} {
		req, _ := http.NewRequest("GET", srv.URL+p, nil)
		req.Header.Set("Authorization", "Basic c2VjcmV0LXBhc3N3b3Jk")
		req.Header.Set("Cookie", "session=cookie-secret")
		req.Header.Set("X-Request-Id", "rid"+strings.NewReplacer("/", "-", "?", "-", "=", "-").Replace(p))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if p == "/boom?x=1" && resp.StatusCode != 500 {
			t.Errorf("the outer recover middleware did not answer 500 after the re-panic: %d", resp.StatusCode)
		}
	}
	if !s.Close(5 * time.Second) {
		t.Error("Close reported unsent events")
	}
	events, raw := sink.snapshot()
	if len(events) != 3 {
		t.Fatalf("got %d events, want 3 (panic, 503, captured 500; not the 404):\n%s", len(events), raw)
	}
	for _, secret := range []string{"c2VjcmV0LXBhc3N3b3Jk", "cookie-secret"} {
		if strings.Contains(raw, secret) {
			t.Errorf("a credential (%s) reached Sentry", secret)
		}
	}
	byPath := map[string]sentryEvent{}
	for _, ev := range events {
		byPath[strings.TrimPrefix(ev.Request.URL, srv.URL)] = ev
		if ev.Environment != "staging" || ev.Release != "1.2.3" || ev.Request.Method != "GET" {
			t.Errorf("event env %q release %q method %q", ev.Environment, ev.Release, ev.Request.Method)
		}
		if _, ok := ev.Request.Headers["Authorization"]; ok {
			t.Error("Authorization header sent")
		}
		if ev.Request.Headers["X-Request-Id"] == "" {
			t.Errorf("other headers were not sent: %v", ev.Request.Headers)
		}
	}
	boom, ok := byPath["/boom"]
	if !ok {
		t.Fatalf("no event for /boom; URLs: %v", byPath)
	}
	if boom.Request.QueryString != "x=1" || boom.User.ID != "basicauth:alice" || boom.Tags["request_id"] != "rid-boom-x-1" ||
		len(boom.Exception) == 0 || boom.Exception[0].Value != "kaboom" || boom.Level != "fatal" {
		t.Errorf("panic event = %+v", boom)
	}
	if ev := byPath["/unavailable"]; !strings.Contains(ev.Message, "503") || ev.Level != "error" || ev.Tags["request_id"] != "rid-unavailable" {
		t.Errorf("503 event = %+v", ev)
	}
	if ev := byPath["/captured"]; len(ev.Exception) == 0 || ev.Exception[0].Value != "database is on fire" {
		t.Errorf("captured event = %+v", ev)
	}
}

func TestNilSentryIsSafe(t *testing.T) {
	var s *monitoring.Sentry
	s.Capture(t.Context(), errors.New("x"), httptest.NewRequest("GET", "/", nil))
	if !s.Close(time.Second) {
		t.Error("nil Close reported a failure")
	}
	next := http.NotFoundHandler()
	rec := httptest.NewRecorder()
	s.Middleware(monitoring.RequestOptions{})(next).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 404 {
		t.Errorf("code %d", rec.Code)
	}
}

func TestNewSentryRejectsBadDSNs(t *testing.T) {
	for _, dsn := range []string{"", "not a dsn", "http://127.0.0.1/1"} {
		if _, err := monitoring.NewSentry(dsn, "", monitoring.SentryOptions{}); err == nil {
			t.Errorf("NewSentry(%q) succeeded", dsn)
		}
	}
}

func TestNewSentryFromSettings(t *testing.T) {
	empty, err := config.FromMap(map[string]string{}, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if s, err := monitoring.NewSentryFromSettings(empty); s != nil || err != nil {
		t.Fatalf("without sentry_dsn: %v, %v", s, err)
	}
	sink := newSentrySink(t)
	settings, err := config.FromMap(map[string]string{
		"sentry_dsn": sink.DSN(), "sentry_env": "prod", "project_version": "9.9",
	}, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := monitoring.NewSentryFromSettings(settings)
	if err != nil {
		t.Fatal(err)
	}
	// Capture also works outside a monitored request (no request id then).
	req := httptest.NewRequest("DELETE", "http://api.example/v1/x?y=2", nil)
	req.Header.Set("Proxy-Authorization", "Basic cHJveHktc2VjcmV0")
	s.Capture(req.Context(), errors.New("lost"), req)
	s.Close(5 * time.Second)
	events, raw := sink.snapshot()
	if len(events) != 1 {
		t.Fatalf("%d events: %s", len(events), raw)
	}
	ev := events[0]
	if ev.Environment != "prod" || ev.Release != "9.9" || ev.Request.URL != "http://api.example/v1/x" ||
		ev.Request.QueryString != "y=2" || ev.Request.Method != "DELETE" || ev.Tags["request_id"] != "" {
		t.Errorf("event = %+v", ev)
	}
	if strings.Contains(raw, "cHJveHktc2VjcmV0") {
		t.Error("Proxy-Authorization reached Sentry")
	}
}

// TestSentryReportsAFailedBatchOnce: a batch request failing because of a sub-request (made
// with WithSubrequest) is reported once, by the sub-request's event.
func TestSentryReportsAFailedBatchOnce(t *testing.T) {
	tests := []struct {
		name    string
		sub     string // the sub-request's path
		capture bool   // the batch handler also calls Capture, as an error writer with a cause does
		code    int    // the batch response
		want    string // in the only event's message or exception
		wantURL string
	}{
		{"a captured error of a sub-request is the only event", "/sub/captured", true, 500, "the sub-request broke", "/sub/captured"},
		{"a panic of a sub-request is the only event", "/sub/panic", false, 500, "sub-request panic", "/sub/panic"},
		{"a plain 5xx of a sub-request is the only event", "/sub/unavailable", true, 503, "HTTP 503", "/sub/unavailable"},
		{"a batch failing after successful sub-requests is reported itself", "/sub/fine", true, 500, "the batch broke", "/batch"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newSentrySink(t)
			s, err := monitoring.NewSentry(sink.DSN(), "", monitoring.SentryOptions{})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			var stack http.Handler
			mux.HandleFunc("/sub/captured", func(w http.ResponseWriter, r *http.Request) {
				s.Capture(r.Context(), errors.New("the sub-request broke"), r)
				w.WriteHeader(500)
			})
			mux.HandleFunc("/sub/panic", func(http.ResponseWriter, *http.Request) { panic("sub-request panic") })
			mux.HandleFunc("/sub/unavailable", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
			mux.HandleFunc("/sub/fine", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
			mux.HandleFunc("/batch", func(w http.ResponseWriter, r *http.Request) {
				sub := httptest.NewRequest("GET", tt.sub, nil).WithContext(monitoring.WithSubrequest(r.Context()))
				rec := httptest.NewRecorder()
				stack.ServeHTTP(rec, sub)
				if tt.capture {
					s.Capture(r.Context(), errors.New("the batch broke"), r)
				}
				w.WriteHeader(tt.code)
			})
			stack = monitoring.RequestLogger(monitoring.NewLogger(io.Discard, monitoring.LoggerOptions{}), monitoring.RequestOptions{})(
				recoverJSON(s.Middleware(monitoring.RequestOptions{})(mux)))
			srv := httptest.NewServer(stack)
			defer srv.Close()
			resp, err := http.Post(srv.URL+"/batch", "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("batch answered %d, want %d", resp.StatusCode, tt.code)
			}
			if !s.Close(5 * time.Second) {
				t.Error("Close reported unsent events")
			}
			events, raw := sink.snapshot()
			if len(events) != 1 {
				t.Fatalf("got %d events, want exactly 1:\n%s", len(events), raw)
			}
			ev := events[0]
			what := ev.Message
			for _, e := range ev.Exception {
				what += " " + e.Value
			}
			if u, err := url.Parse(ev.Request.URL); err != nil || !strings.Contains(what, tt.want) || u.Path != tt.wantURL {
				t.Errorf("event %q for %s, want one mentioning %q for %s", what, ev.Request.URL, tt.want, tt.wantURL)
			}
		})
	}
}
