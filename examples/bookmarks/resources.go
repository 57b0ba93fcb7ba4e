package main

import (
	"context"
	"net/http"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/resource"
)

// Bookmark is the record of the bookmark resource. Its JSON Schema is derived from the
// struct: url is required and must be a URI, title is optional, and device is set by the
// server (see processBookmark). Unknown fields sent by clients are dropped.
type Bookmark struct {
	URL    string `json:"url" cliquet:"required,format=uri"`
	Title  string `json:"title,omitempty" cliquet:"maxLength=512"`
	Device string `json:"device,omitempty"`
}

// registerResources mounts the example's resources on app.Router and returns the handle of
// the bookmark resource, which the custom views read through (extras.go).
func registerResources(app *cliquet.App) (*resource.Resource[Bookmark], error) {
	bookmarks, err := resource.Register(app, resource.Spec[Bookmark]{
		Name: "bookmark",
		// The URLs and the enabled methods are options; these are the defaults written out.
		Path:          "/bookmarks",
		ObjectPath:    "/bookmarks/{id}",
		PluralMethods: []string{"GET", "POST", "DELETE"},
		ObjectMethods: []string{"GET", "PUT", "PATCH", "DELETE"},
		Process:       processBookmark,
	})
	if err != nil {
		return nil, err
	}
	// Articles are shareable and schemaless: each one carries its own ACL ("read" and
	// "write" principals, in the "permissions" field of request and response bodies), and
	// any authenticated user may create one (the setting article_create_principals replaces
	// this default).
	_, err = resource.Register(app, resource.Spec[resource.Object]{
		Name: "article",
		Sharing: &resource.Sharing{
			Principals: map[string][]string{"create": {permission.Authenticated}},
		},
	})
	return bookmarks, err
}

// processBookmark runs before every write: it records the device (User-Agent) that last
// changed the bookmark's url or title.
func processBookmark(_ context.Context, r *http.Request, new Bookmark, old *Bookmark) (Bookmark, error) {
	if old == nil || old.URL != new.URL || old.Title != new.Title {
		new.Device = r.UserAgent()
	} else {
		new.Device = old.Device
	}
	return new, nil
}
