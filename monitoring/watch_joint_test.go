package monitoring_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cliquet-go/cliquet/monitoring"
	"github.com/cliquet-go/cliquet/permission"
	"github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/storage"
)

type jointReader interface {
	GetManyAccess(ctx context.Context, keys []storage.Key, perms permission.Backend, q permission.AccessQuery) ([]storage.Object, permission.Access, bool, error)
}

// jointStorage is a fakeStorage that reads objects and permissions together.
type jointStorage struct{ *fakeStorage }

func (j jointStorage) GetManyAccess(_ context.Context, keys []storage.Key, _ permission.Backend, _ permission.AccessQuery) ([]storage.Object, permission.Access, bool, error) {
	j.calls = append(j.calls, "get_many_access")
	return make([]storage.Object, len(keys)), permission.Access{Groups: []string{"g"}}, true, nil
}

// A watched storage backend forwards GetManyAccess, timed, to a backend that has it, and
// answers ok false (cannot) for one that has not.
func TestWatchStorageForwardsGetManyAccess(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	keys := []storage.Key{{Scope: storage.Scope{Resource: "r"}, ID: "1"}}
	perms := memory.New()

	plain := monitoring.WatchStorage(newFakeStorage(true, false, false, false, false), m, "plain")
	objs, _, ok, err := plain.(jointReader).GetManyAccess(ctx, keys, perms, permission.AccessQuery{})
	if ok || err != nil || objs != nil {
		t.Errorf("without the method: GetManyAccess = %v, ok %v, %v; want ok false", objs, ok, err)
	}

	inner := jointStorage{&fakeStorage{}}
	joint := monitoring.WatchStorage(inner, m, "joint")
	objs, a, ok, err := joint.(jointReader).GetManyAccess(ctx, keys, perms, permission.AccessQuery{})
	if !ok || err != nil || len(objs) != 1 || len(a.Groups) != 1 || !slices.Equal(inner.calls, []string{"get_many_access"}) {
		t.Errorf("GetManyAccess = %v, %+v, ok %v, %v (calls %v): not the inner backend's answer", objs, a, ok, err, inner.calls)
	}
	m.Close()
	for _, l := range sink.wait(t, "p.storage.joint.get_many_access|ms") {
		if strings.Contains(l, "plain") {
			t.Errorf("a declined GetManyAccess was timed: %s", l)
		}
	}
}

type jointWriter interface {
	CreateWithACEs(ctx context.Context, s storage.Scope, o storage.Object, perms permission.Backend, objectID string, aces permission.Set) (storage.Object, bool, error)
}

// jointCreator is a fakeStorage that writes an object and its ACEs together.
type jointCreator struct{ *fakeStorage }

func (j jointCreator) CreateWithACEs(_ context.Context, _ storage.Scope, o storage.Object, _ permission.Backend, _ string, _ permission.Set) (storage.Object, bool, error) {
	return o, true, nil
}

// A watched storage backend forwards CreateWithACEs, timed, to a backend that has it, and
// answers ok false for one that has not, so that statsd does not turn the joint create off.
func TestWatchStorageForwardsCreateWithACEs(t *testing.T) {
	sink := newStatsdServer(t)
	m, err := monitoring.NewStatsD(sink.URL(), "p")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	perms := memory.New()
	plain := monitoring.WatchStorage(newFakeStorage(true, false, false, false, false), m, "plain")
	if _, ok, err := plain.(jointWriter).CreateWithACEs(ctx, storage.Scope{}, storage.Object{ID: "1"}, perms, "/x/1", nil); ok || err != nil {
		t.Errorf("without the method: ok %v, %v; want ok false", ok, err)
	}
	joint := monitoring.WatchStorage(jointCreator{&fakeStorage{}}, m, "joint")
	if o, ok, err := joint.(jointWriter).CreateWithACEs(ctx, storage.Scope{}, storage.Object{ID: "1"}, perms, "/x/1", nil); !ok || err != nil || o.ID != "1" {
		t.Errorf("CreateWithACEs = %v, ok %v, %v: not the inner backend's answer", o, ok, err)
	}
	m.Close()
	sink.wait(t, "p.storage.joint.create_with_aces|ms")
}
