package redis_test

import (
	"testing"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/storagetest"
)

// FuzzFilter checks that the Redis backend filters and sorts as the memory backend does
// (storagetest.FilterDiff), whatever the field name, operator and value. Without -fuzz it
// runs the seed corpus; scripts/test runs it for a few seconds.
func FuzzFilter(f *testing.F) {
	b := newBackend(f, "")
	d := storagetest.NewFilterDiff(f, b, storage.Scope{Resource: "fuzz", Parent: "p"})
	f.Fuzz(func(t *testing.T, field string, op uint8, value string, desc bool) {
		d.Check(t, field, op, value, desc)
	})
}
