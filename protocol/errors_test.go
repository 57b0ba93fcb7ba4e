package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

func TestFromError(t *testing.T) {
	custom := protocol.NewError(http.StatusPreconditionFailed, protocol.ErrnoModifiedMeanwhile, protocol.MsgModified)
	tests := []struct {
		name      string
		err       error
		code      int
		errno     protocol.Errno
		wantCause bool
	}{
		{"storage.ErrNotFound is 404 errno 110", storage.ErrNotFound, 404, protocol.ErrnoInvalidResourceID, false},
		{"a wrapped storage.ErrNotFound is 404 errno 110", fmt.Errorf("get: %w", storage.ErrNotFound), 404, protocol.ErrnoInvalidResourceID, false},
		{"a wrapped storage.ErrModified is 412 errno 114", fmt.Errorf("update: %w", storage.ErrModified), 412, protocol.ErrnoModifiedMeanwhile, false},
		{"a UnicityError is 409 errno 122", &storage.UnicityError{Field: "id", Existing: storage.Object{ID: "abc"}}, 409, protocol.ErrnoConstraintViolated, false},
		{"a storage BackendError is 503 errno 201", &storage.BackendError{Backend: "postgresql", Op: "list", Err: errors.New("pool timeout")}, 503, protocol.ErrnoBackend, true},
		{"a cache BackendError is 503 errno 201", &cache.BackendError{Backend: "redis", Op: "get", Err: errors.New("refused")}, 503, protocol.ErrnoBackend, true},
		{"a permission BackendError is 503 errno 201", &permission.BackendError{Backend: "redis", Op: "check", Err: errors.New("refused")}, 503, protocol.ErrnoBackend, true},
		{"storage.ErrReadOnly is 503 errno 201", storage.ErrReadOnly, 503, protocol.ErrnoBackend, true},
		{"a deadline is 503 errno 201", fmt.Errorf("query: %w", context.DeadlineExceeded), 503, protocol.ErrnoBackend, true},
		{"a body over the limit is 413 errno 113", &http.MaxBytesError{Limit: 10}, 413, protocol.ErrnoRequestTooLarge, false},
		{"a protocol error is kept as is", custom, 412, protocol.ErrnoModifiedMeanwhile, false},
		{"a wrapped protocol error is kept as is", fmt.Errorf("view: %w", custom), 412, protocol.ErrnoModifiedMeanwhile, false},
		{"an unknown error is 500 errno 999", errors.New("nil map"), 500, protocol.ErrnoUndefined, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := protocol.FromError(tt.err)
			if e.Code != tt.code || e.Errno != tt.errno {
				t.Fatalf("FromError = %d/%d, want %d/%d", e.Code, e.Errno, tt.code, tt.errno)
			}
			if e.Title != http.StatusText(tt.code) {
				t.Errorf("Title = %q", e.Title)
			}
			if (e.Cause != nil) != tt.wantCause {
				t.Errorf("Cause = %v, want cause %v", e.Cause, tt.wantCause)
			}
			if tt.wantCause && !errors.Is(e, tt.err) {
				t.Errorf("the mapped error does not unwrap to the original")
			}
		})
	}
	t.Run("input a backend cannot store is 400 errno 107", func(t *testing.T) {
		for _, err := range []error{
			storage.ErrInvalid, fmt.Errorf("postgresql: create: %w", storage.ErrInvalid),
			permission.ErrInvalid, fmt.Errorf("%w: postgresql: add principal: %w", permission.ErrInvalid, errors.New("invalid byte sequence")),
		} {
			e := protocol.FromError(err)
			if e.Code != 400 || e.Errno != protocol.ErrnoInvalidParameters || e.Title != "Invalid parameters" || e.Cause != nil {
				t.Errorf("FromError(%v) = %d errno %d %q (cause %v), want 400 errno 107 \"Invalid parameters\"", err, e.Code, e.Errno, e.Title, e.Cause)
			}
		}
	})
	t.Run("a unicity conflict reports the field and the existing object", func(t *testing.T) {
		e := protocol.FromError(&storage.UnicityError{Field: "id", Existing: storage.Object{ID: "abc", LastModified: 12, Data: json.RawMessage(`{"title":"x"}`)}})
		b, _ := protocol.MarshalJSON(e)
		want := `"details":{"existing":{"id":"abc","last_modified":12,"title":"x"},"field":"id"}`
		if !strings.Contains(string(b), want) {
			t.Errorf("body %s does not contain %s", b, want)
		}
	})
}

