package cliquet

import (
	"io"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/config"
)

// testSecret is the userid_hmac_secret of the test apps.
const testSecret = "test-secret"

// newApp builds the App of a test, closed when the test ends; see tryApp.
func newApp(t testing.TB, values map[string]string, cfg Config, env ...string) *App {
	t.Helper()
	app, err := tryApp(values, cfg, env...)
	if err != nil {
		t.Fatalf("Initialize: %v", err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// tryApp is tryAppOn with a fresh chi router.
func tryApp(values map[string]string, cfg Config, env ...string) (*App, error) {
	return tryAppOn(chi.NewRouter(), values, cfg, env...)
}

// tryAppOn is the one way the root tests build an App: Initialize on router, with values over a baseline (project myproject 1.2.3, basicauth keyed by
// testSecret, no storage backend, the memory cache and permission backends), the process environment ignored unless env is
// given, and the logs discarded unless cfg has a logger or a log output.
func tryAppOn(router chi.Router, values map[string]string, cfg Config, env ...string) (*App, error) {
	base := map[string]string{
		"project_name":       "myproject",
		"project_version":    "1.2.3",
		"userid_hmac_secret": testSecret,
		"storage_backend":    "", // no storage: tests that need one set it, or give cfg.Storage
	}
	for k, v := range values {
		base[k] = v
	}
	if env == nil {
		env = []string{}
	}
	s, err := config.FromMap(base, config.Options{Env: env})
	if err != nil {
		return nil, err
	}
	cfg.Settings = s
	if cfg.Logger == nil && cfg.LogOutput == nil {
		cfg.LogOutput = io.Discard
	}
	return Initialize(router, cfg)
}
