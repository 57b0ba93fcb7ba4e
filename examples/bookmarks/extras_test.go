package main

import (
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

func TestExtras(t *testing.T) {
	var logs testenv.Buffer
	h := newServiceLogging(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	alice := &client{t: t, h: h, user: "alice"}
	bob := &client{t: t, h: h, user: "bob"}
	anonymous := &client{t: t, h: h}

	created := alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/listened"}}`).data()
	alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/second"}}`)
	alice.must(200, "PATCH", "/v1/bookmarks/"+created["id"].(string), `{"data": {"url": "https://example.com/patched"}}`)
	doomed := alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com/doomed"}}`).data()
	alice.must(200, "DELETE", "/v1/bookmarks/"+doomed["id"].(string), "")
	bob.must(201, "POST", "/v1/articles", `{"data": {"url": "https://example.com/article"}}`)

	t.Run("the listener logs each created bookmark's URL once, and nothing else", func(t *testing.T) {
		var urls []string
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec["msg"] != "bookmark created" {
				continue
			}
			if rec["level"] != "INFO" || !strings.HasPrefix(rec["user"].(string), "basicauth:") || rec["id"] == "" {
				t.Errorf("record %v", rec)
			}
			urls = append(urls, rec["url"].(string))
		}
		want := "https://example.com/listened https://example.com/second https://example.com/doomed"
		if got := strings.Join(urls, " "); got != want {
			t.Fatalf("logged URLs %q, want %q", got, want)
		}
	})

	t.Run("the listener sees a batch's creations once committed", func(t *testing.T) {
		before := strings.Count(logs.String(), `"bookmark created"`)
		r := alice.must(200, "POST", "/v1/batch", `{"requests": [
			{"method": "POST", "path": "/bookmarks", "body": {"data": {"url": "https://example.com/b1"}}},
			{"method": "POST", "path": "/bookmarks", "body": {"data": {"url": "https://example.com/b2"}}}]}`)
		if n := len(r.body["responses"].([]any)); n != 2 {
			t.Fatalf("batch answered %d responses", n)
		}
		after := logs.String()
		if strings.Count(after, `"bookmark created"`)-before != 2 || !strings.Contains(after, "https://example.com/b2") {
			t.Fatalf("batch creations not logged: %s", after)
		}
	})

	t.Run("GET /v1/stats counts the user's live bookmarks only", func(t *testing.T) {
		tests := []struct {
			name string
			c    *client
			want float64
		}{
			{"alice has four live bookmarks (one deleted)", alice, 4},
			{"bob has articles but no bookmarks", bob, 0},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if got := tt.c.must(200, "GET", "/v1/stats", "").body["bookmarks"]; got != tt.want {
					t.Fatalf("bookmarks = %v, want %v", got, tt.want)
				}
			})
		}
	})

	t.Run("GET /v1/stats needs authentication", func(t *testing.T) {
		r := anonymous.must(401, "GET", "/v1/stats", "")
		if r.body["errno"] != float64(104) || r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%v %v", r.header, r.body)
		}
	})

	t.Run("the view is described in the OpenAPI document", func(t *testing.T) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/v1/__api__", nil))
		var doc struct {
			Paths map[string]map[string]any `json:"paths"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != 200 {
			t.Fatalf("%d %v", w.Code, err)
		}
		if _, ok := doc.Paths["/stats"]["get"]; !ok {
			t.Fatalf("no GET /stats in %v", keys(doc.Paths))
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
