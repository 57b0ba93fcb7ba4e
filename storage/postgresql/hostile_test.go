package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/memory"
)

var hostile = []string{
	`it's`, `"quoted"`, `a;b`, `x); DROP TABLE objects; --`, `-- comment`, `/* c */`, `$1`, `$$`,
	`back\slash`, `\`, `100%`, `under_score`, `%`, `_`, `*`, `ünïcødé ✓ 😀`, `{a,b}`, `[1]`, `'`, ``,
	strings.Repeat("long", 2000), "tab\tnew\nline",
}

// checkClean fails on errors that betray SQL built from input: syntax errors and undefined
// objects.
func checkClean(t *testing.T, what string, err error) {
	t.Helper()
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "42") || pgErr.Code == "22P02") {
		t.Fatalf("%s: SQL error %s: %v", what, pgErr.Code, err)
	}
	var be *storage.BackendError
	if errors.As(err, &be) {
		t.Fatalf("%s: backend error: %v", what, err)
	}
}

func TestHostileFieldNamesAndValuesArePassedAsParameters(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	for i, h := range hostile {
		data, _ := json.Marshal(map[string]string{h: h, "v": h})
		mustCreate(t, b, s, fmt.Sprint(i), string(data))
	}
	// The hostile strings as ids too.
	for _, h := range hostile {
		if _, err := b.Create(ctx, s, storage.Object{ID: "id:" + h}); err != nil {
			t.Fatalf("Create with id %q: %v", h, err)
		}
	}
	ops := []storage.Operator{storage.EQ, storage.NOT, storage.LT, storage.GT, storage.MIN, storage.MAX, storage.IN,
		storage.EXCLUDE, storage.LIKE, storage.HAS, storage.CONTAINS, storage.CONTAINS_ANY}
	for i, h := range hostile {
		name := h
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(fmt.Sprintf("%d %q", i, name), func(t *testing.T) {
			for _, op := range ops {
				var v any = h
				switch op {
				case storage.IN, storage.EXCLUDE, storage.CONTAINS, storage.CONTAINS_ANY:
					v = []any{h}
				case storage.HAS:
					v = true
				}
				for _, field := range []string{h, "v", "id"} {
					_, err := b.List(ctx, s, storage.ListOptions{
						Filters: []storage.Filter{{Field: field, Op: op, Value: v}},
						Sort:    []storage.Sort{{Field: field}, {Field: h, Desc: true}},
					})
					checkClean(t, fmt.Sprintf("%s on %q", op, field), err)
					if err != nil {
						t.Fatalf("%s on %q: %v", op, field, err)
					}
				}
			}
			if strings.Contains(h, ".") {
				return
			}
			got, err := b.List(ctx, s, storage.ListOptions{Filters: []storage.Filter{{Field: h, Op: storage.EQ, Value: h}}})
			if err != nil || fmt.Sprint(ids(got)) != fmt.Sprintf("[%d]", i) {
				t.Fatalf("EQ on the hostile field = %v, %v; want [%d]", ids(got), err, i)
			}
			want := 0
			for _, o := range hostile {
				if strings.EqualFold(o, h) {
					want++
				}
			}
			got, err = b.List(ctx, s, storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.LIKE, Value: h}}})
			if strings.Contains(h, "*") {
				return
			}
			if err != nil || len(got) != want {
				t.Fatalf("LIKE %q (wildcards escaped) = %v, %v; want %d objects", h, ids(got), err, want)
			}
			one, err := b.Get(ctx, s, "id:"+h)
			if err != nil || one.ID != "id:"+h {
				t.Fatalf("Get(%q) = %+v, %v", "id:"+h, one, err)
			}
		})
	}
}

