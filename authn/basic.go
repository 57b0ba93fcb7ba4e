package authn

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
)

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
