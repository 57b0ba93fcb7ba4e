package cliquet

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/internal/jsontest"
	"github.com/cliquet-go/cliquet/protocol"
)

// FuzzBatch checks the batch request parser: it never panics, every error is a
// *protocol.Error 400 errno 107, and every sub-request it builds is well-formed (an allowed
// method, a path under the version prefix, a body of valid JSON fit for every backend). The
// whole endpoint, sub-requests dispatched, never answers a 5xx or anything but JSON.
// Without -fuzz it runs the seeds; scripts/test runs it for a few seconds.
func FuzzBatch(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"requests": []}`, `{"requests": [{"path": "/echo"}]}`,
		`{"defaults": {"method": "POST", "body": {"data": {"a": 1}}}, "requests": [{"path": "/echo"}, {"path": "/echo?x=1", "body": {"data": {"b": 2}}}]}`,
		`{"requests": [{"method": "PUT", "path": "/echo", "headers": {"If-Match": "\"12\"", "X-A": "b"}, "body": {"data": {}, "permissions": {"read": ["system.Everyone"]}}}]}`,
		`{"requests": [{"method": "GET", "path": "/echo/../batch"}]}`, `{"requests": [{"path": "/batch"}]}`, `{"requests": [{"path": "echo"}]}`,
		`{"requests": [{"path": "/echo", "method": "CONNECT"}]}`, `{"requests": [{"path": "/echo", "body": [1]}]}`,
		`{"requests": [{"path": "/echo", "headers": {"a": 1}}]}`, `{"requests": [1, "x", null]}`, `{"requests": {}}`, `{"requests": [], "x": 1}`,
		`{"requests": [{"path": "/echo?%ff=1"}]}`, `{"requests": [{"path": "/echo?a=%zz&b=é ü"}]}`, `{"requests": [{"path": "/%zz"}]}`,
		`{"requests": [{"path": "/echo", "body": {"data": {"v": "\u0000"}}}]}`, `{"requests": [{"path": "/echo", "body": {"v": "\ud800"}}]}`,
		`{"requests": [{"path": "/echo", "body": {"v": 1e400}}]}`, "{\"requests\": [{\"path\": \"/echo\", \"body\": {\"v\": \"\xff\"}}]}",
		`{"requests": [{"path": "/echo"}]} x`, `{"requests": [{"path": "/echo"}]}{}`, `{"requests": [{"path": "/echo", "path": 1}]}`,
		`{"requests": [{"path": "http://other.example/v1/echo"}]}`, `{"requests": [{"path": "/v1/echo"}, {"path": "/v1"}, {"path": "/v1?"}]}`,
		`{"defaults": null, "requests": [{"path": "/echo", "method": null, "headers": null, "body": null}]}`,
		`{"requests": [{"path": "/echo"}, {"path": "/echo"}, {"path": "/echo"}, {"path": "/echo"}, {"path": "/echo"}, {"path": "/echo"}]}`,
	} {
		f.Add([]byte(s))
	}
	app, err := tryApp(map[string]string{"batch_max_requests": "5"}, Config{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { app.Close() })
	app.Router.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if len(b) == 0 || !json.Valid(b) {
			b = []byte(`{}`)
		}
		protocol.WriteRawJSON(w, http.StatusOK, b)
	})
	h := app.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		subs, err := app.parseBatch(r, 5)
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Code != http.StatusBadRequest || pe.Errno != protocol.ErrnoInvalidParameters {
				t.Fatalf("parseBatch(%q) = %v (%T), want a 400 errno 107 *protocol.Error", body, err, err)
			}
		}
		for i, sub := range subs {
			if !validBatchMethod(sub.method) || sub.target == nil ||
				sub.path != app.Prefix && !strings.HasPrefix(sub.path, app.Prefix+"/") && !strings.HasPrefix(sub.path, app.Prefix+"?") {
				t.Fatalf("parseBatch(%q): sub-request %d = %+v", body, i, sub)
			}
			if sub.body != nil && (!json.Valid(sub.body) || jsoncheck.Text(sub.body) != nil) {
				t.Fatalf("parseBatch(%q): sub-request %d has the body %q", body, i, sub.body)
			}
		}

		r = httptest.NewRequest(http.MethodPost, "/v1/batch", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		if rec.Code >= 500 || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST /v1/batch %q: %d %s", body, rec.Code, rec.Body.Bytes())
		}
		if err == nil && rec.Code != http.StatusOK || err != nil && rec.Code != http.StatusBadRequest {
			t.Fatalf("POST /v1/batch %q: %d %s, but parseBatch said %v", body, rec.Code, rec.Body.Bytes(), err)
		}
		if err != nil {
			return
		}
		if len(subs) > 5 {
			t.Fatalf("parseBatch(%q) built %d sub-requests, more than batch_max_requests", body, len(subs))
		}
		// One response per sub-request, in order, for the path it asked; the echo view's
		// answers carry the body it was sent.
		var out struct {
			Responses []struct {
				Status int             `json:"status"`
				Path   string          `json:"path"`
				Body   json.RawMessage `json:"body"`
			} `json:"responses"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Responses) != len(subs) {
			t.Fatalf("POST /v1/batch %q: %s, want %d responses (%v)", body, rec.Body.Bytes(), len(subs), err)
		}
		for i, sub := range subs {
			res := out.Responses[i]
			path, _, _ := strings.Cut(sub.path, "?")
			if strings.TrimSuffix(res.Path, "/") != strings.TrimSuffix(path, "/") { // "/v1" is served as "/v1/"
				t.Fatalf("POST /v1/batch %q: response %d is for %q, want %q", body, i, res.Path, path)
			}
			if path == app.Prefix+"/echo" && res.Status == http.StatusOK && sub.method != http.MethodHead && len(sub.body) > 0 &&
				!reflect.DeepEqual(jsontest.Decode(t, res.Body), jsontest.Decode(t, sub.body)) {
				t.Fatalf("POST /v1/batch %q: response %d has the body %s, want %s", body, i, res.Body, sub.body)
			}
		}
	})
}

