package cliquet_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http/httptest"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/config"
)

// Initialize sets up the request logs from the settings: with logging_renderer = json each
// request writes one mozlog line, here captured through Config.LogOutput.
func ExampleConfig_logOutput() {
	settings := config.MustFromMap(map[string]string{
		"project_name":       "notes",
		"userid_hmac_secret": "change me",
		"logging_renderer":   "json",
	}, config.Options{Env: []string{}})
	var logs bytes.Buffer
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       settings,
		ProjectVersion: "1.4.2",
		LogOutput:      &logs,
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()

	req := httptest.NewRequest("GET", "/v1/nowhere", nil)
	req.Header.Set("X-Request-Id", "req-42")
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, req)

	var line struct {
		Type   string
		Logger string
		Fields struct {
			Method, Path, Rid string
			Code, Errno       int
		}
	}
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		panic(err)
	}
	f := line.Fields
	fmt.Println(line.Type, line.Logger, f.Method, f.Path, f.Code, f.Errno, f.Rid)
	fmt.Println("X-Request-Id:", rec.Header().Get("X-Request-Id"))
	// Output:
	// request.summary notes GET /v1/nowhere 404 111 req-42
	// X-Request-Id: req-42
}
