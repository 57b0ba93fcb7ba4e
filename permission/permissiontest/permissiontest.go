// Package permissiontest is the conformance suite of permission backends: every
// implementation of [permission.Backend] (the memory, postgresql and redis sub-packages, and
// third-party ones) runs it from its own tests:
//
//	func TestConformance(t *testing.T) { permissiontest.Run(t, harness{}) }
//
// A backend that cannot fail is proven by one line, with [HarnessFunc]:
//
//	func TestConformance(t *testing.T) {
//		permissiontest.Run(t, permissiontest.HarnessFunc(func(context.Context, *testing.T) permission.Backend { return mybackend.New() }))
//	}
//
// The harness has the shape of those of packages storagetest and cachetest: New and Broken,
// taking the context and the test, and the HarnessFunc adapter.
//
// The subtests port kinto.core's kinto/core/permission/testing.py, keeping its test names in
// Go form (test_can_add_a_principal_to_a_user → CanAddAPrincipalToAUser), and add cases for
// wildcard escaping, special characters and concurrent use.
package permissiontest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"

	"github.com/cliquet-go/cliquet/permission"
)

// Harness gives the suite the backends it runs against.
type Harness interface {
	// New returns an empty backend, ready to use (schema initialised). The suite closes it at
	// the end of the subtest. Subtests run one after another, so New may flush and reuse
	// shared storage.
	New(ctx context.Context, t *testing.T) permission.Backend
	// Broken returns a backend whose every call fails with a *permission.BackendError (for
	// example one whose server cannot be reached, or a closed memory backend), or nil when the
	// backend cannot fail (the subtest that needs it is then skipped). The suite closes it when
	// the subtest ends.
	Broken(ctx context.Context, t *testing.T) permission.Backend
}

// HarnessFunc adapts a constructor of empty backends that cannot fail: New calls it and
// Broken returns nil.
type HarnessFunc func(ctx context.Context, t *testing.T) permission.Backend

// New calls f.
func (f HarnessFunc) New(ctx context.Context, t *testing.T) permission.Backend { return f(ctx, t) }

// Broken returns nil.
func (f HarnessFunc) Broken(context.Context, *testing.T) permission.Backend { return nil }

type suite struct {
	h Harness
}

type test struct {
	name string
	fn   func(ctx context.Context, t *testing.T, b permission.Backend)
}

// Run runs every conformance subtest against backends given by h.
func Run(t *testing.T, h Harness) {
	t.Helper()
	s := suite{h: h}
	t.Run("BackendErrorIsRaisedAnywhere", s.backendErrorIsRaisedAnywhere)
	t.Run("AccessSeesMembershipsChangedThroughAnotherBackend", s.accessSeesMembershipsChangedThroughAnotherBackend)
	for _, tt := range s.tests() {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			b := h.New(ctx, t)
			if b == nil {
				t.Fatal("Harness.New returned nil")
			}
			t.Cleanup(func() {
				if err := b.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tt.fn(ctx, t, b)
		})
	}
}

func (s suite) tests() []test {
	return []test{
		{"InitializeSchemaIsIdempotent", s.initializeSchemaIsIdempotent},
		{"PingReturnsNilIfAvailable", s.pingReturnsNilIfAvailable},

		// User principals.
		{"CanAddAPrincipalToAUser", canAddAPrincipalToAUser},
		{"AddTwiceAPrincipalToAUserAddsItOnce", addTwiceAPrincipalToAUserAddsItOnce},
		{"CanRemoveAPrincipalForAnUnknownUser", canRemoveAPrincipalForAnUnknownUser},
		{"CanRemoveAPrincipalForAUser", canRemoveAPrincipalForAUser},
		{"CanRemoveAnUnexistingPrincipalToAUser", canRemoveAnUnexistingPrincipalToAUser},
		{"CanRemovePrincipalFromEveryUsers", canRemovePrincipalFromEveryUsers},
		{"AuthenticatedIsReturnedForEverybody", authenticatedIsReturnedForEverybody},
		{"UserPrincipalsOfUnknownUserIsEmpty", userPrincipalsOfUnknownUserIsEmpty},

		// ACEs.
		{"CanAddAPrincipalToAnObjectPermission", canAddAPrincipalToAnObjectPermission},
		{"AddTwiceAPrincipalToAnObjectPermissionAddsItOnce", addTwiceAPrincipalToAnObjectPermissionAddsItOnce},
		{"CanRemoveAPrincipalFromAnObjectPermission", canRemoveAPrincipalFromAnObjectPermission},
		{"PrincipalsIsEmptyIfNoPermission", principalsIsEmptyIfNoPermission},
		{"CanRemoveAnUnexistingPrincipalToAnObjectPermission", canRemoveAnUnexistingPrincipalToAnObjectPermission},
		{"InvalidArgumentsAreRejected", invalidArgumentsAreRejected},

		// CheckPermission.
		{"CheckPermissionReturnsTrueForUserID", checkPermissionReturnsTrueForUserID},
		{"CheckPermissionReturnsTrueForUserIDGroup", checkPermissionReturnsTrueForUserIDGroup},
		{"CheckPermissionReturnsTrueForObjectInherited", checkPermissionReturnsTrueForObjectInherited},
		{"CheckPermissionHandlesEmptySet", checkPermissionHandlesEmptySet},
		{"CheckPermissionReturnsFalseForUnknownPrincipal", checkPermissionReturnsFalseForUnknownPrincipal},
		{"CheckPermissionDoesNotTreatStarAsWildcard", checkPermissionDoesNotTreatStarAsWildcard},

		// Access.
		{"AccessReturnsTheGroupsOfTheUser", accessReturnsTheGroupsOfTheUser},
		{"AccessHoldsThroughAPrincipal", accessHoldsThroughAPrincipal},
		{"AccessHoldsThroughAGroupOfTheUser", accessHoldsThroughAGroupOfTheUser},
		{"AccessHoldsThroughAGroupOfAuthenticated", accessHoldsThroughAGroupOfAuthenticated},
		{"AccessIgnoresTheGroupsOfOtherUsers", accessIgnoresTheGroupsOfOtherUsers},
		{"AccessLeavesOutObjectsWithoutHeldPermissions", accessLeavesOutObjectsWithoutHeldPermissions},
		{"AccessNeverReturnsDuplicates", accessNeverReturnsDuplicates},
		{"AccessReturnsTheACEsOfFull", accessReturnsTheACEsOfFull},
		{"AccessHandlesAnEmptyQuery", accessHandlesAnEmptyQuery},
		{"AccessForgetsARemovedGroup", accessForgetsARemovedGroup},
		{"AccessAgreesWithCheckPermission", accessAgreesWithCheckPermission},

		// AuthorizedPrincipals.
		{"GetAuthorizedPrincipalsInheritPrincipals", getAuthorizedPrincipalsInheritPrincipals},
		{"GetAuthorizedPrincipalsIsTheUnionOverBindings", getAuthorizedPrincipalsIsTheUnionOverBindings},
		{"GetAuthorizedPrincipalsHandlesEmptySet", getAuthorizedPrincipalsHandlesEmptySet},

		// AccessibleObjects.
		{"AccessibleObjects", accessibleObjects},
		{"AccessibleObjectsSupportsEmptyList", accessibleObjectsSupportsEmptyList},
		{"AccessibleObjectsFromPermission", accessibleObjectsFromPermission},
		{"AccessibleObjectsWithPattern", accessibleObjectsWithPattern},
		{"AccessibleObjectsSeveralBoundPermissions", accessibleObjectsSeveralBoundPermissions},
		{"AccessibleObjectsWithoutMatch", accessibleObjectsWithoutMatch},
		{"AccessibleObjectsWithNestedPatterns", accessibleObjectsWithNestedPatterns},
		{"AccessibleObjectsDoesNotLeakOtherPrincipalsObjects", accessibleObjectsDoesNotLeakOtherPrincipalsObjects},
		{"AccessibleObjectsEscapesLikeCharacters", accessibleObjectsEscapesLikeCharacters},
		{"AccessibleObjectsTreatsStoredStarAsLiteral", accessibleObjectsTreatsStoredStarAsLiteral},

		// ObjectPermissions.
		{"ObjectPermissionsReturnAllObjectACLs", objectPermissionsReturnAllObjectACLs},
		{"ObjectPermissionsReturnListedObjectACLs", objectPermissionsReturnListedObjectACLs},
		{"ObjectPermissionsReturnEmptyDict", objectPermissionsReturnEmptyDict},

		// ReplaceObjectPermissions.
		{"ReplaceObjectPermissionReplaceAllGivenSets", replaceObjectPermissionReplaceAllGivenSets},
		{"ReplaceObjectPermissionOnlyReplaceGivenSets", replaceObjectPermissionOnlyReplaceGivenSets},
		{"ReplaceObjectPermissionSupportsEmptyExistingEntries", replaceObjectPermissionSupportsEmptyExistingEntries},
		{"ReplaceObjectPermissionSupportsEmptyInput", replaceObjectPermissionSupportsEmptyInput},
		{"ReplaceObjectPermissionSupportsDuplicatedEntries", replaceObjectPermissionSupportsDuplicatedEntries},
		{"ReplaceObjectPermissionSupportsEmptyList", replaceObjectPermissionSupportsEmptyList},
		{"ReplaceObjectPermissionSupportsEmptyListToNewObject", replaceObjectPermissionSupportsEmptyListToNewObject},
		{"ReplaceObjectPermissionLeavesOtherObjectsUntouched", replaceObjectPermissionLeavesOtherObjectsUntouched},

		// DeleteObjectPermissions.
		{"DeleteObjectPermissionsRemoveAllGivenObjectsACLs", deleteObjectPermissionsRemoveAllGivenObjectsACLs},
		{"DeleteObjectPermissionsSupportsEmptyList", deleteObjectPermissionsSupportsEmptyList},
		{"DeleteObjectPermissionsSupportsPatternMatching", deleteObjectPermissionsSupportsPatternMatching},
		{"DeleteObjectPermissionsPatternEscapesLikeCharacters", deleteObjectPermissionsPatternEscapesLikeCharacters},

		// MatchingObjects and PrincipalUsers (optional): the extent of the bulk changes.
		{"MatchingObjectsListsTheObjectsAPatternMatches", s.matchingObjectsListsTheObjectsAPatternMatches},
		{"MatchingObjectsListsWhatDeleteObjectPermissionsDeletes", s.matchingObjectsListsWhatDeleteObjectPermissionsDeletes},
		{"PrincipalUsersListsTheUsersRemovePrincipalAffects", s.principalUsersListsTheUsersRemovePrincipalAffects},

		// Flush, special characters, concurrency.
		{"FlushRemovesEverything", flushRemovesEverything},
		{"SpecialCharactersRoundTrip", specialCharactersRoundTrip},
		{"ColonsInObjectIDsAndPermissionsDoNotCollide", colonsInObjectIDsAndPermissionsDoNotCollide},
		{"ConcurrentWritesLeaveAConsistentState", concurrentWritesLeaveAConsistentState},
	}
}

