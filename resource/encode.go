package resource

import (
	"encoding/json"
	"slices"
	"strconv"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
)

// marshalData encodes the object data m without its meta fields (id, last_modified and
// deleted), byte for byte as json.Marshal(stripMeta(m)) does: keys sorted, HTML characters
// escaped. It handles the values a JSON decode with UseNumber produces (maps, slices,
// strings, json.Number, booleans and nil) without reflection, and falls back to
// json.Marshal for data holding any other type.
func marshalData(m map[string]any) ([]byte, error) {
	if buf, ok := appendMap(make([]byte, 0, 64*len(m)+2), m, true); ok {
		return buf, nil
	}
	return json.Marshal(stripMeta(m))
}

// appendMap appends m as a JSON object, leaving out the meta fields when skipMeta; ok is
// false when a value has a type appendValue does not handle.
func appendMap(buf []byte, m map[string]any, skipMeta bool) (_ []byte, ok bool) {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		if skipMeta && (k == "id" || k == "last_modified" || k == "deleted") {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(jsonenc.AppendStringHTML(buf, k), ':')
		if buf, ok = appendValue(buf, m[k]); !ok {
			return buf, false
		}
	}
	return append(buf, '}'), true
}

// appendValue appends v as json.Marshal encodes it, for the types a decode with UseNumber
// produces; ok is false for any other type (and for a json.Number json.Marshal rejects).
func appendValue(buf []byte, v any) (_ []byte, ok bool) {
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
		if !validNumber(string(x)) {
			return buf, false
		}
		return append(buf, x...), true
	case map[string]any:
		if x == nil {
			return append(buf, "null"...), true
		}
		return appendMap(buf, x, false)
	case []any:
		if x == nil {
			return append(buf, "null"...), true
		}
		buf = append(buf, '[')
		for i, e := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, ok = appendValue(buf, e); !ok {
				return buf, false
			}
		}
		return append(buf, ']'), true
	}
	return buf, false
}

// validNumber reports whether s is a JSON number (RFC 8259 section 6), as json.Marshal
// requires of a json.Number.
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i == len(s) || s[i] < '0' || s[i] > '9' {
			return false
		}
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	}
	return i == len(s)
}
