package main

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestNewBestScoresAreLogged(t *testing.T) {
	var logs bytes.Buffer
	app := testApp(t, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, score := range []string{"10", "5", "12"} { // 5 is not a new best score
		r := httptest.NewRequest("PUT", "/v1/scores/tetris", strings.NewReader(`{"score": `+score+`}`))
		r.SetBasicAuth("alice", "pw")
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("PUT %s: %d %s", score, w.Code, w.Body)
		}
	}
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `msg="new best score"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) != 2 || !strings.Contains(lines[0], `score=10`) || !strings.Contains(lines[1], `score=12`) ||
		!strings.Contains(lines[0], "game=tetris") || !strings.Contains(lines[0], "user=basicauth:") {
		t.Errorf("new best score logs: %q", lines)
	}
}
