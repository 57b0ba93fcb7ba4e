package resource

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// TestTokenExpiry: a _token carries its issue time and answers 400 errno 107 once older
// than pagination_token_validity_seconds, or when its time is in the future or missing.
func TestTokenExpiry(t *testing.T) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: config.MustFromMap(map[string]string{"userid_hmac_secret": "x", "pagination_token_validity_seconds": "60"},
			config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0", Storage: memory.New(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rs, err := Register(app, Spec[Object]{Name: "mushroom"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs.now = func() time.Time { return now }
	do := func(method, target, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, target, strings.NewReader(body))
		r.SetBasicAuth("alice", "pw")
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		return w
	}
	for i := 0; i < 3; i++ {
		if w := do("POST", "/v1/mushrooms", `{"data":{}}`); w.Code != 201 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	next := do("GET", "/v1/mushrooms?_limit=1", "").Header().Get("Next-Page")
	u, err := url.Parse(next)
	if err != nil || u.Query().Get("_token") == "" {
		t.Fatalf("Next-Page %q", next)
	}
	page := u.RequestURI()
	invalid := func(name string, w *httptest.ResponseRecorder) {
		t.Helper()
		var body map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &body)
		details, _ := body["details"].([]any)
		var d map[string]any
		if len(details) > 0 {
			d, _ = details[0].(map[string]any)
		}
		if w.Code != 400 || body["errno"] != 107.0 || d["name"] != "_token" || d["location"] != "querystring" {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}

	now = now.Add(60 * time.Second)
	if w := do("GET", page, ""); w.Code != 200 {
		t.Fatalf("token within its validity: %d %s", w.Code, w.Body)
	}
	now = now.Add(time.Second)
	invalid("expired GET", do("GET", page, ""))
	invalid("expired DELETE", do("DELETE", page, ""))

	// The issue time is in the token, readable but checked: one set in the future, or
	// removed, is refused like any other invalid token.
	raw, _ := base64.URLEncoding.DecodeString(u.Query().Get("_token"))
	var tok map[string]any
	if err := json.Unmarshal(raw, &tok); err != nil {
		t.Fatal(err)
	}
	forge := func(edit func(map[string]any)) string {
		m := map[string]any{}
		for k, v := range tok {
			m[k] = v
		}
		edit(m)
		b, _ := json.Marshal(m)
		q := u.Query()
		q.Set("_token", base64.URLEncoding.EncodeToString(b))
		return "/v1/mushrooms?" + q.Encode()
	}
	var key string
	for k := range tok {
		if k != "last_object" && k != "offset" {
			key = k
		}
	}
	if key == "" {
		t.Fatalf("the token carries no issue time: %s", raw)
	}
	invalid("future issue time", do("GET", forge(func(m map[string]any) { m[key] = now.Add(time.Hour).UnixMilli() }), ""))
	invalid("no issue time", do("GET", forge(func(m map[string]any) { delete(m, key) }), ""))
	invalid("string issue time", do("GET", forge(func(m map[string]any) { m[key] = "soon" }), ""))
	if w := do("GET", forge(func(m map[string]any) { m[key] = now.UnixMilli() }), ""); w.Code != http.StatusOK {
		t.Fatalf("fresh token: %d %s", w.Code, w.Body)
	}
}
