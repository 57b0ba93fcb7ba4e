package monitoring_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
	"github.com/cliquet-go/cliquet/monitoring"
)

// A request summary carries one "time" (the request start), whatever the logger: slog's JSON
// and text handlers add no record time of their own, and NewLogger's JSON keeps Fields.time
// with a Timestamp.
func TestRequestSummaryHasOneTime(t *testing.T) {
	tests := []struct {
		name      string
		logger    func(*testenv.Buffer) *slog.Logger
		timeToken string
	}{
		{"slog's JSON handler", func(b *testenv.Buffer) *slog.Logger { return slog.New(slog.NewJSONHandler(b, nil)) }, `"time":`},
		{"slog's text handler", func(b *testenv.Buffer) *slog.Logger { return slog.New(slog.NewTextHandler(b, nil)) }, "time="},
		{"NewLogger's mozlog JSON", func(b *testenv.Buffer) *slog.Logger {
			return monitoring.NewLogger(b, monitoring.LoggerOptions{})
		}, `"time":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testenv.Buffer
			h := monitoring.RequestLogger(tt.logger(&logs), monitoring.RequestOptions{})(
				http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/x", nil))
			line := strings.TrimSpace(logs.String())
			if !strings.Contains(line, "request.summary") {
				t.Fatalf("no request summary in %q", line)
			}
			if n := strings.Count(line, tt.timeToken); n != 1 {
				t.Errorf("%d %s in %s, want 1", n, tt.timeToken, line)
			}
			if strings.HasPrefix(line, "{") {
				var rec map[string]any
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatal(err)
				}
				if ts, ok := rec["Timestamp"].(float64); ok && ts <= 0 {
					t.Errorf("Timestamp = %v, want the logging time", ts)
				}
			}
		})
	}
}