func TestErrorWriter(t *testing.T) {
	var logs bytes.Buffer
	ew := &protocol.ErrorWriter{RetryAfterSeconds: 12, InfoLink: "https://example.com/issues", Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	write := func(err error) (*httptest.ResponseRecorder, map[string]any) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/v1/x", nil)
		protocol.WriteError(rec, req.WithContext(protocol.WithErrorWriter(req.Context(), ew)), err)
		var m map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
			t.Fatalf("body %q: %v", rec.Body, err)
		}
		return rec, m
	}
	t.Run("a 503 carries Retry-After and logs its cause", func(t *testing.T) {
		rec, m := write(&storage.BackendError{Backend: "pg", Op: "get", Err: errors.New("secret-cause")})
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "12" || m["errno"] != float64(201) {
			t.Errorf("%d %v %v", rec.Code, rec.Header(), m)
		}
		if strings.Contains(rec.Body.String(), "secret-cause") || !strings.Contains(logs.String(), "secret-cause") {
			t.Errorf("the cause must be logged, not sent: body %s", rec.Body)
		}
	})
	t.Run("a 409 carries Retry-After", func(t *testing.T) {
		rec, _ := write(&storage.UnicityError{Field: "id"})
		if rec.Code != 409 || rec.Header().Get("Retry-After") != "12" {
			t.Errorf("%d %v", rec.Code, rec.Header())
		}
	})
	t.Run("a 500 carries the info link", func(t *testing.T) {
		rec, m := write(errors.New("bug"))
		if rec.Code != 500 || m["info"] != "https://example.com/issues" || m["message"] != protocol.MsgUndefined {
			t.Errorf("%d %v", rec.Code, m)
		}
	})
	t.Run("error headers are sent", func(t *testing.T) {
		e := protocol.NewError(405, protocol.ErrnoMethodNotAllowed, protocol.MsgMethodNotAllowed)
		e.Header = http.Header{"Allow": {"GET"}}
		rec, _ := write(e)
		if rec.Header().Get("Allow") != "GET" || rec.Header().Get("Retry-After") != "" {
			t.Errorf("%v", rec.Header())
		}
	})
	t.Run("without an ErrorWriter in the context defaults apply", func(t *testing.T) {
		rec := httptest.NewRecorder()
		old := slog.Default()
		slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
		defer slog.SetDefault(old)
		protocol.WriteError(rec, httptest.NewRequest("GET", "/", nil), storage.ErrReadOnly)
		if rec.Code != 503 || rec.Header().Get("Retry-After") != "30" {
			t.Errorf("%d %v", rec.Code, rec.Header())
		}
	})
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	protocol.WriteJSON(rec, 201, map[string]string{"url": "http://x/v1/<a>&b"})
	if got := rec.Body.String(); got != `{"url":"http://x/v1/<a>&b"}` {
		t.Errorf("body = %s", got)
	}
	if rec.Header().Get("Content-Type") != "application/json; charset=UTF-8" || rec.Header().Get("Content-Length") != fmt.Sprint(rec.Body.Len()) {
		t.Errorf("headers = %v", rec.Header())
	}
	rec = httptest.NewRecorder()
	protocol.WriteJSON(rec, 200, func() {})
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"errno":999`) {
		t.Errorf("unencodable value: %d %s", rec.Code, rec.Body)
	}
}

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name    string
		err     *protocol.Error
		code    int
		message string
	}{
		{"the message comes from the first detail sorted by name", protocol.InvalidParameters(
			protocol.Detail{Location: "body", Name: "title", Description: "is missing"},
			protocol.Detail{Location: "querystring", Name: "_limit", Description: "not an integer"},
		), 400, "_limit in querystring: not an integer"},
		{"a description naming the field is used alone", protocol.InvalidParam("body", "data", "data is missing"), 400, "data is missing"},
		{"a detail without name uses the location", protocol.InvalidParam("body", "", "Invalid JSON"), 400, "body: Invalid JSON"},
		{"406 lists the accepted type", protocol.NotAcceptable(), 406, "Accept header should be one of ['application/json']"},
		{"415 lists the accepted types", protocol.UnsupportedMediaType("application/json", "application/merge-patch+json"), 415,
			"Content-Type header should be one of ['application/json', 'application/merge-patch+json']"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.err.Code != tt.code || tt.err.Errno != protocol.ErrnoInvalidParameters || tt.err.Message != tt.message {
				t.Errorf("got %d %d %q, want %d 107 %q", tt.err.Code, tt.err.Errno, tt.err.Message, tt.code, tt.message)
			}
		})
	}
}

func ExampleFromError() {
	e := protocol.FromError(fmt.Errorf("view: %w", storage.ErrNotFound))
	b, _ := protocol.MarshalJSON(e)
	fmt.Println(string(b))
	// Output:
	// {"code":404,"errno":110,"error":"Not Found","message":"The resource you are looking for could not be found."}
}
