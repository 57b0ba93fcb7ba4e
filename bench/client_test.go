package main

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer is an httptest.Server that counts the connections it accepted.
func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

func TestClientReadsBodiesAndHeaders(t *testing.T) {
	big := strings.Repeat("0123456789", 1000) // 10,000 bytes: net/http chunks it
	mux := http.NewServeMux()
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.Header().Set("ETag", `"42"`)
		io.WriteString(w, "hello")
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Next-Page", "http://x/v1/bookmarks?_token=abc")
		w.Header().Set("Total-Records", "7")
		for i := 0; i < len(big); i += 1000 {
			io.WriteString(w, big[i:i+1000])
			w.(http.Flusher).Flush() // one chunk each
		}
	})
	mux.HandleFunc("/large", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, big) // no Content-Length: chunked by the server past its buffer
	})
	mux.HandleFunc("/count", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Total-Objects", "1000000")
		w.Header().Set("Content-Length", "12") // a HEAD response announces a body it does not send
		if r.Method != http.MethodHead {
			io.WriteString(w, "not for HEAD")
		}
	})
	mux.HandleFunc("/notmodified", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"1"`)
		w.WriteHeader(http.StatusNotModified)
	})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	srv, conns := countingServer(t, mux)
	c := newClient(context.Background(), srv.URL, 5*time.Second)
	defer c.close()

	tests := []struct {
		name   string
		method string
		path   string
		want   int
		body   string
		header respHeader
	}{
		{"reads a Content-Length body and the ETag", "GET", "/length", 200, "hello", respHeader{etag: `"42"`}},
		{"reads a body sent in flushed chunks and the paging headers", "GET", "/chunked", 200, big,
			respHeader{nextPage: "http://x/v1/bookmarks?_token=abc", totalRecords: "7"}},
		{"reads a large body the server chunks by itself", "GET", "/large", 200, big, respHeader{}},
		{"reads no body after HEAD even with a Content-Length", "HEAD", "/count", 200, "", respHeader{totalObjects: "1000000"}},
		{"reads no body after 304", "GET", "/notmodified", 304, "", respHeader{etag: `"1"`}},
		{"reads no body after 204", "DELETE", "/nocontent", 204, "", respHeader{}},
		{"reads an empty body", "GET", "/empty", 200, "", respHeader{}},
	}
	// Twice over, on one connection: a body read wrongly would desynchronise the next response.
	for range 2 {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				h, b, err := newCall(c, tt.method, tt.path, "u", nil).do(tt.want, true)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != tt.body {
					t.Errorf("body of %d bytes, want %d bytes (%.40q…)", len(b), len(tt.body), b)
				}
				if h != tt.header {
					t.Errorf("headers %+v, want %+v", h, tt.header)
				}
			})
		}
	}
	if got := conns.Load(); got != 1 {
		t.Errorf("%d connections for sequential requests, want 1", got)
	}
	if got := c.dials.Load(); got != 1 {
		t.Errorf("%d dials, want 1", got)
	}
}

func TestClientWritesTheRequest(t *testing.T) {
	type seen struct {
		method, uri, host, auth, ctype, ifMatch, body string
		length                                        int64
	}
	got := make(chan seen, 1)
	srv, _ := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("Authorization"), r.Header.Get("Content-Type"),
			r.Header.Get("If-Match"), string(b), r.ContentLength}
		w.WriteHeader(http.StatusCreated)
	}))
	c := newClient(context.Background(), srv.URL, 5*time.Second)
	defer c.close()
	k := newCall(c, http.MethodPatch, "/v1/bookmarks/x?a=1", "alice", []byte(`{"data":{}}`))
	k.setHeader("If-Match", `"1"`)
	if _, _, err := k.do(http.StatusCreated, false); err != nil {
		t.Fatal(err)
	}
	want := seen{"PATCH", "/v1/bookmarks/x?a=1", c.addr, basicAuth("alice"), "application/json", `"1"`, `{"data":{}}`, 11}
	if s := <-got; s != want {
		t.Errorf("the server saw %+v, want %+v", s, want)
	}
	// Changed headers and body go out on the next request.
	k.setHeader("If-Match", `"2"`)
	k.setAuth(basicAuth("bob"))
	k.body = []byte(`{}`)
	if _, _, err := k.do(http.StatusCreated, false); err != nil {
		t.Fatal(err)
	}
	want = seen{"PATCH", "/v1/bookmarks/x?a=1", c.addr, basicAuth("bob"), "application/json", `"2"`, `{}`, 2}
	if s := <-got; s != want {
		t.Errorf("the server saw %+v, want %+v", s, want)
	}
	k = newCall(c, http.MethodGet, "/", "carol", nil)
	if _, _, err := k.do(http.StatusCreated, false); err != nil {
		t.Fatal(err)
	}
	if s := <-got; s.ctype != "" || s.length != 0 || s.method != "GET" {
		t.Errorf("a request without a body was seen as %+v", s)
	}
}

func TestClientReusesConnections(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok")
	}))
	c := newClient(context.Background(), srv.URL, 5*time.Second)
	defer c.close()
	const workers, each = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := newCall(c, http.MethodGet, "/", "u", nil)
			for range each {
				if _, _, err := k.do(http.StatusOK, false); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n < 1 || n > workers {
		t.Errorf("%d connections for %d concurrent workers, want between 1 and %d", n, workers, workers)
	}
	if c.dials.Load() != conns.Load() {
		t.Errorf("%d dials, the server accepted %d connections", c.dials.Load(), conns.Load())
	}
}

func TestClientReconnects(t *testing.T) {
	t.Run("after a response with Connection: close", func(t *testing.T) {
		srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}))
		c := newClient(context.Background(), srv.URL, 5*time.Second)
		defer c.close()
		k := newCall(c, http.MethodPost, "/", "u", []byte("{}"))
		for i := range 5 {
			if _, b, err := k.do(http.StatusOK, true); err != nil || string(b) != "bye" {
				t.Fatalf("request %d: %q, %v", i, b, err)
			}
		}
		if n := conns.Load(); n != 5 {
			t.Errorf("%d connections, want 5 (one per request)", n)
		}
	})
	t.Run("after the server closed an idle connection", func(t *testing.T) {
		srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "ok")
		}))
		c := newClient(context.Background(), srv.URL, 5*time.Second)
		defer c.close()
		k := newCall(c, http.MethodGet, "/", "u", nil)
		for i := range 3 {
			if _, _, err := k.do(http.StatusOK, false); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
			srv.CloseClientConnections()
			time.Sleep(20 * time.Millisecond) // let the close reach the client's socket
		}
		if n := conns.Load(); n != 3 {
			t.Errorf("%d connections, want 3", n)
		}
	})
}

func TestClientReportsAnUnexpectedStatus(t *testing.T) {
	srv, conns := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"code":404,"errno":110}`, http.StatusNotFound)
	}))
	c := newClient(context.Background(), srv.URL, 5*time.Second)
	defer c.close()
	for range 2 {
		_, b, err := newCall(c, http.MethodGet, "/v1/x?y=1", "u", nil).do(http.StatusOK, true)
		if err == nil || b != nil {
			t.Fatalf("got %q, %v; want an error", b, err)
		}
		if want := `GET /v1/x?y=1: status 404, want 200: {"code":404,"errno":110}`; !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1: an error status keeps the connection", n)
	}
}

