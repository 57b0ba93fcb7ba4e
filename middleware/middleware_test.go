package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// Recover answers a panic with the protocol's 500, and the error hook of the request's
// ErrorWriter can tell it is a panic with errors.As.
func TestRecoverRendersAPanicError(t *testing.T) {
	var seen *middleware.PanicError
	ew := &protocol.ErrorWriter{OnError: func(_ *http.Request, _ *protocol.Error, cause error) {
		errors.As(cause, &seen)
	}}
	h := middleware.Recover(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("mushroom") }))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r = r.WithContext(protocol.WithErrorWriter(r.Context(), ew))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), `"errno":999`) {
		t.Fatalf("%d %s, want 500 errno 999", w.Code, w.Body)
	}
	if seen == nil || seen.Value != "mushroom" || len(seen.Stack) == 0 {
		t.Fatalf("the hook saw %#v, want the PanicError of the panic with its stack", seen)
	}
}

// ReadOnly lets a POST through to the batch path only, and not to a batch sub-request.
func TestReadOnlyLetsTheBatchThrough(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	h := middleware.ReadOnly("/v1/batch")(ok)
	tests := []struct {
		method, path string
		sub          bool
		want         int
	}{
		{http.MethodGet, "/v1/things", false, 200},
		{http.MethodPost, "/v1/things", false, 405},
		{http.MethodPost, "/v1/batch", false, 200},
		{http.MethodPost, "/v1/batch", true, 405},
		{http.MethodDelete, "/v1/batch", false, 405},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if tt.sub {
			r = r.WithContext(monitoring.WithSubrequest(r.Context()))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.want {
			t.Errorf("%s %s (sub-request %v) = %d, want %d", tt.method, tt.path, tt.sub, w.Code, tt.want)
		}
	}
}

// Each response gets its own header values: a handler that edits the values the middleware
// set in one response does not change the next response of the same chain.
func TestHeadersAreNotSharedBetweenResponses(t *testing.T) {
	first := true
	h := middleware.SecurityHeaders(middleware.DefaultCacheControl(middleware.Vary("Authorization")(
		http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if first {
				first = false
				w.Header()["Cache-Control"][0] = "private"
				w.Header()["Vary"][0] = "Cookie"
				w.Header()["X-Content-Type-Options"][0] = "sniff"
			}
		}))))
	for i := range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if i == 0 {
			continue
		}
		got := w.Header()
		if got.Get("Cache-Control") != "no-cache" || got.Get("Vary") != "Authorization" || got.Get("X-Content-Type-Options") != "nosniff" ||
			got.Get("Content-Security-Policy") != middleware.ContentSecurityPolicy {
			t.Fatalf("the second response has %v", got)
		}
	}
}
