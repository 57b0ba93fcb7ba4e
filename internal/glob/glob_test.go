package glob

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		name, pattern, s string
		want             bool
	}{
		{"a pattern without star matches only itself", "/a/b", "/a/b", true},
		{"a pattern without star does not match a longer id", "/a/b", "/a/bc", false},
		{"a lone star matches anything", "*", "/anything/at/all", true},
		{"a lone star matches the empty string", "*", "", true},
		{"a trailing star matches children", "/a/*", "/a/b/c", true},
		{"a trailing star needs the prefix", "/a/*", "/b/a/c", false},
		{"a leading star needs the suffix", "*/records", "/c/records", true},
		{"middle stars match in order", "/b/*/c/*/r/*", "/b/1/c/2/r/3", true},
		{"middle stars fail when a part is missing", "/b/*/c/*/r/*", "/b/1/x/2/r/3", false},
		{"prefix and suffix cannot overlap", "ab*ba", "aba", false},
		{"stars around a part", "*url1*", "/url1/id", true},
		{"other characters are literal", "/a_c/.*", "/abc/x", false},
		{"an empty pattern matches only the empty string", "", "", true},
		{"a star may match nothing", "a*c", "ac", true},
		{"the suffix must end the string", "a*c", "acb", false},
		{"a suffix may follow a match of itself", "*x", "xx", true},
		{"a prefix and a suffix need their own characters", "a*a", "a", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Match(tt.pattern, tt.s); got != tt.want {
				t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
			}
		})
	}
}
