package cliquet_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/cliquet-go/cliquet/storage/memory"
)

// TestUtilityViewsAnswerHEAD: HEAD works wherever GET does on the utility views, with the GET
// status and headers and no body; resource routes keep their own HEAD handlers.
func TestUtilityViewsAnswerHEAD(t *testing.T) {
	t.Parallel()
	version := filepath.Join(t.TempDir(), "version.json")
	if err := os.WriteFile(version, []byte(`{"version": "1.0.0", "commit": "abc"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newBatchServer(t, batchOptions{
		settings: map[string]string{"version_json_path": version},
		store:    downStore{memory.New(nil)}, // the heartbeat answers 503
	})
	srv := httptest.NewServer(s.app.Handler())
	defer srv.Close()
	send := func(t *testing.T, method, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		req.SetBasicAuth("nora", "secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	tests := []struct {
		name, path string
		code       int
	}{
		{"HEAD on the hello view answers like GET without a body", "/v1/", 200},
		{"HEAD on the heartbeat answers its 503 without a body", "/v1/__heartbeat__", 503},
		{"HEAD on the load-balancer heartbeat answers like GET without a body", "/v1/__lbheartbeat__", 200},
		{"HEAD on the version view answers like GET without a body", "/v1/__version__", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			get, body := send(t, http.MethodGet, tt.path)
			head, headBody := send(t, http.MethodHead, tt.path)
			if get.StatusCode != tt.code || head.StatusCode != tt.code {
				t.Fatalf("GET %d, HEAD %d, want %d for both", get.StatusCode, head.StatusCode, tt.code)
			}
			if len(headBody) != 0 {
				t.Errorf("HEAD sent a body: %q", headBody)
			}
			if head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || head.Header.Get("Content-Type") == "" {
				t.Errorf("Content-Type: HEAD %q, GET %q", head.Header.Get("Content-Type"), get.Header.Get("Content-Type"))
			}
			if cl := head.Header.Get("Content-Length"); cl != strconv.Itoa(len(body)) {
				t.Errorf("HEAD Content-Length %q, want the GET body length %d", cl, len(body))
			}
		})
	}
	t.Run("HEAD through a recorder writes no body either", func(t *testing.T) {
		rec := httptest.NewRecorder()
		s.app.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodHead, "/v1/__lbheartbeat__", nil))
		if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != "2" {
			t.Errorf("HEAD answered %d, body %q, Content-Length %q", rec.Code, rec.Body, rec.Header().Get("Content-Length"))
		}
	})
	t.Run("the 405 of another method lists GET and HEAD", func(t *testing.T) {
		resp, _ := send(t, http.MethodPost, "/v1/__heartbeat__")
		if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("POST answered %d, Allow %q, want 405 with GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
		}
	})
	t.Run("a resource's own HEAD handler still answers its HEAD requests", func(t *testing.T) {
		get, body := send(t, http.MethodGet, "/v1/mushrooms")
		head, headBody := send(t, http.MethodHead, "/v1/mushrooms")
		if get.StatusCode != 200 || head.StatusCode != 200 || len(headBody) != 0 {
			t.Fatalf("GET %d, HEAD %d with body %q", get.StatusCode, head.StatusCode, headBody)
		}
		// The resource's HEAD handler (not the GET one) sets Total-Objects.
		if head.Header.Get("Total-Objects") != "0" {
			t.Errorf("HEAD Total-Objects = %q, want 0 from the resource's HEAD handler (GET body %s)", head.Header.Get("Total-Objects"), body)
		}
	})
	t.Run("a HEAD sub-request of a batch is answered with an empty body", func(t *testing.T) {
		items := s.batch("nora", `{"requests": [{"method": "HEAD", "path": "/"}, {"method": "HEAD", "path": "/__lbheartbeat__"}]}`).items(t)
		for _, it := range items {
			if it.Status != 200 || string(it.Body) != `""` {
				t.Errorf("%s answered %d %s, want 200 with an empty body", it.Path, it.Status, it.Body)
			}
		}
	})
}
