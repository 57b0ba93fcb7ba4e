package postgresql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cliquet-go/cliquet/storage"
	"github.com/cliquet-go/cliquet/storage/storagetest"
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

// FuzzFilter checks that no field name, operator and value makes List panic or build invalid
// SQL, and that the PostgreSQL backend filters and sorts as the memory backend does
// (storagetest.FilterDiff). Without -fuzz it runs the seed corpus; scripts/test runs it for
// a few seconds.
func FuzzFilter(f *testing.F) {
	for i, h := range hostile {
		f.Add(h, uint8(i), h, i%2 == 0)
	}
	f.Add("a.b.0", uint8(3), "\x00", true)
	f.Add("last_modified", uint8(2), "12", false)
	b := newTestBackend(f, Options{})
	diff := storagetest.NewFilterDiff(f, b, scope(f))
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, field string, op uint8, value string, desc bool) {
		var v any = value
		if n, err := json.Number(value).Float64(); err == nil {
			v = n
		}
		o := storage.Operator(int(op) % (int(storage.CONTAINS_ANY) + 1))
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
		// The same filter on stored objects, against the memory backend.
		diff.Check(t, field, op, value, desc)
	})
}
