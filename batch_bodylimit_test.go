package cliquet_test

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestBatchBodyLimitWithoutContentLength checks that a streamed (chunked) batch payload over
// max_request_body_bytes is answered 413 errno 113 like a declared one, not 400.
func TestBatchBodyLimitWithoutContentLength(t *testing.T) {
	s := newBatchServer(t, batchOptions{settings: map[string]string{"max_request_body_bytes": "200"}})
	post := func(body string) (int, map[string]any) {
		t.Helper()
		r := httptest.NewRequest("POST", "/v1/batch", io.MultiReader(strings.NewReader(body)))
		r.ContentLength = -1 // chunked: the size is only known when read
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth("alice", "secret")
		rec := httptest.NewRecorder()
		s.app.Handler().ServeHTTP(rec, r)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec.Code, m
	}
	t.Run("a streamed batch payload over the limit is 413 errno 113", func(t *testing.T) {
		body := `{"requests": [{"method": "POST", "path": "/mushrooms", "body": {"data": {"name": "` + strings.Repeat("x", 300) + `"}}}]}`
		if code, m := post(body); code != 413 || m["errno"] != float64(113) {
			t.Fatalf("status %d body %v, want 413 errno 113", code, m)
		}
	})
	t.Run("a streamed batch payload within the limit is run", func(t *testing.T) {
		body := `{"requests": [{"method": "POST", "path": "/mushrooms", "body": {"data": {"name": "oyster"}}}]}`
		code, m := post(body)
		responses, _ := m["responses"].([]any)
		if code != 200 || len(responses) != 1 || responses[0].(map[string]any)["status"] != float64(201) {
			t.Fatalf("status %d body %v", code, m)
		}
	})
}
