// Package config loads cliquet settings from a Pyramid-style .ini file and the environment.
//
// # Sources and precedence
//
// Settings are read from the [app:main] section of an .ini file (the files written for Cliquet
// and Kinto load as they are), then overridden by environment variables. Lowest to highest:
//
//  1. the toolkit defaults ([Defaults]) and the embedder's own defaults ([Options.Defaults]);
//  2. the .ini file, where a key may be written unprefixed (paginate_by), prefixed with
//     "cliquet." or prefixed with "<project_name>." (kinto.paginate_by); all are stored
//     unprefixed, and two spellings of one key with different values are an error. The
//     project name comes from project_name, cliquet.project_name, [Options.ProjectName],
//     or a self-naming key such as "kinto.project_name = kinto";
//  3. environment variables <PROJECT>_<KEY>, then CLIQUET_<KEY>: the key upper-cased, with dots
//     and dashes turned into underscores (CLIQUET_STORAGE_BACKEND, KINTO_PAGINATE_BY).
//
// Values are kept as strings. Typed accessors ([Settings.Bool], [Settings.Int], ...) parse them
// and report the key in their errors; [Settings.Check] parses every known setting once, so a
// bad value fails at startup rather than at request time.
package config

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/ini.v1"
)

// Kind is the type of a known setting, used by [Settings.Check].
type Kind int

// Setting kinds.
const (
	KindString    Kind = iota
	KindBool           // true/false, yes/no, on/off, 1/0 (case-insensitive)
	KindInt            // a base-10 integer
	KindOptInt         // an integer, or empty / "None" for "not set"
	KindSeconds        // a number of seconds (integer or decimal), empty for "not set"
	KindList           // items separated by spaces, commas or new lines
	KindTimestamp      // a date (2006-01-02) or an RFC 3339 time, empty for "not set"
)

// Options tunes [Load] and [FromMap]. The zero value reads the process environment and uses
// no project name.
type Options struct {
	// ProjectName is the default project name (overridden by a project_name setting). It
	// enables the "<project_name>." key prefix and the <PROJECT>_ environment prefix.
	ProjectName string
	// Env lists environment entries as "KEY=value". Nil means os.Environ(); use an empty,
	// non-nil slice to ignore the environment (tests).
	Env []string
	// Defaults are the embedder's defaults; they override [Defaults] and are overridden by the
	// file and the environment.
	Defaults map[string]string
	// Kinds declares the types of the embedder's own settings for [Settings.Check].
	Kinds map[string]Kind
	// Known declares the embedder's own setting keys (exact keys or path.Match patterns
	// such as "myplugin.*"), so that [Settings.Unknown] does not report them. The keys of
	// Defaults and Kinds are known too.
	Known []string
}

// Settings is a resolved, immutable set of settings. It is safe for concurrent use.
type Settings struct {
	values map[string]string
	origin map[string]string // key → where its value came from, for error messages
	kinds  map[string]Kind
	known  []string // the embedder's declared keys and patterns (Options.Known, Defaults)
}

// Load reads the [app:main] section of the .ini file at path (no file when path is "") and
// resolves it as described in the package documentation.
func Load(path string, opts Options) (*Settings, error) {
	raw := map[string]string{}
	if path != "" {
		f, err := ini.LoadSources(ini.LoadOptions{
			AllowPythonMultilineValues: true,
			SpaceBeforeInlineComment:   true,
			Insensitive:                false,
		}, path)
		if err != nil {
			return nil, fmt.Errorf("config: read %s: %w", path, err)
		}
		sec, err := f.GetSection("app:main")
		if err != nil {
			return nil, fmt.Errorf("config: %s has no [app:main] section", path)
		}
		for _, k := range sec.Keys() {
			raw[k.Name()] = strings.TrimSpace(k.Value())
		}
	}
	return resolve(raw, path, opts)
}

// FromMap resolves settings given as a map, with the same prefix, default and environment
// rules as [Load]. It is handy for tests and for embedders that keep settings elsewhere.
func FromMap(values map[string]string, opts Options) (*Settings, error) {
	return resolve(values, "settings", opts)
}

