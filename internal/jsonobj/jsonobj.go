// Package jsonobj edits the top level of JSON object texts without reordering them: a
// client's key order survives the removal of the protocol fields that storage drops.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cliquet-go/cliquet/internal/jsonenc"
)

// Without returns the JSON object text raw, compacted, without its top-level members named
// in names (all of them when a name is repeated), the other members in their order. It
// fails when raw is not a JSON object.
func Without(raw []byte, names ...string) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, err
	}
	if tok != json.Delim('{') {
		return nil, errors.New("jsonobj: not a JSON object")
	}
	out := make([]byte, 0, len(raw))
	out = append(out, '{')
	first := true
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		key, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("jsonobj: key of type %T", tok)
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		if contains(names, key) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		out = append(jsonenc.AppendString(out, key), ':')
		var buf bytes.Buffer
		if err := json.Compact(&buf, v); err != nil {
			return nil, err
		}
		out = append(out, buf.Bytes()...)
	}
	if _, err := d.Token(); err != nil { // the closing brace
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("jsonobj: data after the JSON object")
	}
	return append(out, '}'), nil
}

func contains(names []string, key string) bool {
	for _, n := range names {
		if n == key {
			return true
		}
	}
	return false
}

// Clone copies a decoded JSON value: its maps (map[string]any) and slices ([]any), at every
// depth; other values are shared (they are immutable once decoded).
func Clone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = Clone(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = Clone(e)
		}
		return out
	}
	return v
}
