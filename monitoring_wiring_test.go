package cliquet_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

const wiringSecret = "wiring-secret"

// wiringApp initialises an app from settings on top of a test baseline (no environment).
func wiringApp(t *testing.T, values map[string]string, cfg cliquet.Config) *cliquet.App {
	t.Helper()
	app, err := tryWiringApp(values, cfg)
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func tryWiringApp(values map[string]string, cfg cliquet.Config) (*cliquet.App, error) {
	base := map[string]string{
		"project_name":       "wiring",
		"project_version":    "1.5.0",
		"userid_hmac_secret": wiringSecret,
	}
	if cfg.Storage == nil {
		base["storage_backend"] = "memory" // a storage given in cfg is named "custom"
	}
	for k, v := range values {
		base[k] = v
	}
	return cliquet.TryApp(base, cfg)
}

func wiringServe(h http.Handler, method, target string, header ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wiringLogLine is a line of the JSON renderer.
type wiringLogLine struct {
	Type   string
	Logger string
	Fields map[string]any
}

func wiringSummaries(t *testing.T, logs string) []wiringLogLine {
	t.Helper()
	var out []wiringLogLine
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if line == "" {
			continue
		}
		var l wiringLogLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q is not JSON: %v", line, err)
		}
		if l.Type == "request.summary" {
			out = append(out, l)
		}
	}
	return out
}

func TestRequestSummaryLog(t *testing.T) {
	uid := "basicauth:" + authn.HMACUserID(wiringSecret, "alice:secret")
	tests := []struct {
		name   string
		target string
		header []string
		code   int
		want   map[string]any // fields that must be present with these values
		absent []string       // fields that must be absent
	}{
		{
			name:   "an authenticated error response logs its code, errno, user, agent, language and request id",
			target: "/v1/forbidden?_limit=3",
			header: []string{"Authorization", "Basic YWxpY2U6c2VjcmV0", "User-Agent", "wiring-test/1.0",
				"Accept-Language", "fr-FR", "X-Request-Id", "rid-1234"},
			code: 403,
			want: map[string]any{"method": "GET", "path": "/v1/forbidden", "code": 403.0, "errno": 121.0,
				"uid": uid, "authn_type": "basicauth", "agent": "wiring-test/1.0", "lang": "fr-FR", "rid": "rid-1234",
				"querystring": map[string]any{"_limit": "3"}},
		},
		{
			name:   "the errno comes from the error writer even when the body sent is not the JSON error",
			target: "/v1/opaque",
			code:   503,
			want:   map[string]any{"code": 503.0, "errno": 201.0},
			absent: []string{"uid", "authn_type", "agent", "lang"},
		},
		{
			name:   "an anonymous success has no errno and no user, and gets a generated request id",
			target: "/v1/",
			code:   200,
			want:   map[string]any{"method": "GET", "path": "/v1/", "code": 200.0},
			absent: []string{"errno", "uid", "authn_type"},
		},
		{
			name:   "an unknown URL is logged with its 404 errno",
			target: "/v1/nowhere",
			code:   404,
			want:   map[string]any{"code": 404.0, "errno": 111.0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testenv.Buffer
			app := wiringApp(t, map[string]string{"logging_renderer": "json"}, cliquet.Config{LogOutput: &logs})
			app.Router.Get("/forbidden", func(w http.ResponseWriter, r *http.Request) {
				protocol.WriteError(w, r, authn.ErrForbidden())
			})
			app.Router.Get("/opaque", func(w http.ResponseWriter, r *http.Request) {
				// Rendered elsewhere (as a buffering layer would), then replaced by a
				// plain body: only the error writer's hook can tell the errno.
				protocol.WriteError(httptest.NewRecorder(), r, &storage.BackendError{Op: "get", Err: errors.New("down")})
				w.WriteHeader(http.StatusServiceUnavailable)
				io.WriteString(w, "service unavailable")
			})

			rec := wiringServe(app.Handler(), http.MethodGet, tt.target, tt.header...)
			if rec.Code != tt.code {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.code, rec.Body)
			}
			got := wiringSummaries(t, logs.String())
			if len(got) != 1 {
				t.Fatalf("%d request.summary lines, want exactly 1; logs:\n%s", len(got), logs.String())
			}
			l := got[0]
			if l.Logger != "wiring" {
				t.Errorf("Logger = %q, want the project name", l.Logger)
			}
			for k, v := range tt.want {
				gb, _ := json.Marshal(l.Fields[k])
				wb, _ := json.Marshal(v)
				if !bytes.Equal(gb, wb) {
					t.Errorf("field %s = %s, want %s", k, gb, wb)
				}
			}
			for _, k := range tt.absent {
				if v, ok := l.Fields[k]; ok {
					t.Errorf("field %s = %v, want it absent", k, v)
				}
			}
			if _, ok := l.Fields["t"].(float64); !ok {
				t.Errorf("field t = %v, want a number of milliseconds", l.Fields["t"])
			}
			rid, _ := l.Fields["rid"].(string)
			if rid == "" || rec.Header().Get("X-Request-Id") != rid {
				t.Errorf("rid %q, response X-Request-Id %q: want the same non-empty id", rid, rec.Header().Get("X-Request-Id"))
			}
		})
	}
}

