package testenv

import "testing"

// Lacks is the capability check the conformance suites (storagetest, cachetest,
// permissiontest) share. It reports whether the backend lacks capability c; implemented is
// false when the backend declined it (answered its package's ErrNotSupported). declared
// lists what the harness declares absent, and is nil when the harness declares nothing (it
// is not a Declarer). Without declarations it skips the subtest when the backend lacks c;
// with them it fails the subtest when the backend and the declaration disagree.
func Lacks[C comparable](t testing.TB, declared []C, declares bool, c C, implemented bool) bool {
	t.Helper()
	if !declares {
		if !implemented {
			t.Skipf("the backend does not implement %v", c)
		}
		return false
	}
	isDeclared := false
	for _, l := range declared {
		isDeclared = isDeclared || l == c
	}
	switch {
	case isDeclared && implemented:
		t.Fatalf("the harness declares that the backend lacks %v, but it implements it", c)
	case !isDeclared && !implemented:
		t.Fatalf("the backend does not implement %v and the harness does not declare it absent (Declarer.Lacks)", c)
	}
	return isDeclared
}
