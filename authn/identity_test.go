package authn_test

import (
	"context"
	"testing"

	"github.com/cliquet-go/cliquet/authn"
	"github.com/cliquet-go/cliquet/permission"
)

// derivedKey is the key of a value that makes a context derived from another.
type derivedKey struct{}

// A slot is filled once; a context derived from a filled slot (a batch sub-request's, for
// example) cannot fill it again, and WithIdentity on top of it wins.
func TestIdentitySlot(t *testing.T) {
	alice := authn.Identity{UserID: "basicauth:alice", Principals: []string{permission.Everyone, permission.Authenticated, "basicauth:alice"}}
	bob := authn.Identity{UserID: "basicauth:bob"}

	if authn.Fill(context.Background(), alice) {
		t.Error("Fill succeeded without a slot")
	}
	ctx := authn.WithSlot(context.Background())
	if id := authn.IdentityFrom(ctx); id.Authenticated() || len(id.Principals) != 1 || id.Principals[0] != permission.Everyone {
		t.Errorf("an empty slot answers %+v, want the anonymous identity", id)
	}
	if !authn.Fill(ctx, alice) {
		t.Fatal("Fill of an empty slot failed")
	}
	sub := context.WithValue(ctx, derivedKey{}, 1) // a context derived from the request's
	if authn.Fill(sub, bob) {
		t.Error("a filled slot was filled again")
	}
	if got := authn.IdentityFrom(sub).UserID; got != alice.UserID {
		t.Errorf("IdentityFrom = %q, want alice's", got)
	}
	if got := authn.IdentityFrom(authn.WithIdentity(sub, bob)).UserID; got != bob.UserID {
		t.Errorf("WithIdentity over a slot: %q, want bob's", got)
	}
	if authn.Fill(authn.WithIdentity(authn.WithSlot(ctx), bob), alice) {
		t.Error("Fill succeeded under an identity set by WithIdentity")
	}
}
