package cliquet

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/config"
)

// TestUnknownSettingsWarn: Initialize logs one WARN per set key that no part of the toolkit
// knows, with the nearest known key as a hint; per-resource keys, listener options and the
// embedder's declared keys are known.
func TestUnknownSettingsWarn(t *testing.T) {
	s, err := config.FromMap(map[string]string{
		"project_version":    "1.0.0",
		"userid_hmac_secret": testSecret,
		"storage_backend":    "",
		// typos and strangers
		"paginate_byy":      "10",
		"cors_origin":       "*",
		"totally_unrelated": "x",
		// known by pattern: resources and listeners are registered after Initialize
		"bookmarks_cache_expires_seconds": "60",
		"bucket_create_principals":        "system.Authenticated",
		"article_read_principals":         "system.Everyone",
		"plural_bookmark_delete_enabled":  "false",
		"record_mushroom_put_enabled":     "true",
		"event_listeners.redis.listname":  "x",
		// framework keys of Kinto and Cliquet files
		"use":              "egg:kinto",
		"pyramid.includes": "x",
		// declared by the embedder: Options.Known (exact and pattern), Defaults, Config
		"flush_endpoint_enabled":            "true",
		"myplugin.option":                   "1",
		"experimental_thing":                "1",
		"declared_by_config":                "1",
		"storage_statement_timeout":         "5", // a backend's setting
		"pagination_token_validity_seconds": "60",
	}, config.Options{
		ProjectName: "kinto",
		Env:         []string{"KINTO_READONLYY=true", "CLIQUET_BACKOFF=10"},
		Known:       []string{"flush_endpoint_enabled", "myplugin.*"},
		Defaults:    map[string]string{"experimental_thing": "0"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	app, err := Initialize(chi.NewRouter(), Config{
		Settings: s, KnownSettings: []string{"declared_by_config"},
		Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()

	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["setting"] == nil {
			continue
		}
		if rec["level"] != "WARN" {
			t.Errorf("level %v: %s", rec["level"], line)
		}
		hint, _ := rec["hint"].(string)
		got = append(got, rec["setting"].(string)+"→"+hint)
		if rec["setting"] == "readonlyy" && !strings.Contains(rec["origin"].(string), "KINTO_READONLYY") {
			t.Errorf("origin %v", rec["origin"])
		}
	}
	sort.Strings(got)
	want := []string{"cors_origin→cors_origins", "paginate_byy→paginate_by", "readonlyy→readonly", "totally_unrelated→"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("warnings %v, want %v\n%s", got, want, buf.String())
	}
}
