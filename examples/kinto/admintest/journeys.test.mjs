// The Kinto web admin's user journeys against the server at KINTO_URL, in headless Chromium:
// each journey is a test that drives the admin as a person would (forms, links, buttons) in a
// fresh browser context, checks the result on the page and through the API, and fails on any
// console error, page error, failed request or HTTP error response that is not an expected
// part of the journey.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { api, journeyRunner, launchBrowser, newUser, pageSize, serveAdmin, stepTimeout, unique, userID } from "./helpers.mjs";

let admin, browser, journey;

before(async () => {
  admin = await serveAdmin();
  browser = await launchBrowser();
  journey = journeyRunner(() => browser.browser, () => admin.url);
});

after(async () => {
  await browser?.close();
  await admin?.close();
});

// The collection schema of the record journeys: its properties are deliberately not in
// alphabetical order, and the records list shows title and rank.
const recordSchema = {
  type: "object",
  required: ["title"],
  properties: {
    title: { type: "string", title: "Title" },
    rank: { type: "integer", title: "Rank" },
    done: { type: "boolean", title: "Done" },
  },
};
const recordUiSchema = { "ui:order": ["title", "rank", "done"] };

/**
 * collectionWithSchema creates, through the API, a bucket and a collection of recordSchema
 * (named cid when given).
 */
async function collectionWithSchema(user, extra = {}, cid = unique("collection")) {
  const bid = unique("bucket");
  await api(user, "PUT", `/buckets/${bid}`, { data: {} });
  await api(user, "PUT", `/buckets/${bid}/collections/${cid}`, {
    data: { schema: recordSchema, uiSchema: recordUiSchema, displayFields: ["title", "rank"], sort: "-last_modified", ...extra },
  });
  return { bid, cid };
}

/** tableColumn returns the texts of column n of the records table, top to bottom. */
async function tableColumn(page, n) {
  return page.locator(".record-list tbody tr").evaluateAll(
    (rows, i) => rows.map(r => r.querySelectorAll("td")[i]?.innerText.trim()), n);
}

