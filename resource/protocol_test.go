package resource_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/resource"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// Article is a typed record with a derived schema.
type Article struct {
	ID    string   `json:"id,omitempty"`
	Title string   `json:"title" cliquet:"required,maxLength=20"`
	URL   string   `json:"url,omitempty" cliquet:"format=uri"`
	Rank  int      `json:"rank,omitempty"`
	Tags  []string `json:"tags,omitempty"`
	Words int      `json:"words,omitempty"`
}

func registerTyped(app *cliquet.App) error {
	_, err := resource.Register(app, resource.Spec[Article]{
		Name: "article",
		Process: func(_ context.Context, r *http.Request, new Article, old *Article) (Article, error) {
			if strings.Contains(new.Title, "forbidden") {
				return new, protocol.InvalidParam("body", "data.title", "this title is forbidden")
			}
			new.Words = len(strings.Fields(new.Title))
			return new, nil
		},
	})
	return err
}

func TestContentNegotiation(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	tests := []struct {
		name   string
		q      req
		code   int
		detail string
	}{
		{"an Accept header without JSON is a 406", req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"Accept": "text/html"}}, 406, "Accept"},
		{"Accept */* is fine", req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"Accept": "*/*"}}, 200, ""},
		{"Accept application/* is fine", req{Method: "GET", Path: col, User: "alice", Header: map[string]string{"Accept": "text/html, application/*;q=0.5"}}, 200, ""},
		{"a form body is a 415", req{Method: "POST", Path: col, User: "alice", Body: "a=b", Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, "Content-Type"},
		{"merge-patch is refused on POST", req{Method: "POST", Path: col, User: "alice", Body: "{}", Header: map[string]string{"Content-Type": "application/merge-patch+json"}}, 415, "Content-Type"},
		{"invalid JSON is a 400 naming the body", req{Method: "POST", Path: col, User: "alice", Body: `{"data": {`}, 400, "body"},
		{"a bad unicode escape is a 400", req{Method: "POST", Path: col, User: "alice", Body: `{"data": {"a": "\u00zz"}}`}, 400, "body"},
		{"unknown top-level keys are a 400", req{Method: "POST", Path: col, User: "alice", Body: `{"datta": {}}`}, 400, "datta"},
		{"data must be an object", req{Method: "POST", Path: col, User: "alice", Body: `{"data": [1]}`}, 400, "data"},
		{"a body that is not an object is a 400", req{Method: "POST", Path: col, User: "alice", Body: `[]`}, 400, "body"},
		{"permissions are refused on private resources", req{Method: "POST", Path: col, User: "alice", Body: `{"permissions": {"read": []}}`}, 400, "permissions"},
		{"an empty body creates an empty record", req{Method: "POST", Path: col, User: "alice", Body: ""}, 201, ""},
		{"an empty envelope creates an empty record", req{Method: "POST", Path: col, User: "alice", Body: "{}"}, 201, ""},
		{"a PATCH without data is a 400", req{Method: "PATCH", Path: obj(uid), User: "alice", Body: "{}"}, 400, "data"},
		{"an invalid id in the URL is a 400 on the path", req{Method: "GET", Path: obj("abc"), User: "alice"}, 400, "path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(tt.q)
			if r.Code != tt.code {
				t.Fatalf("status %d, want %d: %s", r.Code, tt.code, r.Raw)
			}
			if tt.detail == "" {
				return
			}
			if r.errno() != 107 || !strings.Contains(string(r.Raw), `"`+tt.detail+`"`) {
				t.Fatalf("errno %d, no %q detail: %s", r.errno(), tt.detail, r.Raw)
			}
		})
	}
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)

	t.Run("anonymous requests get 401 errno 104 on every method", func(t *testing.T) {
		for _, q := range []req{
			{Method: "GET", Path: col}, {Method: "HEAD", Path: col}, {Method: "POST", Path: col, Body: "{}"}, {Method: "DELETE", Path: col},
			{Method: "GET", Path: obj(uid)}, {Method: "PUT", Path: obj(uid), Body: "{}"}, {Method: "PATCH", Path: obj(uid), Body: `{"data": {}}`}, {Method: "DELETE", Path: obj(uid)},
		} {
			r := s.do(q)
			if r.Code != 401 || (q.Method != "HEAD" && r.errno() != 104) || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("%s %s: %d %s", q.Method, q.Path, r.Code, r.Raw)
			}
		}
	})

	t.Run("two users never see each other's records", func(t *testing.T) {
		a := s.create("alice", map[string]any{"id": uid, "owner": "alice"})
		if l := s.must(200, req{Method: "GET", Path: col, User: "bob"}).list(); len(l) != 0 {
			t.Fatalf("bob lists %v", l)
		}
		expectError(t, s.do(req{Method: "GET", Path: obj(uid), User: "bob"}), 404, 110, "", "")
		expectError(t, s.do(req{Method: "DELETE", Path: obj(uid), User: "bob"}), 404, 110, "", "")
		expectError(t, s.do(req{Method: "PATCH", Path: obj(uid), User: "bob", Body: map[string]any{"data": map[string]any{"x": 1}}}), 404, 110, "", "")
		s.must(201, req{Method: "PUT", Path: obj(uid), User: "bob", Body: map[string]any{"data": map[string]any{"owner": "bob"}}})
		s.must(200, req{Method: "DELETE", Path: col, User: "bob"})
		got := s.must(200, req{Method: "GET", Path: obj(uid), User: "alice"}).data()
		if got["owner"] != "alice" || got["last_modified"] != a["last_modified"] {
			t.Fatalf("alice's record = %v", got)
		}
	})
}

