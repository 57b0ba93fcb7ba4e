package resource_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage"
	storagememory "github.com/cliquet-go/cliquet/storage/memory"
)

// note is a typed record with the protocol fields, for the facade tests.
type note struct {
	ID           string `json:"id,omitempty"`
	LastModified int64  `json:"last_modified,omitempty"`
	Title        string `json:"title"`
	Stars        int    `json:"stars"`
}

func TestFacadePrivateResource(t *testing.T) {
	var notes *resource.Resource[note]
	s := newServer(t, nil, func(app *cliquet.App) (err error) {
		notes, err = resource.Register(app, resource.Spec[note]{Name: "note", IDGenerator: resource.NameGenerator{}})
		return err
	})
	for _, n := range []struct {
		user, id, title string
		stars           int
	}{{"alice", "a", "first", 3}, {"alice", "b", "second", 5}, {"alice", "c", "third", 1}, {"bob", "d", "other", 4}} {
		s.must(201, req{Method: "PUT", Path: "/v1/notes/" + n.id, User: n.user,
			Body: map[string]any{"data": map[string]any{"title": n.title, "stars": n.stars}}})
	}
	ctx := context.Background()
	alice := userID(s, "alice")

	got, err := notes.Get(ctx, alice, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "b" || got.LastModified == 0 || got.Title != "second" || got.Stars != 5 {
		t.Errorf("Get = %+v", got)
	}
	if _, err := notes.Get(ctx, alice, "d"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of bob's note under alice = %v, want ErrNotFound", err)
	}
	s.must(200, req{Method: "DELETE", Path: "/v1/notes/c", User: "alice"})
	if _, err := notes.Get(ctx, alice, "c"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get of a deleted note = %v, want ErrNotFound", err)
	}

	all, err := notes.List(ctx, alice, resource.SortBy("-stars"))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].ID != "b" || all[1].ID != "a" {
		t.Errorf("List sorted by -stars = %+v, want b, a", all)
	}
	some, err := notes.List(ctx, alice, resource.WhereOp("stars", storage.MIN, 4), resource.SortBy("id"))
	if err != nil {
		t.Fatal(err)
	}
	if len(some) != 1 || some[0].ID != "b" {
		t.Errorf("List stars >= 4 = %+v, want b", some)
	}
	one, err := notes.List(ctx, alice, resource.SortBy("title"), resource.Limit(1))
	if err != nil {
		t.Fatal(err)
	}
	if len(one) != 1 || one[0].Title != "first" {
		t.Errorf("List limit 1 = %+v, want first", one)
	}
	eq, err := notes.List(ctx, alice, resource.Where("title", "first"))
	if err != nil {
		t.Fatal(err)
	}
	if len(eq) != 1 || eq[0].ID != "a" {
		t.Errorf("List title=first = %+v, want a", eq)
	}

	for _, tt := range []struct {
		opts []resource.ListOption
		want int
	}{
		{nil, 2},
		{[]resource.ListOption{resource.WhereOp("stars", storage.GT, 3)}, 1},
		{[]resource.ListOption{resource.Where("title", "nope"), resource.Limit(5)}, 0},
	} {
		n, err := notes.Count(ctx, alice, tt.opts...)
		if err != nil || n != tt.want {
			t.Errorf("Count = %d, %v, want %d", n, err, tt.want)
		}
	}
}

func TestFacadeSchemalessAndNested(t *testing.T) {
	app := newAppWith(t, cliquet.Config{Storage: storagememory.New(nil), Permission: memory.New()},
		map[string]string{"article_create_principals": "system.Authenticated", "comment_create_principals": "system.Authenticated"})
	articles, err := resource.Register(app, resource.Spec[resource.Object]{Name: "article", Sharing: &resource.Sharing{},
		IDGenerator: resource.NameGenerator{}})
	if err != nil {
		t.Fatal(err)
	}
	comments, err := resource.Register(app, resource.Spec[resource.Object]{Name: "comment", Under: articles,
		Sharing: &resource.Sharing{}, IDGenerator: resource.NameGenerator{}})
	if err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, app: app, h: app.Handler()}
	s.must(201, req{Method: "PUT", Path: "/v1/articles/a1", User: "alice", Body: map[string]any{"data": map[string]any{"title": "t"}}})
	s.must(201, req{Method: "PUT", Path: "/v1/articles/a1/comments/c1", User: "alice", Body: map[string]any{"data": map[string]any{"text": "hi"}}})
	ctx := context.Background()

	art, err := articles.Get(ctx, "", "a1")
	if err != nil {
		t.Fatal(err)
	}
	if art["id"] != "a1" || art["title"] != "t" || art["last_modified"] == nil {
		t.Errorf("Get article = %v", art)
	}
	list, err := comments.List(ctx, "/articles/a1")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0]["id"] != "c1" || list[0]["text"] != "hi" {
		t.Errorf("List comments = %v", list)
	}
	if n, err := comments.Count(ctx, "/articles/other"); err != nil || n != 0 {
		t.Errorf("Count under another article = %d, %v", n, err)
	}
}
