package monitoring

import "time"

// NewPrometheusForTest is NewPrometheus with a clock.
func NewPrometheusForTest(opts PrometheusOptions, now func() time.Time) (*Prometheus, error) {
	opts.now = now
	return NewPrometheus(opts)
}
