// Package cliquettest helps test a service built with cliquet: an App on memory backends
// with test settings, a client that calls its handler as Basic-auth users, and an assertion
// for the protocol's error responses. See docs/testing.md.
//
//	app := cliquettest.NewApp(t, nil)
//	// register your resources and views on app ...
//	c := cliquettest.NewClient(app.Handler())
//	r := c.As("alice").Post(t, "/v1/articles", map[string]any{"data": map[string]any{"title": "hi"}})
//	if r.Status != 201 { ... }
//	cliquettest.AssertError(t, c.As("bob").Get(t, "/v1/articles/"+id), 403, protocol.ErrnoForbidden)
package cliquettest

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/protocol"
)

// Secret is the userid_hmac_secret of the settings built by [Settings] and [NewApp]; [UserID]
// derives user ids from it.
const Secret = "cliquettest-secret"

// Password is the Basic-auth password of every user of a [Client].
const Password = "password"

// Settings returns test settings: the toolkit defaults (memory backends, Basic auth), the
// HMAC secret [Secret], then extra, which overrides them. The process environment is
// ignored, so that a CLIQUET_* variable of the machine running the tests changes nothing.
// A bad setting fails the test.
func Settings(t testing.TB, extra map[string]string) *config.Settings {
	t.Helper()
	values := map[string]string{"userid_hmac_secret": Secret}
	for k, v := range extra {
		values[k] = v
	}
	s, err := config.FromMap(values, config.Options{Env: []string{}})
	if err != nil {
		t.Fatalf("cliquettest: settings: %v", err)
	}
	return s
}

// Logger returns a logger that discards everything.
func Logger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// NewApp initialises an App for a test: [Settings] with extra, project "test" version
// "1.0.0" (unless extra sets project_name or project_version), and the [Logger] that
// discards. The backends are those the settings name (memory by default). The app is
// closed when the test ends; an initialisation error fails the test.
func NewApp(t testing.TB, extra map[string]string) *cliquet.App {
	t.Helper()
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       Settings(t, extra),
		ProjectName:    "test",
		ProjectVersion: "1.0.0",
		Logger:         Logger(),
	})
	if err != nil {
		t.Fatalf("cliquettest: initialize: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// UserID returns the user id ("basicauth:<hmac>") of user as a [Client] authenticates it
// on an app using [Secret]: the principal to write in permissions.
func UserID(user string) string {
	return "basicauth:" + authn.HMACUserID(Secret, user+":"+Password)
}

// Client calls a handler in process. The zero user is anonymous; [Client.As] and
// [Client.WithHeader] return modified copies, so one client can serve several users.
type Client struct {
	h      http.Handler
	user   string
	header http.Header
}

// NewClient returns an anonymous client of h (typically App.Handler()).
func NewClient(h http.Handler) *Client { return &Client{h: h, header: http.Header{}} }

// As returns a copy of c authenticating as user with Basic auth and [Password]; "" is
// anonymous.
func (c *Client) As(user string) *Client {
	cp := *c
	cp.user = user
	return &cp
}

// WithHeader returns a copy of c that sends the header key: value with every request
// (If-Match, If-None-Match, ...).
func (c *Client) WithHeader(key, value string) *Client {
	cp := *c
	cp.header = c.header.Clone()
	cp.header.Set(key, value)
	return &cp
}

// Response is a recorded answer.
type Response struct {
	Status int
	Header http.Header
	// Raw is the body as sent.
	Raw []byte
	// Body is the JSON object of the body; nil when the body is empty or not JSON.
	Body map[string]any
}

// Data returns the "data" object of the body (nil when it is not an object).
func (r *Response) Data() map[string]any { m, _ := r.Body["data"].(map[string]any); return m }

// List returns the objects of the "data" list of the body (nil when it is not a list).
func (r *Response) List() []map[string]any {
	l, _ := r.Body["data"].([]any)
	var out []map[string]any
	for _, x := range l {
		if m, ok := x.(map[string]any); ok {
			out = append(out, m)
		}
	}
	return out
}

// Do sends a request and records the answer. body is sent as is when it is a string or a
// []byte, encoded as JSON otherwise (nil: no body). A body that cannot be encoded, or a
// JSON answer that does not decode, fails the test.
func (c *Client) Do(t testing.TB, method, path string, body any) *Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("cliquettest: %s %s: encode the body: %v", method, path, err)
		}
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, Password)
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, req)
	r := &Response{Status: w.Code, Header: w.Header(), Raw: w.Body.Bytes()}
	if len(r.Raw) > 0 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(r.Raw, &r.Body); err != nil {
			t.Fatalf("cliquettest: %s %s: decode the answer: %v: %s", method, path, err, r.Raw)
		}
	}
	return r
}

// Get sends a GET request.
func (c *Client) Get(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, http.MethodGet, path, nil)
}

// Post sends a POST request with body (see [Client.Do]).
func (c *Client) Post(t testing.TB, path string, body any) *Response {
	t.Helper()
	return c.Do(t, http.MethodPost, path, body)
}

// Put sends a PUT request with body (see [Client.Do]).
func (c *Client) Put(t testing.TB, path string, body any) *Response {
	t.Helper()
	return c.Do(t, http.MethodPut, path, body)
}

// Patch sends a PATCH request with body (see [Client.Do]).
func (c *Client) Patch(t testing.TB, path string, body any) *Response {
	t.Helper()
	return c.Do(t, http.MethodPatch, path, body)
}

// Delete sends a DELETE request.
func (c *Client) Delete(t testing.TB, path string) *Response {
	t.Helper()
	return c.Do(t, http.MethodDelete, path, nil)
}

// AssertError fails the test unless r is a protocol error with status and errno (see
// docs/errors.md). With detail, it also wants an entry of the error's details list with
// that location (detail[0]: "body", "querystring", "headers" or "path") and, when given,
// that name (detail[1]), as the validation errors (errno 107) carry.
func AssertError(t testing.TB, r *Response, status int, errno protocol.Errno, detail ...string) {
	t.Helper()
	got, _ := r.Body["errno"].(float64)
	if r.Status != status || protocol.Errno(got) != errno || r.Body["code"] != float64(status) {
		t.Fatalf("cliquettest: want a %d error with errno %d, got %d: %s", status, errno, r.Status, r.Raw)
		return
	}
	if len(detail) == 0 {
		return
	}
	details, _ := r.Body["details"].([]any)
	for _, d := range details {
		m, _ := d.(map[string]any)
		if m["location"] == detail[0] && (len(detail) < 2 || m["name"] == detail[1]) {
			return
		}
	}
	t.Fatalf("cliquettest: the %d error has no detail at %q: %s", status, strings.Join(detail, " "), r.Raw)
}
