package cachetest

import (
	"testing"

	"github.com/cliquet-go/cliquet/internal/testenv"
)

// Capability names an optional interface of cache backends.
type Capability string

// The optional interfaces a harness may declare its backends lack.
const (
	Migrator Capability = "cache.Migrator"
	Pinger   Capability = "cache.Pinger"
)

// Declarer is implemented by harnesses that declare which optional interfaces their backends
// lack. With a Declarer the subtests of an optional interface never skip: when the backend
// implements it they exercise it; when the declaration says it is absent they check that the
// backend indeed does not implement it and, where the toolkit has a fallback, that it holds
// (a backend without [cache.Migrator] works without a schema step). A backend lacking an
// interface the harness does not declare absent, or implementing one declared absent, fails
// the subtest. Without a Declarer, the subtests of an interface the backend lacks are skipped.
type Declarer interface {
	// Lacks lists the optional interfaces the harness's backends do not implement.
	Lacks() []Capability
}

// lacks reports whether the backend lacks the capability c, whose type assertion gave
// implemented (see testenv.Lacks).
func (s *suite) lacks(t *testing.T, c Capability, implemented bool) bool {
	t.Helper()
	d, ok := s.h.(Declarer)
	var declared []Capability
	if ok {
		declared = d.Lacks()
	}
	return testenv.Lacks(t, declared, ok, c, implemented)
}
