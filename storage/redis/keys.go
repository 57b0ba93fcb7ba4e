package redis

import (
	"strings"

	"github.com/cliquet-go/cliquet/storage"
)

// collectionKeys are the Redis keys of one collection (see the package documentation).
type collectionKeys struct {
	clock string // string: the collection timestamp
	obj   string // hash: id → "<last_modified>:<data JSON>"
	del   string // hash: id → tombstone timestamp
	hz    string // string: the horizon, the newest timestamp of a purged tombstone
}

// keys returns the keys of scope s under the backend's prefix.
func (b *Backend) keys(s storage.Scope) collectionKeys {
	base := b.prefix + "{" + escapeComponent(s.Resource) + ":" + escapeComponent(s.Parent) + "}:"
	return keysOf(base)
}

// keysOf returns the keys of the collection whose keys start with base ("<prefix>{...}:").
func keysOf(base string) collectionKeys {
	return collectionKeys{clock: base + "ts", obj: base + "obj", del: base + "del", hz: base + "hz"}
}

// slice returns the keys in the order the Lua scripts expect them (KEYS[1..3]).
func (k collectionKeys) slice() []string { return []string{k.clock, k.obj, k.del} }

// purgeKeys returns the keys scriptPurge takes (KEYS[1..2]).
func (k collectionKeys) purgeKeys() []string { return []string{k.del, k.hz} }

// escapeComponent percent-encodes the bytes that would make a key ambiguous or break the
// cluster hash tag ('%', ':', '{', '}'), plus control bytes and spaces so keys stay printable
// in redis-cli. Other bytes, UTF-8 included, are kept as they are.
func escapeComponent(s string) string {
	const hex = "0123456789ABCDEF"
	if !needsEscape(s) {
		return s
	}
	var sb strings.Builder
	sb.Grow(len(s) + 8)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escapedByte(c) {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&15])
			continue
		}
		sb.WriteByte(c)
	}
	return sb.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if escapedByte(s[i]) {
			return true
		}
	}
	return false
}

func escapedByte(c byte) bool {
	return c <= ' ' || c == 0x7f || c == '%' || c == ':' || c == '{' || c == '}'
}

// globEscape escapes the glob metacharacters of SCAN MATCH patterns in s.
func globEscape(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[', ']', '\\':
			sb.WriteByte('\\')
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}
