package cliquettest_test

import (
	"fmt"
	"testing"

	"github.com/cliquet-go/cliquet/cliquettest"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// A test of a service: a shareable resource on memory backends, two users and an anonymous
// client. The assertions fail the test (here a bare testing.T, so that the example runs).
func Example() {
	t := &testing.T{} // in a test function, its own *testing.T
	app := cliquettest.NewApp(t, nil)
	if _, err := resource.Register(app, resource.Spec[resource.Object]{
		Name:    "article",
		Schema:  []byte(`{"type": "object", "required": ["title"]}`),
		Sharing: &resource.Sharing{Principals: map[string][]string{"create": {permission.Authenticated}}},
	}); err != nil {
		t.Fatal(err)
	}
	c := cliquettest.NewClient(app.Handler())

	created := c.As("alice").Post(t, "/v1/articles", map[string]any{"data": map[string]any{"title": "news"}})
	id := created.Data()["id"].(string)
	fmt.Println(created.Status, created.Data()["title"])

	cliquettest.AssertError(t, c.As("bob").Get(t, "/v1/articles/"+id), 403, protocol.ErrnoForbidden)
	cliquettest.AssertError(t, c.Get(t, "/v1/articles/"+id), 401, protocol.ErrnoMissingAuthToken)
	cliquettest.AssertError(t, c.As("alice").Post(t, "/v1/articles", `{"data": {}}`),
		400, protocol.ErrnoInvalidParameters, "body", "data.title")

	// Alice shares the article with bob by his user id.
	c.As("alice").Patch(t, "/v1/articles/"+id, map[string]any{
		"permissions": map[string]any{"read": []string{cliquettest.UserID("bob")}},
	})
	fmt.Println(c.As("bob").Get(t, "/v1/articles/"+id).Status, len(c.As("bob").Get(t, "/v1/articles").List()))
	// Output:
	// 201 news
	// 200 1
}
