package authn_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/authn"
)

func TestHMACUserIDIsTheHMACSHA256OfCryptoHMAC(t *testing.T) {
	tests := []struct {
		name, secret, message string
	}{
		{"a short secret and message", "bench", "alice:secret"},
		{"an empty message", "s", ""},
		{"a secret of exactly one block", strings.Repeat("k", sha256.BlockSize), "bob:pw"},
		{"a secret longer than a block is hashed first", strings.Repeat("long", 40), "carol:pw"},
		{"a message longer than the stack buffer", "s", strings.Repeat("m", 1000)},
		{"a message of exactly the stack buffer", "s", strings.Repeat("m", 192)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := hmac.New(sha256.New, []byte(tt.secret))
			m.Write([]byte(tt.message))
			want := hex.EncodeToString(m.Sum(nil))
			if got := authn.HMACUserID(tt.secret, tt.message); got != want {
				t.Errorf("authn.HMACUserID = %s, want %s", got, want)
			}
		})
	}
}

func TestBasicAuthReadsTheHeaderLikeRequestBasicAuth(t *testing.T) {
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name, header string
	}{
		{"user and password", "Basic " + b64("alice:secret")},
		{"the scheme in another case", "bAsIc " + b64("alice:secret")},
		{"a password with colons", "Basic " + b64("alice:a:b:c")},
		{"an empty password", "Basic " + b64("alice:")},
		{"an empty user is anonymous", "Basic " + b64(":secret")},
		{"no colon is anonymous", "Basic " + b64("alice")},
		{"invalid base64 is anonymous", "Basic !!!"},
		{"another scheme is anonymous", "Bearer " + b64("alice:secret")},
		{"no header is anonymous", ""},
		{"long credentials", "Basic " + b64(strings.Repeat("u", 300)+":"+strings.Repeat("p", 300))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			uid, ok, err := authn.BasicAuth{Secret: "s3"}.Authenticate(r)
			if err != nil {
				t.Fatal(err)
			}
			user, pass, std := r.BasicAuth()
			wantOK := std && user != ""
			if ok != wantOK {
				t.Fatalf("ok = %v, want %v (http.Request.BasicAuth: %q, %q, %v)", ok, wantOK, user, pass, std)
			}
			if ok && uid != authn.HMACUserID("s3", user+":"+pass) {
				t.Errorf("user id %s, want the HMAC of %q", uid, user+":"+pass)
			}
			// Identify builds the prefixed id of the built-in policy itself; it must be the
			// one of Authenticate, as for a pointer to the policy (the general path).
			for _, p := range []authn.Authenticator{authn.BasicAuth{Secret: "s3"}, &authn.BasicAuth{Secret: "s3"}} {
				id, err := authn.Identify(r, nil, p)
				if err != nil {
					t.Fatal(err)
				}
				if want := "basicauth:" + uid; ok && (id.UserID != want || id.AuthType != "basicauth") || !ok && id.Authenticated() {
					t.Errorf("authn.Identify with %T: %+v, want user id %q", p, id, want)
				}
			}
		})
	}
}
