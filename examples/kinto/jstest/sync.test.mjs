// kinto.js, the offline-first client, with its in-memory adapter (node has no IndexedDB):
// two clients of one user synchronise through examples/kinto.
import { test } from "node:test";
import assert from "node:assert/strict";
import kintoModule from "kinto";
import memoryModule from "kinto/lib/cjs/adapters/memory.js";
import { auth, clientFor, server, unique } from "./helpers.mjs";

const Kinto = kintoModule.default ?? kintoModule;
const Memory = memoryModule.default ?? memoryModule;

// device returns the "tasks" collection of a new kinto.js instance with an empty local
// database, syncing with bucket bid as alice.
function device(bid) {
  const kinto = new Kinto({
    remote: server,
    bucket: bid,
    headers: { Authorization: auth("alice") },
    adapter: () => new Memory(),
  });
  return kinto.collection("tasks");
}

async function titles(coll) {
  const { data } = await coll.list({ order: "title" });
  return data.map((r) => r.title);
}

async function serverTitles(bid) {
  const { data } = await clientFor("alice").bucket(bid).collection("tasks").listRecords({ sort: "title" });
  return data.map((r) => r.title);
}

async function synced(coll, options) {
  const result = await coll.sync(options);
  assert.ok(result.ok, `sync failed: ${JSON.stringify(result.errors)} conflicts=${result.conflicts.length}`);
  return result;
}

test("two devices synchronise creations, updates and deletions", async () => {
  const bid = unique("sync");
  await clientFor("alice").createBucket(bid);
  await clientFor("alice").bucket(bid).createCollection("tasks");
  const a = device(bid);
  const b = device(bid);

  const { data: t1 } = await a.create({ title: "a1" });
  await a.create({ title: "a2" });
  const pushed = await synced(a);
  assert.equal(pushed.published.length, 2);
  assert.deepEqual(await serverTitles(bid), ["a1", "a2"]);

  // Local changes on both sides, then each syncs.
  const pulled = await synced(b);
  assert.equal(pulled.created.length, 2);
  const { data: bt1 } = await b.get(t1.id);
  await b.update({ ...bt1, title: "a1 (edited on b)" });
  const [a2] = (await b.list({ filters: { title: "a2" } })).data;
  await b.delete(a2.id);
  await b.create({ title: "b1" });
  await a.create({ title: "a3" });

  await synced(b);
  assert.deepEqual(await serverTitles(bid), ["a1 (edited on b)", "b1"]);
  const r = await synced(a);
  assert.equal(r.deleted.length, 1);
  assert.equal(r.updated.length, 1);
  assert.equal(r.created.length, 1);
  assert.equal(r.published.length, 1);
  await synced(b);
  const expected = ["a1 (edited on b)", "a3", "b1"];
  assert.deepEqual(await titles(a), expected);
  assert.deepEqual(await titles(b), expected);
  assert.deepEqual(await serverTitles(bid), expected);

  // Nothing left to do: a sync changes nothing.
  const idle = await synced(a);
  assert.equal(idle.created.length + idle.updated.length + idle.deleted.length + idle.published.length, 0);
});

test("conflicts are reported and resolved both ways", async () => {
  const bid = unique("conflict");
  await clientFor("alice").createBucket(bid);
  await clientFor("alice").bucket(bid).createCollection("tasks");
  const a = device(bid);
  const b = device(bid);
  const { data: rec } = await a.create({ title: "original" });
  await synced(a);
  await synced(b);

  // Both devices edit the same record; a publishes first.
  await a.update({ ...(await a.get(rec.id)).data, title: "from a" });
  await b.update({ ...(await b.get(rec.id)).data, title: "from b" });
  await synced(a);

  // Manual strategy: b gets a conflict (the server answered 412), resolved with b's version.
  const manual = await b.sync({ strategy: Kinto.syncStrategy.MANUAL });
  assert.equal(manual.ok, false);
  assert.equal(manual.conflicts.length, 1);
  const conflict = manual.conflicts[0];
  assert.equal(conflict.remote.title, "from a");
  assert.equal(conflict.local.title, "from b");
  await b.resolve(conflict, conflict.local);
  await synced(b);
  assert.deepEqual(await serverTitles(bid), ["from b"]);

  // The other way: a edits again, conflicts with the server, and the server wins.
  await a.update({ ...(await a.get(rec.id)).data, title: "from a again" });
  const serverWins = await a.sync({ strategy: Kinto.syncStrategy.SERVER_WINS });
  assert.equal(serverWins.ok, true);
  assert.equal(serverWins.resolved.length, 1);
  assert.equal((await a.get(rec.id)).data.title, "from b");
  assert.deepEqual(await serverTitles(bid), ["from b"]);

  // And client wins: a's local edit overwrites the server's version.
  await a.update({ ...(await a.get(rec.id)).data, title: "a wins" });
  await b.update({ ...(await b.get(rec.id)).data, title: "b loses" });
  await synced(a);
  const clientWins = await b.sync({ strategy: Kinto.syncStrategy.CLIENT_WINS });
  assert.equal(clientWins.ok, true);
  assert.deepEqual(await serverTitles(bid), ["b loses"]);
  await synced(a);
  assert.equal((await a.get(rec.id)).data.title, "b loses");
});

test("kinto.js works in the default bucket", async () => {
  const kinto = new Kinto({ remote: server, headers: { Authorization: auth("carol") }, adapter: () => new Memory() });
  const coll = kinto.collection(unique("notes"));
  await coll.create({ title: "offline" });
  const result = await synced(coll);
  assert.equal(result.published.length, 1);
  const { data } = await clientFor("carol").bucket("default").collection(coll.name).listRecords();
  assert.deepEqual(data.map((r) => r.title), ["offline"]);
});
