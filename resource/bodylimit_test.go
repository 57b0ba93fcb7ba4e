package resource_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBodyLimitWithoutContentLength checks that a streamed (chunked) body over
// max_request_body_bytes, which only the read detects, is answered 413 errno 113 like a
// declared one, not 400.
func TestBodyLimitWithoutContentLength(t *testing.T) {
	s := newServer(t, map[string]string{"max_request_body_bytes": "100"})
	post := func(body string) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequest("POST", "/v1/mushrooms", io.MultiReader(strings.NewReader(body)))
		r.ContentLength = -1 // chunked: the size is only known when read
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth("alice", "secret")
		rec := httptest.NewRecorder()
		s.h.ServeHTTP(rec, r)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, m
	}
	t.Run("a streamed body over the limit is 413 errno 113", func(t *testing.T) {
		code, m := post(`{"data": {"name": "` + strings.Repeat("x", 200) + `"}}`)
		if code != 413 || m["errno"] != float64(113) {
			t.Fatalf("status %d body %v, want 413 errno 113", code, m)
		}
	})
	t.Run("a streamed body within the limit creates the object", func(t *testing.T) {
		if code, m := post(`{"data": {"name": "oyster"}}`); code != 201 {
			t.Fatalf("status %d body %v", code, m)
		}
	})
}
