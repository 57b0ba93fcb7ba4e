package main

import "github.com/cliquet-go/cliquet"

// registerResources mounts the example's resources on app.Router. The bookmark resource is
// added here once package resource lands; until then the service offers the utility views
// (hello, heartbeats, version) only.
func registerResources(app *cliquet.App) error {
	return nil
}
