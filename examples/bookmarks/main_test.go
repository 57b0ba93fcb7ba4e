package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/config"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestServerWithoutSetup(t *testing.T) {
	s, err := config.FromMap(nil, config.Options{ProjectName: projectName, Env: []string{},
		Defaults: map[string]string{"userid_hmac_secret": devSecret}})
	if err != nil {
		t.Fatal(err)
	}
	h, app, err := newServer(s, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	req := httptest.NewRequest("GET", "/v1/", nil)
	req.SetBasicAuth("alice", "secret")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var hello map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &hello); err != nil || rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if hello["project_name"] != "bookmarks" || hello["http_api_version"] != "1.0" {
		t.Errorf("hello = %v", hello)
	}
	if u, _ := hello["user"].(map[string]any); !strings.HasPrefix(u["id"].(string), "basicauth:") {
		t.Errorf("user = %v", hello["user"])
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	ini := filepath.Join(dir, "bookmarks.ini")
	os.WriteFile(ini, []byte("[app:main]\nbookmarks.storage_backend = memory\nbookmarks.userid_hmac_secret = x\n"), 0o600)

	t.Run("migrate --dry-run succeeds with memory backends", func(t *testing.T) {
		if err := run(context.Background(), []string{"migrate", "--ini", ini, "--dry-run"}, io.Discard, quiet()); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a missing ini file is an error", func(t *testing.T) {
		err := run(context.Background(), []string{"--ini", filepath.Join(dir, "nope.ini")}, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "nope.ini") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a bad setting fails startup naming the key", func(t *testing.T) {
		bad := filepath.Join(dir, "bad.ini")
		os.WriteFile(bad, []byte("[app:main]\nreadonly = perhaps\n"), 0o600)
		err := run(context.Background(), []string{"--ini", bad}, io.Discard, quiet())
		if err == nil || !strings.Contains(err.Error(), "readonly") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the server listens, logs its URL and stops when the context ends", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var logs syncBuffer
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"--ini", ini, "--listen", addr}, io.Discard, slog.New(slog.NewTextHandler(&logs, nil)))
		}()
		var res *http.Response
		for i := 0; i < 100; i++ {
			if res, err = http.Get("http://" + addr + "/v1/__lbheartbeat__"); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("lbheartbeat = %d", res.StatusCode)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("server did not stop")
		}
		if !strings.Contains(logs.String(), "http://"+addr+"/") {
			t.Errorf("logs do not show the URL: %s", logs.String())
		}
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
