package cliquet

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/cliquet-go/cliquet/authn"
)

// A view that appends to the principals of the request's identity gets a copy: what the
// identity holds, for every later reader, does not change.
func TestIdentityPrincipalsAreNotWrittenByAppends(t *testing.T) {
	app := newApp(t, nil, Config{})
	var before, after []string
	app.Router.Get("/probe", func(w http.ResponseWriter, r *http.Request) {
		id := authn.IdentityFrom(r.Context())
		before = slices.Clone(id.Principals)
		extended := append(id.Principals, "role:admin")
		extended[0] = "tampered"
		after = authn.IdentityFrom(r.Context()).Principals
	})
	for _, user := range []string{"alice", ""} {
		r := httptest.NewRequest(http.MethodGet, "/v1/probe", nil)
		if user != "" {
			r.SetBasicAuth(user, "secret")
		}
		app.Handler().ServeHTTP(httptest.NewRecorder(), r)
		want := 1
		if user != "" {
			want = 3
		}
		if len(before) != want || !slices.Equal(before, after) || slices.Contains(after, "tampered") {
			t.Errorf("user %q: principals %q, then %q after an append (want %d unchanged)", user, before, after, want)
		}
	}
}
