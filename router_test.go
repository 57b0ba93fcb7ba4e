package cliquet

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
)

// patternsView answers with chi's route patterns of the request: one per routing pass.
func patternsView(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rctx := chi.RouteContext(r.Context())
		body, _ := json.Marshal(map[string]any{"view": name, "patterns": rctx.RoutePatterns, "id": chi.URLParam(r, "id")})
		w.Header().Set("Content-Type", "application/json")
		w.Write(body) //nolint:errcheck // test view
	}
}

type routed struct {
	View     string   `json:"view"`
	Patterns []string `json:"patterns"`
	ID       string   `json:"id"`
}

func serveRoute(t *testing.T, app *App, method, path string) (*httptest.ResponseRecorder, routed) {
	t.Helper()
	w := httptest.NewRecorder()
	app.Handler().ServeHTTP(w, httptest.NewRequest(method, path, nil))
	var got routed
	if w.Code == http.StatusOK {
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, w.Body)
		}
	}
	return w, got
}

// TestRouterPrecedence: App.Router keeps chi's precedence between the routes of
// App.Router, whatever their order: a static segment beats a parameter, a parameter beats a
// wildcard.
func TestRouterPrecedence(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.Router.Get("/items/{id}", patternsView("param"))
	app.Router.Handle("/items/special/*", patternsView("wildcard-under-static"))
	app.Router.Get("/items/special", patternsView("static"))
	app.Router.Handle("/items/*", patternsView("wildcard"))

	for path, want := range map[string]string{
		"/v1/items/special":   "static",
		"/v1/items/special/x": "wildcard-under-static",
		"/v1/items/other":     "param",
		"/v1/items/other/x":   "wildcard",
	} {
		w, got := serveRoute(t, app, http.MethodGet, path)
		if w.Code != http.StatusOK || got.View != want {
			t.Errorf("GET %s: status %d view %q, want %q", path, w.Code, got.View, want)
		}
	}
}

// TestRouterFallthrough: requests that match no route get the sub-router's answers: 405 with the Allow header of the route, 404 for unknown paths (the
// App's or a custom NotFound set on App.Router), and the bare prefix.
func TestRouterFallthrough(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.Router.Get("/things/{id}", patternsView("get"))
	app.Router.Put("/things/{id}", patternsView("put"))

	w, _ := serveRoute(t, app, http.MethodDelete, "/v1/things/a")
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Body.String(), `"errno":115`) {
		t.Fatalf("DELETE: status %d %s, want 405 errno 115", w.Code, w.Body)
	}
	if got := w.Header().Get("Allow"); got != "GET, PUT" {
		t.Errorf("DELETE: Allow %q, want %q", got, "GET, PUT")
	}
	if w, _ := serveRoute(t, app, http.MethodGet, "/v1/nothing/here"); w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), `"errno":111`) {
		t.Errorf("GET unknown: status %d %s, want 404 errno 111", w.Code, w.Body)
	}
	if w, _ := serveRoute(t, app, http.MethodGet, "/v1"); w.Code == http.StatusOK {
		t.Errorf("GET /v1: status %d, want the bare prefix's answer", w.Code)
	}

	app.Router.NotFound(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	if w, _ := serveRoute(t, app, http.MethodGet, "/v1/nothing/here"); w.Code != http.StatusTeapot {
		t.Errorf("GET unknown with a custom NotFound: status %d, want 418", w.Code)
	}
}

// TestRouterWalk: walking App.Router lists each versioned route once, relative to the
// prefix; Match and Find answer relative to it too.
func TestRouterWalk(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.Router.Get("/things/{id}", patternsView("get"))
	var routes []string
	err := chi.Walk(app.Router, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		routes = append(routes, method+" "+route)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range routes {
		if strings.HasPrefix(r, "GET /v1") {
			t.Errorf("walk lists %q under the prefix", r)
		}
		if r == "GET /things/{id}" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("walk lists GET /things/{id} %d times, want once: %q", n, routes)
	}
	if !app.Router.Match(chi.NewRouteContext(), http.MethodGet, "/things/a") {
		t.Error("Match GET /things/a: false")
	}
	if got := app.Router.Find(chi.NewRouteContext(), http.MethodGet, "/things/a"); got != "/things/{id}" {
		t.Errorf("Find GET /things/a = %q", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("Use on App.Router did not panic")
		}
	}()
	app.Router.Use(func(h http.Handler) http.Handler { return h })
}

func teapot(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) }

