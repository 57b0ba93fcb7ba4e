package resource_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/resource"
)

// perms reads the permissions of a response as sorted lists.
func perms(r *response) map[string]string {
	out := map[string]string{}
	p, _ := r.Body["permissions"].(map[string]any)
	for k, v := range p {
		var l []string
		for _, x := range v.([]any) {
			l = append(l, x.(string))
		}
		slices.Sort(l)
		out[k] = strings.Join(l, " ")
	}
	return out
}

func TestSharingPermissionsInBodies(t *testing.T) {
	alice, bob := principalOf("alice"), principalOf("bob")
	s := newShareServer(t, memory.New(), nil, nil)
	create := func(acl map[string]any) string {
		t.Helper()
		return s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice",
			Body: map[string]any{"data": map[string]any{"n": 1}, "permissions": acl}}).data()["id"].(string)
	}
	tests := []struct {
		name  string
		acl   map[string]any
		do    func(id string) req
		want  map[string]string
		field string // a data field expected to be kept
	}{
		{"the author gets write even when the permissions do not name her",
			map[string]any{"write": []string{bob}}, nil,
			map[string]string{"write": strings.Join(sorted(alice, bob), " ")}, ""},
		{"a PUT with permissions resets the permissions it leaves out",
			map[string]any{"read": []string{bob}, "write": []string{bob}},
			func(id string) req {
				return req{Method: "PUT", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"data": map[string]any{"n": 2}, "permissions": map[string]any{"read": []string{"system.Everyone"}}}}
			},
			map[string]string{"read": "system.Everyone", "write": alice}, ""},
		{"a PUT without permissions keeps them",
			map[string]any{"read": []string{bob}},
			func(id string) req {
				return req{Method: "PUT", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"data": map[string]any{"n": 2}}}
			},
			map[string]string{"read": bob, "write": alice}, ""},
		{"a PUT with permissions only keeps the data",
			map[string]any{},
			func(id string) req {
				return req{Method: "PUT", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"permissions": map[string]any{"read": []string{bob}}}}
			},
			map[string]string{"read": bob, "write": alice}, "n"},
		{"a PATCH keeps the permissions it does not list",
			map[string]any{"read": []string{bob}},
			func(id string) req {
				return req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"permissions": map[string]any{"write": []string{bob}}}}
			},
			map[string]string{"read": bob, "write": strings.Join(sorted(alice, bob), " ")}, "n"},
		{"a plain PATCH ignores null permissions",
			map[string]any{"read": []string{bob}},
			func(id string) req {
				return req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice", Body: map[string]any{"permissions": map[string]any{"read": nil}}}
			},
			map[string]string{"read": bob, "write": alice}, "n"},
		{"a merge-patch null empties that permission",
			map[string]any{"read": []string{bob}},
			func(id string) req {
				return req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice", Body: `{"permissions": {"read": null}}`,
					Header: map[string]string{"Content-Type": "application/merge-patch+json"}}
			},
			map[string]string{"write": alice}, "n"},
		{"JSON Patch operations add and remove principals",
			map[string]any{"read": []string{bob}},
			func(id string) req {
				return req{Method: "PATCH", Path: "/v1/articles/" + id, User: "alice",
					Body:   `[{"op": "add", "path": "/permissions/read/system.Authenticated"}, {"op": "remove", "path": "/permissions/read/` + bob + `"}, {"op": "add", "path": "/data/x", "value": 1}]`,
					Header: map[string]string{"Content-Type": "application/json-patch+json"}}
			},
			map[string]string{"read": "system.Authenticated", "write": alice}, "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := create(tt.acl)
			if tt.do != nil {
				r := s.do(tt.do(id))
				if r.Code != 200 {
					t.Fatalf("status %d: %s", r.Code, r.Raw)
				}
				if got := perms(r); fmt.Sprint(got) != fmt.Sprint(tt.want) {
					t.Fatalf("response permissions %v, want %v", got, tt.want)
				}
			}
			got := s.must(200, req{Method: "GET", Path: "/v1/articles/" + id, User: "alice"})
			if p := perms(got); fmt.Sprint(p) != fmt.Sprint(tt.want) {
				t.Fatalf("stored permissions %v, want %v", p, tt.want)
			}
			if tt.field != "" && got.data()[tt.field] == nil {
				t.Fatalf("field %s lost: %s", tt.field, got.Raw)
			}
		})
	}
	t.Run("an unknown permission name is a 400", func(t *testing.T) {
		r := s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"permissions": map[string]any{"admin": []string{bob}}}})
		expectError(t, r, 400, 107, "body", "permissions.admin")
	})
	t.Run("principals must be strings", func(t *testing.T) {
		r := s.do(req{Method: "POST", Path: "/v1/articles", User: "alice", Body: `{"permissions": {"read": [1]}}`})
		expectError(t, r, 400, 107, "body", "permissions.read")
	})
	t.Run("readers see no permissions", func(t *testing.T) {
		id := create(map[string]any{"read": []string{bob}})
		r := s.must(200, req{Method: "GET", Path: "/v1/articles/" + id, User: "bob"})
		if p, ok := r.Body["permissions"].(map[string]any); !ok || len(p) != 0 {
			t.Fatalf("permissions %s", r.Raw)
		}
	})
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func TestSharingSettingsAndLists(t *testing.T) {
	t.Run("users who may not create and have nothing shared get 403 on the list", func(t *testing.T) {
		s := newShareServer(t, memory.New(), map[string]string{"article_create_principals": ""}, nil)
		expectError(t, s.do(req{Method: "GET", Path: "/v1/articles", User: "bob"}), 403, 121, "", "")
		expectError(t, s.do(req{Method: "POST", Path: "/v1/articles", User: "bob", Body: map[string]any{}}), 403, 121, "", "")
	})
	t.Run("read principals settings open the whole list and unknown ids get 404", func(t *testing.T) {
		s := newShareServer(t, memory.New(), map[string]string{"article_read_principals": "system.Everyone"}, nil)
		s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{}})
		s.must(201, req{Method: "POST", Path: "/v1/articles", User: "bob", Body: map[string]any{}})
		if r := s.must(200, req{Method: "GET", Path: "/v1/articles"}); len(r.list()) != 2 {
			t.Fatalf("anonymous list: %s", r.Raw)
		}
		expectError(t, s.do(req{Method: "GET", Path: "/v1/articles/" + "00000000-0000-4000-8000-000000000000", User: "bob"}), 404, 110, "", "")
		// Reading is not writing.
		expectError(t, s.do(req{Method: "DELETE", Path: "/v1/articles", User: "bob"}), 200, 0, "", "")
		if r := s.must(200, req{Method: "GET", Path: "/v1/articles"}); len(r.list()) != 1 {
			t.Fatalf("bob deleted alice's article: %s", r.Raw)
		}
	})
	t.Run("explicit_permissions off does not give the author write", func(t *testing.T) {
		s := newShareServer(t, memory.New(), map[string]string{"explicit_permissions": "false"}, nil)
		r := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"permissions": map[string]any{"read": []string{principalOf("alice")}}}})
		expectError(t, s.do(req{Method: "DELETE", Path: "/v1/articles/" + r.data()["id"].(string), User: "alice"}), 403, 121, "", "")
	})
	t.Run("a restricted list keeps filters, sorting and pagination", func(t *testing.T) {
		s := newShareServer(t, memory.New(), nil, nil)
		var shared []string
		for i := range 9 {
			acl := map[string]any{}
			if i%3 != 0 {
				acl["read"] = []string{principalOf("bob")}
			}
			r := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"data": map[string]any{"n": i, "even": i%2 == 0}, "permissions": acl}})
			if i%3 != 0 && i%2 == 0 {
				shared = append(shared, r.data()["id"].(string))
			}
		}
		var got []string
		path := "/v1/articles?even=true&_sort=n&_limit=1"
		for path != "" {
			r := s.must(200, req{Method: "GET", Path: path, User: "bob"})
			for _, o := range r.list() {
				got = append(got, o["id"].(string))
			}
			path = ""
			if next := r.Header.Get("Next-Page"); next != "" {
				path = pathOf(t, next)
			}
		}
		if !slices.Equal(got, shared) {
			t.Fatalf("pages %v, want %v", got, shared)
		}
	})
}

