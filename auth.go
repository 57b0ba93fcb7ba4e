package cliquet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/protocol"
)

// setupAuthentication builds the chain from multiauth.policies and the embedder's policies.
func (a *App) setupAuthentication(extra []authn.Authenticator) error {
	known := map[string]authn.Authenticator{}
	for _, au := range extra {
		if au == nil {
			return errors.New("cliquet: Config.Authenticators holds a nil policy")
		}
		name := strings.ToLower(au.Name())
		if _, dup := known[name]; dup || name == "" {
			return fmt.Errorf("cliquet: authentication policy name %q is empty or duplicated", au.Name())
		}
		known[name] = au
	}
	var chain []authn.Authenticator
	inChain := map[string]bool{}
	for _, name := range a.Settings.List("multiauth.policies") {
		name = strings.ToLower(name)
		au, ok := known[name]
		if !ok && name == "basicauth" {
			secret := a.Settings.String("userid_hmac_secret")
			if secret == "" {
				return fmt.Errorf("cliquet: setting %q is empty but the basicauth policy is enabled (multiauth.policies)", "userid_hmac_secret")
			}
			au, ok = authn.BasicAuth{Secret: secret}, true
		}
		if !ok {
			names := []string{"basicauth"}
			for n := range known {
				names = append(names, n)
			}
			slices.Sort(names)
			return fmt.Errorf("cliquet: setting %q: unknown policy %q (available: %s)", "multiauth.policies", name, strings.Join(names, ", "))
		}
		if inChain[name] {
			continue
		}
		inChain[name] = true
		chain = append(chain, au)
		delete(known, name)
	}
	for _, au := range extra {
		if _, left := known[strings.ToLower(au.Name())]; left {
			chain = append(chain, au)
		}
	}
	chain = slices.Clip(chain)
	a.authenticators.Store(&chain)
	return nil
}

// AddAuthenticator appends a policy to the authentication chain; its name must not be used
// already. Call it before serving requests.
func (a *App) AddAuthenticator(au authn.Authenticator) error {
	if au == nil || au.Name() == "" {
		return errors.New("cliquet: AddAuthenticator needs a named policy")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	cur := a.chain()
	for _, c := range cur {
		if strings.EqualFold(c.Name(), au.Name()) {
			return fmt.Errorf("cliquet: authentication policy %q is already registered", au.Name())
		}
	}
	// A new backing array, never an append in place: authenticate iterates over the slice
	// it loaded without copying it (see chain).
	next := append(slices.Clip(cur), au)
	a.authenticators.Store(&next)
	return nil
}

// Authenticators returns the authentication chain, in order.
func (a *App) Authenticators() []authn.Authenticator {
	return slices.Clone(a.chain())
}

// chain returns the authentication chain without copying it, for reading only: the slice is
// never modified in place (AddAuthenticator and the setup replace it, holding mu), so that
// requests read it with one atomic load instead of taking the lock.
func (a *App) chain() []authn.Authenticator {
	if p := a.authenticators.Load(); p != nil {
		return *p
	}
	return nil
}

// authenticate is the app's identity middleware; it also records the user for the request
// summary, the metrics and Sentry (monitoring.SetUser).
//
// The identity of a batch request is computed once: it is kept in the batch request's
// context, and the sub-requests whose credentials are those of the batch request (see
// [sameCredentials]) reuse it instead of asking the policies and the permission backend
// again, as kinto shares the principals of a batch with its sub-requests (the groups too:
// they are read once for the batch).
//
// The user's groups are not read here but when first needed ([authn.Identity.AllPrincipals]):
// the views that need none (the heartbeats, the version) never ask the permission
// backend, so that a permission backend that is down does not turn the heartbeat report
// into a plain 503, and a permission check can read them in the same round trip as the
// ACLs. The hello view, which shows the principals, answers 503 when the permission
// backend fails.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		var id authn.Identity
		if c, ok := ctx.Value(batchIdentityKey).(*batchIdentity); ok && monitoring.IsSubrequest(ctx) && sameCredentials(c.header, r.Header) {
			id = c.id
		} else {
			var err error
			if id, err = authn.Identify(r, a.Permission, a.chain()...); err != nil {
				protocol.WriteError(w, r, err)
				return
			}
			if a.isBatchRequest(r) {
				ctx = context.WithValue(ctx, batchIdentityKey, &batchIdentity{header: r.Header, id: id})
			}
		}
		if id.Authenticated() {
			monitoring.SetUser(ctx, id.UserID, id.AuthType)
		}
		if ctx == r.Context() && authn.Fill(ctx, id) {
			next.ServeHTTP(w, r) // the request's own identity slot holds it: no request copy
			return
		}
		next.ServeHTTP(w, r.WithContext(authn.WithIdentity(ctx, id)))
	})
}

// isBatchRequest reports whether r targets the batch endpoint of a, and is not itself a
// batch sub-request.
func (a *App) isBatchRequest(r *http.Request) bool {
	return a.Prefix != "" && r.URL.Path == a.Prefix+BatchPath && !monitoring.IsSubrequest(r.Context())
}

// batchIdentityKey holds the *batchIdentity of a batch request.
var batchIdentityKey = &ctxKey{"batch identity"}

// batchIdentity is the identity of a batch request and the headers it was computed from.
type batchIdentity struct {
	header http.Header // the batch request's, never modified (sub-requests get copies)
	id     authn.Identity
}

// credentialFree reports whether a batch sub-request may set or change the (canonical)
// header k and still reuse the identity of the batch request: such headers describe the
// body, the preconditions or the wanted representation, never who is asking.
func credentialFree(k string) bool {
	switch k {
	case "Content-Type", "Content-Length", "Content-Encoding",
		"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
		"Accept", "Accept-Encoding", "Accept-Language", "X-Request-Id":
		return true
	}
	return false
}

// sameCredentials reports whether a sub-request with header sub carries the credentials of
// the batch request with header outer: the same Authorization header and, since an
// Authenticator may read any header (a cookie, an API key), the same values for every
// header but the credential-free ones (Content-Type, If-Match, Accept...).
func sameCredentials(outer, sub http.Header) bool {
	for k, v := range outer {
		if !credentialFree(k) && !slices.Equal(v, sub[k]) {
			return false
		}
	}
	for k := range sub {
		if _, ok := outer[k]; !ok && !credentialFree(k) {
			return false
		}
	}
	return true
}

// logFrom returns the logger of the app serving r, or slog.Default().
func logFrom(r *http.Request) *slog.Logger {
	if a := AppFrom(r.Context()); a != nil && a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
