package testenv

import (
	"net/url"
	"strconv"
	"testing"
)

// RedisURL returns the URL of the test Redis server (CLIQUET_TEST_REDIS_URL) moved to the
// database number db, so that a package's keys stay away from those of the others (each
// package picks its own number). When the variable is unset it skips the test, or fails it
// when CI is set.
func RedisURL(t testing.TB, db int) string {
	t.Helper()
	raw := lookup(t, RedisURLVar, "Redis")
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("%s: %v", RedisURLVar, err)
	}
	u.Path = "/" + strconv.Itoa(db)
	return u.String()
}