// FuzzAppendResponses checks the batch response encoder against encoding/json: the same
// document, field for field, for any status, path, headers and body (JSON or text).
func FuzzAppendResponses(f *testing.F) {
	f.Add(200, "/v1/echo", "ETag", `"12"`, []byte(`{"data": {"a": [1, 2.5, "é"]}}`), true)
	f.Add(404, "/v1/<\u2028>", "X-\"quoted\"", "\x00", []byte("plain text\n"), false)
	f.Add(503, "", "", "", []byte(`  [1,  {"b": null} ] `), true)
	f.Fuzz(func(t *testing.T, status int, path, hk, hv string, body []byte, isJSON bool) {
		if !utf8.ValidString(path) || !utf8.ValidString(hk) || !utf8.ValidString(hv) || !utf8.Valid(body) {
			return // responses hold what net/http and the JSON bodies let through: valid UTF-8
		}
		r := subresponse{Status: status, Path: path, Headers: map[string]string{hk: hv, "Content-Type": "application/json"}}
		if isJSON {
			if !json.Valid(body) {
				return
			}
			r.Body = json.RawMessage(body)
		} else {
			r.Body = string(body)
		}
		got := appendResponses(nil, []subresponse{r, {Status: 204, Path: "/v1/x", Headers: map[string]string{}}})
		want, err := json.Marshal(map[string]any{"responses": []subresponse{r, {Status: 204, Path: "/v1/x", Headers: map[string]string{}}}})
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(got) || !reflect.DeepEqual(jsontest.Decode(t, got), jsontest.Decode(t, want)) {
			t.Fatalf("appendResponses = %s, encoding/json gives %s", got, want)
		}
	})
}