func TestLoggerChoice(t *testing.T) {
	t.Run("the text renderer is used when logging_renderer is text", func(t *testing.T) {
		var logs testenv.Buffer
		app := wiringApp(t, map[string]string{"logging_renderer": "text"}, cliquet.Config{LogOutput: &logs})
		wiringServe(app.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
		if got := logs.String(); !strings.HasPrefix(got, `"GET /v1/__lbheartbeat__" 200 (`) || !strings.Contains(got, "request.summary") {
			t.Errorf("text log = %q, want a request line then request.summary", got)
		}
	})
	t.Run("records below logging_level are dropped", func(t *testing.T) {
		var logs testenv.Buffer
		app := wiringApp(t, map[string]string{"logging_level": "warning"}, cliquet.Config{LogOutput: &logs})
		wiringServe(app.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
		if got := logs.String(); got != "" {
			t.Errorf("logs = %q, want none at level warning", got)
		}
	})
	t.Run("a Config.Logger wins over LogOutput", func(t *testing.T) {
		var mine, output testenv.Buffer
		app := wiringApp(t, nil, cliquet.Config{Logger: slog.New(slog.NewTextHandler(&mine, nil)), LogOutput: &output})
		wiringServe(app.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
		if !strings.Contains(mine.String(), "msg=request.summary") {
			t.Errorf("Config.Logger got %q, want the request summary", mine.String())
		}
		if output.String() != "" {
			t.Errorf("LogOutput got %q, want nothing", output.String())
		}
	})
	t.Run("an unknown renderer or level fails startup naming the setting", func(t *testing.T) {
		for _, key := range []string{"logging_renderer", "logging_level"} {
			_, err := tryWiringApp(map[string]string{key: "loud"}, cliquet.Config{})
			if err == nil || !strings.Contains(err.Error(), key) {
				t.Errorf("%s = loud: error %v, want one naming the setting", key, err)
			}
		}
	})
}

// wiringStatsd collects the metric lines sent to a local UDP socket.
type wiringStatsd struct {
	conn  net.PacketConn
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func newWiringStatsd(t *testing.T) *wiringStatsd {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &wiringStatsd{conn: conn, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			l.mu.Lock()
			for _, line := range strings.Split(string(buf[:n]), "\n") {
				if line != "" {
					l.lines = append(l.lines, line)
				}
			}
			l.mu.Unlock()
		}
	}()
	t.Cleanup(func() { conn.Close(); <-l.done })
	return l
}

func (l *wiringStatsd) URL() string { return "udp://" + l.conn.LocalAddr().String() }

// waitFor waits until a line starting with each prefix arrived, and returns every line.
func (l *wiringStatsd) waitFor(t *testing.T, prefixes ...string) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		lines := slices.Clone(l.lines)
		l.mu.Unlock()
		missing := slices.DeleteFunc(slices.Clone(prefixes), func(p string) bool {
			return slices.ContainsFunc(lines, func(s string) bool { return strings.HasPrefix(s, p) })
		})
		if len(missing) == 0 {
			return lines
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics %q never arrived; got:\n%s", missing, strings.Join(lines, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestStatsDMetrics(t *testing.T) {
	l := newWiringStatsd(t)
	app := wiringApp(t, map[string]string{"statsd_url": l.URL()}, cliquet.Config{})
	if app.Metrics == nil {
		t.Fatal("App.Metrics is nil with statsd_url set")
	}
	app.Router.Put("/notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		st := cliquet.StorageFrom(r.Context())
		scope := storage.Scope{Resource: "note", Parent: authn.IdentityFrom(r.Context()).UserID}
		o, err := st.Create(r.Context(), scope, storage.Object{ID: chi.URLParam(r, "id"), Data: json.RawMessage(`{"text":"hi"}`)})
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		protocol.WriteJSON(w, http.StatusCreated, map[string]any{"data": o})
	})
	rec := wiringServe(app.Handler(), http.MethodPut, "/v1/notes/n1", "Authorization", "Basic YWxpY2U6c2VjcmV0")
	if rec.Code != http.StatusCreated {
		t.Fatalf("PUT: status %d, body %s", rec.Code, rec.Body)
	}
	wiringServe(app.Handler(), http.MethodGet, "/v1/nowhere")
	wiringServe(app.Handler(), http.MethodGet, "/v1/")
	app.Metrics.Incr("custom.counter")
	if err := app.Close(); err != nil { // flushes the buffered metrics
		t.Fatalf("Close: %v", err)
	}
	// The prefix is project_name, statsd_prefix being left at its default.
	lines := l.waitFor(t,
		"wiring.view.v1-notes-_id_.PUT:", "wiring.code.201:", "wiring.code.404:",
		"wiring.view.unmatched.GET:", "wiring.view.v1.GET:", "wiring.storage.memory.create:", "wiring.authn_type.basicauth:",
		"wiring.users:", "wiring.custom.counter:")
	for _, line := range lines {
		if !strings.HasPrefix(line, "wiring.") {
			t.Errorf("metric %q lacks the project prefix", line)
		}
		if strings.HasPrefix(line, "wiring.view.") && !strings.HasSuffix(line, "|ms") {
			t.Errorf("view metric %q is not a timer", line)
		}
	}
}

func TestStatsDPrefix(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		want   string
	}{
		{"an explicit statsd_prefix wins over project_name", map[string]string{"statsd_prefix": "edge"}, "edge."},
		{"project_name is used when statsd_prefix is left at its default", nil, "wiring."},
		{"the default cliquet is used when there is no project name", map[string]string{"project_name": ""}, "cliquet."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newWiringStatsd(t)
			values := map[string]string{"statsd_url": l.URL()}
			for k, v := range tt.values {
				values[k] = v
			}
			app := wiringApp(t, values, cliquet.Config{})
			wiringServe(app.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
			app.Close()
			l.waitFor(t, tt.want+"code.200:")
		})
	}
}

// wiringTxStore is a memory storage with units of work that record their outcome.
type wiringTxStore struct {
	*memory.Backend
	mu  sync.Mutex
	log []string
}

type wiringTx struct{ s *wiringTxStore }

func (s *wiringTxStore) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	s.record("begin")
	return ctx, wiringTx{s}, nil
}

