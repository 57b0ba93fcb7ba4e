package cliquet

// The test helpers of package cliquet, for the tests of package cliquet_test.
var (
	NewApp   = newApp
	TryApp   = tryApp
	TryAppOn = tryAppOn
)

// TestSecret is the userid_hmac_secret of the apps built by NewApp.
const TestSecret = testSecret
