package monitoring_test

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// The request clock is read only when something times the request: twice (start and end)
// when the logger writes INFO summaries, never when it does not, and the summary's "t" is
// the time between the two reads.
func TestRequestClockReadOnlyWhenTimed(t *testing.T) {
	for _, c := range []struct {
		level     slog.Level
		wantReads int
	}{{slog.LevelInfo, 2}, {slog.LevelWarn, 0}} {
		var logs testenv.Buffer
		reads := 0
		base := time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC)
		opts := monitoring.RequestOptions{Now: func() time.Time {
			reads++
			return base.Add(time.Duration(reads) * 250 * time.Millisecond)
		}}
		logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: c.level}))
		h := monitoring.RequestLogger(logger, opts)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/x", nil))
		if reads != c.wantReads {
			t.Errorf("logger at %v: the clock was read %d times, want %d", c.level, reads, c.wantReads)
		}
		if c.level == slog.LevelInfo {
			var rec struct {
				T int64 `json:"t"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &rec); err != nil || rec.T != 250 {
				t.Errorf("summary %q: t = %d (%v), want 250", logs.String(), rec.T, err)
			}
		}
	}
}
