package main

import (
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/cliquettest"
	"github.com/cliquet-go/cliquet/protocol"
)

// newTestService is the bookmarks service on cliquettest's settings (memory backends, the
// test secret, the environment ignored) and its discarding logger.
func newTestService(t *testing.T) *cliquettest.Client {
	t.Helper()
	h, app, err := newServer(cliquettest.Settings(t, nil), cliquettest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return cliquettest.NewClient(h)
}

// The shared articles, tested with the public helper package cliquettest (docs/testing.md).
func TestSharedArticles(t *testing.T) {
	c := newTestService(t)
	alice, bob, anonymous := c.As("alice"), c.As("bob"), c
	bobID := cliquettest.UserID("bob")

	private := alice.Post(t, "/v1/articles", `{"data": {"title": "draft"}}`)
	shared := alice.Post(t, "/v1/articles", map[string]any{
		"data":        map[string]any{"title": "news"},
		"permissions": map[string]any{"read": []string{bobID}},
	})
	if private.Status != 201 || shared.Status != 201 {
		t.Fatalf("create: %d %d", private.Status, shared.Status)
	}
	privateID, sharedID := private.Data()["id"].(string), shared.Data()["id"].(string)
	if p := shared.Body["permissions"].(map[string]any); len(p["write"].([]any)) != 1 || p["read"].([]any)[0] != bobID {
		t.Fatalf("permissions of the shared article: %v", p)
	}

	t.Run("bob lists only what alice shared with him", func(t *testing.T) {
		list := bob.Get(t, "/v1/articles").List()
		if len(list) != 1 || list[0]["id"] != sharedID {
			t.Fatalf("bob's list: %v", list)
		}
	})
	t.Run("bob reads the shared article but may not change it", func(t *testing.T) {
		if r := bob.Get(t, "/v1/articles/"+sharedID); r.Status != 200 {
			t.Fatalf("bob's read: %d", r.Status)
		}
		cliquettest.AssertError(t, bob.Patch(t, "/v1/articles/"+sharedID, `{"data": {"title": "mine"}}`), 403, protocol.ErrnoForbidden)
	})
	t.Run("the private article is forbidden to bob and anonymous users", func(t *testing.T) {
		cliquettest.AssertError(t, bob.Get(t, "/v1/articles/"+privateID), 403, protocol.ErrnoForbidden)
		r := anonymous.Get(t, "/v1/articles/"+privateID)
		cliquettest.AssertError(t, r, 401, protocol.ErrnoMissingAuthToken)
		if r.Header.Get("WWW-Authenticate") == "" {
			t.Fatalf("401 without challenge: %v", r.Header)
		}
	})
	t.Run("granting write lets bob edit", func(t *testing.T) {
		if r := alice.Patch(t, "/v1/articles/"+sharedID, `{"permissions": {"write": ["`+bobID+`"]}}`); r.Status != 200 {
			t.Fatalf("grant: %d %s", r.Status, r.Raw)
		}
		r := bob.Patch(t, "/v1/articles/"+sharedID, `{"data": {"title": "edited"}}`)
		if r.Status != 200 || r.Data()["title"] != "edited" || !strings.Contains(r.Body["permissions"].(map[string]any)["write"].([]any)[0].(string), "basicauth:") {
			t.Fatalf("bob's edit: %d %v", r.Status, r.Body)
		}
	})
	t.Run("bookmarks stay private per user", func(t *testing.T) {
		if r := alice.Post(t, "/v1/bookmarks", `{"data": {"url": "https://example.com"}}`); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Raw)
		}
		if list := bob.Get(t, "/v1/bookmarks").List(); len(list) != 0 {
			t.Fatalf("bob sees alice's bookmarks: %v", list)
		}
	})
	t.Run("a bookmark without url is a validation error", func(t *testing.T) {
		cliquettest.AssertError(t, alice.Post(t, "/v1/bookmarks", `{"data": {}}`), 400, protocol.ErrnoInvalidParameters, "body")
	})
}