// ---------------------------------------------------------------------------------------
// Helpers.

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func equalStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if got == nil {
		got = []string{}
	}
	if want == nil {
		want = []string{}
	}
	if !reflect.DeepEqual(sorted(got), sorted(want)) {
		t.Errorf("%s = %q, want %q", what, sorted(got), sorted(want))
	}
}

func normSet(s permission.Set) map[string][]string {
	out := map[string][]string{}
	for k, v := range s {
		out[k] = sorted(v)
	}
	return out
}

func equalSet(t *testing.T, what string, got permission.Set, want permission.Set) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is nil, want a non-nil Set", what)
	}
	if !reflect.DeepEqual(normSet(got), normSet(want)) {
		t.Errorf("%s = %v, want %v", what, normSet(got), normSet(want))
	}
}

func equalObjects(t *testing.T, what string, got, want map[string][]string) {
	t.Helper()
	if got == nil {
		t.Errorf("%s is nil, want a non-nil map", what)
	}
	if !reflect.DeepEqual(normSet(got), normSet(want)) {
		t.Errorf("%s = %v, want %v", what, normSet(got), normSet(want))
	}
}

func add(ctx context.Context, t *testing.T, b permission.Backend, objectID, perm, principal string) {
	t.Helper()
	must(t, b.AddPrincipalToACE(ctx, objectID, perm, principal))
}

func principalsOf(ctx context.Context, t *testing.T, b permission.Backend, objectID, perm string) []string {
	t.Helper()
	s, err := b.ObjectPermissions(ctx, objectID, perm)
	must(t, err)
	return s[perm]
}

func userPrincipals(ctx context.Context, t *testing.T, b permission.Backend, userID string) []string {
	t.Helper()
	got, err := b.UserPrincipals(ctx, userID)
	must(t, err)
	return got
}

func accessible(ctx context.Context, t *testing.T, b permission.Backend, principals []string, bound ...permission.Binding) map[string][]string {
	t.Helper()
	got, err := b.AccessibleObjects(ctx, principals, bound)
	must(t, err)
	return got
}

func bind(objectID, perm string) permission.Binding {
	return permission.Binding{ObjectID: objectID, Permission: perm}
}

// ---------------------------------------------------------------------------------------
// Errors, schema, heartbeat.

func (s suite) backendErrorIsRaisedAnywhere(t *testing.T) {
	ctx := context.Background()
	b := s.h.Broken(ctx, t)
	if b == nil {
		t.Skip("the harness has no broken backend: this backend cannot fail")
	}
	t.Cleanup(func() { _ = b.Close() })
	bd := []permission.Binding{bind("/a", "read"), bind("*", "read")}
	calls := []struct {
		name string
		call func() error
	}{
		{"Flush", func() error { return b.Flush(ctx) }},
		{"AddUserPrincipal", func() error { return b.AddUserPrincipal(ctx, "u", "g") }},
		{"RemoveUserPrincipal", func() error { return b.RemoveUserPrincipal(ctx, "u", "g") }},
		{"RemovePrincipal", func() error { return b.RemovePrincipal(ctx, "g") }},
		{"UserPrincipals", func() error { _, err := b.UserPrincipals(ctx, "u"); return err }},
		{"AddPrincipalToACE", func() error { return b.AddPrincipalToACE(ctx, "/a", "read", "u") }},
		{"RemovePrincipalFromACE", func() error { return b.RemovePrincipalFromACE(ctx, "/a", "read", "u") }},
		{"ObjectPermissions", func() error { _, err := b.ObjectPermissions(ctx, "/a"); return err }},
		{"ObjectPermissions with permissions", func() error { _, err := b.ObjectPermissions(ctx, "/a", "read"); return err }},
		{"ReplaceObjectPermissions", func() error {
			_, err := b.ReplaceObjectPermissions(ctx, "/a", permission.Set{"write": {}, "read": {"u"}})
			return err
		}},
		{"DeleteObjectPermissions", func() error { return b.DeleteObjectPermissions(ctx, "/a", "/b/*") }},
		{"AuthorizedPrincipals", func() error { _, err := b.AuthorizedPrincipals(ctx, bd); return err }},
		{"AccessibleObjects", func() error { _, err := b.AccessibleObjects(ctx, []string{"u"}, bd); return err }},
		{"CheckPermission", func() error { _, err := b.CheckPermission(ctx, []string{"u"}, bd); return err }},
		{"Access", func() error {
			_, err := b.Access(ctx, permission.AccessQuery{UserID: "u", Principals: []string{"u"}, Objects: []string{"/a"}, Full: "/a"})
			return err
		}},
		{"Access of the groups only", func() error { _, err := b.Access(ctx, permission.AccessQuery{UserID: "u"}); return err }},
		{"Access of the ACEs only", func() error { _, err := b.Access(ctx, permission.AccessQuery{Full: "/a"}); return err }},
	}
	type call = struct {
		name string
		call func() error
	}
	calls = append(calls,
		call{"Ping", func() error { return b.Ping(ctx, false) }},
		call{"Ping readonly", func() error { return b.Ping(ctx, true) }})
	if s.enumerates(ctx, t, b) {
		calls = append(calls,
			call{"MatchingObjects", func() error { _, err := b.MatchingObjects(ctx, "/b/*"); return err }},
			call{"MatchingObjects without a star", func() error { _, err := b.MatchingObjects(ctx, "/a"); return err }},
			call{"PrincipalUsers", func() error { _, err := b.PrincipalUsers(ctx, "g"); return err }})
	}
	for _, c := range calls {
		err := c.call()
		var be *permission.BackendError
		if !errors.As(err, &be) {
			t.Errorf("%s on a broken backend returned %v (%T), want a *permission.BackendError", c.name, err, err)
		} else if be.Backend == "" || be.Op == "" {
			t.Errorf("%s: BackendError %+v should name its backend and operation", c.name, be)
		}
	}
}

func (s suite) initializeSchemaIsIdempotent(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/a", "read", "u")
	err := b.InitializeSchema(ctx, true)
	if lacks(t, s.h, Migrator, !errors.Is(err, permission.ErrNotSupported)) {
		// No schema step: a backend fresh from New works at once.
		equalStrings(t, "principals without a schema step", principalsOf(ctx, t, b, "/a", "read"), []string{"u"})
		return
	}
	must(t, err)
	must(t, b.InitializeSchema(ctx, false))
	must(t, b.InitializeSchema(ctx, false))
	equalStrings(t, "principals after InitializeSchema", principalsOf(ctx, t, b, "/a", "read"), []string{"u"})
}

func (s suite) pingReturnsNilIfAvailable(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.Ping(ctx, false))
	must(t, b.Ping(ctx, true))
	// A ping leaves no data behind.
	equalStrings(t, "user principals after ping", userPrincipals(ctx, t, b, permission.Authenticated), nil)
	equalObjects(t, "objects after ping", accessible(ctx, t, b, []string{permission.Everyone}, bind("*", "read"), bind("*", "write")), map[string][]string{})
}

// ---------------------------------------------------------------------------------------
// User principals.

func canAddAPrincipalToAUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), []string{"bar"})
	equalStrings(t, "UserPrincipals(other)", userPrincipals(ctx, t, b, "other"), nil)
}

func addTwiceAPrincipalToAUserAddsItOnce(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), []string{"bar"})
}

func canRemoveAPrincipalForAnUnknownUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.RemoveUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), nil)
}

func canRemoveAPrincipalForAUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	must(t, b.AddUserPrincipal(ctx, "foo", "foobar"))
	must(t, b.AddUserPrincipal(ctx, "other", "bar"))
	must(t, b.RemoveUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), []string{"foobar"})
	equalStrings(t, "UserPrincipals(other)", userPrincipals(ctx, t, b, "other"), []string{"bar"})
}

func canRemoveAnUnexistingPrincipalToAUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo", "foobar"))
	must(t, b.RemoveUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), []string{"foobar"})
	must(t, b.RemoveUserPrincipal(ctx, "foo", "foobar"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), nil)
}

