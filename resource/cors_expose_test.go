package resource_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/middleware"
	"github.com/cliquet-go/cliquet/permission/memory"
)

// exposed returns the Access-Control-Expose-Headers of r as a sorted list.
func exposed(r *response) []string {
	v := r.Header.Get("Access-Control-Expose-Headers")
	if v == "" {
		return nil
	}
	list := strings.Split(v, ", ")
	slices.Sort(list)
	return list
}

// plus returns the sorted union of the base expose list and extra.
func plus(extra ...string) []string {
	out := append(middleware.DefaultExposeHeaders(), extra...)
	slices.Sort(out)
	return out
}

// TestCORSExposeHeadersExactSets compares the exact Access-Control-Expose-Headers lists of
// every resource endpoint with protocol.md 5.4 (kinto.core): the plural GET adds the
// caching and pagination headers but not Total-Records, the plural HEAD adds the counts,
// the object GET the caching headers, and writes and errors expose the base set only.
func TestCORSExposeHeadersExactSets(t *testing.T) {
	origin := map[string]string{"Origin": "https://app.example.com"}
	caching := []string{"ETag", "Last-Modified", "Cache-Control", "Expires", "Pragma"}
	pluralGet := plus(append(slices.Clone(caching), "Next-Page")...)
	pluralHead := plus(append(slices.Clone(caching), "Next-Page", "Total-Objects", "Total-Records")...)
	objectGet := plus(caching...)
	base := plus()

	servers := map[string]struct {
		s    *server
		path string
	}{
		"private":   {newServer(t, map[string]string{"cors_origins": "*"}), "/v1/mushrooms"},
		"shareable": {newShareServer(t, memory.New(), map[string]string{"cors_origins": "*"}, nil), "/v1/articles"},
	}
	for name, srv := range servers {
		s, col := srv.s, srv.path
		id := s.must(201, req{Method: "POST", Path: col, User: "alice", Body: map[string]any{"data": map[string]any{"a": 1}}}).data()["id"].(string)
		obj := col + "/" + id
		for _, tt := range []struct {
			what string
			q    req
			code int
			want []string
		}{
			{"the plural GET exposes caching and Next-Page, not Total-Records", req{Method: "GET", Path: col}, 200, pluralGet},
			{"the plural HEAD also exposes Total-Objects and Total-Records", req{Method: "HEAD", Path: col}, 200, pluralHead},
			{"the object GET exposes the caching headers", req{Method: "GET", Path: obj}, 200, objectGet},
			{"the object HEAD exposes the caching headers", req{Method: "HEAD", Path: obj}, 200, objectGet},
			{"POST exposes the base set only", req{Method: "POST", Path: col, Body: map[string]any{"data": map[string]any{"a": 2}}}, 201, base},
			{"PUT exposes the base set only", req{Method: "PUT", Path: obj, Body: map[string]any{"data": map[string]any{"a": 3}}}, 200, base},
			{"PATCH exposes the base set only", req{Method: "PATCH", Path: obj, Body: map[string]any{"data": map[string]any{"a": 4}}}, 200, base},
			{"an error of the object GET exposes the base set only", req{Method: "GET", Path: obj, Header: map[string]string{"If-Match": `"1"`}}, 412, base},
			{"an error of the plural GET exposes the base set only", req{Method: "GET", Path: col + "?_limit=nope"}, 400, base},
			{"DELETE of the object exposes the base set only", req{Method: "DELETE", Path: obj}, 200, base},
			{"DELETE of the plural URL exposes the base set only", req{Method: "DELETE", Path: col}, 200, base},
		} {
			t.Run(name+": "+tt.what, func(t *testing.T) {
				tt.q.User = "alice"
				tt.q.Header = mergeHeaders(origin, tt.q.Header)
				r := s.must(tt.code, tt.q)
				if got := exposed(r); !slices.Equal(got, tt.want) {
					t.Errorf("exposed %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func mergeHeaders(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
