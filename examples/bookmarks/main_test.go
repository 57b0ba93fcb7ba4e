package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestServerWithoutSetup(t *testing.T) {
	h := newService(t)
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
	t.Run("purge --older-than succeeds with memory backends and reports the count", func(t *testing.T) {
		var out strings.Builder
		if err := run(context.Background(), []string{"purge", "--ini", ini, "--older-than", "720h"}, &out, quiet()); err != nil {
			t.Fatal(err)
		}
		if out.String() != "purged 0 tombstones\n" {
			t.Errorf("output %q", out.String())
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
		addr := testenv.FreeAddr(t)
		var logs testenv.Buffer
		stop := testenv.Start(t, func(ctx context.Context) error {
			return run(ctx, []string{"--ini", ini, "--listen", addr}, io.Discard, slog.New(slog.NewTextHandler(&logs, nil)))
		})
		if code := testenv.WaitHTTP(t, "http://"+addr+"/v1/__lbheartbeat__"); code != 200 {
			t.Errorf("lbheartbeat = %d", code)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(logs.String(), "http://"+addr+"/") {
			t.Errorf("logs do not show the URL: %s", logs.String())
		}
	})
}