func canRemovePrincipalFromEveryUsers(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo1", "bar"))
	must(t, b.AddUserPrincipal(ctx, "foo2", "bar"))
	must(t, b.AddUserPrincipal(ctx, "foo2", "foobar"))
	must(t, b.RemovePrincipal(ctx, "bar"))
	must(t, b.RemovePrincipal(ctx, "unknown"))
	equalStrings(t, "UserPrincipals(foo1)", userPrincipals(ctx, t, b, "foo1"), nil)
	equalStrings(t, "UserPrincipals(foo2)", userPrincipals(ctx, t, b, "foo2"), []string{"foobar"})
}

func authenticatedIsReturnedForEverybody(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "bar"))
	must(t, b.AddUserPrincipal(ctx, "foo", "own"))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), []string{"bar", "own"})
	equalStrings(t, "UserPrincipals(anyone)", userPrincipals(ctx, t, b, "anyone"), []string{"bar"})
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	equalStrings(t, "UserPrincipals(foo) without duplicates", userPrincipals(ctx, t, b, "foo"), []string{"bar", "own"})
}

func userPrincipalsOfUnknownUserIsEmpty(ctx context.Context, t *testing.T, b permission.Backend) {
	got, err := b.UserPrincipals(ctx, "nobody")
	must(t, err)
	if len(got) != 0 {
		t.Errorf("UserPrincipals(nobody) = %q, want none", got)
	}
}

// ---------------------------------------------------------------------------------------
// ACEs.

func canAddAPrincipalToAnObjectPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	equalStrings(t, "principals of foo/write", principalsOf(ctx, t, b, "foo", "write"), []string{"bar"})
	equalStrings(t, "principals of foo/read", principalsOf(ctx, t, b, "foo", "read"), nil)
}

func addTwiceAPrincipalToAnObjectPermissionAddsItOnce(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	add(ctx, t, b, "foo", "write", "bar")
	equalStrings(t, "principals of foo/write", principalsOf(ctx, t, b, "foo", "write"), []string{"bar"})
}

func canRemoveAPrincipalFromAnObjectPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	add(ctx, t, b, "foo", "write", "foobar")
	add(ctx, t, b, "foo", "read", "bar")
	must(t, b.RemovePrincipalFromACE(ctx, "foo", "write", "bar"))
	equalStrings(t, "principals of foo/write", principalsOf(ctx, t, b, "foo", "write"), []string{"foobar"})
	equalStrings(t, "principals of foo/read", principalsOf(ctx, t, b, "foo", "read"), []string{"bar"})
}

func principalsIsEmptyIfNoPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	must(t, b.RemovePrincipalFromACE(ctx, "foo", "write", "bar"))
	equalStrings(t, "principals of foo/write", principalsOf(ctx, t, b, "foo", "write"), nil)
	all, err := b.ObjectPermissions(ctx, "foo")
	must(t, err)
	equalSet(t, "ObjectPermissions(foo)", all, permission.Set{})
}

func canRemoveAnUnexistingPrincipalToAnObjectPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "foobar")
	must(t, b.RemovePrincipalFromACE(ctx, "foo", "write", "bar"))
	must(t, b.RemovePrincipalFromACE(ctx, "unknown", "write", "bar"))
	equalStrings(t, "principals of foo/write", principalsOf(ctx, t, b, "foo", "write"), []string{"foobar"})
}

func invalidArgumentsAreRejected(ctx context.Context, t *testing.T, b permission.Backend) {
	tests := []struct {
		name string
		call func() error
	}{
		{"adding an empty principal to a user", func() error { return b.AddUserPrincipal(ctx, "u", "") }},
		{"adding a principal to an empty user id", func() error { return b.AddUserPrincipal(ctx, "", "g") }},
		{"granting on an empty object id", func() error { return b.AddPrincipalToACE(ctx, "", "read", "u") }},
		{"granting an empty permission", func() error { return b.AddPrincipalToACE(ctx, "/a", "", "u") }},
		{"granting to an empty principal", func() error { return b.AddPrincipalToACE(ctx, "/a", "read", "") }},
		{"replacing on an empty object id", func() error {
			_, err := b.ReplaceObjectPermissions(ctx, "", permission.Set{"read": {"u"}})
			return err
		}},
		{"replacing with an empty principal", func() error {
			_, err := b.ReplaceObjectPermissions(ctx, "/a", permission.Set{"read": {"u", ""}})
			return err
		}},
	}
	for _, tt := range tests {
		if err := tt.call(); !errors.Is(err, permission.ErrInvalid) {
			t.Errorf("%s: got %v, want permission.ErrInvalid", tt.name, err)
		}
	}
	all, err := b.ObjectPermissions(ctx, "/a")
	must(t, err)
	equalSet(t, "ObjectPermissions(/a) after rejected calls", all, permission.Set{})
}

// ---------------------------------------------------------------------------------------
// CheckPermission.

func check(ctx context.Context, t *testing.T, b permission.Backend, principals []string, bound ...permission.Binding) bool {
	t.Helper()
	ok, err := b.CheckPermission(ctx, principals, bound)
	must(t, err)
	return ok
}

func checkPermissionReturnsTrueForUserID(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	if !check(ctx, t, b, []string{"bar"}, bind("foo", "write")) {
		t.Error("bar holds write on foo: CheckPermission should be true")
	}
	if check(ctx, t, b, []string{"bar"}, bind("foo", "read")) {
		t.Error("bar does not hold read on foo: CheckPermission should be false")
	}
	if check(ctx, t, b, []string{"bar"}, bind("foo2", "write")) {
		t.Error("bar holds nothing on foo2: CheckPermission should be false")
	}
}

func checkPermissionReturnsTrueForUserIDGroup(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foobar", "bar"))
	add(ctx, t, b, "foo", "write", "bar")
	if !check(ctx, t, b, []string{"foobar", "bar"}, bind("foo", "write")) {
		t.Error("the group bar holds write on foo: CheckPermission should be true")
	}
	if check(ctx, t, b, []string{"foobar"}, bind("foo", "write")) {
		t.Error("the group is not among the principals: CheckPermission should be false")
	}
}

func checkPermissionReturnsTrueForObjectInherited(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	if !check(ctx, t, b, []string{"bar"}, bind("foo", "read"), bind("foo", "write")) {
		t.Error("bar holds one of the bound permissions: CheckPermission should be true")
	}
}

func checkPermissionHandlesEmptySet(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	if check(ctx, t, b, []string{"bar"}) {
		t.Error("no bindings: CheckPermission should be false")
	}
	if check(ctx, t, b, nil, bind("foo", "write")) {
		t.Error("no principals: CheckPermission should be false")
	}
}

func checkPermissionReturnsFalseForUnknownPrincipal(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "other")
	if check(ctx, t, b, []string{"bar", permission.Everyone}, bind("foo", "write")) {
		t.Error("bar holds nothing: CheckPermission should be false")
	}
}

func checkPermissionDoesNotTreatStarAsWildcard(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/articles/a1", "read", "bar")
	if check(ctx, t, b, []string{"bar"}, bind("/articles/*", "read")) {
		t.Error("CheckPermission compares object ids exactly: '/articles/*' should not match '/articles/a1'")
	}
	add(ctx, t, b, "/articles/*", "write", "bar")
	if !check(ctx, t, b, []string{"bar"}, bind("/articles/*", "write")) {
		t.Error("a stored '/articles/*' ACE should match the same literal id")
	}
	if check(ctx, t, b, []string{"bar"}, bind("/articles/a1", "write")) {
		t.Error("a stored '*' is literal: '/articles/*' should not grant write on '/articles/a1'")
	}
}

// ---------------------------------------------------------------------------------------
// Access.

func access(ctx context.Context, t *testing.T, b permission.Backend, q permission.AccessQuery) permission.Access {
	t.Helper()
	got, err := b.Access(ctx, q)
	must(t, err)
	if got.Held == nil {
		t.Errorf("Access(%+v).Held is nil, want a non-nil map", q)
	}
	noDuplicates(t, fmt.Sprintf("Access(%+v).Groups", q), got.Groups)
	for obj, perms := range got.Held {
		noDuplicates(t, fmt.Sprintf("Access(%+v).Held[%q]", q, obj), perms)
		if len(perms) == 0 {
			t.Errorf("Access(%+v).Held[%q] is empty: an object where nothing is held is absent", q, obj)
		}
	}
	for perm, principals := range got.ACEs {
		noDuplicates(t, fmt.Sprintf("Access(%+v).ACEs[%q]", q, perm), principals)
	}
	return got
}

func noDuplicates(t *testing.T, what string, s []string) {
	t.Helper()
	if len(unique(s)) != len(s) {
		t.Errorf("%s = %q has duplicates", what, s)
	}
}

func accessReturnsTheGroupsOfTheUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/editors"))
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/readers"))
	must(t, b.AddUserPrincipal(ctx, "bob", "/groups/admins"))
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "/groups/everybody"))
	for _, user := range []string{"alice", "bob", "carol", permission.Authenticated} {
		got := access(ctx, t, b, permission.AccessQuery{UserID: user, Principals: []string{user}})
		equalStrings(t, fmt.Sprintf("Access(%q).Groups", user), got.Groups, userPrincipals(ctx, t, b, user))
	}
	got := access(ctx, t, b, permission.AccessQuery{Principals: []string{permission.Everyone}})
	equalStrings(t, `Access("").Groups`, got.Groups, nil)
}

