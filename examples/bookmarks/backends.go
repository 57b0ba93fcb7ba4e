package main

// The server backends, so that storage_backend, cache_backend and permission_backend may
// name postgresql or redis (postgresql.ini, redis.ini); the memory backends are linked in
// by the cliquet package itself.
import (
	_ "github.com/cliquet-go/cliquet/cache/postgresql"
	_ "github.com/cliquet-go/cliquet/cache/redis"
	_ "github.com/cliquet-go/cliquet/permission/postgresql"
	_ "github.com/cliquet-go/cliquet/permission/redis"
	_ "github.com/cliquet-go/cliquet/storage/postgresql"
	_ "github.com/cliquet-go/cliquet/storage/redis"
)
