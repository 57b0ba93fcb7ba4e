package cliquet_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/protocol"
)

func ExampleInitialize() {
	settings := config.MustFromMap(map[string]string{
		"project_name":       "notes",
		"userid_hmac_secret": "change me",
		"storage_backend":    "", // no storage for this example
	}, config.Options{Env: []string{}})

	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       settings,
		ProjectVersion: "1.4.2",
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()

	// A custom view under the version prefix.
	app.Router.Get("/whoami", func(w http.ResponseWriter, r *http.Request) {
		id := authn.IdentityFrom(r.Context())
		if !id.Authenticated() {
			protocol.WriteError(w, r, authn.ErrUnauthorized())
			return
		}
		protocol.WriteJSON(w, http.StatusOK, map[string]string{"id": id.UserID})
	})

	for _, path := range []string{"/", "/v1/whoami", "/v1/__lbheartbeat__"} {
		rec := httptest.NewRecorder()
		app.Handler().ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		fmt.Println(path, rec.Code, rec.Header().Get("Location")+rec.Body.String())
	}
	// Output:
	// / 307 /v1/
	// /v1/whoami 401 {"code":401,"errno":104,"error":"Unauthorized","message":"Please authenticate yourself to use this endpoint."}
	// /v1/__lbheartbeat__ 200 {}
}

// bearerAuth is an authentication policy that accepts "Authorization: Bearer <token>" when
// the token is known to the cache (stored there by a login view, for example).
type bearerAuth struct{ cache cache.Backend }

func (bearerAuth) Name() string { return "bearer" }

func (b bearerAuth) Authenticate(r *http.Request) (string, bool, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return "", false, nil
	}
	user, err := b.cache.Get(r.Context(), "token:"+token)
	switch {
	case errors.Is(err, cache.ErrNotFound):
		return "", false, nil // unknown or expired token: anonymous
	case err != nil:
		return "", false, err // cache down: 503
	}
	return string(user), true, nil
}

func ExampleApp_AddAuthenticator() {
	settings := config.MustFromMap(map[string]string{
		"project_name":       "notes",
		"project_version":    "1.0.0",
		"multiauth.policies": "", // bearer tokens only
		"storage_backend":    "",
	}, config.Options{Env: []string{}})
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{Settings: settings,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		panic(err)
	}
	defer app.Close()
	if err := app.AddAuthenticator(bearerAuth{cache: app.Cache}); err != nil {
		panic(err)
	}
	app.Cache.Set(context.Background(), "token:s3cr3t", []byte("alice"), time.Hour)

	req := httptest.NewRequest("GET", "/v1/", nil)
	req.Header.Set("Authorization", "Bearer s3cr3t")
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, req)
	body := rec.Body.String()
	fmt.Println(rec.Code, body[strings.Index(body, `"user"`):])
	// Output:
	// 200 "user":{"id":"bearer:alice","principals":["system.Everyone","system.Authenticated","bearer:alice"]}}
}
