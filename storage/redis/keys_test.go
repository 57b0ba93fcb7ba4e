package redis

import (
	"testing"

	"github.com/cliquet-go/cliquet/storage"
)

func TestKeysEscapeTheSeparators(t *testing.T) {
	b := &Backend{prefix: "p:"}
	tests := []struct {
		name  string
		scope storage.Scope
		want  string
	}{
		{"plain names are kept", storage.Scope{Resource: "bookmark", Parent: "alice"}, "p:{bookmark:alice}:obj"},
		{"colons in the parent are encoded", storage.Scope{Resource: "bookmark", Parent: "basicauth:alice"}, "p:{bookmark:basicauth%3Aalice}:obj"},
		{"braces and percent signs are encoded", storage.Scope{Resource: "a{b}", Parent: "100%"}, "p:{a%7Bb%7D:100%25}:obj"},
		{"spaces and control bytes are encoded", storage.Scope{Resource: "a b", Parent: "\x00\x7f"}, "p:{a%20b:%00%7F}:obj"},
		{"unicode is kept", storage.Scope{Resource: "ünï", Parent: "✓"}, "p:{ünï:✓}:obj"},
		{"empty names stay distinct", storage.Scope{}, "p:{:}:obj"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := b.keys(tt.scope).obj; got != tt.want {
				t.Errorf("obj key = %q, want %q", got, tt.want)
			}
		})
	}
	a := b.keys(storage.Scope{Resource: "a:b", Parent: "c"})
	c := b.keys(storage.Scope{Resource: "a", Parent: "b:c"})
	if a.obj == c.obj {
		t.Errorf("scopes a:b/c and a/b:c share key %q", a.obj)
	}
}

func TestGlobEscapeQuotesMetacharacters(t *testing.T) {
	if got, want := globEscape(`a*b?[c]\`), `a\*b\?\[c\]\\`; got != want {
		t.Errorf("globEscape = %q, want %q", got, want)
	}
}

func TestDecodeStoredRejectsMalformedValues(t *testing.T) {
	tests := []struct {
		name, value string
		ok          bool
	}{
		{"a timestamp and data", `12:{"a":1}`, true},
		{"no timestamp", `:{}`, false},
		{"no separator", `12`, false},
		{"a non-digit prefix", `x1:{}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := decodeStored("id", tt.value)
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (o.LastModified != 12 || string(o.Data) != `{"a":1}`) {
				t.Errorf("decoded %+v", o)
			}
		})
	}
}
