package storage

import (
	"context"

	"github.com/cliquet-go/cliquet/config"
	"github.com/cliquet-go/cliquet/internal/registry"
)

// Factory opens a backend from the settings (storage_url, storage_pool_size, ...). It is
// called once at startup; an error aborts startup.
type Factory func(ctx context.Context, s *config.Settings) (Backend, error)

var backends = func() *registry.Registry[Factory] {
	r := registry.New[Factory]("storage")
	for _, name := range []string{"memory", "postgresql", "redis"} {
		r.Alias("cliquet.storage."+name, name)
		r.Alias("kinto.core.storage."+name, name)
	}
	return r
}()

// Register makes a backend available by name to the storage_backend setting. Backends call it
// from init. It panics when name is empty or already registered.
func Register(name string, f Factory) { backends.Register(name, f) }

// Open builds the backend registered under name (a short name, or a Cliquet/Kinto dotted path
// such as "kinto.core.storage.postgresql"). The error lists the registered names.
func Open(ctx context.Context, name string, s *config.Settings) (Backend, error) {
	f, err := backends.Lookup(name)
	if err != nil {
		return nil, err
	}
	return f(ctx, s)
}

// Backends returns the registered backend names, sorted.
func Backends() []string { return backends.Names() }
