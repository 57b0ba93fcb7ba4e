package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/openapi"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
)

// statsPath is the custom view added next to the resources: GET /v1/stats.
const statsPath = "/stats"

// Stats is the body of GET /v1/stats: what the authenticated user keeps.
type Stats struct {
	// Bookmarks is the number of the user's bookmarks (tombstones not counted).
	Bookmarks int `json:"bookmarks"`
}

// registerExtras adds what goes beyond resources (docs/events.md, docs/quickstart.md):
//   - a listener of committed changes, which logs the URL of every created bookmark at INFO
//     ("bookmark created");
//   - a custom view, GET /v1/stats, that answers the user's bookmark count, read through
//     the resource's typed handle (bookmarks).
func registerExtras(app *cliquet.App, bookmarks *resource.Resource[Bookmark], logger *slog.Logger) {
	app.Subscribe(events.AfterResourceChanged, func(ctx context.Context, e events.Event) error {
		for _, imp := range e.Impacted {
			var b Bookmark
			if err := json.Unmarshal(imp.New.Data, &b); err != nil {
				return err
			}
			logger.InfoContext(ctx, "bookmark created", "user", e.UserID, "id", imp.New.ID, "url", b.URL)
		}
		return nil
	}, events.ForResources("bookmark"), events.ForActions(events.ActionCreate))

	app.Router.Get(statsPath, stats(bookmarks))
	app.DescribeRoute(http.MethodGet, statsPath, openapi.Operation{
		Summary: "Count the bookmarks of the authenticated user.",
		Tags:    []string{"stats"},
		Responses: map[int]openapi.Response{http.StatusOK: {Schema: map[string]any{
			"type":       "object",
			"properties": map[string]any{"bookmarks": map[string]any{"type": "integer", "minimum": 0}},
			"required":   []string{"bookmarks"},
		}}},
		Errors: []int{http.StatusUnauthorized},
	})
}

// stats answers GET /v1/stats: 401 for anonymous requests, else {"bookmarks": <count>}.
// The bookmark resource is private: each user's bookmarks form the collection whose parent
// id is the user id (resource.Spec's default parent). The handle checks no permission; the
// view does, by counting only the authenticated user's own bookmarks.
func stats(bookmarks *resource.Resource[Bookmark]) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := authn.IdentityFrom(r.Context())
		if !id.Authenticated() {
			protocol.WriteError(w, r, authn.ErrUnauthorized())
			return
		}
		n, err := bookmarks.Count(r.Context(), id.UserID)
		if err != nil {
			protocol.WriteError(w, r, err) // a backend failure is a 503 errno 201
			return
		}
		protocol.WriteJSON(w, http.StatusOK, Stats{Bookmarks: n})
	}
}
