package cliquet_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/storage"
)

func ExampleApp_Subscribe() {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       config.MustFromMap(map[string]string{"userid_hmac_secret": "s"}, config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0",
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()

	// Delivered once the unit of work is committed, for the creations of "note" objects.
	app.Subscribe(events.AfterResourceChanged, func(_ context.Context, e events.Event) error {
		fmt.Println(e, len(e.Impacted), "object(s), note_id:", e.Params["note_id"])
		return nil
	}, events.ForActions(events.ActionCreate), events.ForResources("note"))

	// A custom view that stores a note and records its event (resources do this themselves).
	app.Router.Put("/notes/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		scope := storage.Scope{Resource: "note", Parent: authn.IdentityFrom(ctx).UserID}
		obj, err := cliquet.StorageFrom(ctx).Create(ctx, scope, storage.Object{ID: chi.URLParam(r, "id"), Data: []byte(`{}`)})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		events.Record(ctx, events.Event{Action: events.ActionCreate, ResourceName: "note",
			Parent: scope.Parent, Timestamp: obj.LastModified, Impacted: []events.Impacted{{New: &obj}}})
		w.WriteHeader(http.StatusCreated)
	})

	r := httptest.NewRequest("PUT", "/v1/notes/n1", strings.NewReader("{}"))
	r.SetBasicAuth("alice", "pw")
	rec := httptest.NewRecorder()
	app.Handler().ServeHTTP(rec, r)
	fmt.Println(rec.Code)
	// Output:
	// <AfterResourceChanged action=create uri=/notes/n1> 1 object(s), note_id: n1
	// 201
}
