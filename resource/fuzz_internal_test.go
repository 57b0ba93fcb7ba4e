package resource

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cliquet-go/cliquet/internal/jsoncheck"
	"github.com/cliquet-go/cliquet/protocol"
	"github.com/cliquet-go/cliquet/storage"
)

// fuzzHostile are hostile inputs the fuzz targets start from, beside normal ones.
var fuzzHostile = []string{
	"\x00", "a\x00b", "\xff", "a\xffb", "\xc3", "\xed\xa0\x80", `\u0000`, `"\u0000"`, `"\ud800"`, `"\udc00x"`,
	"1e400", "-1e400", "1.8e308", `[1e400]`, `it's`, `x'); DROP TABLE objects; --`, `%`, `*`, `{a,b}`, `[1]`,
	`null`, `true`, `"quoted"`, "tab\tnew\nline", "ünïcødé ✓ 😀", "\u2028", "<a>&",
}

// FuzzMarshalData checks that marshalData, the hand-written encoder of object data, writes
// any decoded body byte for byte as json.Marshal writes the data without its meta fields.
// Without -fuzz it runs the seeds; scripts/test runs it for a few seconds.
func FuzzMarshalData(f *testing.F) {
	for _, d := range []string{
		`{}`, `{"title":"a","id":"x","last_modified":12,"deleted":false,"done":true}`, `{"z":1,"a":2,"é":6,"":7}`,
		`{"s":"str","n":-1.5e+10,"i":42,"z":0,"t":true,"f":false,"nil":null}`, `{"big":123456789012345678901234567890,"exp":1E-7,"neg":-0.0}`,
		`{"a":{"c":[1,{"y":null,"x":[]},"s"],"b":{}},"e":[[],[[]]]}`, `{"<k>&":"<a href=\"/x\">&amp;</a>","ctl":"\u0000\b\f\n\r\t\u001f\u007f"}`,
		`{"u":"\u2028\u2029 café 😀 \ud800"}`, `{"v":1e400}`, "{\"v\":\"\xff\"}", "{\"\xc3\":1}", `{"child":{"id":"y","deleted":true}}`,
	} {
		f.Add([]byte(d))
	}
	for _, h := range fuzzHostile {
		b, _ := json.Marshal(map[string]string{h: h})
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		var m map[string]any
		if decodeJSON(doc, &m) != nil {
			return
		}
		want, wantErr := json.Marshal(stripMeta(m))
		got, err := marshalData(m, nil)
		if (err != nil) != (wantErr != nil) || string(got) != string(want) {
			t.Fatalf("marshalData(%s) = %s, %v; json.Marshal gives %s, %v", doc, got, err, want, wantErr)
		}
		// With the document's key order: the same value, keys in the document's order.
		ord := orderOf(doc)
		got, err = marshalData(m, ord)
		if err != nil {
			return // json.Marshal refuses it too (checked above)
		}
		var back map[string]any
		if err := decodeJSON(got, &back); err != nil || !reflect.DeepEqual(back, stripMeta(m)) {
			t.Fatalf("marshalData(%s, its order) = %s, which decodes to %v, %v", doc, got, back, err)
		}
		if !sameOrder(ord, orderOf(got), true) {
			t.Fatalf("marshalData(%s, its order) = %s: keys out of the document's order", doc, got)
		}
	})
}

// sameOrder reports whether the key orders got (of an encoding) follow want (of the
// document), the meta fields of the top level left out.
func sameOrder(want, got *keyOrder, top bool) bool {
	if want == nil || got == nil {
		return want == nil && (got == nil || top && len(got.keys) == 0)
	}
	var keys []string
	for _, k := range want.keys {
		if !top || k != "id" && k != "last_modified" && k != "deleted" {
			keys = append(keys, k)
		}
	}
	if !slices.Equal(keys, got.keys) {
		return false
	}
	for k, w := range want.sub {
		if top && (k == "id" || k == "last_modified" || k == "deleted") {
			continue
		}
		if !sameOrder(w, got.sub[k], false) {
			return false
		}
	}
	return true
}

