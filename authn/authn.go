// Package authn establishes who makes a request: the authentication policies
// ([Authenticator], the built-in [BasicAuth]), the [Identity] they produce and its
// principals, the context that carries it, and the 401 and 403 errors of the protocol.
//
// cliquet.Initialize builds the policy chain from the multiauth.policies setting and installs
// its own identity middleware; [Middleware] is the same for a service without it.
package authn

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/protocol"
)

// Authenticator is one authentication policy of the chain set by multiauth.policies.
type Authenticator interface {
	// Name is the policy name: the multiauth.policies entry and the prefix of the user ids
	// it produces ("basicauth" gives "basicauth:<id>"). It is lower-cased when used.
	Name() string
	// Authenticate returns the user id (without prefix) of the request's credentials, and
	// ok = false when the request carries no credentials this policy understands, or
	// invalid ones (the request is then anonymous for this policy). err is for failures
	// of a dependency (a cache or an identity provider that is down); it fails the request
	// with the error's protocol mapping (503 for a backend error).
	Authenticate(r *http.Request) (userID string, ok bool, err error)
}

// CapabilityDescriber is an optional interface of an [Authenticator]: a policy implementing
// it is announced in the hello view's "capabilities" mapping while it is in the chain, under
// its lower-cased Name, as {"description": ..., "url": ..., extra...} (as kinto.core's
// authentication plugins announce themselves; Kinto's web admin offers the login methods it
// finds there). A capability of the same id registered with cliquet.App.AddCapability wins.
// [BasicAuth] implements it.
type CapabilityDescriber interface {
	Capability() (description, url string, extra map[string]any)
}

// Identity is who made a request, as established by the authentication policies.
type Identity struct {
	// UserID is the prefixed user id ("basicauth:2f7a…"), or "" when anonymous.
	UserID string
	// AuthType is the name of the policy that authenticated the request ("basicauth").
	AuthType string
	// Principals are system.Everyone, plus, when authenticated, system.Authenticated and
	// the user id. The user's groups are not among them: [Identity.AllPrincipals] adds them,
	// reading the permission backend once per request, and only when something needs them
	// (a permission check may instead read them in the same round trip as the ACLs).
	Principals []string

	groups *groups // how AllPrincipals finds the groups; nil: there are none
}

// groups resolves the groups of one identity, once (a failure is not kept: the next call
// asks again).
type groups struct {
	mu     sync.Mutex
	done   bool
	perms  permission.Backend
	all    []string
	inline [6]string // all's array for up to three groups
}

// Authenticated reports whether the request carried valid credentials.
func (id Identity) Authenticated() bool { return id.UserID != "" }