// Mounting or routing on "/" of App.Router, which chi accepts on a sub-router, serves
// through the prefix's mount.
func TestRouterMountAtSlash(t *testing.T) {
	for name, add := range map[string]func(*App){
		"Mount": func(app *App) {
			m := chi.NewRouter()
			m.Get("/anything", teapot)
			app.Router.Mount("/", m)
		},
		"Route": func(app *App) { app.Router.Route("/", func(r chi.Router) { r.Get("/anything", teapot) }) },
	} {
		t.Run(name, func(t *testing.T) {
			app := newApp(t, nil, Config{})
			add(app) // panics on failure
			if w, _ := serveRoute(t, app, http.MethodGet, "/v1/anything"); w.Code != http.StatusTeapot {
				t.Errorf("GET /v1/anything: %d, want 418", w.Code)
			}
			if w, _ := serveRoute(t, app, http.MethodGet, "/v1/__heartbeat__"); w.Code != http.StatusOK {
				t.Errorf("GET /v1/__heartbeat__: %d, want 200", w.Code)
			}
		})
	}
}

// A route of the root router under the prefix keeps its precedence over the mount, for the
// same path and method as for a path its parameter matches.
func TestRouterRootRoutesBeatTheMount(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.root.Get("/v1/things", teapot)
	app.root.Get("/v1/p/{x}", teapot)
	accepted := func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }
	app.Router.Get("/things", accepted)
	app.Router.Get("/p/static", accepted)
	app.Router.Get("/others", accepted)
	for path, want := range map[string]int{"/v1/things": 418, "/v1/p/static": 418, "/v1/others": 202} {
		if w, _ := serveRoute(t, app, http.MethodGet, path); w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
	// Reached through the mount: two patterns.
	app.Router.Get("/later", patternsView("later"))
	if _, got := serveRoute(t, app, http.MethodGet, "/v1/later"); !slices.Equal(got.Patterns, []string{"/v1/*", "/later"}) {
		t.Errorf("GET /v1/later: patterns %q, want the mount's two", got.Patterns)
	}
}

// With's middlewares wrap a handler once; Route refuses a nil function as chi does.
func TestRouterWithBuildsOnce(t *testing.T) {
	app := newApp(t, nil, Config{})
	built := 0
	app.Router.With(func(next http.Handler) http.Handler { built++; return next }).Get("/w", teapot)
	if built != 1 {
		t.Errorf("the middleware wrapped the handler %d times, want 1", built)
	}
	defer func() {
		if recover() == nil {
			t.Error("Route with a nil function did not panic")
		}
	}()
	app.Router.Route("/nil", nil)
}

// A catch-all and a regexp parameter on App.Router route as on the sub-router alone: the
// trailing-slash redirect and the 405 with its Allow header still come from it.
func TestRouterCatchAllAndRegexp(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.Router.Get("/n/{id:[0-9]+}", teapot)
	app.Router.Get("/n/{name}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) })
	for path, want := range map[string]int{"/v1/n/12": 418, "/v1/n/ab": 202, "/v1/n/12/": 307} {
		if w, _ := serveRoute(t, app, http.MethodGet, path); w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
	if w, _ := serveRoute(t, app, http.MethodPut, "/v1/n/12"); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET" {
		t.Errorf("PUT /v1/n/12: %d, Allow %q, want 405 GET", w.Code, w.Header().Get("Allow"))
	}

	app = newApp(t, nil, Config{})
	app.Router.Get("/*", teapot)
	for path, want := range map[string]int{"/v1/zzz/y": 418, "/v1/": 200, "/v1/__heartbeat__": 200} {
		if w, _ := serveRoute(t, app, http.MethodGet, path); w.Code != want {
			t.Errorf("with a catch-all, GET %s: %d, want %d", path, w.Code, want)
		}
	}
	if w, _ := serveRoute(t, app, http.MethodPost, "/v1/zzz/y"); w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("with a catch-all, POST /v1/zzz/y: %d, Allow %q, want 405 with GET", w.Code, w.Header().Get("Allow"))
	}
}