func (s *wiringTxStore) record(what string) {
	s.mu.Lock()
	s.log = append(s.log, what)
	s.mu.Unlock()
}

func (t wiringTx) Commit(context.Context) error   { t.s.record("commit"); return nil }
func (t wiringTx) Rollback(context.Context) error { t.s.record("rollback"); return nil }

func TestWatchedBackends(t *testing.T) {
	t.Run("without metrics the backends are the ones given, undecorated", func(t *testing.T) {
		given := memory.New(nil)
		app := wiringApp(t, nil, cliquet.Config{Storage: given})
		if app.Storage != storage.Backend(given) {
			t.Errorf("App.Storage = %T, want the backend given in Config", app.Storage)
		}
		if app.Metrics != nil {
			t.Errorf("App.Metrics = %v, want nil without statsd_url", app.Metrics)
		}
	})
	t.Run("with metrics a transactional backend stays transactional and its commits are timed", func(t *testing.T) {
		l := newWiringStatsd(t)
		given := &wiringTxStore{Backend: memory.New(nil)}
		app := wiringApp(t, map[string]string{"statsd_url": l.URL()}, cliquet.Config{Storage: given})
		if app.Storage == storage.Backend(given) {
			t.Fatal("App.Storage is not decorated with metrics enabled")
		}
		if err := app.Storage.InitializeSchema(context.Background(), true); !errors.Is(err, storage.ErrNotSupported) {
			t.Errorf("decorated storage InitializeSchema = %v, want the memory backend's storage.ErrNotSupported", err)
		}
		app.Router.Post("/notes", func(w http.ResponseWriter, r *http.Request) {
			_, err := cliquet.StorageFrom(r.Context()).Create(r.Context(), storage.Scope{Resource: "note"}, storage.Object{Data: json.RawMessage(`{}`)})
			if err != nil {
				protocol.WriteError(w, r, err)
				return
			}
			w.WriteHeader(http.StatusCreated)
		})
		if rec := wiringServe(app.Handler(), http.MethodPost, "/v1/notes"); rec.Code != http.StatusCreated {
			t.Fatalf("POST: status %d, body %s", rec.Code, rec.Body)
		}
		given.mu.Lock()
		log := strings.Join(given.log, ",")
		given.mu.Unlock()
		if log != "begin,commit" {
			t.Errorf("units of work = %q, want begin,commit (transaction_per_request through the decorator)", log)
		}
		hb := wiringServe(app.Handler(), http.MethodGet, "/v1/__heartbeat__")
		if !strings.Contains(hb.Body.String(), `"storage":true`) {
			t.Errorf("heartbeat = %s, want the storage ping through the decorator", hb.Body)
		}
		app.Close()
		// A backend given in Config is "custom" unless storage_backend was set explicitly.
		l.waitFor(t, "wiring.storage.custom.create:", "wiring.storage.custom.commit:", "wiring.storage.custom.ping:")
	})
}

