package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testApp returns the scores app logging to logger, closed when the test ends.
func testApp(t *testing.T, logger *slog.Logger) *cliquet.App {
	t.Helper()
	s, err := config.FromMap(map[string]string{"userid_hmac_secret": "x"}, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	app, err := newApp(s, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

func TestScores(t *testing.T) {
	app := testApp(t, quiet())
	do := func(user, method, path, body string) (int, map[string]any) {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		if user != "" {
			r.SetBasicAuth(user, "pw")
		}
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		var m map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &m)
		return w.Code, m
	}
	tests := []struct {
		name, user, method, path, body string
		code                           int
		score                          float64 // checked when > 0
	}{
		{"anonymous users get a 401", "", "GET", "/v1/scores/tetris", "", 401, 0},
		{"an unknown game is a 404", "alice", "GET", "/v1/scores/tetris", "", 404, 0},
		{"a first score is stored", "alice", "PUT", "/v1/scores/tetris", `{"score": 42}`, 200, 42},
		{"a lower score keeps the best one", "alice", "PUT", "/v1/scores/tetris", `{"score": 7}`, 200, 42},
		{"a higher score replaces it", "alice", "PUT", "/v1/scores/tetris", `{"score": 50}`, 200, 50},
		{"the best score is read back", "alice", "GET", "/v1/scores/tetris", "", 200, 50},
		{"another user has their own scores", "bob", "GET", "/v1/scores/tetris", "", 404, 0},
		{"a bad body is a 400", "alice", "PUT", "/v1/scores/tetris", `{"score": "many"}`, 400, 0},
		{"a bad game name is a 400", "alice", "PUT", "/v1/scores/-x", `{"score": 1}`, 400, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := do(tt.user, tt.method, tt.path, tt.body)
			if code != tt.code {
				t.Fatalf("%d, want %d: %v", code, tt.code, body)
			}
			if tt.score > 0 && body["score"] != tt.score {
				t.Fatalf("score = %v, want %v", body["score"], tt.score)
			}
		})
	}
}

func TestServeStopsWithTheContext(t *testing.T) {
	addr := testenv.FreeAddr(t)
	stop := testenv.Start(t, func(ctx context.Context) error { return run(ctx, []string{"--listen", addr}, quiet()) })
	testenv.WaitHTTP(t, "http://"+addr+"/v1/__lbheartbeat__")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenAPIDescribesTheScoreRoutes(t *testing.T) {
	app := testApp(t, quiet())
	w := httptest.NewRecorder()
	app.Handler().ServeHTTP(w, httptest.NewRequest("GET", "/v1/__api__", nil))
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string           `json:"operationId"`
			Summary     string           `json:"summary"`
			Parameters  []map[string]any `json:"parameters"`
			Responses   map[string]any   `json:"responses"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &doc); err != nil || w.Code != 200 {
		t.Fatalf("GET /v1/__api__: %d %v", w.Code, err)
	}
	for method, id := range map[string]string{"get": "get_score", "put": "put_score"} {
		t.Run(method+" /scores/{game} is described, not listed as undocumented", func(t *testing.T) {
			op, ok := doc.Paths["/scores/{game}"][method]
			if !ok {
				t.Fatalf("no %s /scores/{game} in the document", method)
			}
			if op.OperationID != id || op.Summary == "" || strings.Contains(op.Summary, "Undocumented") {
				t.Errorf("operation %s: id %q, summary %q", method, op.OperationID, op.Summary)
			}
			if len(op.Parameters) == 0 || op.Parameters[0]["name"] != "game" || op.Parameters[0]["in"] != "path" {
				t.Errorf("parameters = %v, want the game path parameter", op.Parameters)
			}
			for _, code := range []string{"200", "401"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("no %s response in %v", code, op.Responses)
				}
			}
		})
	}
}
