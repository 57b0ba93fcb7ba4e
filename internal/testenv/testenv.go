// Package testenv is the test plumbing shared by the packages of this module: where the test
// servers are, private PostgreSQL databases and Redis database numbers, unique key prefixes,
// addresses for servers to listen on or for clients that must fail, a server goroutine to
// start and stop, a log buffer safe for server goroutines, and throwaway PostgreSQL servers
// that a test may stop and start ([StartPostgresCluster]). Only tests import it.
//
// # Servers
//
// Tests that need a server read its address from the environment (scripts/services.sh starts
// both servers and prints the exports):
//
//   - CLIQUET_TEST_POSTGRES_DSN, e.g. postgres://postgres@127.0.0.1:55432/testdb?sslmode=disable
//   - CLIQUET_TEST_REDIS_URL, e.g. redis://127.0.0.1:56379/0
//
// When a variable is unset the test is skipped with a reason, except when the variable CI is
// non-empty: then it fails, so that a CI run never skips server tests silently.
//
// # Keeping packages apart
//
// `go test ./...` runs the packages' tests concurrently against the same servers, and two
// test runs may share the servers too (a developer's and CI's). Each package keeps to its own
// PostgreSQL databases ([PostgresDatabase] with a name of its own, e.g. "cache_test"), which
// are private to the test process: their names end with [ProcessSuffix]. A package's TestMain
// calls [Main] to drop them when its tests end, and the databases of killed runs are dropped
// by the next run on the machine. Each package keeps to its own Redis database number
// ([RedisURL]) and writes its keys under a prefix unique to the test ([UniquePrefix]); nothing
// here flushes a Redis database.
//
// The package has no package-level mutable state: every helper works from its arguments, the
// environment and the process (its id and start time).
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
)

// Names of the environment variables read by this package.
const (
	// PostgresDSNVar names the variable holding the DSN of the test PostgreSQL server.
	PostgresDSNVar = "CLIQUET_TEST_POSTGRES_DSN"
	// RedisURLVar names the variable holding the URL of the test Redis server.
	RedisURLVar = "CLIQUET_TEST_REDIS_URL"
	// CIVar names the variable that, when non-empty, turns a missing server into a failure.
	CIVar = "CI"
)

// lookup returns the value of the environment variable name. When it is unset or empty, it
// skips the test with a reason naming server, or fails the test when CI is set.
func lookup(t testing.TB, name, server string) string {
	t.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	if os.Getenv(CIVar) != "" {
		t.Fatalf("%s is not set (required when %s is set)", name, CIVar)
	}
	t.Skipf("%s is not set: no %s server to test against (run eval \"$(bash scripts/services.sh)\")", name, server)
	return ""
}

// UniquePrefix returns base followed by eight random hexadecimal digits and the last byte of
// base, e.g. "cliquettest:1f0c9a3e:" for "cliquettest:" or "redistest_5b21c07d_" for
// "redistest_": a key prefix (or name) no other test run uses, under the fixed part that says
// which package wrote it. base should end with its separator; it must not be empty.
func UniquePrefix(t testing.TB, base string) string {
	t.Helper()
	if base == "" {
		t.Fatal("testenv.UniquePrefix: empty base")
	}
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read documentation)
	return base + hex.EncodeToString(b[:]) + base[len(base)-1:]
}
