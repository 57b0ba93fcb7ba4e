package storagetest

import (
	"errors"
	"slices"

	"github.com/cliquet-go/cliquet/permission"
	permmemory "github.com/cliquet-go/cliquet/permission/memory"
	"github.com/cliquet-go/cliquet/storage"
)

// jointTests check the joint reads and writes of objects with a permission backend's data
// (GetManyAccess, GetManyAccessList, CreateWithACEs, CreateGuarded) given a permission
// backend that no storage backend can reach (an in-process memory backend): each call
// either declines with storage.ErrNotSupported, having done nothing, or answers what the
// separate calls to the two backends answer.
var jointTests = []subtest{
	{"GetManyAccessDeclinesOrAnswersAsGetManyAndAccess", func(e *env) {
		perms, keys, q := e.jointFixture()
		objs, a, err := e.b.GetManyAccess(e.ctx, keys, perms, q)
		if errors.Is(err, storage.ErrNotSupported) {
			return
		}
		e.check(err == nil, "GetManyAccess: %v", err)
		e.jointAnswer(perms, keys, q, objs, a)
	}},
	{"GetManyAccessListDeclinesOrAnswersAsTheSeparateReads", func(e *env) {
		perms, keys, q := e.jointFixture()
		opt := storage.ListOptions{Sort: []storage.Sort{desc("last_modified")}}
		objs, a, page, ts, err := e.b.GetManyAccessList(e.ctx, keys, perms, q, scope, opt)
		if errors.Is(err, storage.ErrNotSupported) {
			return
		}
		e.check(err == nil, "GetManyAccessList: %v", err)
		e.jointAnswer(perms, keys, q, objs, a)
		if page != nil {
			want, wantTS, err := e.b.ListWithTimestamp(e.ctx, scope, opt)
			e.check(err == nil, "ListWithTimestamp: %v", err)
			e.equal(ts, wantTS, "the page's timestamp")
			e.equal(ids(page), ids(want), "the page")
		}
	}},
	{"CreateWithACEsDeclinesWritingNothingOrWritesBoth", func(e *env) {
		perms := permmemory.New()
		aces := permission.Set{"write": {"alice"}}
		_, err := e.b.CreateWithACEs(e.ctx, scope, storage.Object{ID: "joint", Data: raw(`{}`)}, perms, "/joint", aces)
		e.jointWrite(perms, "joint", aces, err)
	}},
	{"CreateGuardedDeclinesWritingNothingOrWritesBoth", func(e *env) {
		perms := permmemory.New()
		parent := e.createIn(otherScope, storage.Object{ID: "parent", Data: raw(`{}`)})
		e.create(`{}`) // the collection has a timestamp and an object
		aces := permission.Set{"write": {"alice"}}
		keys := []storage.Key{{Scope: otherScope, ID: parent.ID}}
		_, err := e.b.CreateGuarded(e.ctx, scope, storage.Object{ID: "guarded", Data: raw(`{}`)}, perms, "/guarded", aces,
			keys, []int64{parent.LastModified}, permission.HoldQuery{})
		e.jointWrite(perms, "guarded", aces, err)
	}},
}

// jointFixture stores an object with an ACE in perms, and returns the keys of that object
// and of a missing one, and a query of the ACE.
func (e *env) jointFixture() (permission.Backend, []storage.Key, permission.AccessQuery) {
	e.Helper()
	perms := permmemory.New()
	o := e.create(`{"a": 1}`)
	if err := perms.AddPrincipalToACE(e.ctx, "/o", "read", "alice"); err != nil {
		e.Fatal(err)
	}
	keys := []storage.Key{{Scope: scope, ID: o.ID}, {Scope: scope, ID: "missing"}}
	return perms, keys, permission.AccessQuery{Principals: []string{"alice"}, Objects: []string{"/o"}, Full: "/o"}
}

// jointAnswer checks the answer of a joint read against GetMany and perms' Access.
func (e *env) jointAnswer(perms permission.Backend, keys []storage.Key, q permission.AccessQuery, objs []storage.Object, a permission.Access) {
	e.Helper()
	want := e.getMany(e.ctx, keys)
	e.equal(len(objs), len(want), "objects read jointly")
	for i := range min(len(objs), len(want)) {
		e.sameObject(objs[i], want[i], "object read jointly")
	}
	wantAccess, err := perms.Access(e.ctx, q)
	e.check(err == nil, "Access: %v", err)
	e.check(slices.Equal(a.Held["/o"], wantAccess.Held["/o"]) && slices.Equal(a.ACEs["read"], wantAccess.ACEs["read"]),
		"access read jointly %+v, want %+v", a, wantAccess)
}

// jointWrite checks the outcome of a joint creation of id with aces: declined, nothing is
// written; otherwise both the object and its ACEs are.
func (e *env) jointWrite(perms permission.Backend, id string, aces permission.Set, err error) {
	e.Helper()
	acl, perr := perms.ObjectPermissions(e.ctx, "/"+id)
	e.check(perr == nil, "ObjectPermissions: %v", perr)
	_, gerr := e.b.Get(e.ctx, scope, id)
	if errors.Is(err, storage.ErrNotSupported) {
		e.check(errors.Is(gerr, storage.ErrNotFound), "a declined joint creation wrote the object: %v", gerr)
		e.equal(len(acl), 0, "ACEs written by a declined joint creation")
		return
	}
	e.check(err == nil, "joint creation: %v", err)
	e.check(gerr == nil, "the object of a joint creation: %v", gerr)
	e.equal(acl["write"], aces["write"], "ACEs of a joint creation")
}
