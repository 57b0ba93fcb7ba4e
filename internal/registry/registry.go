// Package registry holds the name → factory table shared by the storage, cache and permission
// packages (the shape of database/sql.Register: write-once, mutex-guarded, panics on misuse).
package registry

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Registry maps backend names to factories of type F. The zero value is an empty registry
// ready to use. It is safe for concurrent use.
type Registry[F any] struct {
	kind    string
	mu      sync.RWMutex
	m       map[string]F
	aliases map[string]string
}

// New returns an empty registry; kind ("storage", "cache", ...) prefixes its messages.
func New[F any](kind string) *Registry[F] { return &Registry[F]{kind: kind} }

// Register adds a factory under name. It panics when name is empty or already registered:
// both are programming errors, found at init time.
func (r *Registry[F]) Register(name string, f F) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if name == "" {
		panic(r.kind + ": Register called with an empty name")
	}
	if r.m == nil {
		r.m = map[string]F{}
	}
	if _, dup := r.m[name]; dup {
		panic(r.kind + ": Register called twice for backend " + name)
	}
	r.m[name] = f
}

// Alias makes alias resolve to name (used for the dotted module paths of Cliquet/Kinto
// configuration files, such as "kinto.core.storage.postgresql").
func (r *Registry[F]) Alias(alias, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.aliases == nil {
		r.aliases = map[string]string{}
	}
	r.aliases[alias] = name
}

// Lookup resolves name (or one of its aliases, or a dotted path whose last segment is a
// registered name) to its factory. The error lists the registered names.
func (r *Registry[F]) Lookup(name string) (F, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	key := name
	if a, ok := r.aliases[key]; ok {
		key = a
	}
	if f, ok := r.m[key]; ok {
		return f, nil
	}
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		if f, ok := r.m[name[i+1:]]; ok {
			return f, nil
		}
	}
	var zero F
	return zero, fmt.Errorf("%s: unknown backend %q (registered: %s)", r.kind, name, strings.Join(r.namesLocked(), ", "))
}

// Names returns the registered names, sorted.
func (r *Registry[F]) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.namesLocked()
}

func (r *Registry[F]) namesLocked() []string {
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