// wiringSentrySink is a local HTTP server standing in for a Sentry ingestion endpoint; it keeps
// the raw envelopes.
type wiringSentrySink struct {
	srv *httptest.Server
	mu  sync.Mutex
	raw []string
}

func newWiringSentrySink(t *testing.T) *wiringSentrySink {
	s := &wiringSentrySink{}
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
		s.raw = append(s.raw, string(b))
		s.mu.Unlock()
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *wiringSentrySink) DSN() string {
	return "http://public@" + strings.TrimPrefix(s.srv.URL, "http://") + "/7"
}

// events returns the event payloads received, decoded from the envelopes.
func (s *wiringSentrySink) events(t *testing.T) ([]map[string]any, string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var evs []map[string]any
	for _, env := range s.raw {
		sc := bufio.NewScanner(strings.NewReader(env))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		sc.Scan() // envelope header
		for sc.Scan() {
			var item struct{ Type string }
			json.Unmarshal(sc.Bytes(), &item)
			if !sc.Scan() {
				break
			}
			if item.Type == "event" {
				var ev map[string]any
				if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
					t.Fatalf("sink: event payload: %v", err)
				}
				evs = append(evs, ev)
			}
		}
	}
	return evs, strings.Join(s.raw, "\n")
}

func TestSentryReports(t *testing.T) {
	const credentials = "Basic YWxpY2U6c2VjcmV0"
	tests := []struct {
		name      string
		target    string
		code      int
		errno     float64
		wantLevel string
		wantText  string // in the event's exception or message
	}{
		{"a panic in a handler is answered 500 JSON and reported once, without credentials", "/v1/boom", 500, 999, "fatal", "kaboom"},
		{"a backend failure is answered 503 and reported once with its cause", "/v1/down", 503, 201, "error", "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newWiringSentrySink(t)
			app := wiringApp(t, map[string]string{"sentry_dsn": sink.DSN(), "sentry_env": "test"}, cliquet.Config{})
			app.Router.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
			app.Router.Get("/down", func(w http.ResponseWriter, r *http.Request) {
				protocol.WriteError(w, r, &storage.BackendError{Op: "list", Err: errors.New("connection refused")})
			})
			rec := wiringServe(app.Handler(), http.MethodGet, tt.target, "Authorization", credentials, "X-Request-Id", "sentry-rid")
			if rec.Code != tt.code || rec.Header().Get("Content-Type") != protocol.ContentTypeJSON {
				t.Fatalf("status %d, Content-Type %q, want %d JSON (body %s)", rec.Code, rec.Header().Get("Content-Type"), tt.code, rec.Body)
			}
			var body map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["errno"] != tt.errno {
				t.Fatalf("body %s: want errno %v", rec.Body, tt.errno)
			}
			// A 4xx is not reported.
			wiringServe(app.Handler(), http.MethodGet, "/v1/nowhere")
			if err := app.Close(); err != nil { // waits for the events
				t.Fatalf("Close: %v", err)
			}
			evs, raw := sink.events(t)
			if len(evs) != 1 {
				t.Fatalf("%d events, want exactly 1:\n%s", len(evs), raw)
			}
			ev := evs[0]
			if ev["level"] != tt.wantLevel || ev["environment"] != "test" || ev["release"] != "1.5.0" {
				t.Errorf("level %v, environment %v, release %v; want %s, test, 1.5.0", ev["level"], ev["environment"], ev["release"], tt.wantLevel)
			}
			what, _ := json.Marshal([]any{ev["exception"], ev["message"]})
			if !strings.Contains(string(what), tt.wantText) {
				t.Errorf("exception and message %s do not mention %q", what, tt.wantText)
			}
			tags, _ := ev["tags"].(map[string]any)
			if tags["request_id"] != "sentry-rid" {
				t.Errorf("tags = %v, want request_id sentry-rid", tags)
			}
			user, _ := ev["user"].(map[string]any)
			if want := "basicauth:" + authn.HMACUserID(wiringSecret, "alice:secret"); user["id"] != want {
				t.Errorf("user = %v, want id %s", user, want)
			}
			if strings.Contains(raw, "YWxpY2U6c2VjcmV0") || strings.Contains(strings.ToLower(raw), `"authorization"`) {
				t.Errorf("the event carries the Authorization header:\n%s", raw)
			}
		})
	}
}