// TestSharingNestedPermissions nests comments under articles (Spec.Under): whoever may
// read (or write) an article may read its comments.
func TestSharingNestedPermissions(t *testing.T) {
	perms := memory.New()
	s := newShareServer(t, perms, map[string]string{"comment_create_principals": "system.Authenticated"}, nil)
	_, err := resource.Register(s.app, resource.Spec[resource.Object]{
		Name: "comment", Path: "/articles/{aid}/comments",
		Under:   s.articles,
		Sharing: &resource.Sharing{},
	})
	if err != nil {
		t.Fatal(err)
	}
	article := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{"permissions": map[string]any{"read": []string{principalOf("bob")}}}}).data()["id"].(string)
	other := s.must(201, req{Method: "POST", Path: "/v1/articles", User: "alice", Body: map[string]any{}}).data()["id"].(string)
	c := s.must(201, req{Method: "POST", Path: "/v1/articles/" + article + "/comments", User: "alice", Body: map[string]any{"data": map[string]any{"text": "hi"}}}).data()["id"].(string)
	s.must(201, req{Method: "POST", Path: "/v1/articles/" + other + "/comments", User: "alice", Body: map[string]any{}})

	if ok, _ := perms.CheckPermission(context.Background(), []string{principalOf("alice")}, []permission.Binding{{ObjectID: "/articles/" + article + "/comments/" + c, Permission: "write"}}); !ok {
		t.Fatal("the comment's ACL is not stored under its URI with the article id substituted")
	}
	r := s.must(200, req{Method: "GET", Path: "/v1/articles/" + article + "/comments", User: "bob"})
	if len(r.list()) != 1 || r.list()[0]["id"] != c {
		t.Fatalf("bob's list of the shared article's comments: %s", r.Raw)
	}
	s.must(200, req{Method: "GET", Path: "/v1/articles/" + article + "/comments/" + c, User: "bob"})
	expectError(t, s.do(req{Method: "PATCH", Path: "/v1/articles/" + article + "/comments/" + c, User: "bob", Body: map[string]any{"data": map[string]any{"text": "x"}}}), 403, 121, "", "")
	if r := s.must(200, req{Method: "GET", Path: "/v1/articles/" + other + "/comments", User: "bob"}); len(r.list()) != 0 {
		t.Fatalf("bob sees comments of an article not shared with him: %s", r.Raw)
	}
	expectError(t, s.do(req{Method: "GET", Path: "/v1/articles/*/comments", User: "bob"}), 400, 107, "path", "article_id")
}
