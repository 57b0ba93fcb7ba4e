package resource_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/resource"
)

// noteWithout is a typed object without a LastModified field.
type noteWithout struct {
	Title string `json:"title"`
}

// noteWith is a typed object with one.
type noteWith struct {
	Title        string `json:"title"`
	LastModified int64  `json:"last_modified,omitempty"`
}

// TestTypedForcedLastModified checks that a typed resource keeps a client-forced
// last_modified when it is larger (replication), as the schemaless one does, whether or not
// T has a field for it.
func TestTypedForcedLastModified(t *testing.T) {
	for name, register := range map[string]func(*cliquet.App) error{
		"without a LastModified field": func(app *cliquet.App) error {
			_, err := resource.Register(app, resource.Spec[noteWithout]{Name: "note"})
			return err
		},
		"with a LastModified field": func(app *cliquet.App) error {
			_, err := resource.Register(app, resource.Spec[noteWith]{Name: "note"})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, nil, register)
			n := 0
			body := func(lm any) map[string]any {
				n++ // a new title each time: a write that changes nothing is not stored
				return map[string]any{"data": map[string]any{"title": strconv.Itoa(n), "last_modified": lm}}
			}
			created := s.must(201, req{Method: "PUT", Path: "/v1/notes/4b6dbb3c-4f4e-4c3e-9b8c-0c1f5a3e2d11", User: "alice", Body: body(1234)}).data()
			if created["last_modified"] != float64(1234) {
				t.Fatalf("forced creation timestamp = %v", created["last_modified"])
			}
			r := s.must(200, req{Method: "PATCH", Path: "/v1/notes/4b6dbb3c-4f4e-4c3e-9b8c-0c1f5a3e2d11", User: "alice", Body: body(1000)})
			server := int64(r.data()["last_modified"].(float64))
			if server <= 1234 {
				t.Fatalf("smaller forced value kept: %d", server)
			}
			r = s.must(200, req{Method: "PUT", Path: "/v1/notes/4b6dbb3c-4f4e-4c3e-9b8c-0c1f5a3e2d11", User: "alice", Body: body(server + 1000)})
			if int64(r.data()["last_modified"].(float64)) != server+1000 {
				t.Fatalf("larger forced value not kept: %v", r.data()["last_modified"])
			}
			r = s.must(201, req{Method: "POST", Path: "/v1/notes", User: "alice", Body: body(4321)})
			if r.data()["last_modified"] != float64(4321) {
				t.Fatalf("forced POST timestamp = %v", r.data()["last_modified"])
			}
			far := time.Now().Add(48 * time.Hour).UnixMilli()
			expectError(t, s.do(req{Method: "PUT", Path: "/v1/notes/4b6dbb3c-4f4e-4c3e-9b8c-0c1f5a3e2d12", User: "alice", Body: body(far)}),
				400, 107, "body", "data.last_modified")
		})
	}
}