// MustFromMap is like [FromMap] but panics on error; for tests and examples.
func MustFromMap(values map[string]string, opts Options) *Settings {
	s, err := FromMap(values, opts)
	if err != nil {
		panic(err)
	}
	return s
}

func resolve(raw map[string]string, source string, opts Options) (*Settings, error) {
	s := &Settings{values: map[string]string{}, origin: map[string]string{}, kinds: map[string]Kind{}}
	for k, v := range Defaults() {
		s.values[k], s.origin[k] = v, "default"
	}
	for k, kind := range knownKinds {
		s.kinds[k] = kind
	}
	for k, kind := range opts.Kinds {
		s.kinds[k] = kind
	}
	for k, v := range opts.Defaults {
		s.values[k], s.origin[k] = v, "default"
		s.known = append(s.known, k)
	}
	s.known = append(s.known, opts.Known...)

	project := opts.ProjectName
	for _, k := range []string{"project_name", "cliquet.project_name"} {
		if v, ok := raw[k]; ok && v != "" {
			project = v
		}
	}
	if project != "" && project != "cliquet" {
		if v, ok := raw[project+".project_name"]; ok && v != "" {
			project = v
		}
	}
	if project == "" {
		// A file that names itself: "kinto.project_name = kinto".
		for k, v := range raw {
			if p, ok := strings.CutSuffix(k, ".project_name"); ok && p == v && p != "cliquet" {
				project = v
			}
		}
	}

	// Strip prefixes, detecting the same key written twice with different values.
	seen := map[string]string{} // unprefixed key → spelling that set it
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := raw[k]
		name := k
		if rest, ok := strings.CutPrefix(k, "cliquet."); ok {
			name = rest
		} else if project != "" {
			if rest, ok := strings.CutPrefix(k, project+"."); ok {
				name = rest
			}
		}
		if prev, dup := seen[name]; dup && raw[prev] != v {
			return nil, fmt.Errorf("config: settings %q and %q are in conflict (%q vs %q)", prev, k, raw[prev], v)
		}
		seen[name] = k
		s.values[name], s.origin[name] = v, source+" ("+k+")"
	}
	if project != "" {
		s.values["project_name"] = project
	}

	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	envMap := make(map[string]string, len(env))
	for _, e := range env {
		if k, v, ok := strings.Cut(e, "="); ok {
			envMap[k] = v
		}
	}
	prefixes := []string{}
	if project != "" {
		prefixes = append(prefixes, envName(project)+"_")
	}
	prefixes = append(prefixes, "CLIQUET_")
	known := map[string]string{} // env suffix → key
	for k := range s.values {
		known[envName(k)] = k
	}
	for k := range s.kinds {
		if _, ok := known[envName(k)]; !ok {
			known[envName(k)] = k
		}
	}
	for _, p := range prefixes {
		names := make([]string, 0)
		for name := range envMap {
			if strings.HasPrefix(name, p) && len(name) > len(p) {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			suffix := name[len(p):]
			key, ok := known[suffix]
			if !ok {
				key = strings.ToLower(suffix)
			}
			s.values[key], s.origin[key] = envMap[name], "environment ("+name+")"
		}
	}
	return s, nil
}

func envName(key string) string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return strings.ToUpper(r.Replace(key))
}

// Get returns the value of key and whether it is set (a default counts as set).
func (s *Settings) Get(key string) (string, bool) {
	v, ok := s.values[key]
	return v, ok
}

// String returns the value of key, or "" when it is not set.
func (s *Settings) String(key string) string { return s.values[key] }

// Origin tells where the value of key came from ("default", "app.ini (kinto.backoff)",
// "environment (CLIQUET_BACKOFF)"), or "" when it is not set.
func (s *Settings) Origin(key string) string { return s.origin[key] }

