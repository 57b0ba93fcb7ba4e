// Package glob matches strings against patterns in which '*' stands for any run of
// characters: the object ids of permission bindings ("/articles/*"), and the like_ filters
// of examples/kinto's permissions endpoint.
package glob

import "strings"

// Match reports whether s matches pattern, in which each '*' stands for any run of
// characters (possibly empty) and every other character stands for itself.
func Match(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, part := range parts[1 : len(parts)-1] {
		i := strings.Index(s, part)
		if i < 0 {
			return false
		}
		s = s[i+len(part):]
	}
	return len(s) >= len(last) && strings.HasSuffix(s, last)
}
