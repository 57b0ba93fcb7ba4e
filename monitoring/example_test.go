package monitoring_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/cliquet-go/cliquet/monitoring"
)

// A fixed clock, pid and host name make the output deterministic.
func ExampleNewLogger() {
	logger := monitoring.NewLogger(os.Stdout, monitoring.LoggerOptions{
		Renderer: "json",
		Name:     "myproject",
		Hostname: "web-1",
		Pid:      42,
	})
	r := slog.NewRecord(time.Unix(1700000000, 0), slog.LevelWarn, "backend.slow", 0)
	r.AddAttrs(slog.String("backend", "postgresql"), slog.Group("query", slog.Int("ms", 812)))
	_ = logger.Handler().Handle(context.Background(), r)
	// Output:
	// {"Timestamp":1700000000000000000,"Type":"backend.slow","Logger":"myproject","Hostname":"web-1","EnvVersion":"2.0","Severity":4,"Pid":42,"Fields":{"backend":"postgresql","query.ms":812}}
}

func ExampleRequestLogger() {
	logger := monitoring.NewLogger(os.Stdout, monitoring.LoggerOptions{Renderer: "text"})
	clock := func() time.Time { return time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC) }
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:8a3f", "basicauth")
		w.WriteHeader(http.StatusCreated)
	})
	h := monitoring.RequestLogger(logger, monitoring.RequestOptions{Now: clock})(app)

	req := httptest.NewRequest("POST", "/v1/articles?_limit=10", nil)
	req.Header.Set("X-Request-Id", "req-1")
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output:
	// "POST /v1/articles?_limit=10" 201 (0 ms) request.summary time=2024-05-01T12:00:00.000Z uid=basicauth:8a3f authn_type=basicauth rid=req-1
}
