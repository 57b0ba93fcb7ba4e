package cliquet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

type response struct {
	*http.Response
	body []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func do(t *testing.T, h http.Handler, method, target string, body io.Reader, header ...string) response {
	t.Helper()
	req := httptest.NewRequest(method, target, body)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{res, b}
}

func assertError(t *testing.T, r response, code int, errno protocol.Errno) map[string]any {
	t.Helper()
	if r.StatusCode != code {
		t.Fatalf("status = %d, want %d (body %s)", r.StatusCode, code, r.body)
	}
	if ct := r.Header.Get("Content-Type"); ct != protocol.ContentTypeJSON {
		t.Errorf("Content-Type = %q, want %q", ct, protocol.ContentTypeJSON)
	}
	m := r.json(t)
	if m["code"] != float64(code) || m["errno"] != float64(errno) || m["error"] == "" {
		t.Errorf("error body = %v, want code %d errno %d", m, code, errno)
	}
	return m
}

func TestRouting(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.Router.Get("/things", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"data": []any{}})
	})
	app.Router.Get("/slash/", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteJSON(w, http.StatusOK, map[string]any{"slash": true})
	})
	h := app.Handler()

	redirects := []struct {
		name, target, location string
	}{
		{"the root redirects to the hello view", "/", "/v1/"},
		{"a path without prefix redirects to the prefixed path with its querystring", "/things?_limit=2&a=b", "/v1/things?_limit=2&a=b"},
		{"a route registered after Initialize is reachable through the prefix redirect", "/things", "/v1/things"},
		{"the bare prefix redirects to the hello view", "/v1", "/v1/"},
		{"an unknown route with a trailing slash redirects without it", "/v1/nope/?x=1", "/v1/nope?x=1"},
		{"several trailing slashes are all removed", "/v1/nope//", "/v1/nope"},
	}
	for _, tt := range redirects {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, h, "GET", tt.target, nil)
			if r.StatusCode != http.StatusTemporaryRedirect || r.Header.Get("Location") != tt.location {
				t.Fatalf("got %d Location %q, want 307 %q", r.StatusCode, r.Header.Get("Location"), tt.location)
			}
		})
	}

	t.Run("an existing route is never redirected, with or without trailing slash", func(t *testing.T) {
		for _, target := range []string{"/v1/things", "/v1/slash/", "/v1/"} {
			if r := do(t, h, "GET", target, nil); r.StatusCode != http.StatusOK {
				t.Errorf("GET %s = %d, want 200", target, r.StatusCode)
			}
		}
	})
	t.Run("an unknown URL is 404 errno 111", func(t *testing.T) {
		m := assertError(t, do(t, h, "GET", "/v1/nope", nil), 404, protocol.ErrnoMissingResource)
		if m["message"] != protocol.MsgNotFound {
			t.Errorf("message = %v", m["message"])
		}
	})
	t.Run("another API version is 404 errno 116, not a redirect", func(t *testing.T) {
		assertError(t, do(t, h, "GET", "/v2/x", nil), 404, protocol.ErrnoVersionNotAvailable)
		assertError(t, do(t, h, "GET", "/v2", nil), 404, protocol.ErrnoVersionNotAvailable)
	})
	t.Run("a wrong method is 405 errno 115 with Allow", func(t *testing.T) {
		r := do(t, h, "DELETE", "/v1/", nil)
		assertError(t, r, 405, protocol.ErrnoMethodNotAllowed)
		if allow := r.Header.Get("Allow"); allow != "GET, HEAD" {
			t.Errorf("Allow = %q, want GET, HEAD", allow)
		}
		r = do(t, h, "POST", "/v1/things", nil)
		assertError(t, r, 405, protocol.ErrnoMethodNotAllowed)
	})
	t.Run("redirects can be disabled", func(t *testing.T) {
		off := newApp(t, map[string]string{
			"version_prefix_redirect_enabled": "false",
			"trailing_slash_redirect_enabled": "false",
		}, Config{}).Handler()
		assertError(t, do(t, off, "GET", "/", nil), 404, protocol.ErrnoMissingResource)
		assertError(t, do(t, off, "GET", "/v1/nope/", nil), 404, protocol.ErrnoMissingResource)
	})
	t.Run("redirect TTL settings add cache headers", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/nope/", nil)
		if cc := r.Header.Get("Cache-Control"); cc != "max-age=3600" || r.Header.Get("Expires") == "" {
			t.Errorf("trailing slash redirect Cache-Control = %q, Expires %q", cc, r.Header.Get("Expires"))
		}
		r = do(t, h, "GET", "/", nil)
		if r.Header.Get("Expires") != "" {
			t.Errorf("prefix redirect has Expires with the default TTL -1")
		}
		ttl := newApp(t, map[string]string{"version_prefix_redirect_ttl_seconds": "60"}, Config{}).Handler()
		if cc := do(t, ttl, "GET", "/", nil).Header.Get("Cache-Control"); cc != "max-age=60" {
			t.Errorf("prefix redirect Cache-Control = %q, want max-age=60", cc)
		}
	})
}

