package monitoring

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cactus/go-statsd-client/v5/statsd"
	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/config"
)

// Metrics sends metrics to a StatsD server, to [Prometheus] metrics, or to both. A nil
// *Metrics is valid and discards everything, so callers never need to check whether metrics
// are configured. It is safe for concurrent use.
type Metrics struct {
	client statsd.Statter // nil without StatsD
	prom   *Prometheus    // nil without Prometheus
}

// WithPrometheus returns Metrics recording every event of m (none for a nil m) in p too;
// m itself is unchanged and still owns the StatsD client closed by Close. A nil p returns m.
func (m *Metrics) WithPrometheus(p *Prometheus) *Metrics {
	if p == nil {
		return m
	}
	out := &Metrics{prom: p}
	if m != nil {
		out.client = m.client
	}
	return out
}

// Prometheus returns the Prometheus metrics events are recorded in, nil when none.
func (m *Metrics) Prometheus() *Prometheus {
	if m == nil {
		return nil
	}
	return m.prom
}

// FlushInterval is how long NewStatsD's client buffers metrics before sending them (it also
// sends when a UDP packet is full).
const FlushInterval = 100 * time.Millisecond

// NewStatsD returns Metrics sending to the StatsD server at rawURL ("udp://host:port"; a
// bare "host:port" is accepted too), with every metric name prefixed by prefix and a dot
// (no prefix when prefix is ""). Metrics are buffered for at most [FlushInterval]. The
// address is resolved once; an empty or malformed URL, or a scheme other than udp, is an
// error. Call Close to flush and release the socket.
func NewStatsD(rawURL, prefix string) (*Metrics, error) {
	addr, err := statsdAddr(rawURL)
	if err != nil {
		return nil, err
	}
	c, err := statsd.NewClientWithConfig(&statsd.ClientConfig{
		Address:       addr,
		Prefix:        strings.TrimSuffix(prefix, "."),
		UseBuffered:   true,
		FlushInterval: FlushInterval,
	})
	if err != nil {
		return nil, fmt.Errorf("monitoring: statsd %s: %w", rawURL, err)
	}
	return &Metrics{client: c}, nil
}

func statsdAddr(rawURL string) (string, error) {
	if rawURL == "" {
		return "", errors.New("monitoring: statsd URL is empty")
	}
	if !strings.Contains(rawURL, "://") {
		rawURL = "udp://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("monitoring: statsd URL: %w", err)
	}
	if u.Scheme != "udp" {
		return "", fmt.Errorf("monitoring: statsd URL %q: scheme must be udp", rawURL)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", fmt.Errorf("monitoring: statsd URL %q has no host", rawURL)
	}
	if port == "" {
		port = "8125"
	}
	return net.JoinHostPort(host, port), nil
}

// NewMetricsFromSettings returns the Metrics described by the settings: StatsD when
// statsd_url is set, Prometheus (see [NewPrometheusFromSettings]) when prometheus_enabled
// is true, both when both are, and nil (discarding everything) when neither is. The StatsD
// prefix is statsd_prefix when it was set explicitly, else project_name when it is set,
// else statsd_prefix's default "cliquet" (Cliquet used project_name over statsd_prefix).
func NewMetricsFromSettings(s *config.Settings) (*Metrics, error) {
	prom, err := NewPrometheusFromSettings(s)
	if err != nil {
		return nil, err
	}
	u := s.String("statsd_url")
	if u == "" {
		return (*Metrics)(nil).WithPrometheus(prom), nil
	}
	prefix := s.String("statsd_prefix")
	if s.Origin("statsd_prefix") == "default" {
		if p := s.String("project_name"); p != "" {
			prefix = p
		}
	}
	m, err := NewStatsD(u, prefix)
	if err != nil {
		return nil, err
	}
	return m.WithPrometheus(prom), nil
}

// Timing records a duration under the timer name.
func (m *Metrics) Timing(name string, d time.Duration) {
	if m == nil {
		return
	}
	if m.client != nil {
		_ = m.client.TimingDuration(name, d, 1)
	}
	if m.prom != nil {
		m.prom.timing(name, d)
	}
}

// Incr adds one to the counter name.
func (m *Metrics) Incr(name string) {
	if m == nil {
		return
	}
	if m.client != nil {
		_ = m.client.Inc(name, 1, 1)
	}
	if m.prom != nil {
		m.prom.incr(name)
	}
}

