package resource

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"slices"
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
// a *protocol.Error 400 errno 107, and what it accepts is fit for every backend (field names
// and string values valid UTF-8 without NUL, a positive limit). Without -fuzz it runs the
// seeds.
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
				_, lq, err := rs.listInput(r, withFields)
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
