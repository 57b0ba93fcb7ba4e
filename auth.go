package cliquet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"

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
// finds there). A capability of the same id registered with [App.AddCapability] wins.
// [BasicAuth] implements it.
type CapabilityDescriber interface {
	Capability() (description, url string, extra map[string]any)
}

// BasicAuth is the built-in "basicauth" policy (protocol.md 6.1): any username and password
// are accepted, with no account storage; the user id is the hex HMAC-SHA256 of
// "username:password" keyed by Secret. An empty username is anonymous.
type BasicAuth struct {
	// Secret is the HMAC key (the userid_hmac_secret setting). It must not be empty.
	Secret string
}

// Name returns "basicauth".
func (BasicAuth) Name() string { return "basicauth" }

// Capability implements [CapabilityDescriber] with kinto.core's basicauth description.
func (BasicAuth) Capability() (string, string, map[string]any) {
	return "Very basic authentication sessions. Not for production use.",
		"http://kinto.readthedocs.io/en/stable/api/1.x/authentication.html", nil
}

// Authenticate implements [Authenticator]. It reads the Authorization header like
// [http.Request.BasicAuth] (scheme "Basic" in any case, standard base64, user and password
// split at the first colon) and hashes the decoded "user:password" as it is.
func (b BasicAuth) Authenticate(r *http.Request) (string, bool, error) {
	uid, ok := b.prefixedUserID(r, "")
	return uid, ok, nil
}

// prefixedAuthenticator is an [Authenticator] that can write the full user id of a request
// (the policy's name, a colon, and the id Authenticate returns) in one allocation, which
// spares Identify a concatenation.
type prefixedAuthenticator interface {
	// prefixedUserID returns name + ":" + the user id, or the user id alone when name is
	// empty; ok is false when r carries no credentials of the policy.
	prefixedUserID(r *http.Request, name string) (string, bool)
}

// prefixedUserID implements prefixedAuthenticator.
func (b BasicAuth) prefixedUserID(r *http.Request, name string) (string, bool) {
	const scheme = "Basic "
	auth := r.Header.Get("Authorization")
	if len(auth) < len(scheme) || !strings.EqualFold(auth[:len(scheme)], scheme) {
		return "", false
	}
	enc := auth[len(scheme):]
	var stack [192]byte
	buf := stack[:]
	if n := base64.StdEncoding.DecodedLen(len(enc)); n > len(buf) {
		buf = make([]byte, n)
	}
	n, err := base64.StdEncoding.Decode(buf, []byte(enc))
	if err != nil {
		return "", false
	}
	cred := buf[:n]
	colon := bytes.IndexByte(cred, ':')
	if colon <= 0 { // no colon, or an empty user name: anonymous
		return "", false
	}
	var out [32 + 2*sha256.Size]byte
	id := out[:0]
	if name != "" {
		id = append(append(id, name...), ':')
	}
	return string(appendHMACHex(id, b.Secret, cred)), true
}

// HMACUserID returns the hex HMAC-SHA256 of message keyed by secret, the user id scheme of
// [BasicAuth].
func HMACUserID(secret, message string) string {
	var out [2 * sha256.Size]byte
	return string(appendHMACHex(out[:0], secret, []byte(message)))
}

// appendHMACHex appends the hex HMAC-SHA256 (RFC 2104) of msg keyed by secret to dst,
// computed with sha256.Sum256 over buffers on the stack (for messages up to 192 bytes), so
// that it allocates nothing when dst has room. A test checks it against crypto/hmac.
func appendHMACHex(dst []byte, secret string, msg []byte) []byte {
	const block = sha256.BlockSize
	var key [block]byte
	if len(secret) > block {
		k := sha256.Sum256([]byte(secret))
		copy(key[:], k[:])
	} else {
		copy(key[:], secret)
	}
	var stack [block + 192]byte
	inner := stack[:]
	if block+len(msg) > len(inner) {
		inner = make([]byte, block+len(msg))
	}
	inner = inner[:block+len(msg)]
	for i, k := range key {
		inner[i] = k ^ 0x36
	}
	copy(inner[block:], msg)
	innerSum := sha256.Sum256(inner)
	var outer [block + sha256.Size]byte
	for i, k := range key {
		outer[i] = k ^ 0x5c
	}
	copy(outer[block:], innerSum[:])
	sum := sha256.Sum256(outer[:])
	return hex.AppendEncode(dst, sum[:])
}

