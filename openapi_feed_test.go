package cliquet_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v5"
)

func TestOpenAPIDescribesTheChangeFeeds(t *testing.T) {
	app := newAPIApp(t, nil)
	doc, raw := getAPI(t, app)
	get := lookup(doc, "paths", "/notes", "get").(map[string]any)
	if lookup(get, "responses", "200", "content", "text/event-stream", "schema") == nil {
		t.Error("GET /notes documents no text/event-stream body")
	}
	if lookup(get, "responses", "429") == nil {
		t.Error("GET /notes documents no 429")
	}
	found := false
	for _, p := range lookupList(get, "parameters") {
		found = found || p.(map[string]any)["name"] == "Last-Event-ID"
	}
	if !found {
		t.Error("GET /notes documents no Last-Event-ID header")
	}
	if head := lookup(doc, "paths", "/notes", "head", "responses", "200", "content"); head != nil {
		t.Errorf("HEAD /notes documents a body: %v", head)
	}

	// The data of a real event matches the documented schema note.change.
	c := jsonschema.NewCompiler()
	c.Draft = jsonschema.Draft2020
	if err := c.AddResource("mem:///api.json", bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("mem:///api.json#/components/schemas/note.change")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(app.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/notes", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.SetBasicAuth("alice", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	post, _ := http.NewRequest("POST", srv.URL+"/v1/notes", strings.NewReader(`{"data": {"title": "t", "tags": ["a"]}}`))
	post.SetBasicAuth("alice", "pw")
	post.Header.Set("Content-Type", "application/json")
	if r, err := http.DefaultClient.Do(post); err != nil || r.StatusCode != 201 {
		t.Fatalf("POST: %v %v", r, err)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var v any
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatal(err)
			}
			if err := schema.Validate(v); err != nil {
				t.Errorf("the event does not match note.change: %v", err)
			}
			return
		}
	}
	t.Fatalf("no event: %v", sc.Err())
}
