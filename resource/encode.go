package resource

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
	"github.com/cliquet-go/cliquet/internal/jsonnum"
)

// marshalData encodes the object data m without its meta fields (id, last_modified and
// deleted), byte for byte as json.Marshal(stripMeta(m)) does (HTML characters escaped),
// except for the order of the keys: those of ord come first, in ord's order, at every
// depth, then the others sorted (all of them sorted for a nil ord, as json.Marshal). It
// handles the values a JSON decode with UseNumber produces (maps, slices, strings,
// json.Number, booleans and nil) without reflection, and falls back to json.Marshal (keys
// sorted) for data holding any other type.
func marshalData(m map[string]any, ord *keyOrder) ([]byte, error) {
	if buf, ok := appendMap(make([]byte, 0, 64*len(m)+2), m, true, ord); ok {
		return buf, nil
	}
	return json.Marshal(stripMeta(m))
}

// appendMap appends m as a JSON object, keys in ord's order then sorted, leaving out the
// meta fields when skipMeta; ok is false when a value has a type appendValue does not
// handle.
func appendMap(buf []byte, m map[string]any, skipMeta bool, ord *keyOrder) (_ []byte, ok bool) {
	meta := func(k string) bool { return skipMeta && (k == "id" || k == "last_modified" || k == "deleted") }
	var stack [16]string
	keys := stack[:0]
	if ord != nil {
		for _, k := range ord.keys {
			if _, present := m[k]; present && !meta(k) {
				keys = append(keys, k)
			}
		}
	}
	ordered := len(keys)
	if ordered < len(m) { // keys ord does not know: sorted, after the others
		var known map[string]bool
		if ordered > 0 {
			known = make(map[string]bool, ordered)
			for _, k := range keys {
				known[k] = true
			}
		}
		for k := range m {
			if !known[k] && !meta(k) {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys[ordered:])
	}
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(jsonenc.AppendStringHTML(buf, k), ':')
		if buf, ok = appendValue(buf, m[k], ord.child(k)); !ok {
			return buf, false
		}
	}
	return append(buf, '}'), true
}

// appendValue appends v as json.Marshal encodes it (object keys ordered by ord, see
// marshalData), for the types a decode with UseNumber
// produces; ok is false for any other type (and for a json.Number json.Marshal rejects).
func appendValue(buf []byte, v any, ord *keyOrder) (_ []byte, ok bool) {
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), true
	case bool:
		return strconv.AppendBool(buf, x), true
	case string:
		return jsonenc.AppendStringHTML(buf, x), true
	case json.Number:
		if x == "" {
			return append(buf, '0'), true
		}
		if !jsonnum.Valid(string(x)) {
			return buf, false
		}
		return append(buf, x...), true
	case map[string]any:
		if x == nil {
			return append(buf, "null"...), true
		}
		return appendMap(buf, x, false, ord)
	case []any:
		if x == nil {
			return append(buf, "null"...), true
		}
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			var elem *keyOrder
			if ord != nil && ord.sub != nil {
				elem = ord.sub[strconv.Itoa(i)]
			}
			if buf, ok = appendValue(buf, e, elem); !ok {
				return buf, false
			}
		}
		return append(buf, ']'), true
	}
	return buf, false
}
