package monitoring

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cliquet-go/cliquet/config"
)

// DefaultHistogramBuckets are the upper bounds, in seconds, of the duration histograms
// when PrometheusOptions.Buckets is empty (kinto's prometheus_histogram_buckets default;
// +Inf is always added).
var DefaultHistogramBuckets = []float64{0.01, 0.05, 0.1, 0.5, 1, 3, 6}

// DefaultUsersWindow is the window over which the distinct users are counted when
// PrometheusOptions.UsersWindow is zero.
const DefaultUsersWindow = time.Minute

// PrometheusOptions configure [NewPrometheus].
type PrometheusOptions struct {
	// Prefix starts every metric name, followed by "_" (none when empty). Characters
	// outside [A-Za-z0-9_:] become "_".
	Prefix string
	// Buckets are the upper bounds, in seconds, of the duration histograms;
	// DefaultHistogramBuckets when empty.
	Buckets []float64
	// CreatedSamples adds the _created samples of counters and histograms to the
	// OpenMetrics exposition (a scraper that asks for the text format never gets them).
	CreatedSamples bool
	// UsersWindow is the window of the distinct users gauges; DefaultUsersWindow when zero.
	UsersWindow time.Duration

	now func() time.Time // tests
}

// Prometheus holds the metrics of one App in a registry of its own (never the global
// prometheus.DefaultRegisterer), served in the Prometheus exposition formats by Handler.
// It receives the events of a [Metrics] built with [Metrics.WithPrometheus]. It is safe for
// concurrent use.
type Prometheus struct {
	reg     *prometheus.Registry
	handler http.Handler
	prefix  string
	buckets []float64
	window  time.Duration
	now     func() time.Time

	requests  *prometheus.CounterVec
	durations *prometheus.HistogramVec
	backends  *prometheus.HistogramVec
	authn     *prometheus.CounterVec
	users     *distinct

	mu     sync.Mutex
	custom map[string]any // metric name → prometheus.Histogram, prometheus.Counter, *distinct or nil (refused)
}

// NewPrometheus returns the Prometheus metrics of one App, with the Go runtime and process
// collectors and these series (<p> is the prefix and "_"):
//
//	<p>requests_total{endpoint,method,status}              a counter of the requests
//	<p>request_duration_seconds{endpoint,method,status}    a histogram of their durations
//	<p>backend_call_duration_seconds{backend,name,method}  a histogram of the backend calls
//	<p>authenticated_requests_total{authn_type}            a counter per authentication policy
//	<p>users                                               distinct authenticated users in the last complete window
//
// endpoint is the route name of the StatsD view.<route>.<METHOD> timer (see
// [RequestMetrics]); backend is storage, cache or permission and name the backend's name.
// Other events sent through Metrics.Timing, Incr and Unique become
// <p><name>_seconds histograms, <p><name>_total counters and <p><name> gauges of distinct
// values, the dots of their names turned into "_".
func NewPrometheus(opts PrometheusOptions) (*Prometheus, error) {
	buckets := opts.Buckets
	if len(buckets) == 0 {
		buckets = DefaultHistogramBuckets
	}
	for i := 1; i < len(buckets); i++ {
		if buckets[i] <= buckets[i-1] {
			return nil, fmt.Errorf("monitoring: prometheus histogram buckets must be increasing, got %v", buckets)
		}
	}
	p := &Prometheus{
		reg:     prometheus.NewRegistry(),
		prefix:  promName(opts.Prefix),
		buckets: buckets,
		window:  opts.UsersWindow,
		now:     opts.now,
		custom:  map[string]any{},
	}
	if p.prefix != "" {
		p.prefix += "_"
	}
	if p.window <= 0 {
		p.window = DefaultUsersWindow
	}
	if p.now == nil {
		p.now = time.Now
	}
	p.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p.prefix + "requests_total",
		Help: "Requests served, by endpoint, method and response status.",
	}, []string{"endpoint", "method", "status"})
	p.durations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    p.prefix + "request_duration_seconds",
		Help:    "Duration of the requests, by endpoint, method and response status.",
		Buckets: buckets,
	}, []string{"endpoint", "method", "status"})
	p.backends = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    p.prefix + "backend_call_duration_seconds",
		Help:    "Duration of the calls to the storage, cache and permission backends, by backend, backend name and method.",
		Buckets: buckets,
	}, []string{"backend", "name", "method"})
	p.authn = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: p.prefix + "authenticated_requests_total",
		Help: "Authenticated requests, by authentication policy.",
	}, []string{"authn_type"})
	p.users = newDistinct(p.window, p.now)
	users := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: p.prefix + "users",
		Help: "Distinct authenticated users in the last complete window of " + p.window.String() + ".",
	}, p.users.value)
	for _, c := range []prometheus.Collector{
		p.requests, p.durations, p.backends, p.authn, users,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := p.reg.Register(c); err != nil {
			return nil, fmt.Errorf("monitoring: prometheus: %w", err)
		}
	}
	p.handler = promhttp.HandlerFor(p.reg, promhttp.HandlerOpts{
		EnableOpenMetrics:                   true,
		EnableOpenMetricsTextCreatedSamples: opts.CreatedSamples,
	})
	return p, nil
}