func TestFilters(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.create("alice", map[string]any{"name": "Cep", "tags": []any{"brown", "edible"}, "author": map[string]any{"name": "ann"}, "n": 1})
	s.create("alice", map[string]any{"name": "Amanita", "tags": []any{"red", "toxic"}, "author": map[string]any{"name": "bob"}, "n": 2})
	s.create("alice", map[string]any{"name": "Chanterelle", "tags": []any{"yellow", "edible"}, "n": 3, "opt": nil})

	names := func(q string) string {
		t.Helper()
		var out []string
		for _, o := range s.must(200, req{Method: "GET", Path: col + "?" + q, User: "alice"}).list() {
			out = append(out, o["name"].(string))
		}
		sort.Strings(out)
		return strings.Join(out, ",")
	}
	tests := []struct{ name, query, want string }{
		{"like is a case-insensitive substring match", "like_name=ANT", "Chanterelle"},
		{"like supports * wildcards, anchored", "like_name=c*e", "Chanterelle"},
		{"a trailing * matches prefixes", "like_name=c*", "Cep,Chanterelle"},
		{"has true keeps objects with the field, even null", "has_opt=true", "Chanterelle"},
		{"has false keeps objects without it", "has_author=false", "Chanterelle"},
		{"contains needs every value", "contains_tags=%5B%22edible%22%2C%22brown%22%5D", "Cep"},
		{"contains takes a scalar", "contains_tags=%22edible%22", "Cep,Chanterelle"},
		{"contains_any needs one value", "contains_any_tags=%5B%22red%22%2C%22yellow%22%5D", "Amanita,Chanterelle"},
		{"dotted fields filter nested values", "author.name=bob", "Amanita"},
		{"in keeps any of the values", "in_n=1,3", "Cep,Chanterelle"},
		{"exclude drops the values", "exclude_n=1,3", "Amanita"},
		{"eq_ is equality", "eq_n=2", "Amanita"},
		{"filters combine with AND", "min_n=2&like_name=a", "Amanita,Chanterelle"},
		{"unknown underscore parameters are ignored", "_foo=bar&n=1", "Cep"},
		{"sorting by a nested field works", "_sort=-author.name&n=1", "Cep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(tt.query); got != tt.want {
				t.Fatalf("%s: %s, want %s", tt.query, got, tt.want)
			}
		})
	}
	for _, bad := range []struct{ name, query, param string }{
		{"like with a number is a 400", "like_name=10", "like_name"},
		{"contains on id is a 400", "contains_id=%22a%22", "contains_id"},
		{"contains_any on last_modified is a 400", "contains_any_last_modified=1", "contains_any_last_modified"},
		{"a NUL character is a 400", "name=a%00b", "name"},
		{"has needs a boolean", "has_name=maybe", "has_name"},
		{"last_modified filters are timestamps", "gt_last_modified=abc", "gt_last_modified"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			expectError(t, s.do(req{Method: "GET", Path: col + "?" + bad.query, User: "alice"}), 400, 107, "querystring", bad.param)
		})
	}
}

