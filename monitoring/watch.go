package monitoring

import (
	"errors"
	"time"
)

// watch is what the backend decorators (WatchStorage, WatchCache, WatchPermission) share:
// the metrics and the names a call is recorded under. The decorators forward every method
// of their backend's contract: the optional capabilities are methods of the contract too,
// which a backend without them answers with its package's ErrNotSupported, so a decorator
// keeps them all without knowing which the backend has.
type watch struct {
	m      *Metrics
	prefix string // the StatsD timer prefix, <kind>.<name>.
	kind   string // storage, cache or permission
	name   string
}

func newWatch(m *Metrics, kind, name string) watch {
	return watch{m: m, prefix: kind + "." + name + ".", kind: kind, name: name}
}

// done records a call of method that started at start.
func (w *watch) done(method string, start time.Time) {
	w.m.backendCall(w.prefix, w.kind, w.name, method, time.Since(start))
}

// answered records a call of an optional method that started at start, unless the backend
// declined it (err matches errors.ErrUnsupported, which every package's ErrNotSupported
// matches): a declined call did nothing, and the fallback its caller then runs is recorded
// on its own.
func (w *watch) answered(method string, start time.Time, err error) {
	if !errors.Is(err, errors.ErrUnsupported) {
		w.done(method, start)
	}
}