func TestNULCharactersNeverReachPostgreSQL(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	stored := []string{"", "a", "a b", "ab", "b", "\x01"}
	for i, v := range stored {
		data, _ := json.Marshal(map[string]string{"v": v})
		mustCreate(t, b, s, fmt.Sprint(i), string(data))
	}
	mustCreate(t, b, s, "absent", `{}`)
	list := func(f storage.Filter) []string {
		t.Helper()
		got, err := b.List(ctx, s, storage.ListOptions{Filters: []storage.Filter{f}})
		checkClean(t, fmt.Sprint(f), err)
		if err != nil {
			t.Fatalf("%+v: %v", f, err)
		}
		out := ids(got)
		sort.Strings(out)
		return out
	}
	expect := func(keep func(v string, present bool) bool) []string {
		var out []string
		for i, v := range stored {
			if keep(v, true) {
				out = append(out, fmt.Sprint(i))
			}
		}
		if keep("", false) {
			out = append(out, "absent")
		}
		sort.Strings(out)
		return out
	}
	for _, nul := range []string{"a\x00", "a\x00b", "\x00", "ab\x00c"} {
		cases := []struct {
			op   storage.Operator
			keep func(v string, present bool) bool
		}{
			{storage.EQ, func(v string, p bool) bool { return false }},
			{storage.NOT, func(v string, p bool) bool { return true }},
			{storage.LT, func(v string, p bool) bool { return p && v < nul }},
			{storage.MAX, func(v string, p bool) bool { return p && v <= nul }},
			{storage.GT, func(v string, p bool) bool { return !p || v > nul }},
			{storage.MIN, func(v string, p bool) bool { return !p || v >= nul }},
			{storage.LIKE, func(v string, p bool) bool { return false }},
		}
		for _, c := range cases {
			got := list(storage.Filter{Field: "v", Op: c.op, Value: nul})
			if want := expect(c.keep); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s %q: got %v, want %v", c.op, nul, got, want)
			}
		}
		if got := list(storage.Filter{Field: "v", Op: storage.IN, Value: []any{nul, "b"}}); fmt.Sprint(got) != "[4]" {
			t.Errorf("IN with a NUL item: %v", got)
		}
		if got := list(storage.Filter{Field: "v", Op: storage.EXCLUDE, Value: []any{nul}}); len(got) != len(stored)+1 {
			t.Errorf("EXCLUDE with a NUL item: %v", got)
		}
		if got := list(storage.Filter{Field: "v" + nul, Op: storage.HAS, Value: false}); len(got) != len(stored)+1 {
			t.Errorf("a field name with NUL is not absent: %v", got)
		}
		if got := list(storage.Filter{Field: "id", Op: storage.EQ, Value: nul}); len(got) != 0 {
			t.Errorf("id EQ with NUL: %v", got)
		}
	}
	_, err := b.List(ctx, s, storage.ListOptions{Filters: []storage.Filter{{Field: "v", Op: storage.LT, Value: []any{"\x00"}}}})
	if !errors.Is(err, ErrNULValue) || !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("LT with an array holding NUL: %v, want ErrNULValue, a storage.ErrInvalid", err)
	}
	_, err = b.Create(ctx, s, storage.Object{Data: json.RawMessage(`{"v":"\u0000"}`)})
	if !errors.Is(err, ErrInvalidData) || !errors.Is(err, storage.ErrInvalid) {
		t.Errorf("data with \\u0000: %v, want ErrInvalidData, a storage.ErrInvalid", err)
	}
	_, err = b.Create(ctx, s, storage.Object{ID: "nul\x00id"})
	if !errors.Is(err, storage.ErrInvalid) || errors.As(err, new(*storage.BackendError)) {
		t.Errorf("id with NUL: %v, want a storage.ErrInvalid, not a backend error", err)
	}
	_, err = b.List(ctx, s, storage.ListOptions{Filters: []storage.Filter{{Field: "\xff", Op: storage.EQ, Value: 1}}})
	if !errors.Is(err, storage.ErrInvalid) || errors.As(err, new(*storage.BackendError)) {
		t.Errorf("a field name with invalid UTF-8: %v, want a storage.ErrInvalid, not a backend error", err)
	}
	if _, err := b.Create(ctx, s, storage.Object{Data: json.RawMessage(`[1]`)}); !errors.Is(err, ErrInvalidData) {
		t.Errorf("non-object data: %v, want ErrInvalidData", err)
	}
}

// TestGetManyTreatsUnstorableKeysAsMissing: a key whose resource, parent or id holds a NUL
// character or invalid UTF-8 addresses no object (PostgreSQL cannot store one there), so
// GetMany answers the zero Object for it instead of failing the other keys with it.
func TestGetManyTreatsUnstorableKeysAsMissing(t *testing.T) {
	b := newTestBackend(t, Options{})
	ctx := context.Background()
	s := scope(t)
	a := mustCreate(t, b, s, "a", `{"x":1}`)
	keys := []storage.Key{
		{Scope: s, ID: "a\x00"},
		{Scope: s, ID: "a"},
		{Scope: storage.Scope{Resource: s.Resource, Parent: s.Parent + "\x00"}, ID: "a"},
		{Scope: storage.Scope{Resource: "\x00", Parent: s.Parent}, ID: "a"},
		{Scope: s, ID: "a\xff"},
		{Scope: storage.Scope{Resource: s.Resource, Parent: s.Parent + "\xc3"}, ID: "a"},
	}
	got, err := b.GetMany(ctx, keys)
	checkClean(t, "GetMany", err)
	if err != nil {
		t.Fatalf("GetMany: %v", err)
	}
	for i, o := range got {
		if i == 1 {
			if o.ID != "a" || o.LastModified != a.LastModified {
				t.Errorf("result[1] = %+v, want %+v", o, a)
			}
			continue
		}
		if o.ID != "" {
			t.Errorf("result[%d] (key %q) = %+v, want the zero Object", i, keys[i], o)
		}
	}
	// Only unstorable keys: nothing to send.
	got, err = b.GetMany(ctx, []storage.Key{keys[0], keys[4]})
	if err != nil || len(got) != 2 || got[0].ID != "" || got[1].ID != "" {
		t.Fatalf("GetMany of unstorable keys only = %+v, %v", got, err)
	}
}

