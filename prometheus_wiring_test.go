package cliquet_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cliquet-go/cliquet"
)

// promScrape GETs /v1/__metrics__ of h and parses the text exposition.
func promScrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := wiringServe(h, http.MethodGet, "/v1/__metrics__")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/__metrics__: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want the text format", ct)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fs, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /v1/__metrics__: %v", err)
	}
	return fs
}

// promValue returns the counter value or histogram sample count of the series of family
// name with exactly labels, and whether it exists.
func promValue(fs map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
next:
	for _, m := range fs[name].GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount()), true
		}
		return m.GetCounter().GetValue() + m.GetGauge().GetValue(), true
	}
	return 0, false
}

func TestPrometheusMetricsView(t *testing.T) {
	app := wiringApp(t, map[string]string{"prometheus_enabled": "true"}, cliquet.Config{})
	h := app.Handler()
	for range 2 {
		wiringServe(h, http.MethodGet, "/v1/", "Authorization", "Basic YWxpY2U6c2VjcmV0")
	}
	wiringServe(h, http.MethodGet, "/v1/__heartbeat__")
	wiringServe(h, http.MethodGet, "/v1/nowhere")

	fs := promScrape(t, h)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"wiring_requests_total", map[string]string{"endpoint": "v1", "method": "GET", "status": "200"}, 2},
		{"wiring_request_duration_seconds", map[string]string{"endpoint": "v1", "method": "GET", "status": "200"}, 2},
		{"wiring_requests_total", map[string]string{"endpoint": "v1-__heartbeat__", "method": "GET", "status": "200"}, 1},
		{"wiring_requests_total", map[string]string{"endpoint": "unmatched", "method": "GET", "status": "404"}, 1},
		{"wiring_authenticated_requests_total", map[string]string{"authn_type": "basicauth"}, 2},
	} {
		if got, ok := promValue(fs, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := promValue(fs, "wiring_backend_call_duration_seconds", map[string]string{"backend": "storage", "name": "memory", "method": "ping"}); !ok {
		t.Errorf("no storage ping in wiring_backend_call_duration_seconds: %v", fs["wiring_backend_call_duration_seconds"])
	}
	if _, ok := promValue(fs, "wiring_users", nil); !ok {
		t.Error("no wiring_users gauge")
	}

	// The scrape itself is a request like another, and HEAD answers without a body.
	fs = promScrape(t, h)
	if got, _ := promValue(fs, "wiring_requests_total", map[string]string{"endpoint": "v1-__metrics__", "method": "GET", "status": "200"}); got != 1 {
		t.Errorf("scrapes counted %v, want 1", got)
	}
	if rec := wiringServe(h, http.MethodHead, "/v1/__metrics__"); rec.Code != http.StatusOK || rec.Body.Len() != 0 {
		t.Errorf("HEAD /v1/__metrics__: %d with %d bytes", rec.Code, rec.Body.Len())
	}

	var hello struct {
		Capabilities map[string]map[string]any `json:"capabilities"`
	}
	if err := json.Unmarshal(wiringServe(h, http.MethodGet, "/v1/").Body.Bytes(), &hello); err != nil {
		t.Fatal(err)
	}
	if c := hello.Capabilities["prometheus"]; c["prefix"] != "wiring_" || c["path"] != "/v1/__metrics__" {
		t.Errorf("prometheus capability = %v", c)
	}
}

func TestPrometheusMetricsViewIsNotFoundWhenDisabled(t *testing.T) {
	app := wiringApp(t, map[string]string{}, cliquet.Config{})
	rec := wiringServe(app.Handler(), http.MethodGet, "/v1/__metrics__")
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /v1/__metrics__ without prometheus_enabled: %d, want 404", rec.Code)
	}
	if app.Metrics.Prometheus() != nil {
		t.Error("Metrics.Prometheus() without prometheus_enabled")
	}
}

func TestPrometheusTwoAppsDoNotCollide(t *testing.T) {
	// Same prefix in both: a shared (global) registry would refuse the second app's
	// metrics or mix both apps' counts.
	a := wiringApp(t, map[string]string{"prometheus_enabled": "true"}, cliquet.Config{})
	b := wiringApp(t, map[string]string{"prometheus_enabled": "true"}, cliquet.Config{})
	for range 3 {
		wiringServe(a.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
	}
	wiringServe(b.Handler(), http.MethodGet, "/v1/__lbheartbeat__")
	lb := map[string]string{"endpoint": "v1-__lbheartbeat__", "method": "GET", "status": "200"}
	if got, _ := promValue(promScrape(t, a.Handler()), "wiring_requests_total", lb); got != 3 {
		t.Errorf("app a counted %v lbheartbeats, want 3", got)
	}
	if got, _ := promValue(promScrape(t, b.Handler()), "wiring_requests_total", lb); got != 1 {
		t.Errorf("app b counted %v lbheartbeats, want 1", got)
	}
}
