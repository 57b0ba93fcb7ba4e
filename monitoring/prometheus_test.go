package monitoring_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	cachememory "github.com/cliquet-go/cliquet/cache/memory"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/monitoring"
)

// scrape GETs h and parses its text exposition.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/__metrics__", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, rec.Body)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("scrape: %v\n%s", err, rec.Body)
	}
	return families
}

// series returns the metric of family name whose labels are exactly labels, or nil.
func series(families map[string]*dto.MetricFamily, name string, labels map[string]string) *dto.Metric {
	f := families[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, l := range m.GetLabel() {
			if labels[l.GetName()] != l.GetValue() {
				continue next
			}
		}
		return m
	}
	return nil
}

func TestPrometheusRecordsRequestsBackendCallsUsersAndCustomMetrics(t *testing.T) {
	p, err := monitoring.NewPrometheus(monitoring.PrometheusOptions{Prefix: "my-proj"})
	if err != nil {
		t.Fatal(err)
	}
	m := (*monitoring.Metrics)(nil).WithPrometheus(p)
	c := monitoring.WatchCache(cachememory.New(nil), m, "memory")

	r := chi.NewRouter()
	r.Use(monitoring.RequestMetrics(m, monitoring.RequestOptions{}))
	r.Get("/v1/buckets/{bid}", func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), "basicauth:"+chi.URLParam(r, "bid"), "basicauth")
		_, _ = c.Get(r.Context(), "k")
		_, _ = io.WriteString(w, "{}")
	})
	r.Post("/v1/buckets", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusCreated) })
	for _, req := range []struct{ method, path string }{
		{"GET", "/v1/buckets/a"}, {"GET", "/v1/buckets/b"}, {"GET", "/v1/buckets/a"}, {"POST", "/v1/buckets"},
	} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(req.method, req.path, nil))
	}
	m.Timing("listeners.redis", time.Millisecond)
	m.Incr("custom.thing")
	m.Incr("requests") // "my_proj_requests_total" is taken by a metric of ours: dropped
	m.Unique("custom.visitors", "x")

	fs := scrape(t, p)
	get := map[string]string{"endpoint": "v1-buckets-_bid_", "method": "GET", "status": "200"}
	post := map[string]string{"endpoint": "v1-buckets", "method": "POST", "status": "201"}
	if s := series(fs, "my_proj_requests_total", get); s.GetCounter().GetValue() != 3 {
		t.Errorf("GET requests_total = %v, want 3", s)
	}
	if s := series(fs, "my_proj_requests_total", post); s.GetCounter().GetValue() != 1 {
		t.Errorf("POST requests_total = %v, want 1", s)
	}
	if s := series(fs, "my_proj_request_duration_seconds", get); s.GetHistogram().GetSampleCount() != 3 ||
		len(s.GetHistogram().GetBucket()) != len(monitoring.DefaultHistogramBuckets)+1 { // and +Inf
		t.Errorf("GET request_duration_seconds = %v, want 3 samples in the default buckets", s)
	}
	backend := map[string]string{"backend": "cache", "name": "memory", "method": "get"}
	if s := series(fs, "my_proj_backend_call_duration_seconds", backend); s.GetHistogram().GetSampleCount() != 3 {
		t.Errorf("backend_call_duration_seconds = %v, want 3 samples", s)
	}
	if s := series(fs, "my_proj_authenticated_requests_total", map[string]string{"authn_type": "basicauth"}); s.GetCounter().GetValue() != 3 {
		t.Errorf("authenticated_requests_total = %v, want 3", s)
	}
	if s := series(fs, "my_proj_users", nil); s == nil {
		t.Error("no users gauge")
	}
	if s := series(fs, "my_proj_listeners_redis_seconds", nil); s.GetHistogram().GetSampleCount() != 1 {
		t.Errorf("listeners_redis_seconds = %v", s)
	}
	if s := series(fs, "my_proj_custom_thing_total", nil); s.GetCounter().GetValue() != 1 {
		t.Errorf("custom_thing_total = %v", s)
	}
	if s := series(fs, "my_proj_custom_visitors", nil); s == nil {
		t.Error("no custom_visitors gauge")
	}
	if fs["go_goroutines"] == nil {
		t.Error("no Go runtime metrics")
	}
}