func TestPatchFlavours(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.create("alice", map[string]any{"id": uid, "a": map[string]any{"b": map[string]any{"c": 1, "d": 2}}, "keep": true, "x": 1})

	t.Run("plain JSON merges shallowly and null stores null", func(t *testing.T) {
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: `{"data": {"a": {"z": 1}, "x": null}}`})
		if fmt.Sprint(r.data()["a"]) != "map[z:1]" || r.data()["x"] != nil || r.data()["keep"] != true {
			t.Fatalf("data = %v", r.data())
		}
		if _, has := r.data()["x"]; !has {
			t.Fatal("null removed the key")
		}
	})
	t.Run("merge-patch merges recursively and null removes keys", func(t *testing.T) {
		s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: `{"data": {"a": {"b": {"c": 1, "d": 2}}}}`})
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice", Body: `{"data": {"a": {"b": {"c": null}}, "x": null}}`,
			Header: map[string]string{"Content-Type": "application/merge-patch+json"}})
		if fmt.Sprint(r.data()["a"]) != "map[b:map[d:2]]" {
			t.Fatalf("a = %v", r.data()["a"])
		}
		if _, has := r.data()["x"]; has {
			t.Fatal("null did not remove x")
		}
	})
	t.Run("json-patch applies operations under /data", func(t *testing.T) {
		r := s.must(200, req{Method: "PATCH", Path: obj(uid), User: "alice",
			Body:   `[{"op": "add", "path": "/data/tags", "value": ["a"]}, {"op": "remove", "path": "/data/keep"}, {"op": "test", "path": "/data/a/b/d", "value": 2}]`,
			Header: map[string]string{"Content-Type": "application/json-patch+json"}})
		if _, has := r.data()["keep"]; has || fmt.Sprint(r.data()["tags"]) != "[a]" {
			t.Fatalf("data = %v", r.data())
		}
	})
	t.Run("a failing json-patch operation is a 400", func(t *testing.T) {
		r := s.do(req{Method: "PATCH", Path: obj(uid), User: "alice", Body: `[{"op": "test", "path": "/data/a/b/d", "value": 3}]`,
			Header: map[string]string{"Content-Type": "application/json-patch+json"}})
		expectError(t, r, 400, 107, "body", "")
		if !strings.Contains(r.Body["message"].(string), "JSON Patch operation failed") {
			t.Fatalf("message = %v", r.Body["message"])
		}
	})
}

func TestSchemaValidation(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil, registerTyped, func(app *cliquet.App) error {
		_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "strict", Schema: []byte(`{
			"type": "object", "additionalProperties": false,
			"properties": {"name": {"type": "string"}, "size": {"type": "integer", "minimum": 0}}}`)})
		return err
	})

	t.Run("a schema violation is a 400 errno 107 with details on data.<field>", func(t *testing.T) {
		r := s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"title": 12, "url": "not a uri"}}})
		expectError(t, r, 400, 107, "body", "data.title")
		expectError(t, r, 400, 107, "body", "data.url")
	})
	t.Run("a missing required field is named", func(t *testing.T) {
		expectError(t, s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"rank": 1}}}), 400, 107, "body", "data.title")
		expectError(t, s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: ""}), 400, 107, "body", "data")
	})
	t.Run("a typed resource drops unknown fields and runs the Process hook", func(t *testing.T) {
		r := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"title": "two words", "color": "red"}}})
		if _, has := r.data()["color"]; has || r.data()["words"] != float64(2) {
			t.Fatalf("data = %v", r.data())
		}
		id := r.data()["id"].(string)
		r = s.must(200, req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"data": map[string]any{"title": "now three words"}}})
		if r.data()["words"] != float64(3) {
			t.Fatalf("hook not run on PATCH: %v", r.data())
		}
		expectError(t, s.do(req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"data": map[string]any{"title": 5}}}), 400, 107, "body", "data.title")
		expectError(t, s.do(req{Method: "PUT", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"data": map[string]any{"title": "forbidden"}}}), 400, 107, "body", "data.title")
	})
	t.Run("additionalProperties false rejects unknown fields", func(t *testing.T) {
		expectError(t, s.do(req{Method: "POST", Path: "/v1/stricts", User: "alice", Body: map[string]any{"data": map[string]any{"name": "a", "color": "red"}}}), 400, 107, "body", "data.color")
		expectError(t, s.do(req{Method: "POST", Path: "/v1/stricts", User: "alice", Body: map[string]any{"data": map[string]any{"size": -1}}}), 400, 107, "body", "data.size")
		s.must(201, req{Method: "POST", Path: "/v1/stricts", User: "alice", Body: map[string]any{"data": map[string]any{"name": "a", "id": uid, "last_modified": 5}}})
	})
}