// FuzzListQuery checks the querystring parser of plural endpoints (filters, _sort, _limit,
// _token, _fields) on a schemaless and a schema'd resource: it never panics, every error is
// a *protocol.Error 400 errno 107, what it accepts is fit for every backend (field names
// and string values valid UTF-8 without NUL, known operators, a positive limit) and bounded
// (at most one filter per parameter value, at most maxSortFields sort fields plus the
// implicit last_modified, one pagination rule per sort field), and it round-trips: the
// querystring written back from what it parsed parses to the same query. Without -fuzz it
// runs the seeds; scripts/test runs it for a few seconds.
func FuzzListQuery(f *testing.F) {
	for _, q := range []string{
		"", "title=a", "eq_title=a&not_n=1", "lt_n=10&gt_n=1&min_n=2&max_n=9", "in_title=a,b,%22c%22", "exclude_id=x,y",
		"like_title=moz*", "has_title=true", "has_a.b=false", "contains_tags=%5B1,2%5D", "contains_any_tags=x",
		"_since=123&_before=%22456%22&_to=7", "_since=null", "in_last_modified=1,2", "last_modified=%2212%22",
		"_sort=title,-n,a.b&_limit=3", "_limit=+5", "_limit=99999999999999999999", "_fields=title,a.b", "_fields=nope",
		"_token=eyJsYXN0X29iamVjdCI6eyJuIjoxfSwib2Zmc2V0IjoxfQ==&_sort=n", "_token=%%", "_token=bnVsbA",
		"%ff=1", "lt_%c3=1", "v=%ff", "a%00=1", "v=%00", "v=%22%5Cu0000%22", "v=%22%5Cud800%22", "v=1e400", "v=100%",
		"v=%zz", "%=1", "_sort=%ff", "_fields=%ff", "like_v=1", "has_v=maybe", "contains_id=1", "in_id=1",
		"unknown_field=1", "eq_=1", "_sort=-", "v=[1,2]&v={}", "%e2%82=1",
		"_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjoiXHUwMDAwIn0sIm9mZnNldCI6MX0=",
		"_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjpbIlx1MDAwMCJdfSwib2Zmc2V0IjoxfQ==",
		"_sort=n&_token=eyJsYXN0X29iamVjdCI6eyJuIjoi_yJ9LCJvZmZzZXQiOjF9",
	} {
		f.Add(q)
	}
	for _, h := range fuzzHostile {
		e := url.QueryEscape(h)
		f.Add(e + "=" + e)
		f.Add("lt_v=" + e + "&_sort=" + e)
	}
	schema, err := compileSchema("thing", []byte(`{"type": "object", "properties": {"title": {"type": "string"},
		"n": {"type": "number"}, "tags": {"type": "array"}, "a": {"type": "object"}}}`))
	if err != nil {
		f.Fatal(err)
	}
	cores := []*core{
		{name: "schemaless", now: time.Now, maxFetch: 10000},
		{name: "schema", schema: schema, now: time.Now, paginateBy: 20, maxFetch: 10000},
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, rs := range cores {
			for _, withFields := range []bool{false, true} {
				r := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/things", RawQuery: raw}}
				q, lq, err := rs.listInput(r, withFields)
				if err != nil {
					var pe *protocol.Error
					if !errors.As(err, &pe) || pe.Code != http.StatusBadRequest || pe.Errno != protocol.ErrnoInvalidParameters {
						t.Fatalf("%s: ?%s: %v (%T), want a 400 errno 107 *protocol.Error", rs.name, raw, err, err)
					}
					if _, err := protocol.MarshalJSON(pe); err != nil {
						t.Fatalf("%s: ?%s: the error cannot be rendered: %v", rs.name, raw, err)
					}
					continue
				}
				if lq.limit <= 0 || lq.limit > rs.maxFetch {
					t.Fatalf("%s: ?%s: limit %d", rs.name, raw, lq.limit)
				}
				checkListQueryBounds(t, rs, raw, q, lq)
				check := func(what string, filters []storage.Filter) {
					for _, fl := range filters {
						if err := jsoncheck.String(fl.Field); err != nil {
							t.Fatalf("%s: ?%s: %s field %q: %v", rs.name, raw, what, fl.Field, err)
						}
						if err := storable(fl.Value); err != nil {
							t.Fatalf("%s: ?%s: %s value %#v: %v", rs.name, raw, what, fl.Value, err)
						}
					}
				}
				check("filter", lq.filters)
				for _, rule := range lq.pagination {
					check("pagination", rule)
				}
				for _, s := range lq.sort {
					if err := jsoncheck.String(s.Field); err != nil || s.Field == "" {
						t.Fatalf("%s: ?%s: sort field %q: %v", rs.name, raw, s.Field, err)
					}
				}
				for _, fl := range lq.fields {
					if err := jsoncheck.String(fl); err != nil {
						t.Fatalf("%s: ?%s: _fields %q: %v", rs.name, raw, fl, err)
					}
				}
				// Written back, the query parses to itself.
				back := renderListQuery(t, rs, q, lq).Encode()
				r = &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/things", RawQuery: back}}
				_, lq2, err := rs.listInput(r, withFields)
				if err != nil {
					t.Fatalf("%s: ?%s parses, but its rendering ?%s fails: %v", rs.name, raw, back, err)
				}
				if !sameFilters(lq.filters, lq2.filters) || !reflect.DeepEqual(lq.sort, lq2.sort) || lq.limit != lq2.limit ||
					!slices.Equal(lq.fields, lq2.fields) || !reflect.DeepEqual(lq.pagination, lq2.pagination) || lq.offset != lq2.offset {
					t.Fatalf("%s: ?%s parses to %+v, its rendering ?%s to %+v", rs.name, raw, lq, back, lq2)
				}
			}
		}
	})
}

