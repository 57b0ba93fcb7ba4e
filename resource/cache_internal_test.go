package resource

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// publicReads is an authorizer that lets anonymous users read, as shareable resources will.
type publicReads struct{}

func (publicReads) authorize(_ context.Context, id authn.Identity, t *target) (grant, error) {
	if m := t.r.Method; m != http.MethodGet && m != http.MethodHead && !id.Authenticated() {
		return grant{}, authn.ErrUnauthorized()
	}
	return grant{}, nil
}

func TestCacheExpires(t *testing.T) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: config.MustFromMap(map[string]string{"userid_hmac_secret": "x", "mushroom_cache_expires_seconds": "3600"},
			config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0", Storage: memory.New(nil), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	rs, err := Register(app, Spec[Object]{Name: "mushroom"})
	if err != nil {
		t.Fatal(err)
	}
	rs.auth = publicReads{} // the authorization step is pluggable
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rs.now = func() time.Time { return now }

	get := func(user string) http.Header {
		r := httptest.NewRequest("GET", "/v1/mushrooms", nil)
		if user != "" {
			r.SetBasicAuth(user, "pw")
		}
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
		return w.Header()
	}
	t.Run("anonymous GETs get max-age and Expires", func(t *testing.T) {
		h := get("")
		if h.Get("Cache-Control") != "max-age=3600" || h.Get("Expires") != "Fri, 02 Jan 2026 04:04:05 GMT" {
			t.Fatalf("Cache-Control %q Expires %q", h.Get("Cache-Control"), h.Get("Expires"))
		}
	})
	t.Run("authenticated GETs are not cached", func(t *testing.T) {
		if h := get("alice"); h.Get("Cache-Control") != "no-cache" || h.Get("Expires") != "" {
			t.Fatalf("Cache-Control %q Expires %q", h.Get("Cache-Control"), h.Get("Expires"))
		}
	})
}
