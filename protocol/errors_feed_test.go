package protocol_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/feed"
)

func TestFromErrorMapsTheChangeFeedErrors(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		code, errno int
	}{
		{"a user over the per-user limit gets 429", &feed.LimitError{PerUser: true, Max: 20}, 429, 117},
		{"the process limit is the server's capacity: 503", &feed.LimitError{Max: 10000}, 503, 201},
		{"a slow stream ends with 429", fmt.Errorf("stream: %w", feed.ErrSlow), 429, 117},
		{"a closing hub is a 503", feed.ErrClosed, 503, 201},
		{"a server shutting down is a 503", feed.ErrShutdown, 503, 201},
		{"disabled announcements make the feed not acceptable", fmt.Errorf("listen: %w", storage.ErrNotifyDisabled), 406, 107},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := protocol.FromError(tt.err)
			if e.Code != tt.code || int(e.Errno) != tt.errno || e.Message == "" {
				t.Errorf("FromError(%v) = %d errno %d %q, want %d errno %d", tt.err, e.Code, e.Errno, e.Message, tt.code, tt.errno)
			}
		})
	}
}

func TestErrorWriterAddsRetryAfterTo429(t *testing.T) {
	ew := &protocol.ErrorWriter{RetryAfterSeconds: 7}
	rec := httptest.NewRecorder()
	ew.Write(rec, httptest.NewRequest(http.MethodGet, "/", nil), &feed.LimitError{PerUser: true, Max: 1})
	if rec.Code != 429 || rec.Header().Get("Retry-After") != "7" {
		t.Fatalf("%d, Retry-After %q", rec.Code, rec.Header().Get("Retry-After"))
	}
}