// AllPrincipals returns Principals followed by the user's groups (the extra principals the
// permission backend gives the user id and system.Authenticated: see
// permission.Backend.UserPrincipals). The groups are read at the first call for a request
// (with that call's ctx) and kept for the rest of it; an error of the permission backend
// is returned (the protocol answers it 503) and not kept. The result is shared: copy it before
// appending.
func (id Identity) AllPrincipals(ctx context.Context) ([]string, error) {
	g := id.groups
	if g == nil || !id.Authenticated() {
		return id.Principals, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.done {
		return g.all, nil
	}
	extra, err := g.perms.UserPrincipals(ctx, id.UserID)
	if err != nil {
		return nil, err
	}
	all := append(g.inline[:0], id.Principals...)
	for _, p := range extra {
		if !slices.Contains(all, p) {
			all = append(all, p)
		}
	}
	g.all, g.done = all[:len(all):len(all)], true
	return g.all, nil
}

// identityKey is the context key of the request's identity: an Identity (WithIdentity) or
// a *slot (WithSlot).
type identityKey struct{}

// slot is an identity that the request's authentication fills once, before any handler
// reads it.
type slot struct {
	id     Identity
	filled bool
}

// WithIdentity returns a context carrying id (installed by the authentication middleware).
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// WithSlot returns a context with an empty identity slot, for the authentication
// middleware to fill with [Fill] instead of copying the request to add the identity with
// [WithIdentity]. Until it is filled, [IdentityFrom] answers the anonymous identity.
// cliquet.Initialize adds one to every request in the copy its monitoring middleware
// makes anyway.
func WithSlot(ctx context.Context) context.Context {
	return context.WithValue(ctx, identityKey{}, &slot{})
}

// Fill records id in the identity slot of ctx and reports whether it did: it does nothing
// when the nearest identity of ctx is not an empty slot (none, an identity set by
// WithIdentity, or a slot already filled, such as a batch request's seen from its
// sub-requests). Call it once per request, before the handlers that read the identity run.
func Fill(ctx context.Context, id Identity) bool {
	s, ok := ctx.Value(identityKey{}).(*slot)
	if !ok || s.filled {
		return false
	}
	s.id, s.filled = id, true
	return true
}

// IdentityFrom returns the identity of the request; the zero Identity (anonymous, with
// system.Everyone as its only principal) when none was established.
func IdentityFrom(ctx context.Context) Identity {
	switch v := ctx.Value(identityKey{}).(type) {
	case Identity:
		return v
	case *slot:
		if v.filled {
			return v.id
		}
	}
	return Identity{Principals: []string{permission.Everyone}}
}

// Middleware is the identity middleware for a service that does not use cliquet.Initialize: it runs
// [Identify] once per request and stores the result with [WithIdentity]; an authenticated
// user is also recorded with monitoring.SetUser for the monitoring middleware installed
// outside it. perms may be nil.
func Middleware(perms permission.Backend, policies ...Authenticator) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := Identify(r, perms, policies...)
			if err != nil {
				protocol.WriteError(w, r, err)
				return
			}
			if id.Authenticated() {
				monitoring.SetUser(r.Context(), id.UserID, id.AuthType)
			}
			next.ServeHTTP(w, r.WithContext(WithIdentity(r.Context(), id)))
		})
	}
}

// Identify asks the policies in order; the first that authenticates the request wins. The
// identity's principals are system.Everyone and, when authenticated, system.Authenticated
// and the prefixed user id; [Identity.AllPrincipals] adds the user's principals in perms
// (when perms is not nil), read when first asked for.
func Identify(r *http.Request, perms permission.Backend, policies ...Authenticator) (Identity, error) {
	anonymous := func() Identity { return Identity{Principals: []string{permission.Everyone}} }
	for _, p := range policies {
		name := strings.ToLower(p.Name())
		var userID string
		if pa, ok := p.(prefixedAuthenticator); ok {
			if userID, ok = pa.prefixedUserID(r, name); !ok {
				continue
			}
		} else {
			uid, ok, err := p.Authenticate(r)
			if err != nil {
				return anonymous(), fmt.Errorf("authn: authentication policy %s: %w", p.Name(), err)
			}
			if !ok || uid == "" {
				continue
			}
			userID = name + ":" + uid
		}
		// The principals and the groups' memo in one allocation.
		mem := new(struct {
			principals [3]string
			groups     groups
		})
		mem.principals = [3]string{permission.Everyone, permission.Authenticated, userID}
		id := Identity{UserID: userID, AuthType: name, Principals: mem.principals[:]}
		if perms != nil {
			mem.groups.perms = perms
			id.groups = &mem.groups
		}
		return id, nil
	}
	return anonymous(), nil
}

// BasicRealmChallenge is the WWW-Authenticate value of [ErrUnauthorized].
const BasicRealmChallenge = `Basic realm="Realm"`

// ErrUnauthorized returns a new 401 errno 104 error ("Please authenticate yourself...") with
// a WWW-Authenticate challenge, for views that need an authenticated user.
func ErrUnauthorized() *protocol.Error {
	e := protocol.NewError(http.StatusUnauthorized, protocol.ErrnoMissingAuthToken, protocol.MsgUnauthorized)
	e.Header = http.Header{"Www-Authenticate": {BasicRealmChallenge}}
	return e
}

// ErrForbidden returns a new 403 errno 121 error, for authenticated users who lack the
// permission.
func ErrForbidden() *protocol.Error {
	return protocol.NewError(http.StatusForbidden, protocol.ErrnoForbidden, protocol.MsgForbidden)
}

// Unauthorized writes the 401 of [ErrUnauthorized] on w.
func Unauthorized(w http.ResponseWriter, r *http.Request) {
	protocol.WriteError(w, r, ErrUnauthorized())
}
