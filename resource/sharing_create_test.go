package resource_test

import (
	"testing"

	"github.com/google/uuid"

	"github.com/cliquet-go/cliquet/permission/memory"
)

// TestWriteOnThePluralURIDoesNotGrantCreate checks protocol.md 10.3 item 41: creating needs
// create on the plural URI; holding write on every article (article_write_principals) is
// not enough, for PUT of a new id as for POST.
func TestWriteOnThePluralURIDoesNotGrantCreate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		settings map[string]string
		code     int
	}{
		{"with write for every authenticated user and no create grant, creations are 403",
			map[string]string{"article_write_principals": "system.Authenticated", "article_create_principals": ""}, 403},
		{"with a create grant, the same creations succeed",
			map[string]string{"article_write_principals": "system.Authenticated", "article_create_principals": "system.Authenticated"}, 201},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := newShareServer(t, memory.New(), tt.settings, nil)
			for _, q := range []req{
				{Method: "PUT", Path: "/v1/articles/" + uuid.NewString(), User: "alice", Body: map[string]any{"data": map[string]any{"title": "put"}}},
				{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"title": "post"}}},
				{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"id": uuid.NewString(), "title": "post with id"}}},
			} {
				r := s.do(q)
				if tt.code == 403 {
					expectError(t, r, 403, 121, "", "")
				} else if r.Code != tt.code {
					t.Errorf("%s %s: status %d, want %d: %s", q.Method, q.Path, r.Code, tt.code, r.Raw)
				}
			}
			if tt.code == 403 {
				if got := s.must(200, req{Method: "GET", Path: "/v1/articles", User: "alice"}).list(); len(got) != 0 {
					t.Errorf("refused creations stored %v", got)
				}
			}
		})
	}
}
