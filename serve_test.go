package cliquet_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/internal/testenv"
)

// serveLogs collects the JSON records of a logger, safe for concurrent use.
type serveLogs struct{ testenv.Buffer }

// field returns the value of key in the first record whose msg is msg, or "".
func (l *serveLogs) field(msg, key string) string {
	sc := bufio.NewScanner(strings.NewReader(l.String()))
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec["msg"] == msg {
			s, _ := rec[key].(string)
			return s
		}
	}
	return ""
}

// startServing runs ListenAndServe on a free port and returns its base URL, once it listens.
func startServing(t *testing.T, ctx context.Context, h http.Handler, logs *serveLogs) (string, <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		done <- cliquet.ListenAndServe(ctx, "127.0.0.1:0", h, slog.New(slog.NewJSONHandler(logs, nil)))
	}()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if u := logs.field("listening", "url"); u != "" {
			return u, done
		}
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned early: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("ListenAndServe did not log its URL")
	return "", nil
}

func TestListenAndServe(t *testing.T) {
	t.Parallel()
	t.Run("it serves the handler, logs where it listens and stops when the context is cancelled", func(t *testing.T) {
		var logs serveLogs
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello "+r.URL.Path) })
		url, done := startServing(t, ctx, h, &logs)
		if addr := logs.field("listening", "addr"); url != "http://"+addr+"/" || strings.HasSuffix(addr, ":0") {
			t.Errorf("logged url %q addr %q, want the bound address", url, addr)
		}
		resp, err := http.Get(url + "x")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "hello /x" {
			t.Errorf("body %q", b)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("ListenAndServe = %v, want nil after a graceful shutdown", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the server did not stop")
		}
		if _, err := http.Get(url); err == nil {
			t.Error("the server still answers after the shutdown")
		}
		if logs.field("shutting down", "addr") == "" {
			t.Error("the shutdown was not logged")
		}
	})
	t.Run("a request in flight completes during the graceful shutdown", func(t *testing.T) {
		var logs serveLogs
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		started, release := make(chan struct{}), make(chan struct{})
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			close(started)
			<-release
			io.WriteString(w, "done")
		})
		url, done := startServing(t, ctx, h, &logs)
		got := make(chan string, 1)
		go func() {
			resp, err := http.Get(url)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			got <- string(b)
		}()
		<-started
		cancel()
		select {
		case err := <-done:
			t.Fatalf("ListenAndServe returned %v before the request in flight finished", err)
		case <-time.After(100 * time.Millisecond):
		}
		close(release)
		if body := <-got; body != "done" {
			t.Errorf("the request in flight got %q, want done", body)
		}
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe = %v", err)
		}
	})
	t.Run("an address in use is an error", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		err = cliquet.ListenAndServe(context.Background(), ln.Addr().String(), http.NotFoundHandler(), slog.New(slog.NewTextHandler(io.Discard, nil)))
		var opErr *net.OpError
		if !errors.As(err, &opErr) {
			t.Errorf("err = %v, want a *net.OpError", err)
		}
	})
}