// The journeys are independent (each has its own user, browser context and objects), so they
// run a few at a time: CONCURRENCY (default 3) of them.
describe("kinto-admin journeys", { concurrency: Number(process.env.CONCURRENCY) || 3 }, () => {
  test("login: basic auth, picked from the auth methods that hello advertises", async () => {
    await journey("login", async j => {
      const user = newUser();
      const hello = (await api(null, "GET", "/")).body;
      await j.open();
      // The choices appear once the admin has read the server's hello.
      await j.page.getByLabel("Basic Auth").waitFor();
      // The form offers Anonymous plus each auth method of the server's capabilities that
      // the admin knows.
      const known = ["basicauth", "accounts", "fxa", "ldap", "portier"];
      const offered = await j.page.locator("#root_authType input[type=radio]").evaluateAll(rs => rs.map(r => r.value));
      assert.deepEqual(offered.sort(), ["anonymous", ...known.filter(m => m in hello.capabilities)].sort());
      assert.ok(offered.includes("basicauth"), "the login form does not offer Basic Auth");
      await j.login(user);
      await j.page.locator(".session-info-bar", { hasText: await userID(user) }).waitFor();
      // The home page shows the server's hello.
      await j.page.getByText("project_name").waitFor();
    });
  });

  test("buckets: create, list, edit attributes, delete", async () => {
    await journey("buckets", async j => {
      const user = newUser();
      const bid = unique("bucket");
      await j.login(user);
      await j.page.getByRole("link", { name: "Create bucket" }).click();
      await j.page.locator("#root_id").fill(bid);
      await j.setEditor(0, { title: "First title" });
      await j.page.getByRole("button", { name: "Create bucket" }).click();
      await j.notified("Bucket created.");
      // Listed in the sidebar.
      await j.page.locator(".bucket-menu", { hasText: bid }).waitFor();
      assert.equal((await api(user, "GET", `/buckets/${bid}`)).body.data.title, "First title");

      await j.go(`/buckets/${bid}/attributes`);
      await j.page.getByRole("button", { name: "Update bucket" }).waitFor();
      await j.setEditor(0, { title: "Second title", tags: ["a", "b"] });
      await j.page.getByRole("button", { name: "Update bucket" }).click();
      await j.notified("Bucket attributes updated.");
      const { data } = (await api(user, "GET", `/buckets/${bid}`)).body;
      assert.equal(data.title, "Second title");
      assert.deepEqual(data.tags, ["a", "b"]);

      await j.page.locator(".card.border-danger input").fill(bid);
      await j.page.getByRole("button", { name: "Delete bucket" }).click();
      await j.notified("Bucket deleted.");
      await j.page.locator(".bucket-menu", { hasText: bid }).waitFor({ state: "detached" });
      await api(user, "GET", `/buckets/${bid}`, undefined, [403, 404]);
    });
  });

  test("collections: create with a JSON schema, uiSchema and display fields", async () => {
    await journey("collections", async j => {
      const user = newUser();
      const bid = unique("bucket");
      const cid = unique("collection");
      await api(user, "PUT", `/buckets/${bid}`, { data: {} });
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/create`);
      await j.page.locator("#root_id").fill(cid);
      await j.setEditor(0, recordSchema);
      await j.setEditor(1, recordUiSchema);
      await j.page.locator("#root_sort").fill("title");
      await j.page.locator("#root_displayFields_0").fill("title");
      await j.page.locator(".field-array .btn-add").first().click();
      await j.page.locator("#root_displayFields_1").fill("rank");
      await j.page.getByRole("button", { name: "Create collection" }).click();
      await j.notified("Collection created.");
      // Listed in the sidebar, under its bucket.
      await j.page.locator(".collections-menu", { hasText: cid }).waitFor();
      const { data } = (await api(user, "GET", `/buckets/${bid}/collections/${cid}`)).body;
      assert.deepEqual(data.schema, recordSchema);
      assert.deepEqual(data.uiSchema, recordUiSchema);
      assert.deepEqual(data.displayFields, ["title", "rank"]);
      assert.equal(data.sort, "title");

      // Listed in the bucket's collections table, with a schema.
      await j.go(`/buckets/${bid}/collections`);
      await j.page.locator("table tbody tr", { hasText: cid }).getByRole("cell", { name: "Yes" }).first().waitFor();
      // The records page has the display fields as columns, titled by the schema.
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.locator(".alert-info", { hasText: "This collection has no records." }).waitFor();
      await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title: "one", rank: 1 } });
      await j.page.reload();
      // Read the header once the table is rendered with the new record, not while it loads.
      await j.page.locator(".record-list tbody tr", { hasText: "one" }).waitFor();
      const headers = await j.page.locator(".record-list thead th").allInnerTexts();
      assert.deepEqual(headers.slice(0, 2).map(h => h.trim()), ["Title", "Rank"]);
      // The attributes page shows the stored schema back.
      await j.go(`/buckets/${bid}/collections/${cid}/attributes`);
      await j.page.getByRole("button", { name: "Update collection" }).waitFor();
      const shown = await j.page.evaluate(() => document.querySelectorAll(".CodeMirror")[0].CodeMirror.getValue());
      assert.deepEqual(JSON.parse(shown), recordSchema);
    });
  });

  test("collections: schema properties keep their order in the generated record form", async () => {
    await journey("schema-order", async j => {
      const user = newUser();
      // No ui:order: the form follows the order of the schema's properties.
      const { bid, cid } = await collectionWithSchema(user, { uiSchema: {} });
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records/create`);
      await j.page.locator("#root_title").waitFor();
      const order = await j.page.locator("form .form-group.field input").evaluateAll(
        inputs => inputs.map(i => i.id).filter(id => /^root_[a-z]+$/.test(id)));
      assert.deepEqual(order, ["root_title", "root_rank", "root_done"]);
    });
  });

  test("records: created through the form generated from the schema", async () => {
    await journey("records-create", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.getByRole("link", { name: "Create record" }).first().click();
      await j.page.locator("#root_title").fill("Buy milk");
      await j.page.locator("#root_rank").fill("3");
      await j.page.locator("#root_done").check();
      await j.page.getByRole("button", { name: "Create record" }).click();
      await j.notified("Record created.");
      // Back on the list, with the display fields as columns.
      await j.page.locator(".record-list tbody tr", { hasText: "Buy milk" }).waitFor();
      assert.deepEqual(await tableColumn(j.page, 1), ["3"]);
      const { data } = (await api(user, "GET", `/buckets/${bid}/collections/${cid}/records`)).body;
      assert.equal(data.length, 1);
      assert.equal(data[0].title, "Buy milk");
      assert.equal(data[0].rank, 3);
      assert.equal(data[0].done, true);
    });
  });

  test("records: edited through the generated form", async () => {
    await journey("records-edit", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      const rec = (await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title: "Draft", rank: 1 } })).body.data;
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.locator(".record-list tbody tr", { hasText: "Draft" }).getByTitle("Edit record").click();
      // The form holds the record read from the server before it is edited.
      await j.page.getByRole("button", { name: "Update record" }).waitFor();
      await j.page.locator('#root_title[value="Draft"]').waitFor();
      await j.page.locator("#root_title").fill("Final");
      await j.page.locator("#root_rank").fill("7");
      await j.page.getByRole("button", { name: "Update record" }).click();
      await j.notified("Record attributes updated.");
      const { data } = (await api(user, "GET", `/buckets/${bid}/collections/${cid}/records/${rec.id}`)).body;
      assert.equal(data.title, "Final");
      assert.equal(data.rank, 7);
      assert.ok(data.last_modified > rec.last_modified);
    });
  });

  test("records: sorted by a column, both ways", async () => {
    await journey("records-sort", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      for (const [title, rank] of [["b", 2], ["c", 3], ["a", 1]]) {
        await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title, rank } });
      }
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.locator(".record-list tbody tr").nth(2).waitFor();
      // The collection's sort (-last_modified): newest first.
      assert.deepEqual(await tableColumn(j.page, 0), ["a", "c", "b"]);
      const rankHeader = j.page.locator(".record-list thead th", { hasText: "Rank" });
      await rankHeader.locator("a.sort-link").click();
      await j.page.waitForFunction(() => [...document.querySelectorAll(".record-list tbody tr td:first-child")].map(td => td.innerText.trim()).join() === "a,b,c", null, { timeout: stepTimeout });
      await rankHeader.locator("a.sort-link").click();
      await j.page.waitForFunction(() => [...document.querySelectorAll(".record-list tbody tr td:first-child")].map(td => td.innerText.trim()).join() === "c,b,a", null, { timeout: stepTimeout });
    });
  });

  test("records: paginated, more records than one page", async () => {
    await journey("records-paginate", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      const total = pageSize * 2 + 2;
      const requests = [];
      for (let i = 0; i < total; i++) {
        requests.push({ method: "POST", path: `/buckets/${bid}/collections/${cid}/records`, body: { data: { title: `r${String(i).padStart(2, "0")}`, rank: i } } });
      }
      await api(user, "POST", "/batch", { requests });
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      const rows = j.page.locator(".record-list tbody tr");
      await rows.nth(pageSize - 1).waitFor();
      assert.equal(await rows.count(), pageSize);
      for (let shown = pageSize; shown < total; shown = Math.min(shown + pageSize, total)) {
        await j.page.getByRole("link", { name: "Load more" }).click();
        await rows.nth(Math.min(shown + pageSize, total) - 1).waitFor();
      }
      await j.page.getByRole("link", { name: "Load more" }).waitFor({ state: "detached" });
      // The tab counts every record (HEAD's Total-Records), not the page.
      await j.page.getByRole("link", { name: `Records (${total})` }).waitFor();
      const titles = await tableColumn(j.page, 0);
      assert.equal(titles.length, total);
      assert.equal(new Set(titles).size, total, "a record was listed twice");
      assert.deepEqual(titles, [...titles].sort().reverse(), "newest first across pages");
    });
  });

  test("records: deleted from the list", async () => {
    await journey("records-delete", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      const keep = (await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title: "keep" } })).body.data;
      const gone = (await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title: "gone" } })).body.data;
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.locator(".record-list tbody tr", { hasText: "gone" }).getByTitle("Delete record").click();
      await j.notified("Record deleted.");
      await j.page.locator(".record-list tbody tr", { hasText: "gone" }).waitFor({ state: "detached" });
      await j.page.locator(".record-list tbody tr", { hasText: "keep" }).waitFor();
      await api(user, "GET", `/buckets/${bid}/collections/${cid}/records/${gone.id}`, undefined, [404]);
      await api(user, "GET", `/buckets/${bid}/collections/${cid}/records/${keep.id}`);
    });
  });

  /**
   * permissionsForm waits for the permissions form of the page to show the object's ACL,
   * read from the server (the owner's write at least: the form is drawn empty before it
   * arrives), and returns it.
   */
  async function permissionsForm(j, owner) {
    const form = j.page.locator(".permissions-form");
    await form.locator(`input[id$=_principal][value="${owner}"]`).waitFor();
    return form;
  }

  /**
   * addPrincipal adds principal with permission perm in the permissions form on the page of
   * an object of owner's, submits it and waits for notification.
   */
  async function addPrincipal(j, owner, principal, perm, notification) {
    const form = await permissionsForm(j, owner);
    const before = await form.locator("input[id^=root_principals_][id$=_principal]").count();
    await form.locator(".field-array .btn-add").last().click();
    await form.locator(`#root_principals_${before}_principal`).fill(principal);
    await form.locator(`#root_principals_${before}_permissions`).getByLabel(perm, { exact: true }).check();
    await form.getByRole("button", { name: /Submit/ }).click();
    await j.notified(notification);
  }

  test("permissions: a principal added on a bucket, a collection and a record, and listed", async () => {
    await journey("permissions", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      const rec = (await api(user, "POST", `/buckets/${bid}/collections/${cid}/records`, { data: { title: "shared" } })).body.data;
      const friend = await userID(newUser());
      const owner = await userID(user);
      await j.login(user);

      const steps = [
        [`/buckets/${bid}/permissions`, "read", "Bucket permissions updated.", `/buckets/${bid}`],
        [`/buckets/${bid}/collections/${cid}/permissions`, "record:create", "Collection permissions updated.", `/buckets/${bid}/collections/${cid}`],
        [`/buckets/${bid}/collections/${cid}/records/${rec.id}/permissions`, "write", "Record permissions updated.", `/buckets/${bid}/collections/${cid}/records/${rec.id}`],
      ];
      for (const [route, perm, note, uri] of steps) {
        await j.go(route);
        await addPrincipal(j, owner, friend, perm, note);
        // Stored, and listed when the page is loaded afresh from the server.
        await j.page.reload();
        await j.page.locator(`.permissions-form input[id$=_principal][value="${friend}"]`).waitFor();
        const { permissions } = (await api(user, "GET", uri)).body;
        assert.ok(permissions[perm]?.includes(friend), `${uri}: ${perm} = ${permissions[perm]}`);
      }
    });
  });

  test("groups: create, add members, use the group in permissions", async () => {
    await journey("groups", async j => {
      const user = newUser();
      const { bid, cid } = await collectionWithSchema(user);
      const gid = unique("group");
      const alice = newUser();
      const aliceID = await userID(alice);
      const bobID = await userID(newUser());
      await j.login(user);
      await j.go(`/buckets/${bid}/groups`);
      await j.page.getByRole("link", { name: "Create group" }).first().click();
      await j.page.locator("#root_id").fill(gid);
      for (const [i, member] of [aliceID, bobID].entries()) {
        await j.page.locator(".field-array .btn-add").first().click();
        await j.page.locator(`#root_members_${i}`).fill(member);
      }
      await j.page.getByRole("button", { name: "Create group" }).click();
      await j.notified("Group created.");
      await j.page.locator(".groups-list, table", { hasText: gid }).first().waitFor();
      const group = (await api(user, "GET", `/buckets/${bid}/groups/${gid}`)).body.data;
      assert.deepEqual(group.members, [aliceID, bobID]);

      // The group is offered in the collection's permissions form.
      await j.go(`/buckets/${bid}/collections/${cid}/permissions`);
      const form = await permissionsForm(j, await userID(user));
      await form.locator(`#root_groups_${gid}`).getByLabel("read", { exact: true }).check();
      await form.getByRole("button", { name: /Submit/ }).click();
      await j.notified("Collection permissions updated.");
      const { permissions } = (await api(user, "GET", `/buckets/${bid}/collections/${cid}`)).body;
      assert.ok(permissions.read?.includes(`/buckets/${bid}/groups/${gid}`), `read = ${permissions.read}`);
      // A member reads the collection through the group, a stranger does not.
      await api(alice, "GET", `/buckets/${bid}/collections/${cid}`);
      await api(newUser(), "GET", `/buckets/${bid}/collections/${cid}`, undefined, [403]);
      // The group is listed checked when the page is loaded afresh.
      await j.page.reload();
      await j.page.locator(`#root_groups_${gid}`).getByLabel("read", { exact: true }).waitFor();
      assert.ok(await j.page.locator(`#root_groups_${gid}`).getByLabel("read", { exact: true }).isChecked());
    });
  });

  test("history: listed for a bucket, a collection and a record, with diffs", async () => {
    await journey("history", async j => {
      const user = newUser();
      // The admin shows History tabs only with the capability, and reads them from
      // GET /buckets/{bid}/history (Kinto's history plugin; run.sh turns it on).
      const hello = (await api(user, "GET", "/")).body;
      assert.ok("history" in hello.capabilities, "the server has no history capability (includes = kinto.plugins.history)");
      // A collection id that reads as a number: the history filters on it must keep it a
      // string.
      const { bid, cid } = await collectionWithSchema(user, {}, String(Date.now()));
      const records = `/buckets/${bid}/collections/${cid}/records`;
      const first = (await api(user, "POST", records, { data: { title: "first", rank: 1 } })).body.data;
      await api(user, "POST", records, { data: { title: "other", rank: 2 } });
      await api(user, "PATCH", `${records}/${first.id}`, { data: { title: "second" } });
      await j.login(user);
      await j.go(`/buckets/${bid}/collections/${cid}/records`);
      await j.page.locator(".record-list tbody tr").nth(1).waitFor();
      const rows = j.page.locator("table tbody tr:not(.history-row-details)");
      const column = n => rows.evaluateAll((trs, i) => trs.map(tr => tr.querySelectorAll("td")[i]?.innerText.trim()), n);

      // The collection's history: its records' changes and its own creation, newest first.
      await j.page.getByRole("link", { name: "History" }).click();
      await rows.nth(3).waitFor();
      assert.deepEqual(await column(1), ["update", "create", "create", "create"]);
      assert.deepEqual(await column(2), ["record", "record", "record", "collection"]);
      // An update's details are the diff with the version before it.
      await rows.first().getByTitle("View entry details").click();
      const details = j.page.locator(".history-row-details");
      await details.locator(".removed", { hasText: '"title": "first"' }).waitFor();
      await details.locator(".added", { hasText: '"title": "second"' }).waitFor();
      // From the creation of the first record on, the collection's records then and now.
      await rows.nth(2).getByTitle("Start history log from this point").click();
      await j.page.getByRole("link", { name: "Diff view" }).click();
      await j.page.locator(".json-record .added", { hasText: '"title": "other"' }).first().waitFor();

      // The bucket's history leaves records out.
      await j.go(`/buckets/${bid}/history`);
      await j.page.locator("table tbody tr td", { hasText: "collection" }).first().waitFor();
      assert.deepEqual(await column(2), ["collection", "bucket"]);

      // A record's history.
      await j.go(`/buckets/${bid}/collections/${cid}/records/${first.id}/attributes`);
      await j.page.getByRole("link", { name: "History" }).click();
      await rows.nth(1).waitFor();
      assert.deepEqual(await column(1), ["update", "create"]);
    });
  });

  test("logout: back to the login form, session forgotten", async () => {
    await journey("logout", async j => {
      const user = newUser();
      await j.login(user);
      await j.page.getByRole("link", { name: "Logout" }).click();
      await j.notified("Logged out.");
      await j.page.getByRole("button", { name: /Sign in using/ }).waitFor();
      await j.page.locator(".session-info-bar").waitFor({ state: "detached" });
      // A reload does not restore the session.
      await j.page.reload();
      await j.page.getByRole("button", { name: /Sign in using/ }).waitFor();
      assert.equal(await j.page.locator(".session-info-bar").count(), 0);
    });
  });
});
