package resource

import (
	"strings"
	"testing"
)

func TestGeneratorsValidAcceptExactlyWhatTheirPatternsMatch(t *testing.T) {
	const uuid = "0123abcd-4567-89ef-a0b1-c2d3e4f56789"
	cases := []struct {
		name string
		id   string
	}{
		{"a lowercase hyphenated UUID", uuid},
		{"a generated UUID", UUIDGenerator{}.New()},
		{"a generated name", NameGenerator{}.New()},
		{"an uppercase UUID", strings.ToUpper(uuid)},
		{"a UUID with one uppercase hex digit", "0123abcD-4567-89ef-a0b1-c2d3e4f56789"},
		{"a UUID without hyphens", strings.ReplaceAll(uuid, "-", "")},
		{"a UUID with a hyphen moved", "0123abc-d4567-89ef-a0b1-c2d3e4f56789"},
		{"a UUID with a trailing new line", uuid + "\n"},
		{"a UUID with a leading space", " " + uuid},
		{"a UUID one character short", uuid[:35]},
		{"a UUID with a non-hex letter", "0123abcg-4567-89ef-a0b1-c2d3e4f56789"},
		{"a UUID in braces", "{" + uuid + "}"},
		{"a UUID with a multi-byte rune", "0123abcé-4567-89ef-a0b1-c2d3e4f5678"},
		{"a UUID with an underscore for a hyphen", "0123abcd_4567-89ef-a0b1-c2d3e4f56789"},
		{"the empty string", ""},
		{"a simple name", "bucket"},
		{"a name with digits, underscores and hyphens", "my_bucket-2"},
		{"a single letter", "a"},
		{"a single digit", "7"},
		{"a name starting with an underscore", "_bucket"},
		{"a name starting with a hyphen", "-bucket"},
		{"a name with a dot", "my.bucket"},
		{"a name with a slash", "a/b"},
		{"a name with a space", "a b"},
		{"a name with a trailing new line", "abc\n"},
		{"a name with a non-ASCII letter", "café"},
		{"a name with a NUL byte", "ab\x00"},
		{"a name with invalid UTF-8", "ab\xff"},
		{"a name with every allowed kind of character", "Zz09_-aZ"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got, want := (UUIDGenerator{}).Valid(c.id), uuidPattern.MatchString(c.id); got != want {
				t.Errorf("UUIDGenerator.Valid(%q) = %v, the pattern says %v", c.id, got, want)
			}
			if got, want := (NameGenerator{}).Valid(c.id), namePattern.MatchString(c.id); got != want {
				t.Errorf("NameGenerator.Valid(%q) = %v, the pattern says %v", c.id, got, want)
			}
		})
	}
}

func TestGeneratorsValidAgreeWithTheirPatternsOnEveryShortString(t *testing.T) {
	// Every string of up to 3 bytes over an alphabet with each class of character, and
	// every single-byte substitution of a UUID.
	alphabet := []byte{'0', '9', 'a', 'f', 'g', 'z', 'A', 'F', 'Z', '-', '_', '.', ' ', '\n', 0, 0x80, 0xff}
	var check func(s string, depth int)
	check = func(s string, depth int) {
		if (NameGenerator{}).Valid(s) != namePattern.MatchString(s) {
			t.Errorf("NameGenerator.Valid(%q) disagrees with the pattern", s)
		}
		if depth == 3 {
			return
		}
		for _, c := range alphabet {
			check(s+string(c), depth+1)
		}
	}
	check("", 0)
	const uuid = "0123abcd-4567-89ef-a0b1-c2d3e4f56789"
	for i := range len(uuid) {
		for b := range 256 {
			s := uuid[:i] + string([]byte{byte(b)}) + uuid[i+1:]
			if (UUIDGenerator{}).Valid(s) != uuidPattern.MatchString(s) {
				t.Errorf("UUIDGenerator.Valid(%q) disagrees with the pattern", s)
			}
		}
	}
}