// downStore is a storage whose heartbeat fails.
type downStore struct{ *memory.Backend }

func (downStore) Ping(context.Context, bool) error { return errors.New("connection refused") }

func TestSentryIgnoresTheHeartbeat(t *testing.T) {
	sink := newWiringSentrySink(t)
	app := wiringApp(t, map[string]string{"sentry_dsn": sink.DSN()}, cliquet.Config{Storage: downStore{memory.New(nil)}})
	rec := wiringServe(app.Handler(), http.MethodGet, "/v1/__heartbeat__")
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("heartbeat = %d %s, want 503 with a failing storage", rec.Code, rec.Body)
	}
	// A 5xx of another view is still reported: the sink is known to work.
	app.Router.Get("/fail", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	wiringServe(app.Handler(), http.MethodGet, "/v1/fail")
	app.Close()
	evs, raw := sink.events(t)
	if len(evs) != 1 || !strings.Contains(raw, "/v1/fail") || strings.Contains(raw, "__heartbeat__") {
		t.Errorf("%d events, want only the one of /v1/fail:\n%s", len(evs), raw)
	}
}

// TestSentryReportsAFailedBatchOnce: a batch failing with a sub-request's 5xx sends the
// sub-request's event only, not a second "HTTP 5xx: POST /v1/batch".
func TestSentryReportsAFailedBatchOnce(t *testing.T) {
	tests := []struct {
		name, path string
		code       int
		wantText   string
	}{
		{"a backend error of a sub-request", "/down", 503, "connection refused"},
		{"a panic in a sub-request", "/boom", 500, "kaboom"},
		{"a plain-text 5xx of a sub-request", "/plain", 502, "HTTP 502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := newWiringSentrySink(t)
			app := wiringApp(t, map[string]string{"sentry_dsn": sink.DSN()}, cliquet.Config{})
			app.Router.Get("/boom", func(http.ResponseWriter, *http.Request) { panic("kaboom") })
			app.Router.Get("/down", func(w http.ResponseWriter, r *http.Request) {
				protocol.WriteError(w, r, &storage.BackendError{Op: "list", Err: errors.New("connection refused")})
			})
			app.Router.Get("/plain", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "bad gateway", http.StatusBadGateway) })
			body := `{"requests": [{"path": "/"}, {"path": "` + tt.path + `"}, {"path": "/"}]}`
			req := httptest.NewRequest(http.MethodPost, "/v1/batch", strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			app.Handler().ServeHTTP(rec, req)
			if rec.Code != tt.code {
				t.Fatalf("batch answered %d %s, want %d", rec.Code, rec.Body, tt.code)
			}
			if err := app.Close(); err != nil { // waits for the events
				t.Fatalf("Close: %v", err)
			}
			evs, _ := sink.events(t)
			if len(evs) != 1 {
				var urls []any
				for _, ev := range evs {
					request, _ := ev["request"].(map[string]any)
					urls = append(urls, request["url"])
				}
				t.Fatalf("%d events, want exactly 1; their URLs: %v", len(evs), urls)
			}
			what, _ := json.Marshal([]any{evs[0]["exception"], evs[0]["message"]})
			request, _ := evs[0]["request"].(map[string]any)
			if !strings.Contains(string(what), tt.wantText) || !strings.HasSuffix(fmt.Sprint(request["url"]), "/v1"+tt.path) {
				t.Errorf("event %s for %v, want the sub-request's, mentioning %q", what, request["url"], tt.wantText)
			}
		})
	}
}