// Unique adds value to the set name (StatsD counts distinct values per flush interval).
// Characters that would break the StatsD line format (":|@#" and white space) are replaced.
func (m *Metrics) Unique(name, value string) {
	if m == nil {
		return
	}
	if m.client != nil {
		_ = m.client.Set(name, setValue(value), 1)
	}
	if m.prom != nil {
		m.prom.unique(name, value)
	}
}

// request records one request: the StatsD view.<route>.<METHOD> timer, code.<status>
// counter, users set and authn_type.<type> counter, or their Prometheus series.
func (m *Metrics) request(route, method string, status int, d time.Duration, uid, authn string) {
	if m.client != nil {
		_ = m.client.TimingDuration("view."+route+"."+method, d, 1)
		_ = m.client.Inc("code."+strconv.Itoa(status), 1, 1)
		if uid != "" {
			_ = m.client.Set("users", setValue(uid), 1)
			if authn != "" {
				_ = m.client.Inc("authn_type."+Name(authn), 1, 1)
			}
		}
	}
	if m.prom != nil {
		if authn != "" {
			authn = Name(authn)
		}
		m.prom.request(route, method, status, d, uid, authn)
	}
}

// backendCall records a call to a backend method: the StatsD timer statsdPrefix+method
// (<kind>.<name>.<method>) or the Prometheus backend histogram.
func (m *Metrics) backendCall(statsdPrefix, kind, name, method string, d time.Duration) {
	if m.client != nil {
		_ = m.client.TimingDuration(statsdPrefix+method, d, 1)
	}
	if m.prom != nil {
		m.prom.backendCall(kind, name, method, d)
	}
}

// Close flushes buffered metrics and closes the socket. It is safe on a nil *Metrics.
func (m *Metrics) Close() error {
	if m == nil || m.client == nil {
		return nil
	}
	return m.client.Close()
}

func setValue(s string) string {
	if !strings.ContainsAny(s, ":|@# \t\r\n") {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch r {
		case ':':
			return '.'
		case '|', '@', '#', ' ', '\t', '\r', '\n':
			return '_'
		}
		return r
	}, s)
}

// Name turns s into a StatsD name segment: slashes become "-", braces are dropped around
// a route parameter name which is surrounded by underscores ("{bid}" → "_bid_"), and any
// other character outside [A-Za-z0-9_-] becomes "_". Leading and trailing slashes are
// trimmed; "" becomes "root".
func Name(s string) string {
	s = strings.Trim(s, "/")
	if s == "" {
		return "root"
	}
	var b strings.Builder
	b.Grow(len(s) + 4)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		case c == '/':
			b.WriteByte('-')
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// RequestMetrics returns a middleware that, for every request, records:
//
//	view.<route>.<METHOD>   a timer of the request duration
//	code.<status>           a counter per response status
//	authn_type.<type>       a counter per authentication policy, for authenticated requests
//	users                   a set of the authenticated user ids (unique users)
//
// <route> is opts.RouteName(r) when set, else the chi route pattern passed through [Name]
// ("/v1/buckets/{bid}" → "v1-buckets-_bid_"), "unmatched" when chi matched no route, and
// the request path (through Name) when the request was not routed by chi at all (beware of
// unbounded names in that case). The identity comes from [SetUser] or the opts getters. With
// a nil m the middleware passes requests through untouched.
func RequestMetrics(m *Metrics, opts RequestOptions) func(http.Handler) http.Handler {
	now := opts.now()
	return func(next http.Handler) http.Handler {
		if m == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			st, w, r, _ := begin(w, r, opts.Context)
			if st.start.IsZero() {
				st.start = now()
			}
			next.ServeHTTP(w, r)
			d := now().Sub(st.start)
			var route string
			if opts.RouteName != nil {
				route = opts.RouteName(r)
			} else if rc := chi.RouteContext(r.Context()); rc != nil {
				if p := rc.RoutePattern(); p != "" {
					route = Name(p)
				} else {
					route = "unmatched"
				}
			} else {
				route = Name(r.URL.Path)
			}
			uid, authn := st.user(r, opts.UserID, opts.AuthnType)
			m.request(route, r.Method, st.rw.code(), d, uid, authn)
		})
	}
}
