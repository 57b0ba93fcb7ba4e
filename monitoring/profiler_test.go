package monitoring_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/monitoring"
)

func TestProfilerServesTheIndexAndProfiles(t *testing.T) {
	r := chi.NewRouter()
	p := monitoring.Profiler("") // the default path
	r.Handle(monitoring.DefaultProfilerPath, p)
	r.Handle(monitoring.DefaultProfilerPath+"/*", p)
	srv := httptest.NewServer(r)
	defer srv.Close()
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	tests := []struct {
		name        string
		path        string
		code        int
		contentType string
		contains    string
	}{
		{"the index lists the profiles", "/__profiler__/", 200, "text/html; charset=utf-8", `href="heap?debug=1"`},
		{"the heap profile answers in text with debug=1", "/__profiler__/heap?debug=1", 200, "text/plain; charset=utf-8", "heap profile:"},
		{"the heap profile answers in the binary format by default", "/__profiler__/heap?gc=1", 200, "application/octet-stream", "\x1f\x8b"},
		{"the goroutine profile lists this test", "/__profiler__/goroutine?debug=2", 200, "text/plain; charset=utf-8", "TestProfilerServesTheIndexAndProfiles"},
		{"the command line is served", "/__profiler__/cmdline", 200, "text/plain; charset=utf-8", "monitoring.test"},
		{"a short CPU profile is served", "/__profiler__/profile?seconds=1", 200, "application/octet-stream", "\x1f\x8b"},
		{"a bad seconds value is a 400", "/__profiler__/profile?seconds=x", 400, "text/plain; charset=utf-8", "seconds"},
		{"an unknown profile is a 404", "/__profiler__/nothing", 404, "text/plain; charset=utf-8", "unknown profile"},
		{"the bare path redirects to the index", "/__profiler__", 301, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := noRedirect.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
			if tt.contentType != "" && resp.Header.Get("Content-Type") != tt.contentType {
				t.Errorf("Content-Type %q, want %q", resp.Header.Get("Content-Type"), tt.contentType)
			}
			if !strings.Contains(string(body), tt.contains) {
				t.Errorf("body does not contain %q: %.200q", tt.contains, body)
			}
			if tt.code == 301 && resp.Header.Get("Location") != "/__profiler__/" {
				t.Errorf("Location %q", resp.Header.Get("Location"))
			}
		})
	}
}

func TestProfilerHonoursACustomPathAndNothingElse(t *testing.T) {
	mux := http.NewServeMux()
	mux.Handle("/_private/prof/", monitoring.Profiler("/_private/prof/"))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	for path, want := range map[string]int{
		"/_private/prof/":               200,
		"/_private/prof/allocs?debug=1": 200,
		"/__profiler__/":                404,
		"/debug/pprof/":                 404,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s = %d, want %d", path, resp.StatusCode, want)
		}
	}
	// Using the package registers nothing on the default mux.
	if _, pattern := http.DefaultServeMux.Handler(httptest.NewRequest("GET", "/debug/pprof/", nil)); pattern != "" {
		t.Errorf("http.DefaultServeMux serves /debug/pprof/ (pattern %q)", pattern)
	}
}