func TestPrometheusUsersCountsDistinctUsersPerWindow(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p, err := monitoring.NewPrometheusForTest(monitoring.PrometheusOptions{UsersWindow: time.Minute}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	m := (*monitoring.Metrics)(nil).WithPrometheus(p)
	h := monitoring.RequestMetrics(m, monitoring.RequestOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		monitoring.SetUser(r.Context(), r.URL.Query().Get("u"), "basicauth")
	}))
	users := func() float64 {
		return series(scrape(t, p), "users", nil).GetGauge().GetValue()
	}
	for _, u := range []string{"a", "b", "a", "c"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/?u="+u, nil))
	}
	if got := users(); got != 0 {
		t.Errorf("users during the first window = %v, want 0 (no complete window)", got)
	}
	now = now.Add(time.Minute)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/?u=d", nil))
	if got := users(); got != 3 {
		t.Errorf("users after the first window = %v, want 3", got)
	}
	now = now.Add(time.Minute)
	if got := users(); got != 1 {
		t.Errorf("users after the second window = %v, want 1", got)
	}
	now = now.Add(3 * time.Minute)
	if got := users(); got != 0 {
		t.Errorf("users after idle windows = %v, want 0", got)
	}
}

func TestPrometheusCreatedSamplesInOpenMetrics(t *testing.T) {
	for _, created := range []bool{true, false} {
		p, err := monitoring.NewPrometheus(monitoring.PrometheusOptions{CreatedSamples: created})
		if err != nil {
			t.Fatal(err)
		}
		(*monitoring.Metrics)(nil).WithPrometheus(p).Incr("thing")
		req := httptest.NewRequest("GET", "/__metrics__", nil)
		req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if got := strings.Contains(rec.Body.String(), "thing_created"); got != created {
			t.Errorf("CreatedSamples %v: thing_created in the body: %v\n%s", created, got, rec.Body)
		}
	}
}

func TestPrometheusAndStatsDTogether(t *testing.T) {
	sink := newStatsdServer(t)
	s, err := config.FromMap(map[string]string{
		"statsd_url": sink.URL(), "prometheus_enabled": "true", "project_name": "kinto",
		"prometheus_histogram_buckets": "0.1 1 Inf",
	}, config.Options{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitoring.NewMetricsFromSettings(s)
	if err != nil {
		t.Fatal(err)
	}
	p := m.Prometheus()
	if p == nil || p.Prefix() != "kinto_" {
		t.Fatalf("Prometheus = %v, want prefix kinto_", p)
	}
	h := monitoring.RequestMetrics(m, monitoring.RequestOptions{RouteName: func(*http.Request) string { return "hello" }})(http.NotFoundHandler())
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	m.Close()
	sink.wait(t, "kinto.view.hello.GET|ms", "kinto.code.404|c")
	d := series(scrape(t, p), "kinto_request_duration_seconds", map[string]string{"endpoint": "hello", "method": "GET", "status": "404"})
	if d.GetHistogram().GetSampleCount() != 1 || len(d.GetHistogram().GetBucket()) != 3 { // 0.1, 1, +Inf
		t.Errorf("request_duration_seconds = %v, want 1 sample in 3 buckets", d)
	}
}

func TestNewPrometheusFromSettings(t *testing.T) {
	for _, tt := range []struct {
		settings map[string]string
		prefix   string // "-" for nil, "!" for an error
	}{
		{map[string]string{}, "-"},
		{map[string]string{"prometheus_enabled": "true"}, "cliquet_"},
		{map[string]string{"prometheus_enabled": "true", "project_name": "kinto-prod"}, "kinto_prod_"},
		{map[string]string{"prometheus_enabled": "true", "project_name": "kinto", "prometheus_prefix": ""}, ""},
		{map[string]string{"prometheus_enabled": "true", "prometheus_prefix": "edge"}, "edge_"},
		{map[string]string{"prometheus_enabled": "true", "prometheus_histogram_buckets": "1 oops"}, "!"},
		{map[string]string{"prometheus_enabled": "true", "prometheus_histogram_buckets": "1 0.5"}, "!"},
	} {
		s, err := config.FromMap(tt.settings, config.Options{Env: []string{}})
		if err != nil {
			t.Fatal(err)
		}
		p, err := monitoring.NewPrometheusFromSettings(s)
		switch {
		case tt.prefix == "!":
			if err == nil {
				t.Errorf("%v: no error", tt.settings)
			}
		case err != nil:
			t.Errorf("%v: %v", tt.settings, err)
		case tt.prefix == "-":
			if p != nil {
				t.Errorf("%v: Prometheus without prometheus_enabled", tt.settings)
			}
		case p == nil || p.Prefix() != tt.prefix:
			t.Errorf("%v: prefix %q, want %q", tt.settings, p.Prefix(), tt.prefix)
		}
	}
}