func TestDeletePlural(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	for i := 0; i < 7; i++ {
		s.create("alice", map[string]any{"i": i, "even": i%2 == 0})
	}
	t.Run("deletes the matching objects a page at a time and returns tombstones", func(t *testing.T) {
		r := s.must(200, req{Method: "DELETE", Path: col + "?even=true&_limit=2&_sort=i", User: "alice"})
		l := r.list()
		if len(l) != 2 || l[0]["deleted"] != true || len(l[0]) != 3 {
			t.Fatalf("tombstones = %v", l)
		}
		if etag(r) != fmt.Sprintf(`"%.0f"`, l[1]["last_modified"]) {
			t.Fatalf("ETag %s, want the latest tombstone", etag(r))
		}
		next := r.Header.Get("Next-Page")
		if next == "" {
			t.Fatal("no Next-Page")
		}
		r = s.must(200, req{Method: "DELETE", Path: pathOf(t, next), User: "alice"})
		if len(r.list()) != 2 || r.Header.Get("Next-Page") != "" {
			t.Fatalf("second page = %v, Next-Page %q", r.list(), r.Header.Get("Next-Page"))
		}
		left := s.must(200, req{Method: "GET", Path: col, User: "alice"}).list()
		if len(left) != 3 {
			t.Fatalf("%d objects left, want the 3 odd ones", len(left))
		}
	})
	t.Run("deleting nothing returns an empty list and the collection ETag", func(t *testing.T) {
		r := s.must(200, req{Method: "DELETE", Path: col + "?i=100", User: "alice"})
		if len(r.list()) != 0 || etag(r) == "" {
			t.Fatalf("%s %s", r.Raw, etag(r))
		}
	})
}

func TestEndpointSettings(t *testing.T) {
	t.Parallel()
	t.Run("methods disabled by spec and settings answer 405 errno 115 with Allow", func(t *testing.T) {
		s := newServer(t, map[string]string{"object_mushroom_patch_enabled": "false", "collection_mushroom_delete_enabled": "false"}, func(app *cliquet.App) error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "mushroom", ObjectMethods: []string{"GET", "PATCH", "DELETE"}})
			return err
		})
		for _, q := range []req{{Method: "PUT", Path: obj(uid)}, {Method: "PATCH", Path: obj(uid)}, {Method: "DELETE", Path: col}} {
			q.User = "alice"
			r := s.do(q)
			expectError(t, r, 405, 115, "", "")
			if allow := r.Header.Get("Allow"); allow == "" || strings.Contains(allow, q.Method) {
				t.Fatalf("%s %s: Allow %q", q.Method, q.Path, allow)
			}
		}
		s.must(404, req{Method: "DELETE", Path: obj(uid), User: "alice"})
	})
	t.Run("readonly keeps GET and HEAD only", func(t *testing.T) {
		s := newServer(t, map[string]string{"readonly": "true"})
		s.must(200, req{Method: "GET", Path: col, User: "alice"})
		s.must(200, req{Method: "HEAD", Path: col, User: "alice"})
		expectError(t, s.do(req{Method: "POST", Path: col, User: "alice", Body: "{}"}), 405, 115, "", "")
	})
	t.Run("custom paths and chi parameters in them", func(t *testing.T) {
		s := newServer(t, nil, func(app *cliquet.App) error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{
				Name: "note", Path: "/boards/{board}/notes", IDGenerator: resource.NameGenerator{},
				Parent: func(r *http.Request) (string, error) {
					return authn.IdentityFrom(r.Context()).UserID + "/" + chi.URLParam(r, "board"), nil
				},
			})
			return err
		})
		s.must(201, req{Method: "PUT", Path: "/v1/boards/b1/notes/first", User: "alice", Body: "{}"})
		if l := s.must(200, req{Method: "GET", Path: "/v1/boards/b2/notes", User: "alice"}).list(); len(l) != 0 {
			t.Fatalf("board b2 sees %v", l)
		}
		if l := s.must(200, req{Method: "GET", Path: "/v1/boards/b1/notes", User: "alice"}).list(); len(l) != 1 || l[0]["id"] != "first" {
			t.Fatalf("board b1 = %v", l)
		}
		expectError(t, s.do(req{Method: "GET", Path: "/v1/boards/b1/notes/-bad", User: "alice"}), 400, 107, "path", "id")
	})
}