func TestProfiler(t *testing.T) {
	t.Run("enabled, it is served on the root router and not under the version prefix", func(t *testing.T) {
		app := wiringApp(t, map[string]string{"profiler_enabled": "true"}, cliquet.Config{})
		rec := wiringServe(app.Handler(), http.MethodGet, "/__profiler__/")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "goroutine") {
			t.Fatalf("GET /__profiler__/: %d %.200s, want 200 and the profile index", rec.Code, rec.Body)
		}
		rec = wiringServe(app.Handler(), http.MethodGet, "/__profiler__/goroutine?debug=1")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "goroutine profile:") {
			t.Errorf("GET goroutine profile: %d %.200s", rec.Code, rec.Body)
		}
		if rec := wiringServe(app.Handler(), http.MethodGet, "/v1/__profiler__/"); rec.Code == http.StatusOK {
			t.Errorf("GET /v1/__profiler__/ = 200, want it absent under the prefix")
		}
	})
	t.Run("a custom profiler_path is honoured", func(t *testing.T) {
		app := wiringApp(t, map[string]string{"profiler_enabled": "true", "profiler_path": "/_private/prof"}, cliquet.Config{})
		if rec := wiringServe(app.Handler(), http.MethodGet, "/_private/prof/"); rec.Code != http.StatusOK {
			t.Errorf("GET /_private/prof/ = %d, want 200", rec.Code)
		}
		if rec := wiringServe(app.Handler(), http.MethodGet, "/__profiler__/"); rec.Code == http.StatusOK {
			t.Errorf("GET /__profiler__/ = 200, want only the configured path")
		}
	})
	t.Run("disabled by default, the path is an ordinary unknown URL", func(t *testing.T) {
		app := wiringApp(t, map[string]string{"version_prefix_redirect_enabled": "false"}, cliquet.Config{})
		rec := wiringServe(app.Handler(), http.MethodGet, "/__profiler__/")
		if rec.Code != http.StatusNotFound || strings.Contains(rec.Body.String(), "goroutine") {
			t.Errorf("GET /__profiler__/ = %d %.200s, want the 404 JSON error", rec.Code, rec.Body)
		}
	})
	t.Run("a path at the root or under the version prefix fails startup", func(t *testing.T) {
		for _, p := range []string{"/", "/v1/__profiler__"} {
			_, err := tryWiringApp(map[string]string{"profiler_enabled": "true", "profiler_path": p}, cliquet.Config{})
			if err == nil || !strings.Contains(err.Error(), "profiler_path") {
				t.Errorf("profiler_path %q: error %v, want one naming the setting", p, err)
			}
		}
	})
}
