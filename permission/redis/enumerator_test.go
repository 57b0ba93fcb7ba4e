package redis_test

import (
	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/redis"
)

// The backend satisfies the journal's optional interface, under both of its names (the
// conformance suite exercises it: TestConformance's MatchingObjects… and PrincipalUsers…).
var (
	_ cliquet.PermissionEnumerator = (*redis.Backend)(nil)
	_ permission.Enumerator        = (*redis.Backend)(nil)
)