func TestHeaders(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	created := s.create("alice", map[string]any{"id": uid})

	t.Run("reads and writes carry ETag and Last-Modified", func(t *testing.T) {
		for _, q := range []req{
			{Method: "GET", Path: col}, {Method: "GET", Path: obj(uid)},
			{Method: "PATCH", Path: obj(uid), Body: `{"data": {"a": 1}}`}, {Method: "PUT", Path: obj(uid), Body: `{"data": {"a": 2}}`},
		} {
			q.User = "alice"
			r := s.must(200, q)
			if !strings.HasPrefix(etag(r), `"`) || !strings.HasSuffix(r.Header.Get("Last-Modified"), "GMT") {
				t.Fatalf("%s %s: ETag %q Last-Modified %q", q.Method, q.Path, etag(r), r.Header.Get("Last-Modified"))
			}
		}
		_ = created
	})
	t.Run("GETs are not cached by default", func(t *testing.T) {
		if cc := s.must(200, req{Method: "GET", Path: col, User: "alice"}).Header.Get("Cache-Control"); cc != "no-cache" {
			t.Fatalf("Cache-Control = %q", cc)
		}
	})
	t.Run("CORS responses expose the protocol headers per endpoint", func(t *testing.T) {
		origin := map[string]string{"Origin": "https://app.example.com"}
		for _, tt := range []struct {
			q    req
			want []string
			not  []string
		}{
			{req{Method: "GET", Path: col}, []string{"ETag", "Last-Modified", "Next-Page", "Cache-Control", "Expires", "Pragma"}, []string{"Total-Objects"}},
			{req{Method: "HEAD", Path: col}, []string{"Total-Objects", "Total-Records", "ETag"}, nil},
			{req{Method: "GET", Path: obj(uid)}, []string{"ETag", "Last-Modified", "Cache-Control", "Expires", "Pragma"}, []string{"Next-Page"}},
		} {
			tt.q.User, tt.q.Header = "alice", origin
			r := s.must(200, tt.q)
			exposed := r.Header.Get("Access-Control-Expose-Headers")
			for _, h := range tt.want {
				if !strings.Contains(exposed, h) {
					t.Errorf("%s %s: %s not exposed in %q", tt.q.Method, tt.q.Path, h, exposed)
				}
			}
			for _, h := range tt.not {
				if strings.Contains(exposed, h) {
					t.Errorf("%s %s: %s exposed in %q", tt.q.Method, tt.q.Path, h, exposed)
				}
			}
		}
	})
}

func TestRegisterErrors(t *testing.T) {
	t.Parallel()
	app := newApp(t, map[string]string{"plural_bad_get_enabled": "perhaps"})
	if _, err := resource.Register(app, resource.Spec[resource.Object]{Name: "thing"}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		reg  func() error
		want string
	}{
		{"a duplicate route is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "other", Path: "/things"})
			return err
		}, "conflicts"},
		{"an invalid name is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "bad name"})
			return err
		}, "invalid name"},
		{"an object path without {id} is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "x", ObjectPath: "/xs/{key}"})
			return err
		}, "{id}"},
		{"an unknown method is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "y", PluralMethods: []string{"PUT"}})
			return err
		}, "PUT"},
		{"a schema that does not compile is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "z", Schema: []byte(`{"type": 12}`)})
			return err
		}, "schema"},
		{"a non-struct T without schema is refused", func() error {
			_, err := resource.Register(app, resource.Spec[[]int]{Name: "w"})
			return err
		}, "neither"},
		{"a bad cliquet tag is refused", func() error {
			type bad struct {
				A string `json:"a" cliquet:"maxLength=x"`
			}
			_, err := resource.Register(app, resource.Spec[bad]{Name: "v"})
			return err
		}, "maxLength"},
		{"a bad endpoint setting is refused", func() error {
			_, err := resource.Register(app, resource.Spec[resource.Object]{Name: "bad"})
			return err
		}, "plural_bad_get_enabled"},
		{"an app without storage is refused", func() error {
			bare := &cliquet.App{Settings: config.MustFromMap(nil, config.Options{Env: []string{}}), Router: chi.NewRouter()}
			_, err := resource.Register(bare, resource.Spec[resource.Object]{Name: "u"})
			return err
		}, "storage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.reg()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
	_ = errors.New
	_ = memory.New
}