// setupAuthentication builds the chain from multiauth.policies and the embedder's policies.
func (a *App) setupAuthentication(extra []Authenticator) error {
	known := map[string]Authenticator{}
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
	var chain []Authenticator
	inChain := map[string]bool{}
	for _, name := range a.Settings.List("multiauth.policies") {
		name = strings.ToLower(name)
		au, ok := known[name]
		if !ok && name == "basicauth" {
			secret := a.Settings.String("userid_hmac_secret")
			if secret == "" {
				return fmt.Errorf("cliquet: setting %q is empty but the basicauth policy is enabled (multiauth.policies)", "userid_hmac_secret")
			}
			au, ok = BasicAuth{Secret: secret}, true
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
func (a *App) AddAuthenticator(au Authenticator) error {
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
func (a *App) Authenticators() []Authenticator {
	return slices.Clone(a.chain())
}

// chain returns the authentication chain without copying it, for reading only: the slice is
// never modified in place (AddAuthenticator and the setup replace it, holding mu), so that
// requests read it with one atomic load instead of taking the lock.
func (a *App) chain() []Authenticator {
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
// The user's groups are not read here but when first needed ([Identity.AllPrincipals]):
// the views that need none (the heartbeats, the version) never ask the permission
// backend, so that a permission backend that is down does not turn the heartbeat report
// into a plain 503, and a permission check can read them in the same round trip as the
// ACLs. The hello view, which shows the principals, answers 503 when the permission
// backend fails.
func (a *App) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		rc := a.ownContext(ctx) // nil once a batch identity is added to ctx below
		var id Identity
		if c, ok := ctx.Value(batchIdentityKey).(*batchIdentity); ok && monitoring.IsSubrequest(ctx) && sameCredentials(c.header, r.Header) {
			id = c.id
		} else {
			perms := a.Permission
			var (
				buf  []string
				memo *groups
			)
			if rc != nil {
				buf, memo = rc.principals[:0], &rc.groups
			}
			var err error
			if id, err = identify(r, perms, buf, memo, a.chain()); err != nil {
				protocol.WriteError(w, r, err)
				return
			}
			if isBatchRequest(r) {
				ctx = context.WithValue(ctx, batchIdentityKey, &batchIdentity{header: r.Header, id: id})
				rc = nil // the identity goes on the new layer
			}
		}
		if id.Authenticated() {
			monitoring.SetUser(ctx, id.UserID, id.AuthType)
		}
		if rc != nil {
			// The context is still the one contextMiddleware passed on (no batch identity
			// was added): record the identity in its requestContext rather than copying
			// the request.
			rc.setIdentity(id)
			next.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithIdentity(ctx, id)))
	})
}

// ownContext returns the requestContext of a when ctx is still the one contextMiddleware
// passed on and holds no identity yet, nil otherwise.
func (a *App) ownContext(ctx context.Context) *requestContext {
	if rc, ok := ctx.Value(requestContextKey).(*requestContext); ok && rc.top == ctx && rc.app == a && !rc.hasID {
		return rc
	}
	return nil
}

// batchIdentityKey holds the *batchIdentity of a batch request.
var batchIdentityKey = &ctxKey{"batch identity"}

// batchIdentity is the identity of a batch request and the headers it was computed from.
type batchIdentity struct {
	header http.Header // the batch request's, never modified (sub-requests get copies)
	id     Identity
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

// Authentication is the identity middleware for use without [Initialize]: it runs
// [Identify] once per request and stores the result with [WithIdentity]; an authenticated
// user is also recorded with monitoring.SetUser for the monitoring middleware installed
// outside it. perms may be nil.
func Authentication(perms permission.Backend, policies ...Authenticator) func(http.Handler) http.Handler {
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
	return identify(r, perms, nil, nil, policies)
}

// identify is [Identify] with the principals of an authenticated user appended to buf[:0]
// (a new slice when buf is nil): the App's request context lends its own array, so that
// identifying a request allocates the user id only.
func identify(r *http.Request, perms permission.Backend, buf []string, memo *groups, policies []Authenticator) (Identity, error) {
	anonymous := func() Identity {
		if buf == nil {
			return Identity{Principals: []string{permission.Everyone}}
		}
		return Identity{Principals: append(buf[:0], permission.Everyone)[:1:1]}
	}
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
				return anonymous(), fmt.Errorf("cliquet: authentication policy %s: %w", p.Name(), err)
			}
			if !ok || uid == "" {
				continue
			}
			userID = name + ":" + uid
		}
		if buf == nil {
			buf = make([]string, 0, 4)
		}
		id := Identity{
			UserID:     userID,
			AuthType:   name,
			Principals: append(buf[:0], permission.Everyone, permission.Authenticated, userID),
		}
		if perms != nil {
			if memo == nil {
				memo = new(groups)
			}
			memo.perms = perms
			id.groups = memo
		}
		// Full capacity: a caller appending to the principals gets a copy, never a write
		// into the lent array that every copy of the identity shares.
		id.Principals = id.Principals[:len(id.Principals):len(id.Principals)]
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

// logFrom returns the logger of the app serving r, or slog.Default().
func logFrom(r *http.Request) *slog.Logger {
	if a := AppFrom(r.Context()); a != nil && a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}
