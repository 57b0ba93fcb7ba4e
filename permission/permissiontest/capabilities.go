package permissiontest

import (
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// Capability names an optional part of the permission contract: methods of
// [permission.Backend] that a backend may answer with [permission.ErrNotSupported].
type Capability string

// The optional capabilities a harness may declare its backends lack.
const (
	// Migrator is the schema step, InitializeSchema.
	Migrator Capability = "permission.Backend.InitializeSchema"
	// Enumerator is the listing of the bulk changes' extent, MatchingObjects and
	// PrincipalUsers.
	Enumerator Capability = "permission.Backend.MatchingObjects"
	// Shared is the sharing of one store by the backends Harness.New returns, as web heads
	// share one server: what one writes, the others read at once, whatever they keep
	// between calls. Without it, each backend has a store of its own.
	Shared Capability = "shared store"
)

// Declarer is implemented by harnesses that declare which optional capabilities their
// backends lack. With a Declarer the subtests of an optional capability never skip: when
// the backend provides it they exercise it; when the declaration says it is absent they check
// that the backend indeed answers [permission.ErrNotSupported] and, where the toolkit has a
// fallback, that it holds (a backend without a schema step works without one). A backend
// lacking a capability the harness does not declare absent, or providing one declared
// absent, fails the subtest. Without a Declarer, the subtests of a capability the backend
// lacks are skipped.
type Declarer interface {
	// Lacks lists the optional capabilities the harness's backends do not provide.
	Lacks() []Capability
}

// lacks reports whether the backend lacks the capability c; implemented is false when the
// backend answered permission.ErrNotSupported (see testenv.Lacks).
func lacks(t *testing.T, h Harness, c Capability, implemented bool) bool {
	t.Helper()
	d, ok := h.(Declarer)
	var declared []Capability
	if ok {
		declared = d.Lacks()
	}
	return testenv.Lacks(t, declared, ok, c, implemented)
}
