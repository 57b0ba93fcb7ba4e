// The official kinto-http client against examples/kinto.
import { test } from "node:test";
import assert from "node:assert/strict";
import { clientFor, unique, userID, server, auth } from "./helpers.mjs";

const alice = clientFor("alice");
const bob = clientFor("bob");

async function status(promise) {
  try {
    await promise;
    return 200;
  } catch (err) {
    return err.response?.status ?? err.data?.code ?? err;
  }
}

test("hello advertises Kinto's capabilities", async () => {
  const info = await alice.fetchServerInfo();
  assert.equal(info.project_name, "kinto");
  for (const cap of ["default_bucket", "permissions_endpoint", "schema"]) {
    assert.ok(cap in info.capabilities, `capability ${cap}`);
  }
  assert.equal(info.settings.batch_max_requests, 25);
  assert.match(info.user.id, /^basicauth:/);
});

test("buckets, collections and records with pagination and batch", async () => {
  const bid = unique("bucket");
  const { data: bucket } = await alice.createBucket(bid);
  assert.equal(bucket.id, bid);
  const b = alice.bucket(bid);
  await b.createCollection("tasks");
  const coll = b.collection("tasks");

  const responses = await coll.batch((batch) => {
    for (let i = 0; i < 25; i++) batch.createRecord({ title: `task ${i}`, n: i });
  });
  assert.equal(responses.length, 25);
  for (const r of responses) assert.equal(r.status, 201);

  const page = await coll.listRecords({ limit: 10, sort: "n" });
  assert.equal(page.data.length, 10);
  assert.equal(page.hasNextPage, true);
  assert.deepEqual(page.data.map((r) => r.n), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const next = await page.next();
  assert.equal(next.data[0].n, 10);

  const all = await coll.listRecords({ limit: 10, pages: Infinity, sort: "-n" });
  assert.equal(all.data.length, 25);
  assert.equal(all.data[0].n, 24);
  // Total-Records is only sent on HEAD, as in kinto.core.
  assert.equal(await coll.getTotalRecords(), 25);

  const filtered = await coll.listRecords({ filters: { min_n: 20 } });
  assert.equal(filtered.data.length, 5);

  const { data: collections } = await b.listCollections();
  assert.deepEqual(collections.map((c) => c.id), ["tasks"]);
});

test("permissions: sharing a collection, groups and the permissions endpoint", async () => {
  const bid = unique("shared");
  const bobID = await userID("bob");
  await alice.createBucket(bid);
  const b = alice.bucket(bid);
  await b.createCollection("notes");
  await b.collection("notes").createRecord({ id: "n1", text: "hi" });

  assert.equal(await status(bob.bucket(bid).collection("notes").getRecord("n1")), 403);

  await b.collection("notes").addPermissions({ read: [bobID] });
  const { data: rec } = await bob.bucket(bid).collection("notes").getRecord("n1");
  assert.equal(rec.text, "hi");
  assert.equal(await status(bob.bucket(bid).collection("notes").updateRecord({ id: "n1", text: "bob" })), 403);

  // A group as principal: members get the group's permissions.
  await b.createGroup("editors", [bobID]);
  await b.collection("notes").addPermissions({ write: [`/buckets/${bid}/groups/editors`] });
  await bob.bucket(bid).collection("notes").updateRecord({ id: "n1", text: "bob" });
  assert.equal((await b.collection("notes").getRecord("n1")).data.text, "bob");

  // bob reads the collection (his own id), writes it (the group), and wrote the record
  // himself (its author gets write); write implies the other permissions.
  const perms = await bob.listPermissions({ pages: Infinity });
  // (Kinto lists them by descending URI: sort them to compare.)
  const mine = perms.data.filter((p) => p.bucket_id === bid).sort((x, y) => x.uri.localeCompare(y.uri));
  assert.deepEqual(
    mine.map((p) => [p.resource_name, p.id, [...p.permissions].sort().join(",")]),
    [
      ["collection", "notes", "read,record:create,write"],
      ["record", "n1", "read,write"],
    ],
  );

  // Removing bob from the group takes the collection's write permission away (he keeps
  // write on the record he wrote).
  await bob.bucket(bid).collection("notes").createRecord({ text: "while a member" });
  await b.updateGroup({ id: "editors", members: [] });
  assert.equal(await status(bob.bucket(bid).collection("notes").createRecord({ text: "x" })), 403);

  // Deleting the bucket deletes everything below it.
  await alice.deleteBucket(bid);
  assert.equal(await status(bob.bucket(bid).collection("notes").getRecord("n1")), 403);
  await alice.createBucket(bid);
  assert.equal(await status(alice.bucket(bid).collection("notes").getData()), 404);
});

test("safe writes: If-None-Match: * and 412 conflicts", async () => {
  const bid = unique("safe");
  await alice.createBucket(bid);
  const b = alice.bucket(bid);
  await b.createCollection("c");
  const coll = b.collection("c");

  const { data: created } = await coll.createRecord({ id: "r1", v: 1 }, { safe: true });
  assert.equal(await status(coll.createRecord({ id: "r1", v: 2 }, { safe: true })), 412);
  assert.equal(await status(alice.createBucket(bid, { safe: true })), 412);

  const { data: updated } = await coll.updateRecord({ ...created, v: 2 }, { safe: true });
  assert.ok(updated.last_modified > created.last_modified);
  // A write based on the stale version fails with 412 and leaves the record alone.
  assert.equal(await status(coll.updateRecord({ ...created, v: 3 }, { safe: true })), 412);
  assert.equal(await status(coll.deleteRecord(created, { safe: true })), 412);
  assert.equal((await coll.getRecord("r1")).data.v, 2);
  await coll.deleteRecord(updated, { safe: true });
  assert.equal(await status(coll.getRecord("r1")), 404);
});

test("collection schemas validate records", async () => {
  const bid = unique("schema");
  await alice.createBucket(bid);
  const b = alice.bucket(bid);
  await b.createCollection("books", {
    data: { schema: { type: "object", properties: { title: { type: "string" } }, required: ["title"] } },
  });
  await b.collection("books").createRecord({ title: "Dune" });
  assert.equal(await status(b.collection("books").createRecord({ title: 42 })), 400);
});

test("the default bucket is personal and created on first use", async () => {
  const a = await alice.bucket("default").collection("todo").createRecord({ title: "a" });
  const { data: list } = await alice.bucket("default").collection("todo").listRecords();
  assert.ok(list.some((r) => r.id === a.data.id));
  const { data: own } = await bob.bucket("default").collection("todo").listRecords();
  assert.ok(!own.some((r) => r.id === a.data.id));
  const res = await fetch(`${server}/buckets/default`, { headers: { Authorization: auth("alice") } });
  const body = await res.json();
  assert.match(body.data.id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});
