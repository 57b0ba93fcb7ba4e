package postgresql_test

import (
	"github.com/cliquet-go/cliquet"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/postgresql"
)

// The backend satisfies the journal's optional interface, under both of its names (the
// conformance suite exercises it: TestConformance's MatchingObjects… and PrincipalUsers…).
var (
	_ cliquet.PermissionEnumerator = (*postgresql.Backend)(nil)
	_ permission.Enumerator        = (*postgresql.Backend)(nil)
)
