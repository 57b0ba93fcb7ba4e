package monitoring_test

import (
	"reflect"
	"testing"

	"github.com/cliquet-go/cliquet/cache"
	"github.com/cliquet-go/cliquet/internal/forwardtest"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/storage"
)

// Each decorator forwards every method of its contract and returns the backend's answer: a
// watched backend keeps every capability of the one it wraps, optional ones included, and
// declines what that backend declines.
func TestWatchedBackendsKeepEveryCapability(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	t.Run("storage", func(t *testing.T) {
		inner, state := forwardtest.Storage()
		forwardtest.Check(t, reflect.TypeFor[storage.Backend](), monitoring.WatchStorage(inner, m, "s"), state)
	})
	t.Run("cache", func(t *testing.T) {
		inner, state := forwardtest.Cache()
		forwardtest.Check(t, reflect.TypeFor[cache.Backend](), monitoring.WatchCache(inner, m, "c"), state)
	})
	t.Run("permission", func(t *testing.T) {
		inner, state := forwardtest.Permission()
		forwardtest.Check(t, reflect.TypeFor[permission.Backend](), monitoring.WatchPermission(inner, m, "p"), state)
	})
}
