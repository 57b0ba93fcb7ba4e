package main

import (
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet"
)

func TestSharedArticles(t *testing.T) {
	h := newService(t)
	alice := &client{t: t, h: h, user: "alice"}
	bob := &client{t: t, h: h, user: "bob"}
	anonymous := &client{t: t, h: h}
	bobID := "basicauth:" + cliquet.HMACUserID(devSecret, "bob:password")

	private := alice.must(201, "POST", "/v1/articles", `{"data": {"title": "draft"}}`).data()["id"].(string)
	shared := alice.must(201, "POST", "/v1/articles", `{"data": {"title": "news"}, "permissions": {"read": ["`+bobID+`"]}}`)
	sharedID := shared.data()["id"].(string)
	if p := shared.body["permissions"].(map[string]any); len(p["write"].([]any)) != 1 || p["read"].([]any)[0] != bobID {
		t.Fatalf("permissions of the shared article: %v", p)
	}

	t.Run("bob lists only what alice shared with him", func(t *testing.T) {
		list := bob.must(200, "GET", "/v1/articles", "").list()
		if len(list) != 1 || list[0]["id"] != sharedID {
			t.Fatalf("bob's list: %v", list)
		}
	})
	t.Run("bob reads the shared article but may not change it", func(t *testing.T) {
		bob.must(200, "GET", "/v1/articles/"+sharedID, "")
		if r := bob.must(403, "PATCH", "/v1/articles/"+sharedID, `{"data": {"title": "mine"}}`); r.body["errno"].(float64) != 121 {
			t.Fatalf("errno %v", r.body["errno"])
		}
	})
	t.Run("the private article is forbidden to bob and anonymous users", func(t *testing.T) {
		bob.must(403, "GET", "/v1/articles/"+private, "")
		r := anonymous.must(401, "GET", "/v1/articles/"+private, "")
		if r.header.Get("WWW-Authenticate") == "" || r.body["errno"].(float64) != 104 {
			t.Fatalf("401 without challenge or errno 104: %v %v", r.header, r.body)
		}
	})
	t.Run("granting write lets bob edit", func(t *testing.T) {
		alice.must(200, "PATCH", "/v1/articles/"+sharedID, `{"permissions": {"write": ["`+bobID+`"]}}`)
		r := bob.must(200, "PATCH", "/v1/articles/"+sharedID, `{"data": {"title": "edited"}}`)
		if r.data()["title"] != "edited" || !strings.Contains(r.body["permissions"].(map[string]any)["write"].([]any)[0].(string), "basicauth:") {
			t.Fatalf("bob's edit: %v", r.body)
		}
	})
	t.Run("bookmarks stay private per user", func(t *testing.T) {
		alice.must(201, "POST", "/v1/bookmarks", `{"data": {"url": "https://example.com"}}`)
		if list := bob.must(200, "GET", "/v1/bookmarks", "").list(); len(list) != 0 {
			t.Fatalf("bob sees alice's bookmarks: %v", list)
		}
	})
}
