package storagetest

import (
	"encoding/json"
	"slices"

	"github.com/cliquet-go/cliquet/storage"
)

// createAll creates one object per JSON document.
func (e *env) createAll(docs ...string) []storage.Object {
	e.Helper()
	out := make([]storage.Object, len(docs))
	for i, d := range docs {
		out[i] = e.create(d)
	}
	return out
}

// sortedValues returns the field values of objs as strings, sorted, for order-free checks.
func sortedStrings(objs []storage.Object, name string) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		v, _ := field(o, name)
		s, _ := v.(string)
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

var filterTests = []subtest{
	{"ListAllComparesNumbersExactly", func(e *env) {
		// Numbers that float64 cannot tell apart compare as jsonb compares them: exactly.
		// The resource layer passes such values as json.Number (internal/jsonnum).
		e.createAll(`{"k": "a", "n": 0.1}`, `{"k": "b", "n": 0.10000000000000000001}`,
			`{"k": "c", "n": 9007199254740992}`, `{"k": "d", "n": 9007199254740993}`,
			`{"k": "e", "n": 9007199254740994}`, `{"k": "f", "n": 12345678901234567890}`,
			`{"k": "g", "n": 12345678901234567891}`, `{"k": "h", "n": 1.2345678901234567890e19}`)
		sorting := []storage.Sort{asc("n"), asc("k")}
		e.equal(values(e.list(storage.ListOptions{Sort: sorting}), "k"),
			[]any{"a", "b", "c", "d", "e", "f", "h", "g"}, "sorted by n")
		e.equal(values(e.list(storage.ListOptions{Sort: []storage.Sort{desc("n"), desc("k")}}), "k"),
			[]any{"g", "h", "f", "e", "d", "c", "b", "a"}, "sorted by n descending")
		for _, c := range []struct {
			filter storage.Filter
			want   []any
		}{
			{f("n", storage.EQ, json.Number("9007199254740993")), []any{"d"}},
			{f("n", storage.EQ, 9007199254740992.0), []any{"c"}},
			{f("n", storage.EQ, int64(9007199254740994)), []any{"e"}},
			{f("n", storage.EQ, json.Number("12345678901234567890")), []any{"f", "h"}},
			{f("n", storage.NOT, json.Number("9007199254740993")), []any{"a", "b", "c", "e", "f", "h", "g"}},
			{f("n", storage.GT, json.Number("9007199254740992")), []any{"d", "e", "f", "h", "g"}},
			{f("n", storage.MIN, json.Number("9007199254740993")), []any{"d", "e", "f", "h", "g"}},
			{f("n", storage.LT, json.Number("0.10000000000000000001")), []any{"a"}},
			{f("n", storage.MAX, json.Number("0.10000000000000000001")), []any{"a", "b"}},
			{f("n", storage.IN, []any{json.Number("12345678901234567891"), 0.1, json.Number("9007199254740995")}), []any{"a", "g"}},
			{f("n", storage.EXCLUDE, []any{json.Number("9007199254740993"), uint64(12345678901234567890)}), []any{"a", "b", "c", "e", "g"}},
		} {
			got := e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{c.filter}})
			e.equal(values(got, "k"), c.want, "n "+c.filter.Op.String()+" "+describe(c.filter.Value))
		}
		// Keyset pagination continues after the right one of two values float64 confuses.
		after := e.list(storage.ListOptions{Sort: sorting, Pagination: [][]storage.Filter{
			{f("n", storage.EQ, json.Number("9007199254740993")), f("k", storage.GT, "d")},
			{f("n", storage.GT, json.Number("9007199254740993"))},
		}})
		e.equal(values(after, "k"), []any{"e", "f", "h", "g"}, "the page after d")
	}},
	{"ListAllHandleSortingOnID", func(e *env) {
		for range 3 {
			e.create(`{}`)
		}
		objs := e.list(storage.ListOptions{Sort: []storage.Sort{asc("id")}})
		e.check(objs[0].ID < objs[1].ID && objs[1].ID < objs[2].ID, "ids not ascending: %v", ids(objs))
	}},
	{"ListAllHandleSortingOnSubobject", func(e *env) {
		for _, i := range []int{3, 9, 0, 5} {
			e.create(`{"person": {"age": ` + itoa(i) + `}}`)
		}
		objs := e.list(storage.ListOptions{Sort: []storage.Sort{asc("person.age")}})
		var ages []any
		for _, o := range objs {
			ages = append(ages, decode(o)["person"].(map[string]any)["age"])
		}
		e.equal(ages, []any{0.0, 3.0, 5.0, 9.0}, "ages")
	}},
	{"ListAllSortingIsConsistentWithFiltering", func(e *env) {
		e.createAll(`{"flavor": "strawberry"}`, `{"flavor": "blueberry", "author": null}`,
			`{"flavor": "raspberry", "author": 1}`, `{"flavor": "orange", "author": true}`,
			`{"flavor": "watermelon", "author": "Ethan"}`)
		sorting := []storage.Sort{asc("author")}
		all := e.list(storage.ListOptions{Sort: sorting})
		e.equal(values(all, "flavor"), []any{"blueberry", "watermelon", "raspberry", "orange", "strawberry"}, "sorted flavors")
		for _, v := range []any{"A", "Z", "", 0, 4, storage.Missing} {
			for _, pair := range [][2]storage.Operator{{storage.LT, storage.MIN}, {storage.MAX, storage.GT}} {
				lower := e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("author", pair[0], v)}})
				upper := e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("author", pair[1], v)}})
				e.equal(values(append(lower, upper...), "flavor"), values(all, "flavor"),
					"author "+pair[0].String()+" + "+pair[1].String()+" with value "+describe(v))
			}
		}
	}},
	{"ListAllCanFilterWithListOfValues", func(e *env) {
		e.createAll(`{"code": "a"}`, `{"code": "b"}`, `{"code": "c"}`)
		e.equal(sortedStrings(e.filter(f("code", storage.IN, []any{"a", "b"})), "code"), []string{"a", "b"}, "codes")
	}},
	{"ListAllCanFilterWithExactArrayEquality", func(e *env) {
		e.createAll(`{"colors": ["red", "green", "blue"]}`, `{"colors": ["red", "green"]}`, `{"colors": ["red"]}`)
		got := e.filter(f("colors", storage.EQ, []any{"red", "green"}))
		e.equal(values(got, "colors"), []any{[]any{"red", "green"}}, "matches")
	}},
	{"ListAllCanFilterWithExactObjectEquality", func(e *env) {
		e.createAll(`{"meta": {"a": 1, "b": 2}}`, `{"meta": {"a": 1}}`, `{"meta": {"a": 1, "b": 2, "c": 3}}`)
		got := e.filter(f("meta", storage.EQ, map[string]any{"a": 1, "b": 2}))
		e.equal(values(got, "meta"), []any{map[string]any{"a": 1.0, "b": 2.0}}, "matches")
	}},
	{"ListAllCanFilterOnArrayThatContainsValues", func(e *env) {
		e.createAll(`{"colors": ["red", "green", "blue"]}`, `{"colors": ["gray", "blue"]}`,
			`{"colors": ["red", "gray", "blue"]}`, `{"colors": ["purple", "green", "blue"]}`)
		e.equal(len(e.filter(f("colors", storage.CONTAINS, []any{"red"}))), 2, "containing red")
		e.equal(len(e.filter(f("colors", storage.CONTAINS, []any{"red", "gray"}))), 1, "containing red and gray")
	}},
	{"ListAllCanFilterOnFieldThatDoNotContainsAnArrayWithContainsAny", func(e *env) {
		e.createAll(`{"colors": ["red", "green", "blue"]}`, `{"colors": {"html": "#00FF00"}}`)
		e.equal(len(e.filter(f("colors", storage.CONTAINS_ANY, []any{"red"}))), 1, "containing red")
		e.equal(len(e.filter(f("colors", storage.CONTAINS_ANY, []any{map[string]any{"html": "#00FF00"}}))), 0, "containing the object")
	}},
	{"ListAllCanFilterOnArrayThatContainsAnyValue", func(e *env) {
		e.createAll(`{"colors": ["red", "green", "blue"]}`, `{"colors": ["gray", "blue"]}`,
			`{"colors": ["red", "gray", "blue"]}`, `{"colors": ["purple", "green", "blue"]}`)
		e.equal(len(e.filter(f("colors", storage.CONTAINS_ANY, []any{"red"}))), 2, "containing red")
		e.equal(len(e.filter(f("colors", storage.CONTAINS_ANY, []any{"red", "gray"}))), 3, "containing red or gray")
	}},
	{"ListAllCanFilterOnArrayThatContainsNumericValues", func(e *env) {
		e.createAll(`{"fib": [1, 2, 3]}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`, `{"fib": [5, 8, 13]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{2}))), 2, "containing 2")
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{2, 3}))), 2, "containing 2 and 3")
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{"2"}))), 0, `containing "2"`)
	}},
	{"ListAllCanFilterOnArrayThatContainsAnyNumericValue", func(e *env) {
		e.createAll(`{"fib": [1, 2, 3]}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`, `{"fib": [5, 8, 13]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS_ANY, []any{2}))), 2, "containing 2")
		e.equal(len(e.filter(f("fib", storage.CONTAINS_ANY, []any{2, 3}))), 3, "containing 2 or 3")
	}},
	{"ListAllCanFilterOnArrayWithContainsAndMissingField", func(e *env) {
		e.createAll(`{"code": "black"}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`, `{"fib": [5, 8, 13]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{2}))), 1, "containing 2")
	}},
	{"ListAllCanFilterOnArrayWithContainsAnyAndMissingField", func(e *env) {
		e.createAll(`{"code": "black"}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`, `{"fib": [5, 8, 13]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS_ANY, []any{2}))), 1, "containing 2")
	}},
	{"ListAllCanFilterOnArrayWithContainsAndUnsupportedType", func(e *env) {
		e.createAll(`{"code": "black"}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{map[string]any{"demo": "foobar"}}))), 0, "matches")
	}},
	{"ListAllContainsIgnoresObjectIfFieldIsNotArray", func(e *env) {
		e.createAll(`{"code": "black"}`, `{"fib": ["a", "b", "c"]}`, `{"fib": "abc"}`, `{"fib": {"a": 1}}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS, []any{"a"}))), 1, "matches")
	}},
	{"ListAllCanFilterOnArrayWithContainsAnyAndUnsupportedType", func(e *env) {
		e.createAll(`{"code": "black"}`, `{"fib": [2, 3, 5]}`, `{"fib": [3, 5, 8]}`)
		e.equal(len(e.filter(f("fib", storage.CONTAINS_ANY, []any{map[string]any{"demo": "foobar"}}))), 0, "matches")
	}},
	{"ListAllCanFilterWithNumericValues", func(e *env) {
		e.create(`{"missing": "code"}`)
		for _, c := range []int{1, 10, 6, 46} {
			e.create(`{"code": ` + itoa(c) + `}`)
		}
		sorting := []storage.Sort{asc("code")}
		got := e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("code", storage.MAX, 10)}})
		e.equal(values(got, "code"), []any{1.0, 6.0, 10.0}, "code <= 10")
		got = e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("code", storage.LT, 10)}})
		e.equal(values(got, "code"), []any{1.0, 6.0}, "code < 10")
		got = e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("code", storage.MIN, 10)}})
		e.equal(values(got, "code"), []any{10.0, 46.0, "<absent>"}, "code >= 10 (absent sorts above)")
		got = e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("code", storage.GT, 10)}})
		e.equal(values(got, "code"), []any{46.0, "<absent>"}, "code > 10 (absent sorts above)")
	}},
	{"ListAllAcceptsEveryGoNumericType", func(e *env) {
		e.createAll(`{"n": 1}`, `{"n": 2}`, `{"n": 1.5}`, `{"n": "2"}`)
		for _, v := range []any{int(2), int8(2), int16(2), int32(2), int64(2), uint(2), uint8(2), uint16(2), uint32(2), uint64(2), float32(2), 2.0} {
			e.equal(values(e.filter(f("n", storage.EQ, v)), "n"), []any{2.0}, "n = "+describe(v))
		}
		e.equal(values(e.filter(f("n", storage.EQ, float32(1.5))), "n"), []any{1.5}, "n = float32(1.5)")
		e.equal(len(e.filter(f("n", storage.IN, []any{int64(1), uint8(2)}))), 2, "n in []any{int64(1), uint8(2)}")
	}},
	{"ListAllCanFilterWithNumericID", func(e *env) {
		for _, id := range []string{"0", "42"} {
			e.createIn(scope, storage.Object{ID: id})
		}
		e.equal(ids(e.filter(f("id", storage.EQ, 0))), []string{"0"}, "id = 0")
		e.equal(ids(e.filter(f("id", storage.EQ, 42))), []string{"42"}, "id = 42")
	}},
	{"ListAllCanFilterWithNumericStrings", func(e *env) {
		e.createAll(`{"phone": "0566199093"}`, `{"phone": "0781566199"}`)
		e.equal(len(e.filter(f("phone", storage.EQ, "0566199093"))), 1, "matches")
	}},
	{"ListAllCanFilterWithEmptyNumericStrings", func(e *env) {
		e.createAll(`{"phone": "0566199093"}`, `{"phone": "0781566199"}`)
		e.equal(len(e.filter(f("phone", storage.EQ, ""))), 0, "matches")
	}},
	{"ListAllCanFilterWithFloatValues", func(e *env) {
		e.createAll(`{"note": 10}`, `{"note": 11.5}`, `{"note": 8.5}`, `{"note": 6}`, `{"note": 7.5}`)
		e.equal(len(e.filter(f("note", storage.LT, 9.5))), 3, "note < 9.5")
	}},
	{"ListAllCanFilterWithStrings", func(e *env) {
		e.createAll(`{"name": "Rémy"}`, `{"name": "Alexis"}`, `{"name": "Marie"}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("name")}, Filters: []storage.Filter{f("name", storage.LT, "Mathieu")}})
		e.equal(values(got, "name"), []any{"Alexis", "Marie"}, "names")
	}},
	{"ListAllCanFilterMinimumValueWithStrings", func(e *env) {
		e.createAll(`{"product": {"version": "49.0"}}`, `{"product": {"version": "6.0"}}`, `{"product": {"version": "53.0b4"}}`)
		got := e.list(storage.ListOptions{Sort: []storage.Sort{asc("product.version")}, Filters: []storage.Filter{f("product.version", storage.MIN, "50.0")}})
		var versions []any
		for _, o := range got {
			versions = append(versions, decode(o)["product"].(map[string]any)["version"])
		}
		e.equal(versions, []any{"53.0b4", "6.0"}, "versions")
	}},
	{"ListAllDoesNotImplicitlyCast", func(e *env) {
		e.createAll(`{"product": {"version": "49.0"}}`, `{"product": {"version": "6.0"}}`, `{"product": {"version": "53.0b4"}}`)
		e.equal(len(e.filter(f("product.version", storage.MIN, 50.0))), 0, "strings >= 50 (a number)")
		e.equal(len(e.filter(f("product.version", storage.LT, 50.0))), 3, "strings < 50 (a number)")
		e.equal(len(e.filter(f("product.version", storage.EQ, 6))), 0, "strings = 6")
	}},
	{"ListAllCanDealWithNoneValues", func(e *env) {
		e.createAll(`{"name": "Alexis"}`, `{"title": "haha"}`, `{"name": "Mathieu"}`)
		got := e.filter(f("name", storage.GT, "Fanny"))
		e.equal(sortedStrings(got, "title"), []string{"", "haha"}, "objects above Fanny (absent names included)")
		got = e.filter(f("name", storage.LT, "Fanny"))
		e.equal(values(got, "name"), []any{"Alexis"}, "objects below Fanny")
	}},
	{"ListAllCanFilterWithNoneValues", func(e *env) {
		e.createAll(`{"name": "Alexis", "salary": null}`, `{"name": "Mathieu", "salary": "null"}`,
			`{"name": "Niko", "salary": ""}`, `{"name": "Ethan"}`)
		e.equal(values(e.filter(f("salary", storage.EQ, nil)), "name"), []any{"Alexis"}, "salary = null")
		e.equal(sortedStrings(e.filter(f("salary", storage.NOT, nil)), "name"), []string{"Ethan", "Mathieu", "Niko"}, "salary != null")
		e.equal(values(e.filter(f("salary", storage.LT, "")), "name"), []any{"Alexis"}, "salary < \"\" (null sorts first)")
	}},
	{"FilterNoneValuesCanBeCombined", func(e *env) {
		e.createAll(`{"name": "Alexis", "salary": null}`, `{"name": "Mathieu", "salary": "null"}`,
			`{"name": "Niko", "salary": ""}`, `{"name": "Ethan"}`)
		got := e.filter(f("salary", storage.GT, 0), f("salary", storage.HAS, true))
		for _, o := range got {
			_, ok := field(o, "salary")
			e.check(ok, "object without salary returned: %s", o.Data)
		}
		e.equal(len(got), 0, "salary > 0 and present (strings and null sort below numbers)")
	}},
	{"ListAllCanFilterWithListOfValuesOnID", func(e *env) {
		a, b := e.create(`{"code": "a"}`), e.create(`{"code": "b"}`)
		e.create(`{"code": "c"}`)
		e.equal(sortedStrings(e.filter(f("id", storage.IN, []any{a.ID, b.ID})), "code"), []string{"a", "b"}, "codes")
	}},
	{"ListAllCanFilterWithListOfValuesOnLastModified", func(e *env) {
		a, b := e.create(`{"code": "a"}`), e.create(`{"code": "b"}`)
		e.create(`{"code": "c"}`)
		got := e.filter(f("last_modified", storage.IN, []any{a.LastModified, b.LastModified}))
		e.equal(sortedStrings(got, "code"), []string{"a", "b"}, "codes")
	}},
	{"ListAllReturnsEmptyWhenIncludingListOfEmptyValues", func(e *env) {
		e.createAll(`{"code": "a"}`, `{"code": "b"}`)
		e.equal(len(e.filter(f("id", storage.IN, []any{}))), 0, "id in ()")
		e.equal(len(e.filter(f("code", storage.IN, []any{}))), 0, "code in ()")
		e.equal(len(e.filter(f("code", storage.EXCLUDE, []any{}))), 2, "code not in ()")
	}},
	{"ListAllCanFilterWithListOfExcludedValues", func(e *env) {
		e.createAll(`{"code": "a"}`, `{"code": "b"}`, `{"code": "c"}`, `{}`)
		e.equal(sortedStrings(e.filter(f("code", storage.EXCLUDE, []any{"a", "b"})), "code"), []string{"", "c"}, "codes (absent included)")
	}},
	{"ListAllCanFilterWithExcludedLastModifiedValues", func(e *env) {
		a, b, c := e.create(`{"code": "a"}`), e.create(`{"code": "b"}`), e.create(`{"code": "c"}`)
		got := e.filter(f("last_modified", storage.EXCLUDE, []any{a.LastModified, b.LastModified}))
		e.equal(ids(got), []string{c.ID}, "ids")
	}},
	{"ListAllCanFilterAListOfIntegerValues", func(e *env) {
		e.createAll(`{"code": 1}`, `{"code": 2}`, `{"code": 3}`)
		e.equal(values(e.filter(f("code", storage.EXCLUDE, []any{1, 2})), "code"), []any{3.0}, "codes")
	}},
	{"ListAllCanFilterAListOfMixedTypedValues", func(e *env) {
		e.createAll(`{"code": 1}`, `{"code": 2}`, `{"code": 3}`, `{"code": "1"}`)
		e.equal(len(e.filter(f("code", storage.EXCLUDE, []any{1, "b"}))), 3, "code not in (1, b)")
		e.equal(len(e.filter(f("code", storage.IN, []any{1, "1"}))), 2, "code in (1, \"1\")")
	}},
	{"ListAllCanFilterAListOfIntegerValuesOnSubobjects", func(e *env) {
		e.createAll(`{"code": {"city": 1}}`, `{"code": {"city": 2}}`, `{"code": {"city": 3}}`)
		e.equal(len(e.filter(f("code.city", storage.EXCLUDE, []any{1, 2}))), 1, "matches")
		e.equal(len(e.filter(f("code.city", storage.IN, []any{1, 2}))), 2, "matches")
	}},
	{"ListAllCanFilterMatchingAList", func(e *env) {
		e.createAll(`{"flavor": "strawberry", "orders": []}`, `{"flavor": "blueberry", "orders": [1]}`,
			`{"flavor": "watermelon", "orders": [1, 2]}`, `{"flavor": "raspberry", "orders": {}}`)
		e.equal(values(e.filter(f("orders", storage.EQ, []any{})), "flavor"), []any{"strawberry"}, "orders = []")
		e.equal(values(e.filter(f("orders", storage.EQ, []any{1})), "flavor"), []any{"blueberry"}, "orders = [1]")
	}},
	{"ListAllCanFilterMatchingAnObject", func(e *env) {
		e.createAll(`{"flavor": "strawberry", "attributes": {}}`,
			`{"flavor": "blueberry", "attributes": {"ibu": 25, "seen_on": "2017-06-01"}}`,
			`{"flavor": "watermelon", "attributes": {"ibu": 25, "seen_on": "2017-06-01", "price": 9.99}}`,
			`{"flavor": "raspberry", "attributes": []}`)
		e.equal(values(e.filter(f("attributes", storage.EQ, map[string]any{})), "flavor"), []any{"strawberry"}, "attributes = {}")
		got := e.filter(f("attributes", storage.EQ, map[string]any{"ibu": 25, "seen_on": "2017-06-01"}))
		e.equal(values(got, "flavor"), []any{"blueberry"}, "attributes = {ibu, seen_on}")
	}},
	{"ListAllSupportsHas", func(e *env) {
		e.createAll(`{"flavor": "strawberry"}`, `{"flavor": "blueberry", "author": null}`,
			`{"flavor": "raspberry", "author": ""}`, `{"flavor": "watermelon", "author": "hello"}`,
			`{"flavor": "pineapple", "author": "null"}`)
		e.equal(sortedStrings(e.filter(f("author", storage.HAS, true)), "flavor"),
			[]string{"blueberry", "pineapple", "raspberry", "watermelon"}, "has author")
		e.equal(values(e.filter(f("author", storage.HAS, false)), "flavor"), []any{"strawberry"}, "has no author")
	}},
	{"ListAllSupportsHasOnNestedFields", func(e *env) {
		e.createAll(`{"n": "a", "p": {"q": null}}`, `{"n": "b", "p": {}}`, `{"n": "c", "p": 3}`, `{"n": "d"}`)
		e.equal(values(e.filter(f("p.q", storage.HAS, true)), "n"), []any{"a"}, "has p.q")
		e.equal(sortedStrings(e.filter(f("p.q", storage.HAS, false)), "n"), []string{"b", "c", "d"}, "has no p.q")
	}},
	{"ListAllCanFilterBySubobjectsValues", func(e *env) {
		e.createAll(`{"code": {"sub": "a"}}`, `{"code": {"sub": "b"}}`, `{"code": {"sub": "c"}}`, `{"code": "a"}`)
		e.equal(len(e.filter(f("code.sub", storage.EQ, "a"))), 1, "code.sub = a")
		e.equal(len(e.filter(f("code.sub", storage.NOT, "a"))), 3, "code.sub != a (absent included)")
	}},
	{"ListAllCanFilterWithLikeAndImplicitWildchars", func(e *env) {
		// The resource layer turns ?like_name=FoO into *FoO*; the backend receives the stars.
		e.createAll(`{"name": "foo"}`, `{"name": "aafooll"}`, `{"name": "bar"}`, `{"name": "FOOBAR"}`)
		e.equal(len(e.filter(f("name", storage.LIKE, "*FoO*"))), 3, "matches")
	}},
	{"ListAllCanFilterWithWildchars", func(e *env) {
		e.createAll(`{"name": "eabcg"}`, `{"name": "aabcc"}`, `{"name": "abc"}`, `{"name": "aec"}`, `{"name": "efg"}`)
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "a*b*c")), "name"), []string{"aabcc", "abc"}, "matches")
	}},
	{"ObjectsFilteredWhenSearchedByStringField", func(e *env) {
		e.createAll(`{"name": "foo"}`, `{"name": "bar"}`, `{"name": "FOOBAR"}`, `{"name": 12}`, `{"name": ["foo"]}`, `{}`)
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "*FoO*")), "name"), []string{"FOOBAR", "foo"}, "matches")
		e.equal(len(e.filter(f("name", storage.LIKE, "*"))), 3, "strings matching *")
	}},
	{"LikeWithoutStarIsAnExactCaseInsensitiveMatch", func(e *env) {
		e.createAll(`{"name": "foo"}`, `{"name": "FOO"}`, `{"name": "foobar"}`)
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "Foo")), "name"), []string{"FOO", "foo"}, "matches")
	}},
	{"LikeTreatsOtherCharactersLiterally", func(e *env) {
		e.createAll(`{"name": "a_c"}`, `{"name": "abc"}`, `{"name": "a%c"}`, `{"name": "a.c"}`, `{"name": "a\\c"}`)
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "a_c")), "name"), []string{"a_c"}, "a_c")
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "a%c")), "name"), []string{"a%c"}, "a%c")
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, "a.c")), "name"), []string{"a.c"}, "a.c")
		e.equal(sortedStrings(e.filter(f("name", storage.LIKE, `a\c`)), "name"), []string{`a\c`}, `a\c`)
	}},
	{"LikeOnNestedFieldsAndID", func(e *env) {
		e.createIn(scope, storage.Object{ID: "Alpha-1", Data: raw(`{"a": {"b": "Hello World"}}`)})
		e.createIn(scope, storage.Object{ID: "beta-2", Data: raw(`{"a": {"b": "bye"}}`)})
		e.createIn(scope, storage.Object{ID: "gamma-3", Data: raw(`{"a": {"b": "World Cup"}}`)})
		e.equal(ids(e.filter(f("a.b", storage.LIKE, "*world"))), []string{"Alpha-1"}, "a.b like *world")
		e.equal(ids(e.filter(f("id", storage.LIKE, "ALPHA*"))), []string{"Alpha-1"}, "id like ALPHA*")
	}},
	{"ComparisonOperatorsHaveTheirBounds", func(e *env) {
		for i := 1; i <= 5; i++ {
			e.create(`{"n": ` + itoa(i) + `}`)
		}
		sorting := []storage.Sort{asc("n")}
		for _, tt := range []struct {
			op   storage.Operator
			want []any
		}{
			{storage.EQ, []any{3.0}},
			{storage.NOT, []any{1.0, 2.0, 4.0, 5.0}},
			{storage.LT, []any{1.0, 2.0}},
			{storage.MAX, []any{1.0, 2.0, 3.0}},
			{storage.GT, []any{4.0, 5.0}},
			{storage.MIN, []any{3.0, 4.0, 5.0}},
		} {
			got := e.list(storage.ListOptions{Sort: sorting, Filters: []storage.Filter{f("n", tt.op, 3)}})
			e.equal(values(got, "n"), tt.want, "n "+tt.op.String()+" 3")
		}
	}},
	{"FiltersAreAndedTogether", func(e *env) {
		e.createAll(`{"a": 1, "b": "x"}`, `{"a": 1, "b": "y"}`, `{"a": 2, "b": "x"}`)
		e.equal(len(e.filter(f("a", storage.EQ, 1), f("b", storage.EQ, "x"))), 1, "a = 1 and b = x")
		e.equal(e.count(f("a", storage.EQ, 1), f("b", storage.NOT, "x")), 1, "count a = 1 and b != x")
	}},
	{"FiltersOnLastModifiedAcceptIntegers", func(e *env) {
		objs := e.createAll(`{"i": 0}`, `{"i": 1}`, `{"i": 2}`)
		mid := objs[1].LastModified
		e.equal(ids(e.filter(f("last_modified", storage.GT, mid))), []string{objs[2].ID}, "_since")
		e.equal(ids(e.filter(f("last_modified", storage.LT, mid))), []string{objs[0].ID}, "_before")
		e.equal(ids(e.filter(f("last_modified", storage.EQ, int(mid)))), []string{objs[1].ID}, "last_modified = (int)")
		e.equal(e.count(f("last_modified", storage.MIN, mid)), 2, "count last_modified >= mid")
	}},
	{"NestedFieldsThroughNonObjectsAreAbsent", func(e *env) {
		e.createAll(`{"a": "text"}`, `{"a": [1]}`, `{"a": {"b": 1}}`, `{"a": null}`)
		e.equal(len(e.filter(f("a.b", storage.EQ, 1))), 1, "a.b = 1")
		e.equal(len(e.filter(f("a.b", storage.HAS, false))), 3, "objects without a.b")
	}},
	{"CountAppliesFilters", func(e *env) {
		e.createAll(`{"code": 1}`, `{"code": 2}`, `{"code": 3}`, `{}`)
		e.equal(e.count(), 4, "count")
		e.equal(e.count(f("code", storage.MIN, 2)), 3, "count code >= 2 (absent included)")
		e.equal(e.count(f("code", storage.IN, []any{1, 3})), 2, "count code in (1, 3)")
	}},
}

func describe(v any) string {
	switch x := v.(type) {
	case storage.MissingValue:
		return "storage.Missing"
	case string:
		return `"` + x + `"`
	}
	b, _ := json.Marshal(v)
	return string(b)
}