// fuzzData are the objects FuzzFilter lists, on PostgreSQL and in memory: every JSON type
// under the fields its seeds name (v, s, a.b, arr), with look-alike values (1 and "1", "10"
// and 10, case and LIKE's special characters, an empty array, which jsonb alone would sort
// before null) and absent fields.
var fuzzData = []string{
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
	`{}`,
}

// FuzzFilter checks that no field name, operator and value makes List panic or build invalid
// SQL, and that the PostgreSQL backend filters and sorts as the memory backend does: on the
// objects of fuzzData, with a value taken as JSON when it is JSON (as the resource layer
// reads querystrings), both return the same objects in the same order, or PostgreSQL
// refuses the filter as invalid. Without -fuzz it runs the seed corpus; scripts/test runs
// it for a few seconds.
func FuzzFilter(f *testing.F) {
	for i, h := range hostile {
		f.Add(h, uint8(i), h, i%2 == 0)
	}
	f.Add("a.b.0", uint8(3), "\x00", true)
	f.Add("last_modified", uint8(2), "12", false)
	for _, field := range []string{"v", "s", "a.b", "arr", "id", "a", "missing"} {
		for op := range uint8(12) {
			for _, value := range []string{"1", `"1"`, "10", "abc", "a*", "*B*", "true", "null", "[1]", `["x", 1]`, `{"x": 1}`, "1.5", ""} {
				f.Add(field, op, value, op%2 == 0)
			}
		}
	}
	b := newTestBackend(f, Options{})
	mem := memory.New(nil)
	f.Cleanup(func() { _ = mem.Close() })
	ctx := context.Background()
	data := scope(f)
	for i, d := range fuzzData {
		for _, be := range []storage.Backend{b, mem} {
			if _, err := be.Create(ctx, data, storage.Object{ID: fmt.Sprint(i), Data: json.RawMessage(d)}); err != nil {
				f.Fatalf("Create %s: %v", d, err)
			}
		}
	}
	f.Fuzz(func(t *testing.T, field string, op uint8, value string, desc bool) {
		var v any = value
		if n, err := json.Number(value).Float64(); err == nil {
			v = n
		}
		o := storage.Operator(op % 12)
		switch o {
		case storage.IN, storage.EXCLUDE, storage.CONTAINS, storage.CONTAINS_ANY:
			v = []any{v, value}
		case storage.HAS:
			v = desc
		case storage.LIKE:
			v = value
		}
		_, err := b.List(ctx, storage.Scope{Resource: "fuzz", Parent: field}, storage.ListOptions{
			Filters:    []storage.Filter{{Field: field, Op: o, Value: v}},
			Pagination: [][]storage.Filter{{{Field: field, Op: storage.GT, Value: value}}, {{Field: field, Op: storage.EQ, Value: storage.Missing}}},
			Sort:       []storage.Sort{{Field: field, Desc: desc}},
			Limit:      5,
		})
		checkClean(t, "List", err)
		if err != nil && !errors.Is(err, ErrNULValue) && !errors.Is(err, ErrInvalidFilter) && !errors.Is(err, ErrInvalidData) {
			t.Fatalf("List: %v", err)
		}

		// The same filter on stored objects, with the value as the resource layer reads it.
		// Strings holding invalid UTF-8 never get there (the resource layer answers 400):
		// PostgreSQL would see them with U+FFFD in place of the bad bytes, and the memory
		// backend as they are.
		if !utf8.ValidString(field) || !utf8.ValidString(value) {
			return
		}
		v = value
		var decoded any
		if json.Unmarshal([]byte(value), &decoded) == nil {
			v = decoded
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
		got, err := b.List(ctx, data, opts)
		checkClean(t, "List", err)
		if err != nil {
			if !errors.Is(err, storage.ErrInvalid) {
				t.Fatalf("List of %+v: %v", opts.Filters[0], err)
			}
			return
		}
		want, err := mem.List(ctx, data, opts)
		if err != nil {
			t.Fatalf("memory List of %+v: %v, but PostgreSQL answers %v", opts.Filters[0], err, ids(got))
		}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("%s %q %#v sorted on %q (desc %v): PostgreSQL answers %v, memory %v",
				o, field, v, field, desc, ids(got), ids(want))
		}
	})
}
