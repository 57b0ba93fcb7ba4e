// Command scores shows a plain handler that uses the storage backend directly, next to the
// toolkit's views: every authenticated user keeps the best score of each game.
//
//	go run ./examples/scores --listen 127.0.0.1:8889
//	curl -u alice:pw -X PUT http://127.0.0.1:8889/v1/scores/tetris \
//	     -H 'Content-Type: application/json' -d '{"score": 42}'
//	curl -u alice:pw http://127.0.0.1:8889/v1/scores/tetris
package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/cliquetcmd"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/events"
	"github.com/cliquet-go/cliquet/openapi"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

func main() {
	cliquetcmd.Main("scores", func(ctx context.Context, args []string, _ io.Writer, logger *slog.Logger) error {
		return run(ctx, args, logger)
	})
}

// run parses the flags, builds the service and serves it until SIGINT or SIGTERM.
func run(ctx context.Context, args []string, logger *slog.Logger) error {
	return cliquetcmd.Command{
		Name: "scores", DefaultListen: "127.0.0.1:8889",
		LoadSettings: func(path string) (*config.Settings, error) {
			return config.Load(path, config.Options{ProjectName: "scores",
				Defaults: map[string]string{"userid_hmac_secret": "scores-development-secret"}})
		},
		NewServer: func(settings *config.Settings, logger *slog.Logger) (http.Handler, *cliquet.App, error) {
			app, err := newApp(settings, logger)
			if err != nil {
				return nil, nil, err
			}
			return app.Handler(), app, nil
		},
	}.Run(ctx, args, nil, logger)
}

// scorePath is the route of one game's best score, under the version prefix.
const scorePath = "/scores/{game}"

// newApp enables the toolkit and adds the score views.
func newApp(settings *config.Settings, logger *slog.Logger) (*cliquet.App, error) {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: settings, ProjectName: "scores", ProjectVersion: "1.0.0", Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	app.Router.Put(scorePath, putScore)
	app.Router.Get(scorePath, getScore)
	describeScoreRoutes(app)
	// Log every new best score once it is committed (docs/events.md).
	app.Subscribe(events.AfterResourceChanged, func(ctx context.Context, e events.Event) error {
		for _, imp := range e.Impacted {
			var best Score
			if err := json.Unmarshal(imp.New.Data, &best); err != nil {
				return err
			}
			logger.InfoContext(ctx, "new best score", "user", e.UserID, "game", imp.New.ID, "score", best.Score)
		}
		return nil
	}, events.ForResources("score"))
	return app, nil
}

var gamePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

// describeScoreRoutes documents the score views in the OpenAPI document (GET /v1/__api__);
// without it they are listed as "Undocumented route".
func describeScoreRoutes(app *cliquet.App) {
	game := openapi.Parameter{Name: "game", In: "path", Description: "The game name.",
		Schema: map[string]any{"type": "string", "pattern": gamePattern.String()}}
	stored := map[string]any{
		"type": "object",
		"properties": map[string]any{
			"id":            map[string]any{"type": "string", "description": "The game name."},
			"last_modified": map[string]any{"type": "integer", "description": "When the best score was set (epoch milliseconds)."},
			"score":         map[string]any{"type": "integer"},
		},
		"required": []string{"id", "last_modified", "score"},
	}
	app.DescribeRoute(http.MethodPut, scorePath, openapi.Operation{
		OperationID: "put_score",
		Summary:     "Submit a score; the best one of the authenticated user is kept.",
		Tags:        []string{"scores"},
		Parameters:  []openapi.Parameter{game},
		RequestBody: map[string]any{
			"type":       "object",
			"properties": map[string]any{"score": map[string]any{"type": "integer"}},
			"required":   []string{"score"},
		},
		Responses: map[int]openapi.Response{http.StatusOK: {Description: "The best score, new or kept.", Schema: stored}},
		Errors:    []int{http.StatusBadRequest, http.StatusUnauthorized},
	})
	app.DescribeRoute(http.MethodGet, scorePath, openapi.Operation{
		OperationID: "get_score",
		Summary:     "Read the best score of the authenticated user.",
		Tags:        []string{"scores"},
		Parameters:  []openapi.Parameter{game},
		Responses:   map[int]openapi.Response{http.StatusOK: {Schema: stored}},
		Errors:      []int{http.StatusBadRequest, http.StatusUnauthorized, http.StatusNotFound},
	})
}

// Score is what is stored for one game of one user.
type Score struct {
	Score int64 `json:"score"`
}

// scoreScope addresses the scores of the authenticated user, or fails with 401 (or 400 for a
// bad game name).
func scoreScope(r *http.Request) (storage.Scope, string, error) {
	id := authn.IdentityFrom(r.Context())
	if !id.Authenticated() {
		return storage.Scope{}, "", authn.ErrUnauthorized()
	}
	game := chi.URLParam(r, "game")
	if !gamePattern.MatchString(game) {
		return storage.Scope{}, "", protocol.InvalidParam("path", "game", "Invalid game name")
	}
	return storage.Scope{Resource: "score", Parent: id.UserID}, game, nil
}

// putScore keeps the best score: PUT /v1/scores/{game} {"score": 42}.
func putScore(w http.ResponseWriter, r *http.Request) {
	scope, game, err := scoreScope(r)
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	var in Score
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		protocol.WriteError(w, r, protocol.InvalidParam("body", "score", "expected {\"score\": <integer>}"))
		return
	}
	store := cliquet.StorageFrom(r.Context())
	ctx := r.Context()
	if old, err := store.Get(ctx, scope, game); err == nil {
		var best Score
		if json.Unmarshal(old.Data, &best) == nil && best.Score >= in.Score {
			protocol.WriteJSON(w, http.StatusOK, old) // not a new best score
			return
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		protocol.WriteError(w, r, err)
		return
	}
	data, _ := json.Marshal(in)
	saved, err := store.Update(ctx, scope, storage.Object{ID: game, Data: data}, storage.Condition{})
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	events.Record(ctx, events.Event{Action: events.ActionUpdate, ResourceName: "score",
		Parent: scope.Parent, Timestamp: saved.LastModified, Impacted: []events.Impacted{{New: &saved}}})
	protocol.WriteJSON(w, http.StatusOK, saved)
}

// getScore answers GET /v1/scores/{game}.
func getScore(w http.ResponseWriter, r *http.Request) {
	scope, game, err := scoreScope(r)
	if err != nil {
		protocol.WriteError(w, r, err)
		return
	}
	obj, err := cliquet.StorageFrom(r.Context()).Get(r.Context(), scope, game)
	if err != nil {
		protocol.WriteError(w, r, err) // storage.ErrNotFound becomes a 404
		return
	}
	protocol.WriteJSON(w, http.StatusOK, obj)
}
