package testenv

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/storage"
)

// Changes records what a storage backend's Listen announces to one listener (see [Listen]).
type Changes struct {
	mu      sync.Mutex
	changes []storage.Change
	added   chan struct{}
}

// Listener is what [Listen] needs: the Listen method of storage.Backend.
type Listener interface {
	Listen(ctx context.Context, fn func(storage.Change)) (func(), error)
}

// Listen starts a listener on n, stopped when the test ends.
func Listen(t testing.TB, n Listener) *Changes {
	t.Helper()
	c := &Changes{added: make(chan struct{}, 1)}
	stop, err := n.Listen(context.Background(), func(ch storage.Change) {
		c.mu.Lock()
		c.changes = append(c.changes, ch)
		c.mu.Unlock()
		select {
		case c.added <- struct{}{}:
		default:
		}
	})
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	t.Cleanup(stop)
	return c
}

// All returns the changes received so far.
func (c *Changes) All() []storage.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.changes)
}

// Await waits up to within for a change that match accepts, and returns it; it fails the
// test when none arrives.
func (c *Changes) Await(t testing.TB, within time.Duration, match func(storage.Change) bool) storage.Change {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, ch := range c.All() {
			if match(ch) {
				return ch
			}
		}
		select {
		case <-c.added:
		case <-deadline:
			t.Fatalf("no matching change within %s; got %+v", within, c.All())
		}
	}
}

// At matches the change of collection s at timestamp ts.
func At(s storage.Scope, ts int64) func(storage.Change) bool {
	return func(c storage.Change) bool { return c.Scope == s && c.Timestamp == ts }
}

// ListenerComesBack checks that a listener of b, whose listening connection kill breaks
// from outside, gets a lost change, then hears b's writes again.
func ListenerComesBack(t testing.TB, b storage.Backend, kill func() error) {
	t.Helper()
	changes := Listen(t, b)
	if err := kill(); err != nil {
		t.Fatalf("breaking the listening connection: %v", err)
	}
	changes.Await(t, 10*time.Second, func(c storage.Change) bool { return c.Lost })
	s := storage.Scope{Resource: "record", Parent: "again"}
	o, err := b.Create(context.Background(), s, storage.Object{})
	if err != nil {
		t.Fatal(err)
	}
	changes.Await(t, time.Second, At(s, o.LastModified))
}