func accessHoldsThroughAPrincipal(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	add(ctx, t, b, "foo", "read", permission.Everyone)
	add(ctx, t, b, "foo", "delete", "other")
	want := map[string][]string{"foo": {"read", "write"}}
	for _, user := range []string{"alice", ""} {
		got := access(ctx, t, b, permission.AccessQuery{UserID: user, Principals: []string{permission.Everyone, "bar"}, Objects: []string{"foo"}})
		equalObjects(t, fmt.Sprintf("Access(%q, [Everyone bar], [foo]).Held", user), got.Held, want)
	}
	got := access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: []string{"bar"}, Objects: []string{"foo*", "fo"}})
	equalObjects(t, "Access(alice, [bar], [foo* fo]).Held (exact ids)", got.Held, map[string][]string{})
}

func accessHoldsThroughAGroupOfTheUser(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/editors"))
	add(ctx, t, b, "foo", "write", "/groups/editors")
	add(ctx, t, b, "bar", "read", "/groups/editors")
	want := map[string][]string{"foo": {"write"}, "bar": {"read"}}
	got := access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: []string{permission.Everyone, "alice"}, Objects: []string{"foo", "bar"}})
	equalObjects(t, "Access(alice).Held", got.Held, want)
	got = access(ctx, t, b, permission.AccessQuery{UserID: "alice", Objects: []string{"foo", "bar"}})
	equalObjects(t, "Access(alice, no principals).Held", got.Held, want)
	got = access(ctx, t, b, permission.AccessQuery{Principals: []string{permission.Everyone, "alice"}, Objects: []string{"foo", "bar"}})
	equalObjects(t, `Access("", [Everyone alice]).Held`, got.Held, map[string][]string{})
}

func accessHoldsThroughAGroupOfAuthenticated(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "/groups/everybody"))
	add(ctx, t, b, "foo", "read", "/groups/everybody")
	want := map[string][]string{"foo": {"read"}}
	got := access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"foo"}})
	equalObjects(t, "Access(alice).Held", got.Held, want)
	got = access(ctx, t, b, permission.AccessQuery{UserID: "carol", Objects: []string{"foo"}})
	equalObjects(t, "Access(carol, no principals).Held", got.Held, want)
	// An anonymous request: not the groups given to Authenticated (which UserPrincipals("")
	// would return), even when its principals say Authenticated.
	got = access(ctx, t, b, permission.AccessQuery{Principals: []string{permission.Everyone, permission.Authenticated}, Objects: []string{"foo"}})
	equalObjects(t, `Access("").Held`, got.Held, map[string][]string{})
	got = access(ctx, t, b, permission.AccessQuery{Principals: []string{"/groups/everybody"}, Objects: []string{"foo"}})
	equalObjects(t, `Access("", [/groups/everybody]).Held (a principal given directly)`, got.Held, want)
}

func accessIgnoresTheGroupsOfOtherUsers(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "bob", "/groups/editors"))
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/readers"))
	add(ctx, t, b, "foo", "write", "/groups/editors")
	add(ctx, t, b, "foo", "read", "/groups/readers")
	all := []string{permission.Everyone, permission.Authenticated}
	got := access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: append(all, "alice"), Objects: []string{"foo"}})
	equalObjects(t, "Access(alice).Held", got.Held, map[string][]string{"foo": {"read"}})
	got = access(ctx, t, b, permission.AccessQuery{UserID: "bob", Principals: append(all, "bob"), Objects: []string{"foo"}})
	equalObjects(t, "Access(bob).Held", got.Held, map[string][]string{"foo": {"write"}})
}

func accessLeavesOutObjectsWithoutHeldPermissions(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/b", "write", "alice")
	add(ctx, t, b, "/b/c", "write", "bob")
	add(ctx, t, b, "/b/c/r", "read", "/groups/g")
	got := access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"/b", "/b/c", "/b/c/r", "/nothing"}})
	equalObjects(t, "Access(alice).Held", got.Held, map[string][]string{"/b": {"write"}})
	if _, ok := got.Held["/b/c"]; ok {
		t.Error("Access(alice).Held has /b/c, on which only bob holds a permission")
	}
}

func accessNeverReturnsDuplicates(ctx context.Context, t *testing.T, b permission.Backend) {
	// The same group for the user and for Authenticated; a permission held by the user, by
	// Everyone and by both groups; an object and a principal listed twice.
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/shared"))
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/a"))
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "/groups/shared"))
	for _, p := range []string{"alice", permission.Everyone, "/groups/shared", "/groups/a"} {
		add(ctx, t, b, "/b", "read", p)
	}
	add(ctx, t, b, "/b", "write", "/groups/a")
	got := access(ctx, t, b, permission.AccessQuery{
		UserID:     "alice",
		Principals: []string{permission.Everyone, "alice", "alice"},
		Objects:    []string{"/b", "/b", "/c"},
		Full:       "/b",
	})
	equalStrings(t, "Access(alice).Groups", got.Groups, []string{"/groups/a", "/groups/shared"})
	equalObjects(t, "Access(alice).Held", got.Held, map[string][]string{"/b": {"read", "write"}})
	equalSet(t, "Access(alice).ACEs", got.ACEs, permission.Set{
		"read":  {"alice", permission.Everyone, "/groups/shared", "/groups/a"},
		"write": {"/groups/a"},
	})
}

func accessReturnsTheACEsOfFull(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/a"))
	add(ctx, t, b, "/b", "write", "alice")
	add(ctx, t, b, "/b/c", "read", "alice")
	add(ctx, t, b, "/b/c", "read", "bob")
	add(ctx, t, b, "/b/c", "write", "/groups/other")
	add(ctx, t, b, "/b/c", "record:create", permission.Everyone)
	add(ctx, t, b, "/b/c/r", "write", "carol")
	q := permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"/b"}}
	for _, full := range []string{"/b/c", "/b/c/r", "/b", "/none"} {
		for _, listed := range []bool{false, true} {
			q := q
			q.Full = full
			if listed {
				q.Objects = []string{"/b", full}
			}
			got := access(ctx, t, b, q)
			equalSet(t, fmt.Sprintf("Access(Full %s, Objects %q).ACEs", full, q.Objects), got.ACEs, objectPermissions(ctx, t, b, full))
			want := map[string][]string{"/b": {"write"}}
			if listed && full == "/b/c" {
				want[full] = []string{"read"}
			}
			equalObjects(t, fmt.Sprintf("Access(Full %s, Objects %q).Held", full, q.Objects), got.Held, want)
		}
	}
	q.Full = ""
	if got := access(ctx, t, b, q); got.ACEs != nil {
		t.Errorf(`Access(Full "").ACEs = %v, want nil`, got.ACEs)
	}
}

func accessHandlesAnEmptyQuery(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/a"))
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "/groups/everybody"))
	add(ctx, t, b, "/b", "write", "alice")
	add(ctx, t, b, "/b", "read", permission.Everyone)
	got := access(ctx, t, b, permission.AccessQuery{})
	if len(got.Groups) != 0 || len(got.Held) != 0 || got.ACEs != nil {
		t.Errorf("Access of an empty query = %+v, want no groups, nothing held and nil ACEs", got)
	}
	got = access(ctx, t, b, permission.AccessQuery{Principals: []string{}, Objects: []string{}})
	if len(got.Groups) != 0 || len(got.Held) != 0 || got.ACEs != nil {
		t.Errorf("Access of empty lists = %+v, want no groups, nothing held and nil ACEs", got)
	}
	got = access(ctx, t, b, permission.AccessQuery{Objects: []string{"/b"}})
	equalObjects(t, "Access without user and principals", got.Held, map[string][]string{})
	got = access(ctx, t, b, permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}})
	equalStrings(t, "Access(alice, no objects).Groups", got.Groups, []string{"/groups/a", "/groups/everybody"})
	equalObjects(t, "Access(alice, no objects).Held", got.Held, map[string][]string{})
}

func accessForgetsARemovedGroup(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "alice", "/groups/editors"))
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "/groups/everybody"))
	add(ctx, t, b, "foo", "write", "/groups/editors")
	add(ctx, t, b, "foo", "read", "/groups/everybody")
	q := permission.AccessQuery{UserID: "alice", Principals: []string{"alice"}, Objects: []string{"foo"}}
	equalObjects(t, "Access(alice).Held", access(ctx, t, b, q).Held, map[string][]string{"foo": {"read", "write"}})
	must(t, b.RemoveUserPrincipal(ctx, "alice", "/groups/editors"))
	got := access(ctx, t, b, q)
	equalStrings(t, "Access(alice).Groups after RemoveUserPrincipal", got.Groups, []string{"/groups/everybody"})
	equalObjects(t, "Access(alice).Held after RemoveUserPrincipal", got.Held, map[string][]string{"foo": {"read"}})
	must(t, b.RemovePrincipal(ctx, "/groups/everybody"))
	got = access(ctx, t, b, q)
	equalStrings(t, "Access(alice).Groups after RemovePrincipal", got.Groups, nil)
	equalObjects(t, "Access(alice).Held after RemovePrincipal", got.Held, map[string][]string{})
}

