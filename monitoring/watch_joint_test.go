package monitoring_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/internal/forwardtest"
	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/storage"
)

// jointStorage is a fake storage backend that reads objects and permissions together.
type jointStorage struct {
	storage.Backend
	calls []string
}

func (j *jointStorage) GetManyAccess(_ context.Context, keys []storage.Key, _ permission.Backend, _ permission.AccessQuery) ([]storage.Object, permission.Access, error) {
	j.calls = append(j.calls, "get_many_access")
	return make([]storage.Object, len(keys)), permission.Access{Groups: []string{"g"}}, nil
}

// A watched storage backend forwards GetManyAccess, timed, to a backend that has it, and
// passes storage.ErrNotSupported through, untimed, for one that declines it.
func TestWatchStorageForwardsGetManyAccess(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := []storage.Key{{Scope: storage.Scope{Resource: "r"}, ID: "1"}}
	perms := memory.New()

	declining, state := forwardtest.Storage()
	state.Fail(false, true)
	plain := monitoring.WatchStorage(declining, m, "plain")
	objs, _, err := plain.GetManyAccess(ctx, keys, perms, permission.AccessQuery{})
	if !errors.Is(err, storage.ErrNotSupported) || objs != nil {
		t.Errorf("without the capability: GetManyAccess = %v, %v; want storage.ErrNotSupported", objs, err)
	}

	fake, _ := forwardtest.Storage()
	inner := &jointStorage{Backend: fake}
	joint := monitoring.WatchStorage(inner, m, "joint")
	objs, a, err := joint.GetManyAccess(ctx, keys, perms, permission.AccessQuery{})
	if err != nil || len(objs) != 1 || len(a.Groups) != 1 || len(inner.calls) != 1 {
		t.Errorf("GetManyAccess = %v, %+v, %v (calls %v): not the inner backend's answer", objs, a, err, inner.calls)
	}
	m.Close()
	for _, l := range sink.wait(t, "p.storage.joint.get_many_access|ms") {
		if strings.Contains(l, "plain") {
			t.Errorf("a declined GetManyAccess was timed: %s", l)
		}
	}
}

// jointCreator is a fake storage backend that writes an object and its ACEs together.
type jointCreator struct{ storage.Backend }

func (j jointCreator) CreateWithACEs(_ context.Context, _ storage.Scope, o storage.Object, _ permission.Backend, _ string, _ permission.Set) (storage.Object, error) {
	return o, nil
}

// A watched storage backend forwards CreateWithACEs, timed, to a backend that has it, and
// passes storage.ErrNotSupported through for one that declines it, so that statsd does not
// turn the joint create off.
func TestWatchStorageForwardsCreateWithACEs(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	perms := memory.New()
	declining, state := forwardtest.Storage()
	state.Fail(false, true)
	plain := monitoring.WatchStorage(declining, m, "plain")
	if _, err := plain.CreateWithACEs(ctx, storage.Scope{}, storage.Object{ID: "1"}, perms, "/x/1", nil); !errors.Is(err, storage.ErrNotSupported) {
		t.Errorf("without the capability: %v; want storage.ErrNotSupported", err)
	}
	fake, _ := forwardtest.Storage()
	joint := monitoring.WatchStorage(jointCreator{fake}, m, "joint")
	if o, err := joint.CreateWithACEs(ctx, storage.Scope{}, storage.Object{ID: "1"}, perms, "/x/1", nil); err != nil || o.ID != "1" {
		t.Errorf("CreateWithACEs = %v, %v: not the inner backend's answer", o, err)
	}
	m.Close()
	sink.wait(t, "p.storage.joint.create_with_aces|ms")
}
