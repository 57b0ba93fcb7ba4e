package testenv

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// RefusedAddr is a loopback address where nothing listens (port 1, which needs privileges to
// bind): a client pointed at it fails at once with "connection refused", which is how tests
// build a backend whose server is down.
const RefusedAddr = "127.0.0.1:1"

// FreeAddr returns a loopback host:port that nothing listened on when it was called: an
// address for a server the test starts, or for a client that must fail to connect.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// Start runs run in a goroutine with a context that stop cancels. stop then waits for run to
// return and returns its error; it fails the test if run has not returned 10 seconds after
// the cancellation. Calling stop again returns the same error. If the test does not call
// stop, its cleanup does.
func Start(t testing.TB, run func(ctx context.Context) error) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	stop = sync.OnceValue(func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Error("testenv.Start: run did not return within 10s of its context's cancellation")
			return context.DeadlineExceeded
		}
	})
	t.Cleanup(func() { _ = stop() })
	return stop
}

// WaitHTTP gets url every 20ms until a server answers, for 2 seconds at most, and returns the
// status code of that first answer. It fails the test if no server answered.
func WaitHTTP(t testing.TB, url string) int {
	t.Helper()
	var err error
	for range 100 {
		var res *http.Response
		if res, err = http.Get(url); err == nil {
			res.Body.Close()
			return res.StatusCode
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no server answered GET %s: %v", url, err)
	return 0
}

// Buffer is a bytes.Buffer safe for concurrent use: a log that server goroutines write while
// the test reads it. The zero value is an empty buffer ready to use.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p to the buffer.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
