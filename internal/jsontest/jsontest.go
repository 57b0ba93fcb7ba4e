// Package jsontest holds what the module's tests that compare JSON texts share.
package jsontest

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Decode decodes the JSON text b with encoding/json, numbers as json.Number (so that two
// texts compare equal only when they write the same numbers), and fails t on an error.
func Decode(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}