// accessSeesMembershipsChangedThroughAnotherBackend changes a user's groups through one
// backend and reads them through another on the same store (Shared), each change read twice:
// a backend that keeps the groups between calls must notice every change made elsewhere, as
// a web head must notice what another one wrote. Without Shared, the second backend's store
// is its own, and the test checks just that.
func (s suite) accessSeesMembershipsChangedThroughAnotherBackend(t *testing.T) {
	ctx := context.Background()
	reader := s.h.New(ctx, t)
	writer := s.h.New(ctx, t)
	t.Cleanup(func() {
		_ = reader.Close()
		_ = writer.Close()
	})
	add(ctx, t, writer, "/b/1", "read", "/groups/g1")
	add(ctx, t, writer, "/b/1", "write", "/groups/g2")
	q := permission.AccessQuery{UserID: "alice", Principals: []string{"alice", permission.Everyone, permission.Authenticated},
		Objects: []string{"/b/1"}}
	steps := []struct {
		what   string
		change func() error
		groups []string
		held   []string
	}{
		{"nothing", func() error { return nil }, nil, nil},
		{"AddUserPrincipal(alice, g1)", func() error { return writer.AddUserPrincipal(ctx, "alice", "/groups/g1") }, []string{"/groups/g1"}, []string{"read"}},
		{"AddUserPrincipal(Authenticated, g2)", func() error {
			return writer.AddUserPrincipal(ctx, permission.Authenticated, "/groups/g2")
		}, []string{"/groups/g1", "/groups/g2"}, []string{"read", "write"}},
		{"RemoveUserPrincipal(alice, g1)", func() error { return writer.RemoveUserPrincipal(ctx, "alice", "/groups/g1") }, []string{"/groups/g2"}, []string{"write"}},
		{"AddUserPrincipal(alice, g3)", func() error { return writer.AddUserPrincipal(ctx, "alice", "/groups/g3") }, []string{"/groups/g2", "/groups/g3"}, []string{"write"}},
		{"RemovePrincipal(g2)", func() error { return writer.RemovePrincipal(ctx, "/groups/g2") }, []string{"/groups/g3"}, nil},
		{"AddUserPrincipal(alice, g1)", func() error { return writer.AddUserPrincipal(ctx, "alice", "/groups/g1") }, []string{"/groups/g1", "/groups/g3"}, []string{"read"}},
		{"Flush", func() error { return writer.Flush(ctx) }, nil, nil},
	}
	for n, st := range steps {
		must(t, st.change())
		if n == 1 {
			// Whether the two backends share their store: the reader's UserPrincipals (which
			// may keep nothing between calls) has the writer's change.
			if lacks(t, s.h, Shared, slices.Contains(userPrincipals(ctx, t, reader, "alice"), "/groups/g1")) {
				return
			}
		}
		groups, held := st.groups, map[string][]string{}
		if len(st.held) > 0 {
			held["/b/1"] = st.held
		}
		for i := range 2 {
			got := access(ctx, t, reader, q)
			equalStrings(t, fmt.Sprintf("Access(alice).Groups after %s, read %d", st.what, i+1), got.Groups, groups)
			equalObjects(t, fmt.Sprintf("Access(alice).Held after %s, read %d", st.what, i+1), got.Held, held)
		}
	}
}

// accessAgreesWithCheckPermission compares Access with the calls it replaces, for every
// combination of a few users and principals, on the objects of a small fixture: Held has p on
// o exactly when CheckPermission(principals ∪ UserPrincipals(user), {(o, p)}) is true, and
// ACEs are ObjectPermissions(Full). Without a user id the principals count alone
// (UserPrincipals("") would add the groups of Authenticated, which an anonymous request does
// not have).
func accessAgreesWithCheckPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	for _, g := range [][2]string{
		{"alice", "/groups/a"}, {"alice", "/groups/shared"}, {"bob", "/groups/b"}, {"bob", "/groups/shared"},
		{permission.Authenticated, "/groups/auth"}, {"dave", "/groups/auth"},
	} {
		must(t, b.AddUserPrincipal(ctx, g[0], g[1]))
	}
	for _, ace := range [][3]string{
		{"/b", "read", "/groups/a"}, {"/b", "write", "/groups/auth"}, {"/b/c", "read", "bob"},
		{"/b/c", "write", "/groups/b"}, {"/b/c/r", "write", permission.Everyone}, {"/b/c/r", "read", "carol"},
		{"/b/d", "read", "/groups/shared"}, {"/articles/*", "read", "/groups/a"}, {"/articles/a1", "write", "carol"},
		{"/articles/a1", "write", permission.Authenticated},
	} {
		add(ctx, t, b, ace[0], ace[1], ace[2])
	}
	objects := []string{"/b", "/b/c", "/b/c/r", "/b/d", "/articles/*", "/articles/a1", "/articles/a2"}
	perms := []string{"read", "write", "delete"}
	users := []string{"", "alice", "bob", "carol", "dave", "nobody", permission.Authenticated}
	principalSets := [][]string{
		nil,
		{permission.Everyone},
		{permission.Everyone, permission.Authenticated, "carol"},
		{"bob"},
	}
	for i, user := range users {
		var groups []string
		if user != "" {
			groups = userPrincipals(ctx, t, b, user)
		}
		for j, principals := range principalSets {
			all := append(append([]string{}, principals...), groups...)
			q := permission.AccessQuery{UserID: user, Principals: principals, Objects: objects, Full: objects[(i+j)%len(objects)]}
			got := access(ctx, t, b, q)
			equalStrings(t, fmt.Sprintf("Access(%q).Groups", user), got.Groups, groups)
			for _, o := range objects {
				for _, p := range perms {
					want := check(ctx, t, b, all, bind(o, p))
					if held := contains(got.Held[o], p); held != want {
						t.Errorf("Access(%q, %q) holds %s on %s: %v; UserPrincipals then CheckPermission(%q): %v",
							user, principals, p, o, held, all, want)
					}
				}
			}
			equalSet(t, fmt.Sprintf("Access(%q, %q, Full %s).ACEs", user, principals, q.Full), got.ACEs, objectPermissions(ctx, t, b, q.Full))
		}
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------------------
// AuthorizedPrincipals.

func authorized(ctx context.Context, t *testing.T, b permission.Backend, bound ...permission.Binding) []string {
	t.Helper()
	got, err := b.AuthorizedPrincipals(ctx, bound)
	must(t, err)
	return got
}

func getAuthorizedPrincipalsInheritPrincipals(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	equalStrings(t, "AuthorizedPrincipals", authorized(ctx, t, b, bind("foo", "write"), bind("foo", "read")), []string{"bar"})
}

func getAuthorizedPrincipalsIsTheUnionOverBindings(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/b", "write", "alice")
	add(ctx, t, b, "/b", "read", "bob")
	add(ctx, t, b, "/b/c", "read", "carol")
	add(ctx, t, b, "/b/c", "read", "alice")
	add(ctx, t, b, "/b/c", "write", "dave")
	add(ctx, t, b, "/other", "read", "eve")
	got := authorized(ctx, t, b, bind("/b", "write"), bind("/b", "read"), bind("/b/c", "read"))
	equalStrings(t, "AuthorizedPrincipals", got, []string{"alice", "bob", "carol"})
	if len(got) != 3 {
		t.Errorf("AuthorizedPrincipals = %q holds duplicates", got)
	}
	equalStrings(t, "AuthorizedPrincipals of a pattern", authorized(ctx, t, b, bind("/b*", "read")), nil)
}

func getAuthorizedPrincipalsHandlesEmptySet(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "foo", "write", "bar")
	equalStrings(t, "AuthorizedPrincipals()", authorized(ctx, t, b), nil)
}

// ---------------------------------------------------------------------------------------
// AccessibleObjects.

func accessibleObjects(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "id1", "write", "user1")
	add(ctx, t, b, "id1", "record:create", "group")
	add(ctx, t, b, "id2", "read", "user1")
	add(ctx, t, b, "id2", "read", "user2")
	add(ctx, t, b, "id3", "write", "user2")
	got := accessible(ctx, t, b, []string{"user1", "group"},
		bind("*", "write"), bind("*", "read"), bind("*", "record:create"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{
		"id1": {"write", "record:create"},
		"id2": {"read"},
	})
}

func accessibleObjectsSupportsEmptyList(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "id1", "write", "user1")
	equalObjects(t, "AccessibleObjects without bindings", accessible(ctx, t, b, []string{"user1", "group"}), map[string][]string{})
	equalObjects(t, "AccessibleObjects without principals", accessible(ctx, t, b, nil, bind("*", "write")), map[string][]string{})
}

func accessibleObjectsFromPermission(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "id1", "write", "user1")
	add(ctx, t, b, "id1", "read", "user1")
	add(ctx, t, b, "id1", "read", "group")
	add(ctx, t, b, "id2", "write", "user1")
	add(ctx, t, b, "id2", "read", "user2")
	add(ctx, t, b, "id2", "read", "group")
	add(ctx, t, b, "id3", "read", "user2")
	got := accessible(ctx, t, b, []string{"user1", "group"}, bind("*", "read"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{"id1": {"read"}, "id2": {"read"}})
}

