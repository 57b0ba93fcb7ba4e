package storagetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"unicode/utf8"

	"github.com/cliquet-go/cliquet/internal/jsonnum"
	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

// FilterDiff checks, inside a fuzz target, that a backend filters and sorts as the memory
// backend does, the reference for the protocol's comparisons: on the same objects (every
// JSON type under a few fields, with look-alike values such as 1 and "1", an empty array,
// LIKE's special characters, absent fields), one filter and a sort on its field must select
// the same objects in the same order, or the backend must refuse the filter with
// [storage.ErrInvalid].
//
// A backend's fuzz target is a few lines:
//
//	func FuzzFilter(f *testing.F) {
//		d := storagetest.NewFilterDiff(f, openBackend(f), storage.Scope{Resource: "fuzz", Parent: "p"})
//		f.Fuzz(func(t *testing.T, field string, op uint8, value string, desc bool) {
//			d.Check(t, field, op, value, desc)
//		})
//	}
type FilterDiff struct {
	b, mem storage.Backend
	scope  storage.Scope
}

// filterDiffData are the objects FilterDiff lists on both backends.
var filterDiffData = []string{
	`{"v": [], "s": "x", "arr": []}`,
	`{"v": 1, "s": "abc", "a": {"b": 2}, "arr": [1, "x"]}`,
	`{"v": "1", "s": "ABC", "a": {"b": "x"}, "arr": [null]}`,
	`{"v": null, "s": "a_c", "a": null, "arr": [[1], {"k": 1}]}`,
	`{"v": true, "s": "a%c", "a": {"b": [1, 2]}}`,
	`{"v": false, "s": "", "a": {"b": {"c": 1}}, "arr": ["x"]}`,
	`{"v": [1, 2], "s": "é", "a": {"b": null}}`,
	`{"v": {"x": 1}, "s": "*"}`,
	`{"v": 1.5, "s": "a\\b", "a": {}}`,
	`{"v": 10, "s": "b"}`,
	`{"v": "10", "s": "it's"}`,
	`{"v": -2, "s": "a.c"}`,
	`{"v": 1e300, "s": "ab"}`,
	`{"v": "", "s": "Ab"}`,
	`{"v": "x", "s": " abc ", "a": {"b": [[]]}}`,
	`{"v": 9007199254740993, "arr": [9007199254740992]}`,
	`{"v": 9007199254740992, "a": {"b": 0.10000000000000000001}}`,
	`{"v": 0.1, "arr": [12345678901234567890]}`,
	`{}`,
}

// operators is the number of filter operators ([storage.EQ] to [storage.CONTAINS_ANY]).
const operators = int(storage.CONTAINS_ANY) + 1

// NewFilterDiff adds its seed corpus to f (every operator on each field of the objects, with
// look-alike values), then stores its objects under scope s in b, which must hold nothing
// there, and in a new memory backend. The fuzz function's arguments are those of
// [FilterDiff.Check].
func NewFilterDiff(f *testing.F, b storage.Backend, s storage.Scope) *FilterDiff {
	f.Helper()
	for _, field := range []string{"v", "s", "a.b", "arr", "id", "a", "missing"} {
		for op := range uint8(operators) {
			for _, value := range []string{"1", `"1"`, "10", "abc", "a*", "*B*", "true", "null", "[1]", `["x", 1]`, `{"x": 1}`, "1.5", "",
				"9007199254740993", "9007199254740992", "[9007199254740992]", "0.10000000000000000001", "1.2345678901234567890e19"} {
				f.Add(field, op, value, op%2 == 0)
			}
		}
	}
	mem := memory.New(nil)
	f.Cleanup(func() { _ = mem.Close() })
	ctx := context.Background()
	for i, d := range filterDiffData {
		for _, be := range []storage.Backend{b, mem} {
			if _, err := be.Create(ctx, s, storage.Object{ID: fmt.Sprint(i), Data: json.RawMessage(d)}); err != nil {
				f.Fatalf("Create %s: %v", d, err)
			}
		}
	}
	return &FilterDiff{b: b, mem: mem, scope: s}
}

// Check lists the objects with one filter on field (operator op modulo the number of
// operators; value read as JSON when it is JSON, as the resource layer reads a querystring,
// numbers float64 does not hold exactly kept as json.Number, made a list for the list
// operators, desc for has_), sorted on field (descending when desc)
// then last_modified, on the backend and in memory, and fails t unless the backend answers
// as memory does or refuses the filter with storage.ErrInvalid. Field names and values that
// are not valid UTF-8 are skipped: the resource layer answers 400 before a backend sees them.
func (d *FilterDiff) Check(t *testing.T, field string, op uint8, value string, desc bool) {
	t.Helper()
	if !utf8.ValidString(field) || !utf8.ValidString(value) {
		return
	}
	o := storage.Operator(int(op) % operators)
	var v any = value
	if decoded, err := jsonnum.Decode([]byte(value)); err == nil {
		v = decoded // exact numbers, as the resource layer reads them
	}
	switch o {
	case storage.IN, storage.EXCLUDE:
		if l, ok := v.([]any); ok {
			v = l
		} else {
			v = []any{v}
		}
	case storage.CONTAINS, storage.CONTAINS_ANY:
		if _, ok := v.([]any); !ok {
			v = []any{v}
		}
	case storage.HAS:
		v = desc
	case storage.LIKE:
		if _, ok := v.(string); !ok {
			v = value
		}
	}
	opts := storage.ListOptions{
		Filters: []storage.Filter{{Field: field, Op: o, Value: v}},
		Sort:    []storage.Sort{{Field: field, Desc: desc}, {Field: "last_modified"}},
	}
	ctx := context.Background()
	got, err := d.b.List(ctx, d.scope, opts)
	if err != nil {
		if !errors.Is(err, storage.ErrInvalid) {
			t.Fatalf("List of %+v: %v", opts.Filters[0], err)
		}
		return
	}
	want, err := d.mem.List(ctx, d.scope, opts)
	if err != nil {
		t.Fatalf("memory List of %+v: %v, but the backend answers %v", opts.Filters[0], err, ids(got))
	}
	if !slices.Equal(ids(got), ids(want)) {
		t.Fatalf("%s %q %#v sorted on %q (desc %v): the backend answers %v, memory %v",
			o, field, v, field, desc, ids(got), ids(want))
	}
}
