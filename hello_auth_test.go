package cliquet

import (
	"net/http"
	"testing"

	"github.com/cliquet-go/cliquet/authn"
)

// describedAuth is a policy that describes itself in hello's capabilities.
type describedAuth struct{ name string }

func (d describedAuth) Name() string { return d.name }
func (describedAuth) Authenticate(*http.Request) (string, bool, error) {
	return "", false, nil
}
func (d describedAuth) Capability() (string, string, map[string]any) {
	return "Tokens of " + d.name, "https://example.com/" + d.name, map[string]any{"header_type": "Bearer"}
}

// plainAuth is a policy that does not describe itself.
type plainAuth struct{}

func (plainAuth) Name() string                                     { return "plain" }
func (plainAuth) Authenticate(*http.Request) (string, bool, error) { return "", false, nil }

func TestHelloListsAuthenticationPolicies(t *testing.T) {
	t.Run("basicauth is announced as Kinto announces it", func(t *testing.T) {
		h := newApp(t, nil, Config{}).Handler()
		caps := do(t, h, "GET", "/v1/", nil).json(t)["capabilities"].(map[string]any)
		want := map[string]any{
			"description": "Very basic authentication sessions. Not for production use.",
			"url":         "http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html",
		}
		got, _ := caps["basicauth"].(map[string]any)
		if len(got) != len(want) || got["description"] != want["description"] || got["url"] != want["url"] {
			t.Errorf("basicauth capability = %v, want %v", caps["basicauth"], want)
		}
	})
	t.Run("a policy out of the chain is not announced", func(t *testing.T) {
		h := newApp(t, map[string]string{"multiauth.policies": "plain"}, Config{Authenticators: []authn.Authenticator{plainAuth{}}}).Handler()
		caps := do(t, h, "GET", "/v1/", nil).json(t)["capabilities"].(map[string]any)
		if len(caps) != 0 {
			t.Errorf("capabilities = %v, want {} (basicauth disabled, plain undescribed)", caps)
		}
	})
	t.Run("a policy describing itself is announced, also when added later", func(t *testing.T) {
		app := newApp(t, nil, Config{Authenticators: []authn.Authenticator{describedAuth{"Portier"}}})
		if err := app.AddAuthenticator(describedAuth{"fxa"}); err != nil {
			t.Fatal(err)
		}
		caps := do(t, app.Handler(), "GET", "/v1/", nil).json(t)["capabilities"].(map[string]any)
		for _, id := range []string{"basicauth", "portier", "fxa"} {
			if _, ok := caps[id]; !ok {
				t.Errorf("capability %q missing from %v", id, caps)
			}
		}
		p, _ := caps["portier"].(map[string]any)
		if p["description"] != "Tokens of Portier" || p["url"] != "https://example.com/Portier" || p["header_type"] != "Bearer" {
			t.Errorf("portier capability = %v", p)
		}
	})
	t.Run("an explicit capability of the same id wins", func(t *testing.T) {
		app := newApp(t, nil, Config{})
		if err := app.AddCapability("basicauth", "Mine", "https://example.com/", nil); err != nil {
			t.Fatal(err)
		}
		caps := do(t, app.Handler(), "GET", "/v1/", nil).json(t)["capabilities"].(map[string]any)
		if b, _ := caps["basicauth"].(map[string]any); b["description"] != "Mine" {
			t.Errorf("basicauth capability = %v, want the explicit one", caps["basicauth"])
		}
	})
}

func TestHelloUserInfo(t *testing.T) {
	app := newApp(t, nil, Config{})
	app.AddUserInfo(func(r *http.Request, user map[string]any) error {
		user["bucket"] = "b-" + authn.IdentityFrom(r.Context()).UserID[len("basicauth:"):][:4]
		return nil
	})
	h := app.Handler()
	m := do(t, h, "GET", "/v1/", nil, "Authorization", "Basic YWxpY2U6cw==").json(t)
	user, _ := m["user"].(map[string]any)
	uid, _ := user["id"].(string)
	if len(uid) < 14 || user["bucket"] != "b-"+uid[len("basicauth:"):][:4] || user["principals"] == nil {
		t.Errorf("user = %v, want id, principals and the added bucket", m["user"])
	}
	if _, ok := do(t, h, "GET", "/v1/", nil).json(t)["user"]; ok {
		t.Error("anonymous hello has a user")
	}
}
