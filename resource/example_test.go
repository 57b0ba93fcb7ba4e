package resource_test

import (
	"encoding/json"
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
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// Bookmark is a typed record; its JSON Schema is derived from the struct.
type Bookmark struct {
	URL   string `json:"url" cliquet:"required,format=uri"`
	Title string `json:"title,omitempty"`
}

func ExampleRegister() {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       config.MustFromMap(map[string]string{"userid_hmac_secret": "s3cr3t"}, config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0",
		Storage:        memory.New(nil),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()

	// GET/HEAD/POST/DELETE /v1/bookmarks and GET/HEAD/PUT/PATCH/DELETE /v1/bookmarks/{id},
	// private per user.
	if _, err := resource.Register(app, resource.Spec[Bookmark]{Name: "bookmark"}); err != nil {
		panic(err)
	}

	send := func(method, path, body string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth("alice", "secret")
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		return w
	}
	w := send("PUT", "/v1/bookmarks/6f0c7a4e-9b1d-4c2a-8e3f-5a6b7c8d9e0f", `{"data": {"url": "https://example.com", "junk": 1}}`)
	fmt.Println(w.Code)
	w = send("POST", "/v1/bookmarks", `{"data": {"title": "no url"}}`)
	var e struct {
		Errno   int
		Message string
	}
	_ = json.Unmarshal(w.Body.Bytes(), &e)
	fmt.Println(w.Code, e.Errno, e.Message)
	w = send("GET", "/v1/bookmarks?_fields=url", "")
	fmt.Println(w.Code, strings.Contains(w.Body.String(), `"url":"https://example.com"`), strings.Contains(w.Body.String(), "junk"))
	// Output:
	// 201
	// 400 107 data.url in body: Required
	// 200 true false
}

func ExampleSharing() {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings: config.MustFromMap(map[string]string{
			"userid_hmac_secret":        "s3cr3t",
			"article_create_principals": "system.Authenticated",
		}, config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0",
		Storage:        memory.New(nil),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "article", Sharing: &resource.Sharing{}}); err != nil {
		panic(err)
	}

	send := func(user, method, path, body string) map[string]any {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		if user != "" {
			r.SetBasicAuth(user, "secret")
		}
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		var out map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &out)
		out["status"] = w.Code
		return out
	}
	created := send("alice", "POST", "/v1/articles", `{"data": {"title": "hello"}, "permissions": {"read": ["system.Authenticated"]}}`)
	id := created["data"].(map[string]any)["id"].(string)
	fmt.Println(created["status"], len(created["permissions"].(map[string]any)["write"].([]any)))
	fmt.Println(send("bob", "GET", "/v1/articles/"+id, "")["status"])
	fmt.Println(send("bob", "DELETE", "/v1/articles/"+id, "")["status"])
	fmt.Println(send("", "GET", "/v1/articles/"+id, "")["status"])
	// Output:
	// 201 1
	// 200
	// 403
	// 401
}

// Task is a typed record with the protocol fields, which the facade fills in.
type Task struct {
	ID           string `json:"id,omitempty"`
	LastModified int64  `json:"last_modified,omitempty"`
	Title        string `json:"title" cliquet:"required"`
	Priority     int    `json:"priority"`
}

// A custom view reads a resource through its handle, typed, without building storage
// scopes: GET /v1/urgent lists the tasks of the authenticated user with priority >= 2. The
// facade checks no permission; the view authorizes itself (here: any authenticated user
// reads their own private collection, whose parent id is their user id).
func ExampleResource_List() {
	app, err := cliquet.Initialize(chi.NewRouter(), cliquet.Config{
		Settings:       config.MustFromMap(map[string]string{"userid_hmac_secret": "s3cr3t"}, config.Options{Env: []string{}}),
		ProjectVersion: "1.0.0",
		Storage:        memory.New(nil),
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	defer app.Close()
	tasks, err := resource.Register(app, resource.Spec[Task]{Name: "task", IDGenerator: resource.NameGenerator{}})
	if err != nil {
		panic(err)
	}
	app.Router.Get("/urgent", func(w http.ResponseWriter, r *http.Request) {
		id := authn.IdentityFrom(r.Context())
		if !id.Authenticated() {
			protocol.WriteError(w, r, authn.ErrUnauthorized())
			return
		}
		urgent, err := tasks.List(r.Context(), id.UserID,
			resource.WhereOp("priority", storage.MIN, 2), resource.SortBy("-priority", "id"), resource.Limit(10))
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		for _, t := range urgent {
			fmt.Fprintf(w, "%s %s %d\n", t.ID, t.Title, t.Priority)
		}
	})

	send := func(method, path, body string) string {
		r := httptest.NewRequest(method, path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.SetBasicAuth("alice", "secret")
		w := httptest.NewRecorder()
		app.Handler().ServeHTTP(w, r)
		return w.Body.String()
	}
	send("PUT", "/v1/tasks/taxes", `{"data": {"title": "File taxes", "priority": 3}}`)
	send("PUT", "/v1/tasks/plants", `{"data": {"title": "Water plants", "priority": 1}}`)
	send("PUT", "/v1/tasks/dentist", `{"data": {"title": "Call dentist", "priority": 2}}`)
	fmt.Print(send("GET", "/v1/urgent", ""))
	// Output:
	// taxes File taxes 3
	// dentist Call dentist 2
}
