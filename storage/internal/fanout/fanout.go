// Package fanout is the listener side of [storage.Backend.Listen] shared by the backends: a set
// of listeners fed by one source (a backend's listening connection), opened when the first
// listener joins and closed when the last one leaves.
package fanout

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// Source opens a backend's listening connection and returns the function that closes it.
// Once it returned, the source calls send with every change it receives, from one
// goroutine, until it is closed. A nil Source means the backend sends itself (memory).
type Source func(ctx context.Context, send func(storage.Change)) (stop func(), err error)

// Set is the listeners of one backend. The zero value, with a nil source, is ready to use.
// It is safe for concurrent use.
type Set struct {
	// Source opens the listening connection at the first Listen; nil: none to open.
	Source Source

	mu        sync.Mutex // serialises Listen and the stops
	listeners atomic.Pointer[[]*listener]
	stopSrc   func() // closes the source; nil when it is not open
}

// listener is one Listen call; mu serialises its calls with its stop.
type listener struct {
	mu      sync.Mutex
	fn      func(storage.Change)
	stopped bool
}

// Listen implements storage.Backend.Listen: it opens the source when fn is the first
// listener, and returns once fn receives the changes the source sends.
func (s *Set) Listen(ctx context.Context, fn func(storage.Change)) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := s.load()
	if len(cur) == 0 && s.Source != nil && s.stopSrc == nil {
		stop, err := s.Source(ctx, s.Send)
		if err != nil {
			return nil, err
		}
		s.stopSrc = stop
	}
	l := &listener{fn: fn}
	next := append(append(make([]*listener, 0, len(cur)+1), cur...), l)
	s.listeners.Store(&next)
	var once sync.Once
	return func() { once.Do(func() { s.remove(l) }) }, nil
}

// remove stops l, waiting for its call in progress, and closes the source when l was the
// last listener.
func (s *Set) remove(l *listener) {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	s.mu.Lock()
	cur := s.load()
	next := make([]*listener, 0, len(cur))
	for _, x := range cur {
		if x != l {
			next = append(next, x)
		}
	}
	s.listeners.Store(&next)
	var stop func()
	if len(next) == 0 {
		stop, s.stopSrc = s.stopSrc, nil
	}
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Active reports whether some listener listens: a backend that announces its writes itself
// (memory) skips building the change otherwise.
func (s *Set) Active() bool { return len(s.load()) > 0 }

// Send calls every listener with c.
func (s *Set) Send(c storage.Change) {
	for _, l := range s.load() {
		l.mu.Lock()
		if !l.stopped {
			l.fn(c)
		}
		l.mu.Unlock()
	}
}

// Close stops every listener and closes the source.
func (s *Set) Close() {
	for _, l := range s.load() {
		s.remove(l)
	}
}

func (s *Set) load() []*listener {
	if p := s.listeners.Load(); p != nil {
		return *p
	}
	return nil
}

// Reopen calls open until it succeeds, waiting longer after each failure (100 ms, doubling
// up to 5 s): how a source reopens its broken listening connection. ok is false when ctx
// ended first.
func Reopen[T any](ctx context.Context, open func(context.Context) (T, error)) (conn T, ok bool) {
	wait := 100 * time.Millisecond
	for {
		if c, err := open(ctx); err == nil {
			return c, true
		}
		select {
		case <-ctx.Done():
			return conn, false
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}
