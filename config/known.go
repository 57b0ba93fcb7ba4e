package config

import (
	"path"
	"regexp"
	"sort"
	"strings"
)

// knownPatterns match the settings read per resource or per listener, whose names are only
// known once resources and listeners are registered (after cliquet.Initialize):
// <name>_cache_expires_seconds, <name>_<perm>_principals,
// {plural,object,collection,record}_<name>_<method>_enabled and event_listeners.<name>.<opt>.
var knownPatterns = []*regexp.Regexp{
	regexp.MustCompile(`^[a-z0-9_-]+_cache_expires_seconds$`),
	regexp.MustCompile(`^[a-z0-9_-]+_[a-z0-9_-]+_principals$`),
	regexp.MustCompile(`^(plural|object|collection|record)_[a-z0-9_-]+_(get|head|post|put|patch|delete)_enabled$`),
	regexp.MustCompile(`^event_listeners\.[^.]+\.[a-z0-9_.]+$`),
}

// frameworkKeys are the keys of Pyramid and PasteDeploy found in [app:main] of Cliquet and
// Kinto files; they mean nothing here and are ignored quietly.
var frameworkKeys = []string{"use", "includes", "filter-with", "pyramid.*"}

// UnknownSetting is a setting that is set but that neither the toolkit nor the embedder
// declared: probably a typo.
type UnknownSetting struct {
	Key    string // the unprefixed key
	Origin string // where its value came from ("file (kinto.paginate_byy)", "environment (…)")
	Hint   string // the closest known key, or "" when none is near
}

// Unknown lists, sorted by key, the settings that are set but unknown: not in the toolkit's
// defaults table, not matching a per-resource or per-listener pattern, not among the
// embedder's [Options.Defaults], [Options.Kinds] or [Options.Known], nor matching one of
// extra (keys or path.Match patterns).
func (s *Settings) Unknown(extra ...string) []UnknownSetting {
	declared := append(append(append([]string{}, s.known...), extra...), frameworkKeys...)
	isKnown := func(k string) bool {
		if _, ok := table[k]; ok {
			return true
		}
		if _, ok := s.kinds[k]; ok {
			return true
		}
		for _, p := range knownPatterns {
			if p.MatchString(k) {
				return true
			}
		}
		for _, d := range declared {
			if d == k {
				return true
			}
			if ok, _ := path.Match(d, k); ok {
				return true
			}
		}
		return false
	}
	var out []UnknownSetting
	for _, k := range s.Keys() {
		if k == "project_name" || s.origin[k] == "default" || isKnown(k) {
			continue
		}
		u := UnknownSetting{Key: k, Origin: s.origin[k]}
		best := -1
		candidates := make([]string, 0, len(table)+len(s.kinds)+len(declared))
		for c := range table {
			candidates = append(candidates, c)
		}
		for c := range s.kinds {
			candidates = append(candidates, c)
		}
		for _, c := range declared {
			if !strings.ContainsAny(c, "*?[") {
				candidates = append(candidates, c)
			}
		}
		sort.Strings(candidates)
		for _, c := range candidates {
			d := editDistance(k, c)
			if d <= max(2, len(k)/5) && (best < 0 || d < best) {
				best, u.Hint = d, c
			}
		}
		out = append(out, u)
	}
	return out
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