// rawServer answers every request on a connection with the scripted bytes, then closes the
// connection (hang false) or keeps it open without a word (hang true).
func rawServer(t *testing.T, script string, hang bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(done); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				r := bufio.NewReader(nc)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				io.WriteString(nc, script)
				if hang {
					<-done
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestClientFailsOnMalformedResponses(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		hang    bool
		timeout bool // the error is the deadline
	}{
		{"rejects a status line that is not HTTP", "HELLO THERE\r\n\r\n", false, false},
		{"rejects a status code that is not a number", "HTTP/1.1 2x0 OK\r\n\r\n", true, false},
		{"rejects a header line without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", true, false},
		{"rejects a Content-Length that is not a number", "HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n", true, false},
		{"rejects an unknown Transfer-Encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", true, false},
		{"rejects a chunk size that is not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", true, false},
		{"rejects a chunk not followed by CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", true, false},
		{"rejects a body cut short by the server", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", false, false},
		{"rejects headers cut short by the server", "HTTP/1.1 200 OK\r\nContent-Le", false, false},
		{"rejects a chunked body cut short by the server", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab", false, false},
		{"rejects a connection closed without a response", "", false, false},
		{"times out on a body that never ends", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", true, true},
		{"times out on a chunked body without its last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n", true, true},
		{"times out on a server that never answers", "", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClient(context.Background(), rawServer(t, tt.script, tt.hang), 300*time.Millisecond)
			defer c.close()
			start := time.Now()
			_, _, err := newCall(c, http.MethodGet, "/", "u", nil).do(http.StatusOK, true)
			if err == nil {
				t.Fatal("no error")
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("the error took %s", took)
			}
			if timedOut := errors.Is(err, os.ErrDeadlineExceeded); timedOut != tt.timeout {
				t.Errorf("error %v: deadline exceeded %t, want %t", err, timedOut, tt.timeout)
			}
		})
	}
}

func TestParseHelpers(t *testing.T) {
	tests := []struct {
		name string
		in   string
		hex  bool
		want int64
		ok   bool
	}{
		{"parses a decimal", "1234", false, 1234, true},
		{"rejects an empty decimal", "", false, 0, false},
		{"rejects a signed decimal", "+1", false, 0, false},
		{"rejects a decimal too long to fit", strings.Repeat("9", 19), false, 0, false},
		{"parses hex in either case", "1aF", true, 0x1af, true},
		{"rejects a hex digit out of range", "1g", true, 0, false},
		{"rejects hex too long to fit", strings.Repeat("f", 16), true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			var ok bool
			if tt.hex {
				got, ok = parseHex([]byte(tt.in))
			} else {
				got, ok = parseDecimal([]byte(tt.in))
			}
			if got != tt.want || ok != tt.ok {
				t.Errorf("parse(%q) = %d, %t; want %d, %t", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestClientStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := newClient(ctx, rawServer(t, "", true), time.Minute)
	defer c.close()
	k := newCall(c, http.MethodGet, "/", "u", nil)
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := k.do(http.StatusOK, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a request in flight when the context ended: %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the request failed after %s, not when the context ended", took)
	}
	if _, _, err := k.do(http.StatusOK, false); !errors.Is(err, context.Canceled) {
		t.Errorf("a request after the context ended: %v, want context.Canceled", err)
	}
}
