package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
)

var errContextDeadline = context.DeadlineExceeded

// Header names used by the protocol.
const (
	HeaderETag             = "ETag"
	HeaderLastModified     = "Last-Modified"
	HeaderIfMatch          = "If-Match"
	HeaderIfNoneMatch      = "If-None-Match"
	HeaderNextPage         = "Next-Page"
	HeaderTotalObjects     = "Total-Objects"
	HeaderTotalRecords     = "Total-Records"
	HeaderAlert            = "Alert"
	HeaderSunset           = "Sunset" // RFC 8594, beside the end-of-service Alert
	HeaderBackoff          = "Backoff"
	HeaderRetryAfter       = "Retry-After"
	HeaderResponseBehavior = "Response-Behavior"
	HeaderRequestID        = "X-Request-Id"
	ContentTypeJSON        = "application/json; charset=UTF-8"
	MediaJSON              = "application/json"
	MediaMergePatch        = "application/merge-patch+json"
	MediaJSONPatch         = "application/json-patch+json"
)

// ErrorWriter renders errors for one application: it adds Retry-After to 503s (and 409s, 429s),
// the info link to 500s, and logs the cause of 5xx responses. Install it in the request
// context with [WithErrorWriter]; [WriteError] finds it there.
type ErrorWriter struct {
	RetryAfterSeconds int          // Retry-After value; 0 means 30
	InfoLink          string       // "info" of 500 responses
	Logger            *slog.Logger // nil means slog.Default()

	// OnError, when not nil, is called for every error rendered, before the response is
	// written, with the protocol error about to be sent (after the info link was added)
	// and the error given to Write. Monitoring uses it to record the errno of the request
	// and to report the cause of 5xx responses. It must not write to the response.
	OnError func(r *http.Request, e *Error, cause error)
}

// errorWriterKey is the context key of a request's *ErrorWriter.
type errorWriterKey struct{}

// WithErrorWriter returns a context carrying ew, which [ErrorWriterFrom] (and so
// [WriteError]) finds in it and in the contexts derived from it.
func WithErrorWriter(ctx context.Context, ew *ErrorWriter) context.Context {
	return context.WithValue(ctx, errorWriterKey{}, ew)
}

// ErrorWriterFrom returns the ErrorWriter of ctx (see [WithErrorWriter]), or a default one.
func ErrorWriterFrom(ctx context.Context) *ErrorWriter {
	if ew, ok := ctx.Value(errorWriterKey{}).(*ErrorWriter); ok {
		return ew
	}
	return &ErrorWriter{}
}

// WriteError maps err with [FromError] and writes it as JSON, using the ErrorWriter of the
// request context.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	ErrorWriterFrom(r.Context()).Write(w, r, err)
}

// Write renders err on w.
func (ew *ErrorWriter) Write(w http.ResponseWriter, r *http.Request, err error) {
	e := FromError(err)
	h := w.Header()
	for k, v := range e.Header {
		h[k] = v
	}
	if e.Code == http.StatusServiceUnavailable || e.Code == http.StatusConflict || e.Code == http.StatusTooManyRequests {
		ra := ew.RetryAfterSeconds
		if ra <= 0 {
			ra = 30
		}
		h.Set(HeaderRetryAfter, strconv.Itoa(ra))
	}
	if e.Code >= 500 {
		if e.Code == http.StatusInternalServerError && e.Info == "" && ew.InfoLink != "" {
			c := *e
			c.Info = ew.InfoLink
			e = &c
		}
		logger := ew.Logger
		if logger == nil {
			logger = slog.Default()
		}
		logger.ErrorContext(r.Context(), "request failed", "code", e.Code, "errno", int(e.Errno),
			"method", r.Method, "path", r.URL.Path, "error", err.Error())
	}
	if ew.OnError != nil {
		ew.OnError(r, e, err)
	}
	WriteJSON(w, e.Code, e)
}

// WriteJSON writes v as a JSON response with the protocol content type. Forward slashes and
// HTML characters are not escaped.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	body, err := MarshalJSON(v)
	if err != nil {
		body = []byte(`{"code":500,"errno":999,"error":"Internal Server Error","message":"response encoding failed"}`)
		status = http.StatusInternalServerError
	}
	WriteRawJSON(w, status, body)
}

// WriteRawJSON writes an already encoded JSON body.
func WriteRawJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", ContentTypeJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if status != http.StatusNotModified && status != http.StatusNoContent {
		w.Write(body) //nolint:errcheck // the client went away; nothing to do
	}
}

// MarshalJSON encodes v without escaping '/', '<', '>' or '&', and without a trailing new line.
func MarshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil
}