func TestHello(t *testing.T) {
	app := newApp(t, map[string]string{
		"project_docs": "https://docs.example.com/",
		"http_scheme":  "https",
		"http_host":    "api.example.com",
	}, Config{})
	if err := app.AddCapability("attachments", "Attach files", "https://example.com/attach", map[string]any{"max_size": 10}); err != nil {
		t.Fatal(err)
	}
	app.AddPublicSetting("paginate_by")
	h := app.Handler()

	t.Run("hello lists the project, the absolute URL, public settings and capabilities", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/", nil)
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		m := r.json(t)
		want := map[string]any{
			"project_name": "myproject", "project_version": "1.2.3", "http_api_version": "1.2",
			"project_docs": "https://docs.example.com/", "url": "https://api.example.com/v1/",
		}
		for k, v := range want {
			if m[k] != v {
				t.Errorf("%s = %v, want %v", k, m[k], v)
			}
		}
		settings := m["settings"].(map[string]any)
		if settings["batch_max_requests"] != float64(25) || settings["readonly"] != false {
			t.Errorf("settings = %v", settings)
		}
		if v, ok := settings["paginate_by"]; !ok || v != nil {
			t.Errorf("paginate_by = %v (present %v), want null", v, ok)
		}
		caps := m["capabilities"].(map[string]any)
		att := caps["attachments"].(map[string]any)
		if att["description"] != "Attach files" || att["url"] != "https://example.com/attach" || att["max_size"] != float64(10) {
			t.Errorf("capability = %v", att)
		}
		for _, absent := range []string{"eos", "user"} {
			if _, ok := m[absent]; ok {
				t.Errorf("%s present in an anonymous hello without eos", absent)
			}
		}
		if bytes.Contains(r.body, []byte(`\/`)) {
			t.Errorf("slashes are escaped: %s", r.body)
		}
	})
	t.Run("a capability registered twice is an error", func(t *testing.T) {
		if err := app.AddCapability("attachments", "", "", nil); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("the URL follows the request host without http_host", func(t *testing.T) {
		h := newApp(t, nil, Config{}).Handler()
		m := do(t, h, "GET", "http://localhost:8888/v1/", nil).json(t)
		if m["url"] != "http://localhost:8888/v1/" {
			t.Errorf("url = %v", m["url"])
		}
		if caps, ok := m["capabilities"].(map[string]any); !ok || len(caps) != 1 || caps["basicauth"] == nil {
			t.Errorf("capabilities = %v, want only basicauth's", m["capabilities"])
		}
	})
	t.Run("the API version comes from the project version and the setting wins", func(t *testing.T) {
		a := newApp(t, map[string]string{"project_version": "3.14.116"}, Config{})
		if a.Prefix != "/v3" || a.HTTPAPIVersion != "3.14" {
			t.Errorf("prefix %q api %q", a.Prefix, a.HTTPAPIVersion)
		}
		a = newApp(t, map[string]string{"project_version": "", "http_api_version": "2.0"}, Config{ProjectVersion: "9.9.9"})
		if a.Prefix != "/v2" || a.ProjectVersion != "9.9.9" {
			t.Errorf("prefix %q version %q", a.Prefix, a.ProjectVersion)
		}
		if _, err := tryApp(map[string]string{"project_version": ""}, Config{}); err == nil {
			t.Error("no error without a project version")
		}
	})
}

func TestHeartbeat(t *testing.T) {
	t.Run("all checks true or null answer 200", func(t *testing.T) {
		app := newApp(t, nil, Config{})
		app.AddHeartbeat("ok", func(context.Context) error { return nil })
		app.AddHeartbeat("na", func(context.Context) error { return ErrHeartbeatSkipped })
		r := do(t, app.Handler(), "GET", "/v1/__heartbeat__", nil)
		m := r.json(t)
		if r.StatusCode != 200 || m["ok"] != true || m["na"] != nil {
			t.Fatalf("%d %v", r.StatusCode, m)
		}
		if _, ok := m["na"]; !ok {
			t.Error("null check missing from the body")
		}
	})
	t.Run("a failing, panicking or slow check answers 503 with false", func(t *testing.T) {
		app := newApp(t, map[string]string{"heartbeat_timeout_seconds": "0.2"}, Config{})
		app.AddHeartbeat("ok", func(context.Context) error { return nil })
		app.AddHeartbeat("down", func(context.Context) error { return errors.New("connection refused") })
		app.AddHeartbeat("panics", func(context.Context) error { panic("boom") })
		release := make(chan struct{})
		defer close(release)
		app.AddHeartbeat("slow", func(ctx context.Context) error { <-release; return nil })
		start := time.Now()
		r := do(t, app.Handler(), "GET", "/v1/__heartbeat__", nil)
		if time.Since(start) > 2*time.Second {
			t.Errorf("heartbeat took %v despite a 0.2s timeout", time.Since(start))
		}
		m := r.json(t)
		if r.StatusCode != 503 || m["ok"] != true || m["down"] != false || m["panics"] != false || m["slow"] != false {
			t.Fatalf("%d %v", r.StatusCode, m)
		}
		if r.Header.Get("Retry-After") != "30" {
			t.Errorf("Retry-After = %q", r.Header.Get("Retry-After"))
		}
	})
	t.Run("a heartbeat name registered twice is an error", func(t *testing.T) {
		app := newApp(t, nil, Config{})
		if err := app.AddHeartbeat("x", func(context.Context) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if err := app.AddHeartbeat("x", func(context.Context) error { return nil }); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("the backends' Ping is registered", func(t *testing.T) {
		st := &pingStorage{err: errors.New("down")}
		app := newApp(t, nil, Config{Storage: st})
		r := do(t, app.Handler(), "GET", "/v1/__heartbeat__", nil)
		if m := r.json(t); r.StatusCode != 503 || m["storage"] != false {
			t.Fatalf("%d %v", r.StatusCode, m)
		}
	})
	t.Run("lbheartbeat is always 200 {}", func(t *testing.T) {
		app := newApp(t, nil, Config{})
		app.AddHeartbeat("down", func(context.Context) error { return errors.New("x") })
		r := do(t, app.Handler(), "GET", "/v1/__lbheartbeat__", nil)
		if r.StatusCode != 200 || string(r.body) != "{}" {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
	})
}

func TestVersionView(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "version.json")
	if err := os.WriteFile(path, []byte(`{"version": "1.2.3", "commit": "abc", "source": "https://x/y"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Run("the version file is served as JSON", func(t *testing.T) {
		h := newApp(t, map[string]string{"version_json_path": path}, Config{}).Handler()
		r := do(t, h, "GET", "/v1/__version__", nil)
		if m := r.json(t); r.StatusCode != 200 || m["commit"] != "abc" {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
	})
	t.Run("a missing version file is a JSON 500", func(t *testing.T) {
		h := newApp(t, map[string]string{"version_json_path": filepath.Join(dir, "missing.json")}, Config{}).Handler()
		assertError(t, do(t, h, "GET", "/v1/__version__", nil), 500, protocol.ErrnoUndefined)
	})
}

func TestEndOfService(t *testing.T) {
	t.Run("past eos answers every endpoint 410 errno 202 with a hard-eol Alert", func(t *testing.T) {
		h := newApp(t, map[string]string{"eos": "2001-01-01", "eos_message": "Bye", "eos_url": "https://x/eol"}, Config{}).Handler()
		for _, target := range []string{"/", "/v1/", "/v1/nope", "/v1/__heartbeat__"} {
			r := do(t, h, "GET", target, nil)
			assertError(t, r, 410, protocol.ErrnoServiceDeprecated)
			var alert map[string]any
			if err := json.Unmarshal([]byte(r.Header.Get("Alert")), &alert); err != nil {
				t.Fatalf("Alert %q: %v", r.Header.Get("Alert"), err)
			}
			if alert["code"] != "hard-eol" || alert["message"] != "Bye" || alert["url"] != "https://x/eol" {
				t.Errorf("GET %s Alert = %v", target, alert)
			}
		}
	})
	t.Run("future eos serves normally with a soft-eol Alert and shows eos in hello", func(t *testing.T) {
		h := newApp(t, map[string]string{"eos": "2999-01-01", "eos_message": "Soon"}, Config{}).Handler()
		r := do(t, h, "GET", "/v1/", nil)
		if r.StatusCode != 200 {
			t.Fatalf("status %d", r.StatusCode)
		}
		want := `{"code":"soft-eol","message":"Soon","url":null}`
		if got := r.Header.Get("Alert"); got != want {
			t.Errorf("Alert = %s, want %s", got, want)
		}
		if m := r.json(t); m["eos"] != "2999-01-01" {
			t.Errorf("eos = %v", m["eos"])
		}
	})
	t.Run("a Sunset header (RFC 8594) with the eos date goes beside Alert, exposed to CORS scripts", func(t *testing.T) {
		for eos, want := range map[string]string{
			"2999-01-01":          "Tue, 01 Jan 2999 00:00:00 GMT",
			"2001-01-01 12:30:00": "Mon, 01 Jan 2001 12:30:00 GMT",
		} {
			h := newApp(t, map[string]string{"eos": eos}, Config{}).Handler()
			r := do(t, h, "GET", "/v1/", nil, "Origin", "https://example.com")
			if r.Header.Get("Alert") == "" || r.Header.Get("Sunset") != want {
				t.Errorf("eos %s: Alert %q Sunset %q, want %q", eos, r.Header.Get("Alert"), r.Header.Get("Sunset"), want)
			}
			if !strings.Contains(r.Header.Get("Access-Control-Expose-Headers"), "Sunset") {
				t.Errorf("eos %s: Access-Control-Expose-Headers %q", eos, r.Header.Get("Access-Control-Expose-Headers"))
			}
		}
		if r := do(t, newApp(t, nil, Config{}).Handler(), "GET", "/v1/", nil); r.Header.Get("Sunset") != "" {
			t.Errorf("Sunset %q without eos", r.Header.Get("Sunset"))
		}
	})
}

func TestBackoff(t *testing.T) {
	t.Run("CLIQUET_BACKOFF sets Backoff on every response", func(t *testing.T) {
		h := newApp(t, nil, Config{}, "CLIQUET_BACKOFF=10").Handler()
		for _, target := range []string{"/", "/v1/", "/v1/nope", "/v2/x"} {
			if got := do(t, h, "GET", target, nil).Header.Get("Backoff"); got != "10" {
				t.Errorf("GET %s Backoff = %q, want 10", target, got)
			}
		}
	})
	t.Run("no backoff setting means no header", func(t *testing.T) {
		h := newApp(t, nil, Config{}).Handler()
		if got := do(t, h, "GET", "/v1/", nil).Header.Get("Backoff"); got != "" {
			t.Errorf("Backoff = %q", got)
		}
	})
	t.Run("backoff_percentage sends it on about that share of responses", func(t *testing.T) {
		h := middleware.Backoff(5, 30)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		n := 0
		for range 2000 {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Header().Get("Backoff") == "5" {
				n++
			}
		}
		if n < 450 || n > 750 {
			t.Errorf("Backoff on %d of 2000 responses, want about 600", n)
		}
	})
}

func TestStartupErrors(t *testing.T) {
	tests := []struct {
		name   string
		values map[string]string
		cfg    Config
		want   []string
	}{
		{"a bad typed value names the key", map[string]string{"readonly": "maybe"}, Config{}, []string{`"readonly"`}},
		{"an unknown storage backend lists the registered names", map[string]string{"storage_backend": "nosql"}, Config{}, []string{"storage_backend", `"nosql"`, "registered"}},
		{"an unknown cache backend lists the registered names", map[string]string{"cache_backend": "memcached"}, Config{}, []string{"cache_backend", "memory"}},
		{"basicauth without a secret is refused", map[string]string{"userid_hmac_secret": ""}, Config{}, []string{"userid_hmac_secret"}},
		{"an unknown authentication policy is refused", map[string]string{"multiauth.policies": "basicauth fxa"}, Config{}, []string{`"fxa"`, "basicauth"}},
		{"a bad API version is refused", map[string]string{"http_api_version": "x.1"}, Config{}, []string{"http_api_version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tryApp(tt.values, tt.cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %s", err, w)
				}
			}
		})
	}
	t.Run("conflicting prefixed keys fail before startup", func(t *testing.T) {
		_, err := tryApp(map[string]string{"myproject.readonly": "true", "cliquet.readonly": "false"}, Config{})
		if err == nil || !strings.Contains(err.Error(), "myproject.readonly") || !strings.Contains(err.Error(), "cliquet.readonly") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("basicauth may be disabled without a secret", func(t *testing.T) {
		if _, err := tryApp(map[string]string{"userid_hmac_secret": "", "multiauth.policies": ""}, Config{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCORS(t *testing.T) {
	h := newApp(t, map[string]string{"cors_origins": "https://allowed.example https://*.good.example"}, Config{}).Handler()
	t.Run("a preflight from an allowed origin succeeds on any route", func(t *testing.T) {
		for _, target := range []string{"/v1/", "/v1/anything/at/all"} {
			r := do(t, h, "OPTIONS", target, nil, "Origin", "https://allowed.example",
				"Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "Authorization, Content-Type")
			if r.StatusCode != 200 {
				t.Fatalf("status %d", r.StatusCode)
			}
			want := map[string]string{
				"Access-Control-Allow-Origin":      "https://allowed.example",
				"Access-Control-Allow-Credentials": "true",
				"Access-Control-Allow-Methods":     "PUT",
				"Access-Control-Allow-Headers":     "Authorization, Content-Type",
				"Access-Control-Max-Age":           "3600",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		}
	})
	t.Run("an origin matching a pattern is allowed", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/", nil, "Origin", "https://app.good.example")
		if r.Header.Get("Access-Control-Allow-Origin") != "https://app.good.example" {
			t.Errorf("Allow-Origin = %q", r.Header.Get("Access-Control-Allow-Origin"))
		}
	})
	t.Run("a disallowed origin gets no allow header", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/", nil, "Origin", "null")
		if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Allow-Origin for the null origin = %q", v)
		}
		r = do(t, h, "OPTIONS", "/v1/", nil, "Origin", "https://evil.example", "Access-Control-Request-Method", "GET")
		if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Allow-Origin = %q", v)
		}
		r = do(t, h, "GET", "/v1/", nil, "Origin", "https://evil.example")
		if v := r.Header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Allow-Origin = %q", v)
		}
	})
	t.Run("responses, errors included, expose the base headers", func(t *testing.T) {
		for _, target := range []string{"/v1/", "/v1/nope"} {
			r := do(t, h, "GET", target, nil, "Origin", "https://allowed.example")
			if got := r.Header.Get("Access-Control-Expose-Headers"); got != "Alert, Backoff, Retry-After, Content-Length, Content-Type" {
				t.Errorf("GET %s expose = %q", target, got)
			}
		}
	})
	t.Run("the default * allows any origin, null included, without credentials", func(t *testing.T) {
		h := newApp(t, nil, Config{}).Handler() // cors_origins = *
		for _, origin := range []string{"https://evil.example", "null", "http://localhost:3000"} {
			r := do(t, h, "GET", "/v1/", nil, "Origin", origin, "Authorization", "Basic YWxpY2U6cHc=")
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != "*" {
				t.Errorf("Origin %s: Allow-Origin = %q, want *", origin, got)
			}
			if got, ok := r.Header["Access-Control-Allow-Credentials"]; ok {
				t.Errorf("Origin %s: Allow-Credentials = %q, want none", origin, got)
			}
			if got := r.Header.Get("Access-Control-Expose-Headers"); got != "Alert, Backoff, Retry-After, Content-Length, Content-Type" {
				t.Errorf("Origin %s: expose = %q", origin, got)
			}
			// A preflight for a request carrying its own Authorization header: allowed with
			// *, which browsers accept for requests not in credentials mode "include".
			r = do(t, h, "OPTIONS", "/v1/anything", nil, "Origin", origin,
				"Access-Control-Request-Method", "DELETE", "Access-Control-Request-Headers", "authorization,content-type")
			want := map[string]string{
				"Access-Control-Allow-Origin":  "*",
				"Access-Control-Allow-Methods": "DELETE",
				"Access-Control-Allow-Headers": "authorization,content-type",
				"Access-Control-Max-Age":       "3600",
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("Origin %s: preflight %s = %q, want %q", origin, k, got, v)
				}
			}
			if got, ok := r.Header["Access-Control-Allow-Credentials"]; ok {
				t.Errorf("Origin %s: preflight Allow-Credentials = %q, want none", origin, got)
			}
		}
	})
	t.Run("beside *, a listed origin is echoed with credentials", func(t *testing.T) {
		h := newApp(t, map[string]string{"cors_origins": "* https://app.example null"}, Config{}).Handler()
		for origin, want := range map[string]string{"https://app.example": "https://app.example", "null": "null", "https://other.example": "*"} {
			r := do(t, h, "GET", "/v1/", nil, "Origin", origin)
			creds := r.Header.Get("Access-Control-Allow-Credentials")
			if got := r.Header.Get("Access-Control-Allow-Origin"); got != want || (creds == "true") != (want != "*") {
				t.Errorf("Origin %s: Allow-Origin %q, Allow-Credentials %q; want %q, credentials %v", origin, got, creds, want, want != "*")
			}
		}
	})
	t.Run("a pattern never matches the null origin", func(t *testing.T) {
		h := newApp(t, map[string]string{"cors_origins": "n*"}, Config{}).Handler()
		if got := do(t, h, "GET", "/v1/", nil, "Origin", "null").Header.Get("Access-Control-Allow-Origin"); got != "" {
			t.Errorf("Allow-Origin = %q, want none", got)
		}
	})
	t.Run("handlers add endpoint-specific expose headers", func(t *testing.T) {
		mw := middleware.CORS(middleware.CORSOptions{Origins: []string{"*"}})
		hh := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			middleware.ExposeHeaders(w, "ETag", "Next-Page", "Alert")
		}))
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Origin", "https://x.example")
		hh.ServeHTTP(rec, req)
		want := "Alert, Backoff, Retry-After, Content-Length, Content-Type, ETag, Next-Page"
		if got := rec.Header().Get("Access-Control-Expose-Headers"); got != want {
			t.Errorf("expose = %q, want %q", got, want)
		}
		rec = httptest.NewRecorder()
		hh.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if got := rec.Header().Get("Access-Control-Expose-Headers"); got != "" {
			t.Errorf("expose without Origin = %q", got)
		}
	})
}

func TestCommonHeaders(t *testing.T) {
	h := newApp(t, nil, Config{}).Handler()
	r := do(t, h, "GET", "/v1/", nil)
	want := map[string]string{
		"Content-Security-Policy": middleware.ContentSecurityPolicy,
		"X-Content-Type-Options":  "nosniff",
		"Vary":                    "Authorization",
		"Cache-Control":           "no-cache",
		"Content-Type":            "application/json; charset=UTF-8",
	}
	for k, v := range want {
		t.Run(k+" is set on GET responses", func(t *testing.T) {
			if got := r.Header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		})
	}
}

func TestReadOnly(t *testing.T) {
	app := newApp(t, map[string]string{"readonly": "true"}, Config{})
	app.Router.Post("/things", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
	h := app.Handler()
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		t.Run(m+" is refused with 405 errno 115 in readonly mode", func(t *testing.T) {
			assertError(t, do(t, h, m, "/v1/things", nil), 405, protocol.ErrnoMethodNotAllowed)
		})
	}
	t.Run("POST to the batch endpoint is not refused", func(t *testing.T) {
		r := do(t, h, "POST", "/v1/batch", strings.NewReader(`{"requests": [{"path": "/"}]}`), "Content-Type", "application/json")
		if r.StatusCode != 200 {
			t.Fatalf("POST /v1/batch = %d %s, want 200", r.StatusCode, r.body)
		}
	})
	t.Run("middleware.ReadOnly without a batch path refuses a POST to a batch-like path", func(t *testing.T) {
		h := middleware.ReadOnly("")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }))
		assertError(t, do(t, h, "POST", "/v1/batch", nil), 405, protocol.ErrnoMethodNotAllowed)
	})
	t.Run("GET still works and hello shows readonly", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/", nil)
		if s := r.json(t)["settings"].(map[string]any); r.StatusCode != 200 || s["readonly"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		if cc := r.Header.Get("Cache-Control"); cc != "max-age=86400" {
			t.Errorf("readonly hello Cache-Control = %q, want max-age=86400", cc)
		}
	})
}

func TestRecover(t *testing.T) {
	app := newApp(t, map[string]string{"error_info_link": "https://example.com/bugs"}, Config{})
	app.Router.Get("/boom", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"1"`)
		panic("kaboom")
	})
	r := do(t, app.Handler(), "GET", "/v1/boom", nil)
	m := assertError(t, r, 500, protocol.ErrnoUndefined)
	if m["info"] != "https://example.com/bugs" || m["message"] != protocol.MsgUndefined {
		t.Errorf("body = %v", m)
	}
	if strings.Contains(string(r.body), "kaboom") {
		t.Errorf("the panic value leaked to the client: %s", r.body)
	}
}

func TestBodyLimit(t *testing.T) {
	app := newApp(t, map[string]string{"max_request_body_bytes": "100"}, Config{})
	app.Router.Post("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		protocol.WriteJSON(w, 200, map[string]int{"n": len(b)})
	})
	h := app.Handler()
	t.Run("a declared large body is 413 errno 113", func(t *testing.T) {
		assertError(t, do(t, h, "POST", "/v1/echo", strings.NewReader(strings.Repeat("x", 101))), 413, protocol.ErrnoRequestTooLarge)
	})
	t.Run("a streamed large body is 413 errno 113 when read", func(t *testing.T) {
		req := httptest.NewRequest("POST", "/v1/echo", io.MultiReader(strings.NewReader(strings.Repeat("x", 500))))
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 413 {
			t.Fatalf("status %d body %s", rec.Code, rec.Body)
		}
	})
	t.Run("a body within the limit is read", func(t *testing.T) {
		r := do(t, h, "POST", "/v1/echo", strings.NewReader(strings.Repeat("x", 100)))
		if r.StatusCode != 200 || r.json(t)["n"] != float64(100) {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
	})
}

func TestRetryAfterOnPlain503(t *testing.T) {
	app := newApp(t, map[string]string{"retry_after_seconds": "7"}, Config{})
	app.Router.Get("/busy", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	app.Router.Get("/backend", func(w http.ResponseWriter, r *http.Request) {
		protocol.WriteError(w, r, &storage.BackendError{Backend: "x", Op: "get", Err: errors.New("down")})
	})
	for _, p := range []string{"/v1/busy", "/v1/backend"} {
		if got := do(t, app.Handler(), "GET", p, nil).Header.Get("Retry-After"); got != "7" {
			t.Errorf("GET %s Retry-After = %q, want 7", p, got)
		}
	}
}

func TestAuthentication(t *testing.T) {
	app := newApp(t, nil, Config{})
	h := app.Handler()
	alice := authn.HMACUserID(testSecret, "alice:secret")

	t.Run("the basicauth user id is the HMAC of user:password", func(t *testing.T) {
		// Computed independently: printf 'alice:secret' | openssl dgst -sha256 -hmac test-secret
		const want = "a0a9c24e30ece5d9da750b01cf0156458300d8aaa9d84182662edbdd6044ce76"
		if alice != want {
			t.Errorf("authn.HMACUserID = %s, want %s", alice, want)
		}
	})
	t.Run("hello shows the prefixed user id and principals when authenticated", func(t *testing.T) {
		req := httptest.NewRequest("GET", "/v1/", nil)
		req.SetBasicAuth("alice", "secret")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var m map[string]any
		json.Unmarshal(rec.Body.Bytes(), &m)
		user, _ := m["user"].(map[string]any)
		if user["id"] != "basicauth:"+alice {
			t.Fatalf("user = %v", m["user"])
		}
		ps := user["principals"].([]any)
		want := []any{permission.Everyone, permission.Authenticated, "basicauth:" + alice}
		if len(ps) != len(want) {
			t.Fatalf("principals = %v", ps)
		}
		for i := range want {
			if ps[i] != want[i] {
				t.Errorf("principals = %v, want %v", ps, want)
			}
		}
	})
	anonymous := []struct{ name, header string }{
		{"no credentials", ""},
		{"an empty username", "Basic OnNlY3JldA=="},
		{"undecodable credentials", "Basic !!!"},
		{"another scheme", "Bearer abc"},
	}
	for _, tt := range anonymous {
		t.Run("a request with "+tt.name+" is anonymous", func(t *testing.T) {
			r := do(t, h, "GET", "/v1/", nil, "Authorization", tt.header)
			if _, ok := r.json(t)["user"]; ok || r.StatusCode != 200 {
				t.Errorf("%d %s", r.StatusCode, r.body)
			}
		})
	}
	t.Run("group principals come from the permission backend", func(t *testing.T) {
		perms := &groupPerms{Backend: memory.New(), groups: map[string][]string{"basicauth:" + alice: {"/groups/admins"}}}
		a := newApp(t, nil, Config{Permission: perms})
		a.Router.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
			id := authn.IdentityFrom(r.Context())
			if strings.Contains(strings.Join(id.Principals, " "), "/groups/") {
				t.Error("the groups were resolved before anyone asked")
			}
			all, err := id.AllPrincipals(r.Context())
			if err != nil {
				t.Error(err)
			}
			protocol.WriteJSON(w, 200, map[string]any{"AuthType": id.AuthType, "all": all})
		})
		req := httptest.NewRequest("GET", "/v1/whoami", nil)
		req.SetBasicAuth("alice", "secret")
		rec := httptest.NewRecorder()
		a.Handler().ServeHTTP(rec, req)
		if !strings.Contains(rec.Body.String(), `"/groups/admins"`) || !strings.Contains(rec.Body.String(), `"AuthType":"basicauth"`) {
			t.Errorf("identity = %s", rec.Body)
		}
	})
	t.Run("the first policy that authenticates wins and prefixes the id", func(t *testing.T) {
		a := newApp(t, map[string]string{"multiauth.policies": "token basicauth"}, Config{
			Authenticators: []authn.Authenticator{staticToken{"tok", "bob"}},
		})
		r := do(t, a.Handler(), "GET", "/v1/", nil, "Authorization", "Bearer tok")
		if u := r.json(t)["user"].(map[string]any); u["id"] != "token:bob" {
			t.Errorf("user = %v", u)
		}
		if n := len(a.Authenticators()); n != 2 || a.Authenticators()[0].Name() != "token" {
			t.Errorf("chain = %v", a.Authenticators())
		}
	})
	t.Run("AddAuthenticator appends a policy and refuses a duplicate", func(t *testing.T) {
		a := newApp(t, nil, Config{})
		if err := a.AddAuthenticator(staticToken{"t2", "carol"}); err != nil {
			t.Fatal(err)
		}
		if err := a.AddAuthenticator(staticToken{"t3", "x"}); err == nil {
			t.Error("duplicate name accepted")
		}
		r := do(t, a.Handler(), "GET", "/v1/", nil, "Authorization", "Bearer t2")
		if u, _ := r.json(t)["user"].(map[string]any); u["id"] != "token:carol" {
			t.Errorf("user = %v", r.json(t)["user"])
		}
	})
	t.Run("a failing policy fails the request with its protocol mapping", func(t *testing.T) {
		a := newApp(t, map[string]string{"multiauth.policies": ""}, Config{Authenticators: []authn.Authenticator{failingAuth{}}})
		assertError(t, do(t, a.Handler(), "GET", "/v1/", nil), 503, protocol.ErrnoBackend)
	})
	t.Run("authn.ErrUnauthorized carries the Basic challenge and errno 104", func(t *testing.T) {
		rec := httptest.NewRecorder()
		authn.Unauthorized(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Basic realm="Realm"` || !strings.Contains(rec.Body.String(), `"errno":104`) {
			t.Errorf("%d %v %s", rec.Code, rec.Header(), rec.Body)
		}
		if e := authn.ErrForbidden(); e.Code != 403 || e.Errno != protocol.ErrnoForbidden {
			t.Errorf("authn.ErrForbidden = %v", e)
		}
	})
}

func TestUtilityViewsWithPermissionBackendDown(t *testing.T) {
	version := filepath.Join(t.TempDir(), "version.json")
	if err := os.WriteFile(version, []byte(`{"version": "1.2.3"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	perms := &downPerms{Backend: memory.New()}
	app := newApp(t, map[string]string{"storage_backend": "memory", "version_json_path": version}, Config{Permission: perms})
	h := app.Handler()
	auth := []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"} // alice:secret

	t.Run("an authenticated heartbeat answers the report with permission false", func(t *testing.T) {
		r := do(t, h, "GET", "/v1/__heartbeat__", nil, auth...)
		m := r.json(t)
		if r.StatusCode != 503 || m["permission"] != false || m["storage"] != true || m["cache"] != true {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
		if _, isError := m["errno"]; isError {
			t.Errorf("heartbeat answered an error body: %s", r.body)
		}
	})
	for _, path := range []string{"/v1/__lbheartbeat__", "/v1/__version__", "/v1/__api__"} {
		t.Run("an authenticated GET "+path+" does not ask the permission backend", func(t *testing.T) {
			r := do(t, h, "GET", path, nil, auth...)
			if _, isError := r.json(t)["errno"]; r.StatusCode != 200 || isError {
				t.Fatalf("%d %s", r.StatusCode, r.body)
			}
		})
	}
	t.Run("an authenticated HEAD of the heartbeat answers its status", func(t *testing.T) {
		if r := do(t, h, "HEAD", "/v1/__heartbeat__", nil, auth...); r.StatusCode != 503 || len(r.body) != 0 {
			t.Fatalf("%d %q", r.StatusCode, r.body)
		}
	})
	t.Run("the authenticated hello view, which shows the principals, answers 503 errno 201", func(t *testing.T) {
		assertError(t, do(t, h, "GET", "/v1/", nil, auth...), 503, protocol.ErrnoBackend)
	})
	t.Run("a view that needs no groups does not ask the permission backend", func(t *testing.T) {
		assertError(t, do(t, h, "GET", "/v1/__heartbeat__/extra", nil, auth...), 404, protocol.ErrnoMissingResource)
	})
	t.Run("the anonymous hello view does not ask the permission backend", func(t *testing.T) {
		if r := do(t, h, "GET", "/v1/", nil); r.StatusCode != 200 {
			t.Fatalf("%d %s", r.StatusCode, r.body)
		}
	})
}

// downPerms is a memory permission backend whose service is down: UserPrincipals, Access
// and Ping fail with a *permission.BackendError.
type downPerms struct{ *memory.Backend }

func (downPerms) UserPrincipals(context.Context, string) ([]string, error) {
	return nil, &permission.BackendError{Backend: "down", Op: "user_principals", Err: errors.New("connection refused")}
}

func (downPerms) Access(context.Context, permission.AccessQuery) (permission.Access, error) {
	return permission.Access{}, &permission.BackendError{Backend: "down", Op: "access", Err: errors.New("connection refused")}
}

func (downPerms) Ping(context.Context, bool) error {
	return &permission.BackendError{Backend: "down", Op: "ping", Err: errors.New("connection refused")}
}

func TestContextAccessors(t *testing.T) {
	st := &recordingStore{}
	app := newApp(t, nil, Config{Storage: st})
	app.Router.Get("/ctx", func(w http.ResponseWriter, r *http.Request) {
		if AppFrom(r.Context()) != app || StorageFrom(r.Context()) != st {
			w.WriteHeader(500)
			return
		}
		w.WriteHeader(204)
	})
	if r := do(t, app.Handler(), "GET", "/v1/ctx", nil); r.StatusCode != 204 {
		t.Fatalf("App or Storage missing from the request context (status %d)", r.StatusCode)
	}
}

func TestTransaction(t *testing.T) {
	tests := []struct {
		name       string
		method     string
		status     int
		panics     bool
		commitErr  error
		wantCalls  string
		wantStatus int
	}{
		{"a 2xx write commits", "POST", 201, false, nil, "begin commit", 201},
		{"a 4xx write commits", "PUT", 400, false, nil, "begin commit", 400},
		{"a 5xx write rolls back", "DELETE", 500, false, nil, "begin rollback", 500},
		{"a panic rolls back and answers 500", "PATCH", 0, true, nil, "begin rollback", 500},
		{"a failed commit answers 503 errno 201", "POST", 201, false, errors.New("serialization failure"), "begin commit rollback", 503},
		{"a GET starts no unit of work", "GET", 200, false, nil, "", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &recordingStore{commitErr: tt.commitErr}
			app := newApp(t, nil, Config{Storage: st})
			app.Router.MethodFunc(tt.method, "/op", func(w http.ResponseWriter, r *http.Request) {
				if tt.method != "GET" && !InTransaction(r.Context()) {
					t.Error("handler context is not marked as in a transaction")
				}
				if tt.panics {
					panic("handler bug")
				}
				w.Header().Set("ETag", `"42"`)
				protocol.WriteJSON(w, tt.status, map[string]string{"ok": "yes"})
			})
			r := do(t, app.Handler(), tt.method, "/v1/op", nil)
			if got := st.String(); got != tt.wantCalls {
				t.Errorf("calls = %q, want %q", got, tt.wantCalls)
			}
			if r.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d (%s)", r.StatusCode, tt.wantStatus, r.body)
			}
			if tt.wantStatus < 500 && tt.status != 0 && (r.Header.Get("ETag") != `"42"` || !strings.Contains(string(r.body), "yes")) {
				t.Errorf("buffered response not flushed: %v %s", r.Header, r.body)
			}
			if tt.wantStatus == 503 {
				assertError(t, r, 503, protocol.ErrnoBackend)
			}
		})
	}
	t.Run("a nested dispatch joins the outer unit of work", func(t *testing.T) {
		st := &recordingStore{}
		var inner http.Handler
		app := newApp(t, nil, Config{Storage: st})
		app.Router.Post("/inner", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
		app.Router.Post("/outer", func(w http.ResponseWriter, r *http.Request) {
			// A nested dispatch needs a fresh chi routing context.
			ctx := context.WithValue(r.Context(), chi.RouteCtxKey, chi.NewRouteContext())
			sub := httptest.NewRequest("POST", "/v1/inner", nil).WithContext(ctx)
			rec := httptest.NewRecorder()
			inner.ServeHTTP(rec, sub)
			w.WriteHeader(rec.Code)
		})
		inner = app.Handler()
		r := do(t, app.Handler(), "POST", "/v1/outer", nil)
		if r.StatusCode != 201 || st.String() != "begin commit" {
			t.Errorf("status %d calls %q", r.StatusCode, st.String())
		}
	})
	t.Run("transaction_per_request=false disables it", func(t *testing.T) {
		st := &recordingStore{}
		app := newApp(t, map[string]string{"transaction_per_request": "false"}, Config{Storage: st})
		app.Router.Post("/op", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(201) })
		do(t, app.Handler(), "POST", "/v1/op", nil)
		if st.String() != "" {
			t.Errorf("calls = %q", st.String())
		}
	})
}

func TestMigrate(t *testing.T) {
	st := &recordingStore{}
	app := newApp(t, nil, Config{Storage: st})
	if err := Migrate(context.Background(), app, true); err != nil {
		t.Fatal(err)
	}
	if st.String() != "migrate(dry)" {
		t.Errorf("calls = %q", st.String())
	}
	ro := newApp(t, map[string]string{"readonly": "true"}, Config{Storage: &recordingStore{}})
	if err := Migrate(context.Background(), ro, false); err != nil {
		t.Fatal(err)
	}
	if got := ro.Storage.(*recordingStore).String(); got != "" {
		t.Errorf("readonly migrate touched storage: %q", got)
	}
}

// ---- test doubles ----

// recordingStore is a storage backend whose only behaviour under test is the unit of work:
// it records Begin/Commit/Rollback and InitializeSchema calls. Its data methods are unused.
type recordingStore struct {
	storage.Backend // nil: data methods are not exercised by these tests
	mu              sync.Mutex
	calls           []string
	commitErr       error
}

func (s *recordingStore) record(c string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, c)
}

func (s *recordingStore) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.calls, " ")
}

func (s *recordingStore) Close() error { return nil }

func (s *recordingStore) Begin(ctx context.Context) (context.Context, storage.Tx, error) {
	s.record("begin")
	return ctx, &recordingTx{s: s}, nil
}

func (s *recordingStore) InitializeSchema(_ context.Context, dry bool) error {
	if dry {
		s.record("migrate(dry)")
	} else {
		s.record("migrate")
	}
	return nil
}

type recordingTx struct {
	s    *recordingStore
	done bool
}

func (t *recordingTx) Commit(context.Context) error {
	if t.done {
		return nil
	}
	t.s.record("commit")
	if t.s.commitErr != nil {
		return t.s.commitErr
	}
	t.done = true
	return nil
}

func (t *recordingTx) Rollback(context.Context) error {
	if t.done {
		return nil
	}
	t.done = true
	t.s.record("rollback")
	return nil
}

type pingStorage struct {
	storage.Backend
	err error
}

func (p *pingStorage) Ping(context.Context, bool) error { return p.err }
func (p *pingStorage) Close() error                     { return nil }

// groupPerms is a permission backend whose users' groups are those of the groups map
// (UserPrincipals, and Access, which grants through them as through principals).
type groupPerms struct {
	permission.Backend
	groups map[string][]string
}

func (g *groupPerms) UserPrincipals(_ context.Context, uid string) ([]string, error) {
	return g.groups[uid], nil
}

func (g *groupPerms) Access(ctx context.Context, q permission.AccessQuery) (permission.Access, error) {
	groups := []string{}
	if q.UserID != "" {
		groups = append(groups, g.groups[q.UserID]...)
	}
	inner := permission.AccessQuery{Principals: append(append([]string{}, q.Principals...), groups...), Objects: q.Objects, Full: q.Full}
	a, err := g.Backend.Access(ctx, inner)
	if err != nil {
		return permission.Access{}, err
	}
	a.Groups = groups
	return a, nil
}

type staticToken struct{ token, user string }

func (staticToken) Name() string { return "token" }
func (s staticToken) Authenticate(r *http.Request) (string, bool, error) {
	if r.Header.Get("Authorization") == "Bearer "+s.token {
		return s.user, true, nil
	}
	return "", false, nil
}

type failingAuth struct{}

func (failingAuth) Name() string { return "remote" }
func (failingAuth) Authenticate(*http.Request) (string, bool, error) {
	return "", false, &storage.BackendError{Backend: "idp", Op: "verify", Err: errors.New("timeout")}
}

func TestDefaultBackends(t *testing.T) {
	app := newApp(t, map[string]string{"storage_backend": "memory"}, Config{})
	if app.Storage == nil || app.Cache == nil || app.Permission == nil {
		t.Fatalf("backends storage=%v cache=%v permission=%v", app.Storage, app.Cache, app.Permission)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
}
