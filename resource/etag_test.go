package resource_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Every response that carries an ETag stores it under Go's canonical key, so that
// Header.Get("ETag") finds it in a middleware or a test; on the wire, header names are
// case-insensitive.
func TestETagIsReadableWithHeaderGet(t *testing.T) {
	s := newServer(t, nil)
	obj := s.create("alice", map[string]any{"name": "cep"})
	path := "/v1/mushrooms/" + obj["id"].(string)
	current := fmt.Sprintf(`"%.0f"`, obj["last_modified"].(float64))
	tests := []struct {
		name string
		code int
		q    req
	}{
		{"a list", 200, req{Method: "GET", Path: "/v1/mushrooms", User: "alice"}},
		{"an object", 200, req{Method: "GET", Path: path, User: "alice"}},
		{"a 304 Not Modified", 304, req{Method: "GET", Path: path, User: "alice", Header: map[string]string{"If-None-Match": current}}},
		{"a 412 Precondition Failed", 412, req{Method: "PATCH", Path: path, User: "alice", Body: `{"data": {}}`,
			Header: map[string]string{"If-Match": `"1"`}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.must(tt.code, tt.q)
			if v := r.Header.Values("ETag"); len(v) != 1 || !strings.HasPrefix(v[0], `"`) {
				t.Errorf(`Header.Values("ETag") = %q, want one quoted timestamp`, v)
			}
			//lint:ignore SA1008 the non-canonical key is the one that must be absent
			if v, ok := r.Header["ETag"]; ok {
				t.Errorf(`Header["ETag"] = %q, want the value under the canonical key only`, v)
			}
		})
	}
	t.Run("on the wire", func(t *testing.T) {
		srv := httptest.NewServer(s.h)
		defer srv.Close()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWxpY2U6c2VjcmV0\r\nConnection: close\r\n\r\n", path)
		sc := bufio.NewScanner(conn)
		var lines []string
		for sc.Scan() && sc.Text() != "" {
			lines = append(lines, sc.Text())
		}
		if len(lines) == 0 || !strings.Contains(lines[0], fmt.Sprint(http.StatusOK)) {
			t.Fatalf("response: %q", lines)
		}
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(strings.ToLower(l), "etag: \"")
		}
		if !found {
			t.Errorf("no ETag line in %q", lines)
		}
	})
}
