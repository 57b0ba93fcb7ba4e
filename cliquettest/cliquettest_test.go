package cliquettest_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/cliquet-go/cliquet/cliquettest"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// recorder is a testing.TB whose Fatalf records the failure instead of stopping the test.
type recorder struct {
	testing.TB
	failure string
}

func (r *recorder) Helper() {}
func (r *recorder) Fatalf(format string, args ...any) {
	if r.failure == "" {
		r.failure = fmt.Sprintf(format, args...)
	}
}

func TestClient(t *testing.T) {
	app := cliquettest.NewApp(t, map[string]string{"project_name": "mine"})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "note"}); err != nil {
		t.Fatal(err)
	}
	app.Router.Get("/echo", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"if_match": %q}`, r.Header.Get("If-Match"))
	})
	c := cliquettest.NewClient(app.Handler())

	if r := c.Get(t, "/v1/"); r.Status != 200 || r.Body["project_name"] != "mine" || r.Body["user"] != nil {
		t.Fatalf("anonymous hello: %d %v", r.Status, r.Body)
	}
	if r := c.As("alice").Get(t, "/v1/"); r.Body["user"].(map[string]any)["id"] != cliquettest.UserID("alice") {
		t.Fatalf("alice's hello: %v, want the id %s", r.Body["user"], cliquettest.UserID("alice"))
	}
	id := c.As("alice").Put(t, "/v1/notes/7b6c6a58-6a8e-4c0e-8f3c-1c1f1c0b9d2a", `{"data": {"a": 1}}`).Data()["id"]
	if r := c.As("alice").Patch(t, "/v1/notes/7b6c6a58-6a8e-4c0e-8f3c-1c1f1c0b9d2a", map[string]any{"data": map[string]any{"b": 2}}); r.Status != 200 || id != "7b6c6a58-6a8e-4c0e-8f3c-1c1f1c0b9d2a" || r.Data()["a"] != 1.0 || r.Data()["b"] != 2.0 {
		t.Fatalf("patch: %d %v", r.Status, r.Body)
	}
	if r := c.As("alice").Post(t, "/v1/notes", []byte(`{"data": {}}`)); r.Status != 201 || len(c.As("alice").Get(t, "/v1/notes").List()) != 2 {
		t.Fatalf("post: %d %v", r.Status, r.Body)
	}
	if r := c.As("alice").Delete(t, "/v1/notes/7b6c6a58-6a8e-4c0e-8f3c-1c1f1c0b9d2a"); r.Status != 200 || r.Data()["deleted"] != true {
		t.Fatalf("delete: %d %v", r.Status, r.Body)
	}
	if r := c.WithHeader("If-Match", `"1"`).Get(t, "/v1/echo"); r.Body["if_match"] != `"1"` {
		t.Fatalf("header not sent: %v", r.Body)
	}
	if r := c.Get(t, "/v1/echo"); r.Body["if_match"] != "" {
		t.Fatalf("WithHeader changed the original client: %v", r.Body)
	}
}

func TestAssertError(t *testing.T) {
	app := cliquettest.NewApp(t, nil)
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "note"}); err != nil {
		t.Fatal(err)
	}
	c := cliquettest.NewClient(app.Handler()).As("alice")
	invalid := c.Get(t, "/v1/notes?_limit=x")
	cliquettest.AssertError(t, invalid, 400, protocol.ErrnoInvalidParameters, "querystring", "_limit")
	cliquettest.AssertError(t, invalid, 400, protocol.ErrnoInvalidParameters, "querystring")

	for _, tc := range []struct {
		name   string
		r      *cliquettest.Response
		status int
		errno  protocol.Errno
		detail []string
	}{
		{"not an error", c.Get(t, "/v1/notes"), 400, protocol.ErrnoInvalidParameters, nil},
		{"other errno", invalid, 400, protocol.ErrnoInvalidPostedData, nil},
		{"other status", invalid, 404, protocol.ErrnoInvalidParameters, nil},
		{"other location", invalid, 400, protocol.ErrnoInvalidParameters, []string{"body"}},
		{"other name", invalid, 400, protocol.ErrnoInvalidParameters, []string{"querystring", "_sort"}},
	} {
		rec := &recorder{TB: t}
		cliquettest.AssertError(rec, tc.r, tc.status, tc.errno, tc.detail...)
		if rec.failure == "" {
			t.Errorf("%s: AssertError passed", tc.name)
		}
	}
}