// NewPrometheusFromSettings returns the Prometheus metrics described by the settings
// prometheus_enabled, prometheus_prefix, prometheus_histogram_buckets and
// prometheus_created_metrics_enabled, or nil when prometheus_enabled is false. The prefix
// is prometheus_prefix when it was set explicitly, else project_name when it is set (as
// kinto's plugin), else prometheus_prefix's default "cliquet".
func NewPrometheusFromSettings(s *config.Settings) (*Prometheus, error) {
	on, err := s.Bool("prometheus_enabled")
	if err != nil || !on {
		return nil, err
	}
	prefix := s.String("prometheus_prefix")
	if s.Origin("prometheus_prefix") == "default" {
		if p := s.String("project_name"); p != "" {
			prefix = p
		}
	}
	var buckets []float64
	for _, f := range strings.Fields(strings.ReplaceAll(s.String("prometheus_histogram_buckets"), ",", " ")) {
		if strings.EqualFold(f, "inf") || strings.EqualFold(f, "+inf") {
			continue // always added
		}
		b, err := strconv.ParseFloat(f, 64)
		if err != nil || b <= 0 {
			return nil, fmt.Errorf("monitoring: setting %q: %q is not a positive number of seconds", "prometheus_histogram_buckets", f)
		}
		buckets = append(buckets, b)
	}
	created, err := s.Bool("prometheus_created_metrics_enabled")
	if err != nil {
		return nil, err
	}
	return NewPrometheus(PrometheusOptions{Prefix: prefix, Buckets: buckets, CreatedSamples: created})
}

// Registry returns the registry of p, to add collectors of your own.
func (p *Prometheus) Registry() *prometheus.Registry { return p.reg }

// Prefix returns the prefix of the metric names, with its trailing "_" ("" for none).
func (p *Prometheus) Prefix() string { return p.prefix }

// ServeHTTP answers with the metrics of p, in the text or OpenMetrics format the scraper
// asks for.
func (p *Prometheus) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

func (p *Prometheus) request(route, method string, status int, d time.Duration, uid, authn string) {
	code := strconv.Itoa(status)
	p.requests.WithLabelValues(route, method, code).Inc()
	p.durations.WithLabelValues(route, method, code).Observe(d.Seconds())
	if uid != "" {
		p.users.add(uid)
		if authn != "" {
			p.authn.WithLabelValues(authn).Inc()
		}
	}
}

func (p *Prometheus) backendCall(kind, name, method string, d time.Duration) {
	p.backends.WithLabelValues(kind, name, method).Observe(d.Seconds())
}

// metric returns the custom metric name of the given kind ("_seconds" histogram, "_total"
// counter or "" distinct gauge), registering it on first use; nil when the name is taken
// by a metric of another type or invalid.
func (p *Prometheus) metric(name, suffix string) any {
	full := p.prefix + promName(name) + suffix
	p.mu.Lock()
	defer p.mu.Unlock()
	if m, ok := p.custom[full]; ok {
		return m
	}
	var c prometheus.Collector
	var m any
	switch suffix {
	case "_seconds":
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: full, Help: "Timer " + name + ".", Buckets: p.buckets})
		c, m = h, h
	case "_total":
		n := prometheus.NewCounter(prometheus.CounterOpts{Name: full, Help: "Counter " + name + "."})
		c, m = n, n
	default:
		d := newDistinct(p.window, p.now)
		c = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: full, Help: "Distinct values of " + name + " in the last complete window of " + p.window.String() + ".",
		}, d.value)
		m = d
	}
	if err := p.reg.Register(c); err != nil {
		m = nil // a name of ours, or of another type: dropped rather than mixed up
	}
	p.custom[full] = m
	return m
}

func (p *Prometheus) timing(name string, d time.Duration) {
	if h, ok := p.metric(name, "_seconds").(prometheus.Histogram); ok {
		h.Observe(d.Seconds())
	}
}

func (p *Prometheus) incr(name string) {
	if c, ok := p.metric(name, "_total").(prometheus.Counter); ok {
		c.Inc()
	}
}

func (p *Prometheus) unique(name, value string) {
	if d, ok := p.metric(name, "").(*distinct); ok {
		d.add(value)
	}
}

// promName turns s into a valid Prometheus metric name: characters outside [A-Za-z0-9_:]
// become "_", and a leading digit is preceded by "_".
func promName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_', c == ':':
			b.WriteByte(c)
		case c >= '0' && c <= '9':
			if i == 0 {
				b.WriteByte('_')
			}
			b.WriteByte(c)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// distinct counts the distinct values added in fixed windows (as StatsD counts a set per
// flush interval); value is the count of the last complete window, 0 when no value was
// added in it. Values are kept as 64-bit hashes, for the current window only.
type distinct struct {
	mu     sync.Mutex
	seed   maphash.Seed
	window time.Duration
	now    func() time.Time
	start  time.Time // of the current window
	cur    map[uint64]struct{}
	last   int
}

func newDistinct(window time.Duration, now func() time.Time) *distinct {
	return &distinct{seed: maphash.MakeSeed(), window: window, now: now, start: now().Truncate(window), cur: map[uint64]struct{}{}}
}

func (d *distinct) rotate() {
	t := d.now()
	elapsed := t.Sub(d.start)
	if elapsed < d.window {
		return
	}
	d.last = 0
	if elapsed < 2*d.window {
		d.last = len(d.cur)
	}
	if len(d.cur) > 0 {
		d.cur = map[uint64]struct{}{}
	}
	d.start = t.Truncate(d.window)
}

func (d *distinct) add(v string) {
	h := maphash.String(d.seed, v)
	d.mu.Lock()
	d.rotate()
	d.cur[h] = struct{}{}
	d.mu.Unlock()
}

func (d *distinct) value() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rotate()
	return float64(d.last)
}
