package cliquet

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/protocol"
)

// AddCapability announces a feature in the hello view's "capabilities" mapping, as
// {id: {"description": ..., "url": ..., extra...}}. Registering an id twice is an error.
func (a *App) AddCapability(id, description, url string, extra map[string]any) error {
	if id == "" {
		return fmt.Errorf("cliquet: capability id is empty")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, dup := a.capabilities[id]; dup {
		return fmt.Errorf("cliquet: capability %q is already registered", id)
	}
	c := make(map[string]any, len(extra)+2)
	maps.Copy(c, extra)
	c["description"] = description
	c["url"] = url
	a.capabilities[id] = c
	return nil
}

// UserInfoFunc adds fields to the "user" mapping of an authenticated request's hello view,
// which holds "id" and "principals" when it is called (kinto.core's get_user_info, which
// plugins extend: Kinto's default bucket adds "bucket"). The request carries the identity
// ([authn.IdentityFrom]). An error fails the hello request with its protocol mapping.
type UserInfoFunc func(r *http.Request, user map[string]any) error

// AddUserInfo registers f to add fields to hello's "user"; the functions run in the order
// they were added. Call it before serving requests.
func (a *App) AddUserInfo(f UserInfoFunc) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.userInfo = append(a.userInfo, f)
}

// AddPublicSetting makes the setting name visible in the hello view's "settings" mapping
// (batch_max_requests and readonly are public by default). Adding a name twice is harmless.
func (a *App) AddPublicSetting(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !slices.Contains(a.publicSettings, name) {
		a.publicSettings = append(a.publicSettings, name)
	}
}

// URL returns the absolute URL of path under the version prefix ("/" gives the hello URL,
// with its trailing slash), honouring the http_scheme and http_host settings.
func (a *App) URL(r *http.Request, path string) string {
	scheme := a.Settings.String("http_scheme")
	if scheme == "" {
		scheme = "http"
		if r.TLS != nil {
			scheme = "https"
		}
	}
	host := a.Settings.String("http_host")
	if host == "" {
		host = r.Host
	}
	return scheme + "://" + host + a.Prefix + path
}

// mountUtilityViews registers the utility views on the versioned router r (protocol.md
// 1.1 to 1.4): hello, heartbeat, load-balancer heartbeat and version, each for GET and for
// HEAD, which answers the GET status and headers (Content-Length included) with no body.
func (a *App) mountUtilityViews(r chi.Router) {
	for path, view := range map[string]http.HandlerFunc{
		"/":                a.hello,
		"/__heartbeat__":   a.heartbeat,
		"/__lbheartbeat__": lbheartbeat,
		"/__version__":     a.version,
	} {
		r.Get(path, view)
		r.Head(path, headOf(view))
	}
}

// headOf returns a HEAD handler running the GET handler h without writing its body.
func headOf(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { h(bodiless{w}, r) }
}

// bodiless drops the body written through it.
type bodiless struct{ http.ResponseWriter }

func (bodiless) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap gives http.ResponseController access to the underlying writer.
func (b bodiless) Unwrap() http.ResponseWriter { return b.ResponseWriter }

// addAuthCapabilities adds to caps the capabilities of the policies of chain that describe
// themselves ([authn.CapabilityDescriber]), unless caps already has their id.
func addAuthCapabilities(caps map[string]any, chain []authn.Authenticator) {
	for _, au := range chain {
		d, ok := au.(authn.CapabilityDescriber)
		if !ok {
			continue
		}
		id := strings.ToLower(au.Name())
		if _, taken := caps[id]; taken {
			continue
		}
		description, url, extra := d.Capability()
		c := make(map[string]any, len(extra)+2)
		maps.Copy(c, extra)
		c["description"] = description
		c["url"] = url
		caps[id] = c
	}
}

// hello answers GET /v1/ (protocol.md 1.1).
func (a *App) hello(w http.ResponseWriter, r *http.Request) {
	a.mu.RLock()
	settings := make(map[string]any, len(a.publicSettings))
	for _, name := range a.publicSettings {
		v, err := a.Settings.Typed(name)
		if err != nil {
			a.mu.RUnlock()
			protocol.WriteError(w, r, err)
			return
		}
		settings[name] = v
	}
	caps := make(map[string]any, len(a.capabilities)+1)
	for id, c := range a.capabilities {
		caps[id] = c
	}
	userInfo := a.userInfo
	a.mu.RUnlock()
	addAuthCapabilities(caps, a.chain())

	body := map[string]any{
		"project_name":     a.ProjectName,
		"project_version":  a.ProjectVersion,
		"http_api_version": a.HTTPAPIVersion,
		"protocol_version": protocol.Version,
		"project_docs":     a.Settings.String("project_docs"),
		"url":              a.URL(r, "/"),
		"settings":         settings,
		"capabilities":     caps,
	}
	if eos := a.Settings.String("eos"); !a.Settings.IsUnset("eos") {
		body["eos"] = eos
	}
	if id := authn.IdentityFrom(r.Context()); id.Authenticated() {
		principals, err := id.AllPrincipals(r.Context())
		if err != nil {
			protocol.WriteError(w, r, err)
			return
		}
		user := map[string]any{"id": id.UserID, "principals": principals}
		for _, f := range userInfo {
			if err := f(r, user); err != nil {
				protocol.WriteError(w, r, err)
				return
			}
		}
		body["user"] = user
	}
	if ro, _ := a.Settings.Bool("readonly"); ro {
		// A read-only service's hello does not change: let clients cache it.
		if ttl, _ := a.Settings.Int("root_cache_expires_seconds"); ttl > 0 {
			w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(ttl))
			w.Header().Set("Expires", time.Now().Add(time.Duration(ttl)*time.Second).UTC().Format(http.TimeFormat))
		}
	}
	protocol.WriteJSON(w, http.StatusOK, body)
}