// storable reports a string inside v that holds invalid UTF-8 or NUL.
func storable(v any) error {
	switch x := v.(type) {
	case string:
		return jsoncheck.String(x)
	case []any:
		for _, e := range x {
			if err := storable(e); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, e := range x {
			if err := jsoncheck.String(k); err != nil {
				return err
			}
			if err := storable(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkListQueryBounds checks that what the parser accepted is bounded by the querystring:
// at most one filter per parameter value, each with a known operator; at most maxSortFields
// sort fields plus the implicit last_modified, which is always there; a pagination rule per
// sort field when a _token is given, none without.
func checkListQueryBounds(t *testing.T, rs *core, raw string, q url.Values, lq listQuery) {
	t.Helper()
	values := 0
	for _, vs := range q {
		values += len(vs)
	}
	if len(lq.filters) > values {
		t.Fatalf("%s: ?%s: %d filters from %d parameter values", rs.name, raw, len(lq.filters), values)
	}
	for _, fl := range lq.filters {
		if _, ok := operatorByName[fl.Op.String()]; !ok {
			t.Fatalf("%s: ?%s: filter %+v has an unknown operator", rs.name, raw, fl)
		}
	}
	if len(lq.sort) == 0 || len(lq.sort) > maxSortFields+1 {
		t.Fatalf("%s: ?%s: %d sort fields", rs.name, raw, len(lq.sort))
	}
	if !slices.ContainsFunc(lq.sort, func(s storage.Sort) bool { return s.Field == "last_modified" }) {
		t.Fatalf("%s: ?%s: sort %v without last_modified", rs.name, raw, lq.sort)
	}
	if q.Get("_token") == "" {
		if lq.pagination != nil {
			t.Fatalf("%s: ?%s: pagination rules %v without a _token", rs.name, raw, lq.pagination)
		}
		return
	}
	if len(lq.pagination) != len(lq.sort) {
		t.Fatalf("%s: ?%s: %d pagination rules for %d sort fields", rs.name, raw, len(lq.pagination), len(lq.sort))
	}
	for i, rule := range lq.pagination {
		if len(rule) != len(lq.sort)-i {
			t.Fatalf("%s: ?%s: pagination rule %d has %d filters, want %d", rs.name, raw, i, len(rule), len(lq.sort)-i)
		}
	}
}

// renderListQuery writes lq back as a querystring, the way a client would ask for it: every
// filter as an operator-prefixed parameter (the _since, _before and _to filters as the
// last_modified ones they are), the sort fields, the limit, the _fields and the _token of q.
func renderListQuery(t *testing.T, rs *core, q url.Values, lq listQuery) url.Values {
	t.Helper()
	out := url.Values{}
	jsonText := func(v any) string {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("filter value %#v: %v", v, err)
		}
		return string(b)
	}
	for _, fl := range lq.filters {
		name := fl.Op.String() + "_" + fl.Field
		if fl.Op == storage.EQ && !filterPattern.MatchString(fl.Field) && !strings.HasPrefix(fl.Field, "_") {
			name = fl.Field // a field that reads as an operator prefix needs its eq_
		}
		asString := rs.schema.isString(fl.Field)
		var value string
		switch fl.Op {
		case storage.IN, storage.EXCLUDE:
			var items []string
			for _, it := range fl.Value.([]any) {
				if asString {
					items = append(items, it.(string))
				} else {
					// No comma may split an item: outside strings an item has none (it was
					// one already), inside them it is escaped.
					items = append(items, strings.ReplaceAll(jsonText(it), ",", `\u002c`))
				}
			}
			value = strings.Join(items, ",")
		case storage.HAS, storage.CONTAINS, storage.CONTAINS_ANY:
			value = jsonText(fl.Value)
		default:
			if s, ok := fl.Value.(string); ok && (asString || fl.Field == "id") {
				value = s
			} else {
				value = jsonText(fl.Value)
			}
		}
		out.Add(name, value)
	}
	sorts := lq.sort
	if len(sorts) > maxSortFields {
		sorts = sorts[:maxSortFields] // the last_modified the parser appended
	}
	var sortItems []string
	for _, s := range sorts {
		if s.Desc {
			sortItems = append(sortItems, "-"+s.Field)
		} else {
			sortItems = append(sortItems, s.Field)
		}
	}
	out.Set("_sort", strings.Join(sortItems, ","))
	if rs.paginateBy > 0 && lq.limit > rs.paginateBy {
		out.Set("_limit", "0") // as kinto.core: no limit (0) means storage_max_fetch_size, over paginate_by
	} else {
		out.Set("_limit", strconv.Itoa(lq.limit))
	}
	if lq.fields != nil {
		out.Set("_fields", strings.Join(lq.fields[:len(lq.fields)-2], ",")) // without the id and last_modified it appends
	}
	if tok := q.Get("_token"); tok != "" {
		out.Set("_token", tok)
	}
	return out
}

// sameFilters reports whether a and b hold the same filters, in any order (the parser
// reads the querystring's parameters in map order).
func sameFilters(a, b []storage.Filter) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(f storage.Filter) string { return fmt.Sprintf("%q %d %s", f.Field, f.Op, typedText(f.Value)) }
	a, b = slices.Clone(a), slices.Clone(b)
	for _, l := range [][]storage.Filter{a, b} {
		slices.SortFunc(l, func(x, y storage.Filter) int { return strings.Compare(key(x), key(y)) })
	}
	return reflect.DeepEqual(a, b)
}

// typedText writes v with the type of every value in it, so that 1 (float64) and 1 (int64)
// sort apart.
func typedText(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = typedText(e)
		}
		return "[" + strings.Join(parts, ",") + "]"
	case map[string]any:
		keys := slices.Sorted(maps.Keys(x))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = strconv.Quote(k) + ":" + typedText(x[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}
