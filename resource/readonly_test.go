package resource_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/resource"
)

// stamped has a field the server sets (readonly): clients may not send another value.
type stamped struct {
	Title     string `json:"title,omitempty"`
	CreatedBy string `json:"created_by,omitempty" cliquet:"readonly"`
}

// TestReadOnlyField checks the readonly tag option: the schema says readOnly, a client
// value is refused with 400 errno 107 naming the field unless it is the stored one, the
// Process hook sets it, and a PUT or PATCH without it keeps it.
func TestReadOnlyField(t *testing.T) {
	s := newServer(t, nil, func(app *cliquet.App) error {
		_, err := resource.Register(app, resource.Spec[stamped]{Name: "note",
			Process: func(ctx context.Context, r *http.Request, n stamped, old *stamped) (stamped, error) {
				if old == nil {
					n.CreatedBy = authn.IdentityFrom(ctx).UserID
				}
				return n, nil
			}})
		return err
	})
	expectError(t, s.do(req{Method: "POST", Path: "/v1/notes", User: "alice",
		Body: map[string]any{"data": map[string]any{"title": "a", "created_by": "mallory"}}}), 400, 107, "body", "data.created_by")
	created := s.must(201, req{Method: "POST", Path: "/v1/notes", User: "alice", Body: map[string]any{"data": map[string]any{"title": "a"}}}).data()
	by := created["created_by"]
	if by == nil || by == "" {
		t.Fatalf("the Process hook did not set created_by: %v", created)
	}
	path := "/v1/notes/" + created["id"].(string)
	for _, q := range []req{
		{Method: "PUT", Body: map[string]any{"data": map[string]any{"title": "b", "created_by": "mallory"}}},
		{Method: "PATCH", Body: map[string]any{"data": map[string]any{"created_by": "mallory"}}},
		{Method: "PATCH", Body: `{"data": {"created_by": null}}`, Header: map[string]string{"Content-Type": "application/merge-patch+json"}},
		{Method: "PATCH", Body: `[{"op": "remove", "path": "/data/created_by"}]`, Header: map[string]string{"Content-Type": "application/json-patch+json"}},
		{Method: "PUT", Path: "/v1/notes/4b6dbb3c-4f4e-4c3e-9b8c-0c1f5a3e2d11", Body: map[string]any{"data": map[string]any{"created_by": "mallory"}}},
	} {
		if q.Path == "" {
			q.Path = path
		}
		q.User = "alice"
		expectError(t, s.do(q), 400, 107, "body", "data.created_by")
	}
	for _, q := range []req{
		{Method: "PUT", Body: map[string]any{"data": map[string]any{"title": "c"}}},
		{Method: "PATCH", Body: map[string]any{"data": map[string]any{"title": "d"}}},
		{Method: "PUT", Body: map[string]any{"data": map[string]any{"title": "e", "created_by": by}}}, // round trip of a GET
	} {
		q.Path, q.User = path, "alice"
		if got := s.must(200, q).data()["created_by"]; got != by {
			t.Fatalf("%s without a new created_by: created_by = %v, want %v", q.Method, got, by)
		}
	}
}

// TestReadOnlySchema checks the derived schema of a readonly field and that a field may
// not be both required and readonly (clients could not send it).
func TestReadOnlySchema(t *testing.T) {
	s := newServer(t, nil, func(app *cliquet.App) error {
		_, err := resource.Register(app, resource.Spec[stamped]{Name: "note"})
		return err
	})
	doc := s.must(200, req{Method: "GET", Path: "/v1/__api__"}).Body
	prop := doc["components"].(map[string]any)["schemas"].(map[string]any)["note"].(map[string]any)["properties"].(map[string]any)["created_by"].(map[string]any)
	if prop["readOnly"] != true {
		t.Errorf("created_by = %v, want readOnly", prop)
	}
	type both struct {
		X string `json:"x" cliquet:"required,readonly"`
	}
	app := newApp(t, nil)
	if _, err := resource.Register(app, resource.Spec[both]{Name: "both"}); err == nil {
		t.Error("a required readonly field was accepted")
	}
}