// Keys returns every key that has a value, sorted.
func (s *Settings) Keys() []string {
	keys := make([]string, 0, len(s.values))
	for k := range s.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// With returns a copy of s in which key has value; s itself is unchanged.
func (s *Settings) With(key, value string) *Settings {
	c := &Settings{values: make(map[string]string, len(s.values)+1), origin: make(map[string]string, len(s.origin)+1), kinds: s.kinds, known: s.known}
	for k, v := range s.values {
		c.values[k] = v
	}
	for k, v := range s.origin {
		c.origin[k] = v
	}
	c.values[key], c.origin[key] = value, "override"
	return c
}

func (s *Settings) errorf(key, want string) error {
	return fmt.Errorf("config: setting %q = %q (from %s): %s", key, s.values[key], s.origin[key], want)
}

// IsUnset reports whether key is missing, empty or the Python spelling "None".
func (s *Settings) IsUnset(key string) bool {
	v := strings.TrimSpace(s.values[key])
	return v == "" || v == "None" || v == "none" || v == "null"
}

// Bool parses key as a boolean (true/yes/on/1, false/no/off/0, case-insensitive); unset is false.
func (s *Settings) Bool(key string) (bool, error) {
	if s.IsUnset(key) {
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(s.values[key])) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, s.errorf(key, "want a boolean (true/false)")
}

// Int parses key as an integer; unset is 0.
func (s *Settings) Int(key string) (int, error) {
	n, _, err := s.OptionalInt(key)
	return n, err
}

// OptionalInt parses key as an integer and reports whether it is set (not empty or "None").
func (s *Settings) OptionalInt(key string) (int, bool, error) {
	if s.IsUnset(key) {
		return 0, false, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(s.values[key]))
	if err != nil {
		return 0, false, s.errorf(key, "want an integer")
	}
	return n, true, nil
}

// Seconds parses key as a number of seconds (decimals allowed); unset is 0.
func (s *Settings) Seconds(key string) (time.Duration, error) {
	if s.IsUnset(key) {
		return 0, nil
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s.values[key]), 64)
	if err != nil {
		return 0, s.errorf(key, "want a number of seconds")
	}
	return time.Duration(f * float64(time.Second)), nil
}

// List splits key on spaces, commas and new lines; unset is nil.
func (s *Settings) List(key string) []string {
	if s.IsUnset(key) {
		return nil
	}
	return strings.FieldsFunc(s.values[key], func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\t' || r == '\r'
	})
}

// Timestamp parses key as a date ("2006-01-02"), an RFC 3339 time, or "2006-01-02 15:04:05";
// unset is the zero time.
func (s *Settings) Timestamp(key string) (time.Time, error) {
	if s.IsUnset(key) {
		return time.Time{}, nil
	}
	v := strings.TrimSpace(s.values[key])
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t, nil
		}
	}
	return time.Time{}, s.errorf(key, "want a date such as 2030-01-31 or 2030-01-31T12:00:00Z")
}

// Check parses every setting whose kind is known (the toolkit's and [Options.Kinds]) and
// returns the first error, naming the key. Call it once at startup.
func (s *Settings) Check() error {
	keys := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if _, ok := s.values[k]; !ok {
			continue
		}
		var err error
		switch s.kinds[k] {
		case KindBool:
			_, err = s.Bool(k)
		case KindInt, KindOptInt:
			_, _, err = s.OptionalInt(k)
		case KindSeconds:
			_, err = s.Seconds(k)
		case KindTimestamp:
			_, err = s.Timestamp(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Kind returns the declared kind of key (the toolkit's table and [Options.Kinds]) and
// whether one is declared.
func (s *Settings) Kind(key string) (Kind, bool) {
	k, ok := s.kinds[key]
	return k, ok
}

// Typed returns the value of key converted according to its kind: a bool, an int, nil for
// an unset optional int, seconds as a float64, a []string for a list, and the string
// otherwise. It is used to show settings as JSON (the hello view's public settings).
func (s *Settings) Typed(key string) (any, error) {
	kind, _ := s.Kind(key)
	switch kind {
	case KindBool:
		return s.Bool(key)
	case KindInt:
		return s.Int(key)
	case KindOptInt:
		n, ok, err := s.OptionalInt(key)
		if err != nil || !ok {
			return nil, err
		}
		return n, nil
	case KindSeconds:
		if s.IsUnset(key) {
			return nil, nil
		}
		d, err := s.Seconds(key)
		return d.Seconds(), err
	case KindList:
		l := s.List(key)
		if l == nil {
			l = []string{}
		}
		return l, nil
	}
	return s.String(key), nil
}