func accessibleObjectsWithPattern(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url1/id", "write", "user1")
	add(ctx, t, b, "/url2/id", "write", "user1")
	got := accessible(ctx, t, b, []string{"user1"}, bind("*url1*", "write"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{"/url1/id": {"write"}})
}

func accessibleObjectsSeveralBoundPermissions(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/2", "read", "user1")
	add(ctx, t, b, "/url/_/id/2", "read", "user1")
	got := accessible(ctx, t, b, []string{"user1"}, bind("/url/a/id/*", "read"), bind("/url/a/id/*", "write"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{
		"/url/a/id/1": {"write"},
		"/url/a/id/2": {"read"},
	})
}

func accessibleObjectsWithoutMatch(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/b/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/2", "read", "user1")
	add(ctx, t, b, "/url/b/id/2", "read", "user1")
	got := accessible(ctx, t, b, []string{"user1"},
		bind("/url/a", "write"), bind("/url/a", "read"),
		bind("/url/a/id/*", "write"), bind("/url/a/id/*", "read"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{
		"/url/a":      {"write"},
		"/url/a/id/1": {"write"},
		"/url/a/id/2": {"read"},
	})
}

func accessibleObjectsWithNestedPatterns(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/buckets/b1/collections/c1/records/r1", "read", "alice")
	add(ctx, t, b, "/buckets/b1/collections/c2/records/r2", "write", "alice")
	add(ctx, t, b, "/buckets/b1/collections/c2", "read", "alice")
	add(ctx, t, b, "/buckets/b2/collections/c1/records/r3", "read", "alice")
	got := accessible(ctx, t, b, []string{"alice"},
		bind("/buckets/b1/collections/*/records/*", "read"),
		bind("/buckets/b1/collections/*/records/*", "write"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{
		"/buckets/b1/collections/c1/records/r1": {"read"},
		"/buckets/b1/collections/c2/records/r2": {"write"},
	})
}

func accessibleObjectsDoesNotLeakOtherPrincipalsObjects(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/articles/a1", "read", "alice")
	add(ctx, t, b, "/articles/a2", "read", "bob")
	add(ctx, t, b, "/articles/a3", "read", permission.Everyone)
	add(ctx, t, b, "/articles/a4", "write", "alice")
	must(t, b.AddUserPrincipal(ctx, "bob", "editors"))
	add(ctx, t, b, "/articles/a5", "read", "editors")
	got := accessible(ctx, t, b, []string{"alice", permission.Everyone}, bind("/articles/*", "read"))
	equalObjects(t, "AccessibleObjects(alice)", got, map[string][]string{
		"/articles/a1": {"read"},
		"/articles/a3": {"read"},
	})
	got = accessible(ctx, t, b, []string{"alice"}, bind("/articles/a2", "read"), bind("/articles/a1", "read"))
	equalObjects(t, "AccessibleObjects(alice) with exact bindings", got, map[string][]string{"/articles/a1": {"read"}})
}

func accessibleObjectsEscapesLikeCharacters(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/a_c/1", "read", "u")
	add(ctx, t, b, "/abc/2", "read", "u")
	add(ctx, t, b, "/100%/3", "read", "u")
	add(ctx, t, b, "/100x/4", "read", "u")
	add(ctx, t, b, `/back\slash/5`, "read", "u")
	add(ctx, t, b, `/backXslash/6`, "read", "u")
	add(ctx, t, b, `/back\\slash/7`, "read", "u")
	tests := []struct {
		name    string
		pattern string
		want    map[string][]string
	}{
		{"an underscore in the pattern matches only an underscore", "/a_c/*", map[string][]string{"/a_c/1": {"read"}}},
		{"a percent sign in the pattern matches only a percent sign", "/100%/*", map[string][]string{"/100%/3": {"read"}}},
		{"a backslash in the pattern matches only a backslash", `/back\slash/*`, map[string][]string{`/back\slash/5`: {"read"}}},
		{"an exact binding with an underscore matches only itself", "/a_c/1", map[string][]string{"/a_c/1": {"read"}}},
		{"a star still matches LIKE characters", "/*/*", map[string][]string{
			"/a_c/1": {"read"}, "/abc/2": {"read"}, "/100%/3": {"read"}, "/100x/4": {"read"},
			`/back\slash/5`: {"read"}, `/backXslash/6`: {"read"}, `/back\\slash/7`: {"read"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equalObjects(t, "AccessibleObjects("+tt.pattern+")", accessible(ctx, t, b, []string{"u"}, bind(tt.pattern, "read")), tt.want)
		})
	}
}

func accessibleObjectsTreatsStoredStarAsLiteral(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/articles/*", "read", "u")
	add(ctx, t, b, "/articles/a1", "write", "u")
	got := accessible(ctx, t, b, []string{"u"}, bind("/articles/a1", "read"), bind("/articles/a1", "write"))
	equalObjects(t, "AccessibleObjects(/articles/a1)", got, map[string][]string{"/articles/a1": {"write"}})
	got = accessible(ctx, t, b, []string{"u"}, bind("/articles/*", "read"))
	equalObjects(t, "AccessibleObjects(/articles/*)", got, map[string][]string{"/articles/*": {"read"}})
}

// ---------------------------------------------------------------------------------------
// ObjectPermissions.

func objectPermissions(ctx context.Context, t *testing.T, b permission.Backend, objectID string, perms ...string) permission.Set {
	t.Helper()
	got, err := b.ObjectPermissions(ctx, objectID, perms...)
	must(t, err)
	return got
}

func objectPermissionsReturnAllObjectACLs(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/1", "obj:del", "user1")
	add(ctx, t, b, "/url/a/id/1/sub", "create", "me")
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{
		"write":   {"user1", "user2"},
		"read":    {"user3"},
		"obj:del": {"user1"},
	})
}

func objectPermissionsReturnListedObjectACLs(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/1", "create", "user1")
	equalSet(t, "ObjectPermissions(write, read, unknown)", objectPermissions(ctx, t, b, "/url/a/id/1", "write", "read", "unknown"), permission.Set{
		"write": {"user1", "user2"},
		"read":  {"user3"},
	})
}

func objectPermissionsReturnEmptyDict(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "abcd", "write", "user1")
	equalSet(t, "ObjectPermissions(abc)", objectPermissions(ctx, t, b, "abc"), permission.Set{})
	equalSet(t, "ObjectPermissions(abc, write)", objectPermissions(ctx, t, b, "abc", "write"), permission.Set{})
}

// ---------------------------------------------------------------------------------------
// ReplaceObjectPermissions.

func replace(ctx context.Context, t *testing.T, b permission.Backend, objectID string, s permission.Set) permission.Set {
	t.Helper()
	got, err := b.ReplaceObjectPermissions(ctx, objectID, s)
	must(t, err)
	return got
}

func replaceObjectPermissionReplaceAllGivenSets(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/1", "update", "user1")
	add(ctx, t, b, "/url/a/id/1", "obj:del", "user1")
	want := permission.Set{
		"write":   {"user1"},
		"read":    {"user2"},
		"obj:del": {"user1"},
		"new":     {"user3"},
	}
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{
		"write":   {"user1"},
		"read":    {"user2"},
		"update":  {},
		"obj:del": {"user1"},
		"new":     {"user3"},
	})
	equalSet(t, "ReplaceObjectPermissions result", got, want)
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), want)
}

func replaceObjectPermissionOnlyReplaceGivenSets(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/1", "obj:del", "user1")
	want := permission.Set{
		"write":   {"user1"},
		"read":    {"user3"},
		"new":     {"user2"},
		"obj:del": {"user1"},
	}
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": {"user1"}, "new": {"user2"}})
	equalSet(t, "ReplaceObjectPermissions result", got, want)
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), want)
}

func replaceObjectPermissionSupportsEmptyExistingEntries(ctx context.Context, t *testing.T, b permission.Backend) {
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": {"user1"}})
	equalSet(t, "ReplaceObjectPermissions result", got, permission.Set{"write": {"user1"}})
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{"write": {"user1"}})
}

func replaceObjectPermissionSupportsEmptyInput(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	equalSet(t, "ReplaceObjectPermissions({}) result", replace(ctx, t, b, "/url/a/id/1", permission.Set{}), permission.Set{"write": {"user1"}})
	equalSet(t, "ReplaceObjectPermissions(nil) result", replace(ctx, t, b, "/url/a/id/1", nil), permission.Set{"write": {"user1"}})
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{"write": {"user1"}})
}

func replaceObjectPermissionSupportsDuplicatedEntries(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": {"user1", "user1"}})
	equalSet(t, "ReplaceObjectPermissions result", got, permission.Set{"write": {"user1"}})
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{"write": {"user1"}})
}

func replaceObjectPermissionSupportsEmptyList(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": {}})
	equalSet(t, "ReplaceObjectPermissions result", got, permission.Set{})
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{})
	if check(ctx, t, b, []string{"user1"}, bind("/url/a/id/1", "write")) {
		t.Error("the write ACE was removed: CheckPermission should be false")
	}
}

func replaceObjectPermissionSupportsEmptyListToNewObject(ctx context.Context, t *testing.T, b permission.Backend) {
	got := replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": nil})
	equalSet(t, "ReplaceObjectPermissions result", got, permission.Set{})
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{})
}

func replaceObjectPermissionLeavesOtherObjectsUntouched(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/10", "write", "user1")
	add(ctx, t, b, "/url/a/id", "write", "user1")
	replace(ctx, t, b, "/url/a/id/1", permission.Set{"write": {"user2"}})
	equalSet(t, "ObjectPermissions(/url/a/id/10)", objectPermissions(ctx, t, b, "/url/a/id/10"), permission.Set{"write": {"user1"}})
	equalSet(t, "ObjectPermissions(/url/a/id)", objectPermissions(ctx, t, b, "/url/a/id"), permission.Set{"write": {"user1"}})
	got := accessible(ctx, t, b, []string{"user1", "user2"}, bind("*", "write"))
	equalObjects(t, "AccessibleObjects after replace", got, map[string][]string{
		"/url/a/id/1": {"write"}, "/url/a/id/10": {"write"}, "/url/a/id": {"write"},
	})
	got = accessible(ctx, t, b, []string{"user1"}, bind("*", "write"))
	equalObjects(t, "AccessibleObjects(user1) after replace", got, map[string][]string{
		"/url/a/id/10": {"write"}, "/url/a/id": {"write"},
	})
}

// ---------------------------------------------------------------------------------------
// DeleteObjectPermissions.

func deleteObjectPermissionsRemoveAllGivenObjectsACLs(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/1", "create", "user1")
	add(ctx, t, b, "/url/a/id/2", "create", "user3")
	add(ctx, t, b, "/url/a/id/3", "create", "user4")
	add(ctx, t, b, "/url/a/id/10", "create", "user4")
	must(t, b.DeleteObjectPermissions(ctx, "/url/a/id/1", "/url/a/id/2"))
	equalSet(t, "ObjectPermissions(1)", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{})
	equalSet(t, "ObjectPermissions(2)", objectPermissions(ctx, t, b, "/url/a/id/2"), permission.Set{})
	equalSet(t, "ObjectPermissions(3)", objectPermissions(ctx, t, b, "/url/a/id/3"), permission.Set{"create": {"user4"}})
	equalSet(t, "ObjectPermissions(10)", objectPermissions(ctx, t, b, "/url/a/id/10"), permission.Set{"create": {"user4"}})
	got := accessible(ctx, t, b, []string{"user1", "user2", "user3", "user4"}, bind("*", "create"), bind("*", "read"), bind("*", "write"))
	equalObjects(t, "AccessibleObjects after delete", got, map[string][]string{
		"/url/a/id/3": {"create"}, "/url/a/id/10": {"create"},
	})
}

func deleteObjectPermissionsSupportsEmptyList(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/a/id/1", "write", "user1")
	must(t, b.DeleteObjectPermissions(ctx))
	equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{"write": {"user1"}})
}

func deleteObjectPermissionsSupportsPatternMatching(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/url/b/id/1", "write", "user1")
	add(ctx, t, b, "/url/a/id/1", "write", "user2")
	add(ctx, t, b, "/url/a/id/1", "read", "user3")
	add(ctx, t, b, "/url/a/id/3", "create", "user4")
	must(t, b.DeleteObjectPermissions(ctx, "/url/a*"))
	equalSet(t, "ObjectPermissions(/url/a/id/1)", objectPermissions(ctx, t, b, "/url/a/id/1"), permission.Set{})
	equalSet(t, "ObjectPermissions(/url/a/id/3)", objectPermissions(ctx, t, b, "/url/a/id/3"), permission.Set{})
	equalSet(t, "ObjectPermissions(/url/b/id/1)", objectPermissions(ctx, t, b, "/url/b/id/1"), permission.Set{"write": {"user1"}})
	got := accessible(ctx, t, b, []string{"user2", "user3", "user4"}, bind("*", "create"), bind("*", "read"), bind("*", "write"))
	equalObjects(t, "AccessibleObjects after delete", got, map[string][]string{})
}

func deleteObjectPermissionsPatternEscapesLikeCharacters(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/a_c/1", "read", "u")
	add(ctx, t, b, "/abc/1", "read", "u")
	add(ctx, t, b, "/50%/1", "read", "u")
	add(ctx, t, b, "/50x/1", "read", "u")
	must(t, b.DeleteObjectPermissions(ctx, "/a_c/*", "/50%/*", "/a_c/1"))
	got := accessible(ctx, t, b, []string{"u"}, bind("*", "read"))
	equalObjects(t, "AccessibleObjects after delete", got, map[string][]string{"/abc/1": {"read"}, "/50x/1": {"read"}})
}

// ---------------------------------------------------------------------------------------
// MatchingObjects and PrincipalUsers.

// enumerates reports whether the backend lists the extent of its bulk changes
// (MatchingObjects and PrincipalUsers do not answer permission.ErrNotSupported), after
// checking that the harness declares it so (see lacks, which skips without a Declarer).
func (s suite) enumerates(ctx context.Context, t *testing.T, b permission.Backend) bool {
	t.Helper()
	_, err := b.MatchingObjects(ctx, "/enumerates/*")
	_, uerr := b.PrincipalUsers(ctx, "/enumerates")
	matching, users := !errors.Is(err, permission.ErrNotSupported), !errors.Is(uerr, permission.ErrNotSupported)
	if matching != users {
		t.Fatalf("MatchingObjects answers %v and PrincipalUsers %v: a backend provides both or neither", err, uerr)
	}
	return !lacks(t, s.h, Enumerator, matching)
}

// enumerationObjects are the objects the MatchingObjects subtests give ACEs to; each has one.
var enumerationObjects = []string{
	"/buckets/b1",
	"/buckets/b1/collections/c1",
	"/buckets/b1/collections/c1/records/r1",
	"/buckets/b1/groups/g",
	"/buckets/b10/collections/c",
	"/buckets/b2/collections/c1",
	"/a_c/1",
	"/abc/1",
	"/50%/1",
	"/50x/1",
	`/back\slash/1`,
	"/backslash/1",
	"/star*/1",
	"/starx/1",
	"/été/日本語/1",
}

// addEnumerationObjects gives each of enumerationObjects an ACE, and gives then takes back
// ACEs of /gone/1 and /emptied/1, which must no longer be listed.
func addEnumerationObjects(ctx context.Context, t *testing.T, b permission.Backend) {
	t.Helper()
	perms := []string{"read", "write", "record:create"}
	for i, obj := range enumerationObjects {
		add(ctx, t, b, obj, perms[i%len(perms)], fmt.Sprintf("user%d", i%4))
	}
	add(ctx, t, b, "/gone/1", "read", "user0")
	must(t, b.RemovePrincipalFromACE(ctx, "/gone/1", "read", "user0"))
	replace(ctx, t, b, "/emptied/1", permission.Set{"write": {"user1"}, "read": {"user2"}})
	replace(ctx, t, b, "/emptied/1", permission.Set{"write": {}, "read": {}})
}

func (s suite) matchingObjectsListsTheObjectsAPatternMatches(ctx context.Context, t *testing.T, b permission.Backend) {
	if !s.enumerates(ctx, t, b) {
		return
	}
	addEnumerationObjects(ctx, t, b)
	tests := []struct {
		name    string
		pattern string
		want    []string
	}{
		{"a trailing star lists the objects below a prefix, not the prefix itself nor its siblings", "/buckets/b1/*",
			[]string{"/buckets/b1/collections/c1", "/buckets/b1/collections/c1/records/r1", "/buckets/b1/groups/g"}},
		{"a star also matches the empty string", "/buckets/b1*",
			[]string{"/buckets/b1", "/buckets/b1/collections/c1", "/buckets/b1/collections/c1/records/r1", "/buckets/b1/groups/g", "/buckets/b10/collections/c"}},
		{"a star in the middle matches any run and the rest stays anchored at the end", "/buckets/*/collections/c1",
			[]string{"/buckets/b1/collections/c1", "/buckets/b2/collections/c1"}},
		{"several stars each match a run", "/buckets/*/collections/*/records/*",
			[]string{"/buckets/b1/collections/c1/records/r1"}},
		{"a lone star lists every object with ACEs", "*", enumerationObjects},
		{"an id without a star names one object", "/buckets/b1", []string{"/buckets/b1"}},
		{"an id without a star and without ACEs gives nothing", "/buckets/b3", nil},
		{"an underscore only matches itself", "/a_c/*", []string{"/a_c/1"}},
		{"a percent sign only matches itself", "/50%/*", []string{"/50%/1"}},
		{"a backslash only matches itself", `/back\slash/*`, []string{`/back\slash/1`}},
		{"a star in the pattern also matches a stored star", "/star*/1", []string{"/star*/1", "/starx/1"}},
		{"non-ASCII characters match themselves", "/été/*", []string{"/été/日本語/1"}},
		{"objects whose ACEs were all removed are not listed", "/gone/*", nil},
		{"objects whose ACEs were all replaced by empty lists are not listed", "/emptied/*", nil},
		{"an id whose ACEs were all removed is not listed", "/gone/1", nil},
		{"no match gives an empty list", "/nothing/*", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := b.MatchingObjects(ctx, tt.pattern)
			must(t, err)
			equalStrings(t, fmt.Sprintf("MatchingObjects(%q)", tt.pattern), got, tt.want)
			if len(got) != len(unique(got)) {
				t.Errorf("MatchingObjects(%q) = %q holds duplicates", tt.pattern, got)
			}
		})
	}
}

func (s suite) matchingObjectsListsWhatDeleteObjectPermissionsDeletes(ctx context.Context, t *testing.T, b permission.Backend) {
	if !s.enumerates(ctx, t, b) {
		return
	}
	addEnumerationObjects(ctx, t, b)
	deleted := map[string]bool{}
	for _, pattern := range []string{"/buckets/*/collections/c1", "/a_c/*", `/back\slash/*`, "/star*/1", "/50%/1"} {
		listed, err := b.MatchingObjects(ctx, pattern)
		must(t, err)
		if len(listed) == 0 {
			t.Fatalf("MatchingObjects(%q) lists nothing: the subtest needs a match", pattern)
		}
		must(t, b.DeleteObjectPermissions(ctx, pattern))
		for _, obj := range listed {
			deleted[obj] = true
		}
		// Every object keeps its ACEs unless MatchingObjects listed it (now or before).
		for _, obj := range enumerationObjects {
			got := objectPermissions(ctx, t, b, obj)
			if deleted[obj] && len(got) > 0 {
				t.Errorf("after DeleteObjectPermissions(%q), %q (listed) still has ACEs %v", pattern, obj, got)
			}
			if !deleted[obj] && len(got) == 0 {
				t.Errorf("DeleteObjectPermissions(%q) deleted the ACEs of %q, which MatchingObjects did not list", pattern, obj)
			}
		}
		again, err := b.MatchingObjects(ctx, pattern)
		must(t, err)
		equalStrings(t, fmt.Sprintf("MatchingObjects(%q) after the deletion", pattern), again, nil)
	}
}

func (s suite) principalUsersListsTheUsersRemovePrincipalAffects(ctx context.Context, t *testing.T, b permission.Backend) {
	if !s.enumerates(ctx, t, b) {
		return
	}
	const group, other, odd = "/buckets/b/groups/g", "/buckets/b/groups/other", `group:100%_\ ü`
	must(t, b.AddUserPrincipal(ctx, "alice", group))
	must(t, b.AddUserPrincipal(ctx, "bob", group))
	must(t, b.AddUserPrincipal(ctx, "bob", group)) // twice: listed once
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, group))
	must(t, b.AddUserPrincipal(ctx, "carol", other))
	must(t, b.AddUserPrincipal(ctx, "dan", group))
	must(t, b.RemoveUserPrincipal(ctx, "dan", group))
	must(t, b.AddUserPrincipal(ctx, "erin", odd))
	must(t, b.AddUserPrincipal(ctx, "fxa:ünïcødé", odd))

	users := func(principal string) []string {
		t.Helper()
		got, err := b.PrincipalUsers(ctx, principal)
		must(t, err)
		if len(got) != len(unique(got)) {
			t.Errorf("PrincipalUsers(%q) = %q holds duplicates", principal, got)
		}
		return got
	}
	tests := []struct {
		name      string
		principal string
		want      []string
	}{
		{"the users given the principal are listed, the pseudo-user Authenticated included, not those holding it through Authenticated or whose grant was removed",
			group, []string{"alice", "bob", permission.Authenticated}},
		{"another principal lists its own users", other, []string{"carol"}},
		{"special characters in principals and user ids round-trip", odd, []string{"erin", "fxa:ünïcødé"}},
		{"an unknown principal lists nobody", "/buckets/b/groups/unknown", nil},
		{"a prefix of a principal is not that principal", "/buckets/b/groups/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			equalStrings(t, fmt.Sprintf("PrincipalUsers(%q)", tt.principal), users(tt.principal), tt.want)
		})
	}

	// RemovePrincipal takes the principal from exactly the listed users.
	listed := users(group)
	must(t, b.RemovePrincipal(ctx, group))
	for _, u := range append(listed, "carol", "dan") {
		for _, p := range userPrincipals(ctx, t, b, u) {
			if p == group {
				t.Errorf("UserPrincipals(%q) still holds %q after RemovePrincipal", u, group)
			}
		}
	}
	equalStrings(t, "PrincipalUsers after RemovePrincipal", users(group), nil)
	equalStrings(t, "PrincipalUsers of another principal after RemovePrincipal", users(other), []string{"carol"})
	equalStrings(t, "UserPrincipals(carol) after RemovePrincipal", userPrincipals(ctx, t, b, "carol"), []string{other})
}

func unique(s []string) map[string]bool {
	out := map[string]bool{}
	for _, v := range s {
		out[v] = true
	}
	return out
}

// ---------------------------------------------------------------------------------------
// Flush, special characters, concurrency.

func flushRemovesEverything(ctx context.Context, t *testing.T, b permission.Backend) {
	must(t, b.AddUserPrincipal(ctx, "foo", "bar"))
	must(t, b.AddUserPrincipal(ctx, permission.Authenticated, "everybody"))
	add(ctx, t, b, "/a", "read", "foo")
	add(ctx, t, b, "/a/b", "write", "bar")
	must(t, b.Flush(ctx))
	equalStrings(t, "UserPrincipals(foo)", userPrincipals(ctx, t, b, "foo"), nil)
	equalSet(t, "ObjectPermissions(/a)", objectPermissions(ctx, t, b, "/a"), permission.Set{})
	equalObjects(t, "AccessibleObjects", accessible(ctx, t, b, []string{"foo", "bar"}, bind("*", "read"), bind("*", "write")), map[string][]string{})
	if check(ctx, t, b, []string{"foo"}, bind("/a", "read")) {
		t.Error("CheckPermission after Flush should be false")
	}
	// The backend is usable after a flush.
	add(ctx, t, b, "/a", "read", "foo")
	equalStrings(t, "principals after flush", principalsOf(ctx, t, b, "/a", "read"), []string{"foo"})
}

func specialCharactersRoundTrip(ctx context.Context, t *testing.T, b permission.Backend) {
	values := []string{
		"/articles/été-ünïcødé-日本語-😀",
		`/it's "quoted"`,
		`/100% _done_ \ back\slash`,
		"/semi;colon -- DROP TABLE access_control_entries;",
		"/colons:in:id",
		"/new\nline\ttab",
		"/{braces}[brackets](parens)?+.^$|",
		"/long " + fmt.Sprintf("%0300d", 7),
	}
	principals := []string{"fxa:ünïcødé", `basicauth:it's "me"`, `group:100%_\`, "a b c", "x:y:z"}
	for i, obj := range values {
		p := principals[i%len(principals)]
		perm := []string{"read", "write", "record:create", "collection:create"}[i%4]
		t.Run(fmt.Sprintf("object %d", i), func(t *testing.T) {
			add(ctx, t, b, obj, perm, p)
			equalSet(t, "ObjectPermissions", objectPermissions(ctx, t, b, obj), permission.Set{perm: {p}})
			if !check(ctx, t, b, []string{p}, bind(obj, perm)) {
				t.Errorf("CheckPermission(%q, %q, %q) should be true", p, obj, perm)
			}
			equalObjects(t, "AccessibleObjects(exact)", accessible(ctx, t, b, []string{p}, bind(obj, perm)), map[string][]string{obj: {perm}})
			equalObjects(t, "AccessibleObjects(obj + '*')", accessible(ctx, t, b, []string{p}, bind(obj+"*", perm)), map[string][]string{obj: {perm}})
			equalStrings(t, "AuthorizedPrincipals", authorized(ctx, t, b, bind(obj, perm)), []string{p})

			must(t, b.AddUserPrincipal(ctx, obj, p))
			equalStrings(t, "UserPrincipals", userPrincipals(ctx, t, b, obj), []string{p})
			must(t, b.RemovePrincipal(ctx, p))
			equalStrings(t, "UserPrincipals after RemovePrincipal", userPrincipals(ctx, t, b, obj), nil)

			must(t, b.RemovePrincipalFromACE(ctx, obj, perm, p))
			equalSet(t, "ObjectPermissions after remove", objectPermissions(ctx, t, b, obj), permission.Set{})
			replace(ctx, t, b, obj, permission.Set{perm: {p, principals[0]}})
			must(t, b.DeleteObjectPermissions(ctx, obj))
			equalSet(t, "ObjectPermissions after delete", objectPermissions(ctx, t, b, obj), permission.Set{})
		})
	}
}

func colonsInObjectIDsAndPermissionsDoNotCollide(ctx context.Context, t *testing.T, b permission.Backend) {
	add(ctx, t, b, "/a:b", "c", "u1")
	add(ctx, t, b, "/a", "b:c", "u2")
	equalSet(t, "ObjectPermissions(/a:b)", objectPermissions(ctx, t, b, "/a:b"), permission.Set{"c": {"u1"}})
	equalSet(t, "ObjectPermissions(/a)", objectPermissions(ctx, t, b, "/a"), permission.Set{"b:c": {"u2"}})
	got := accessible(ctx, t, b, []string{"u1", "u2"}, bind("/a*", "c"), bind("/a*", "b:c"))
	equalObjects(t, "AccessibleObjects", got, map[string][]string{"/a:b": {"c"}, "/a": {"b:c"}})
	must(t, b.DeleteObjectPermissions(ctx, "/a"))
	equalSet(t, "ObjectPermissions(/a:b) after deleting /a", objectPermissions(ctx, t, b, "/a:b"), permission.Set{"c": {"u1"}})
}

func concurrentWritesLeaveAConsistentState(ctx context.Context, t *testing.T, b permission.Backend) {
	const workers, each = 8, 12
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			p := fmt.Sprintf("user%d", w)
			for i := 0; i < each; i++ {
				obj := fmt.Sprintf("/shared/%d", i%3)
				if err := b.AddPrincipalToACE(ctx, obj, "read", p); err != nil {
					errs <- err
					return
				}
				// Odd workers take back their grant on /shared/0.
				if w%2 == 1 && i%3 == 0 {
					if err := b.RemovePrincipalFromACE(ctx, obj, "read", p); err != nil {
						errs <- err
						return
					}
				}
				if err := b.AddUserPrincipal(ctx, p, "group"); err != nil {
					errs <- err
					return
				}
			}
			if _, err := b.ReplaceObjectPermissions(ctx, fmt.Sprintf("/own/%d", w), permission.Set{"write": {p}}); err != nil {
				errs <- err
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var even, all []string
	for w := 0; w < workers; w++ {
		p := fmt.Sprintf("user%d", w)
		all = append(all, p)
		if w%2 == 0 {
			even = append(even, p)
		}
		equalStrings(t, "UserPrincipals("+p+")", userPrincipals(ctx, t, b, p), []string{"group"})
		equalSet(t, "ObjectPermissions(/own)", objectPermissions(ctx, t, b, fmt.Sprintf("/own/%d", w)), permission.Set{"write": {p}})
	}
	equalStrings(t, "readers of /shared/0", principalsOf(ctx, t, b, "/shared/0", "read"), even)
	equalStrings(t, "readers of /shared/1", principalsOf(ctx, t, b, "/shared/1", "read"), all)
	equalStrings(t, "readers of /shared/2", principalsOf(ctx, t, b, "/shared/2", "read"), all)
	got := accessible(ctx, t, b, []string{"user1"}, bind("/shared/*", "read"))
	equalObjects(t, "AccessibleObjects(user1)", got, map[string][]string{"/shared/1": {"read"}, "/shared/2": {"read"}})
}
