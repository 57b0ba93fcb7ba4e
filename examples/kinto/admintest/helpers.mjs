// Shared pieces of the admin journeys: the static server of the built admin (dist/), headless
// Debian Chromium driven by playwright-core, a journey fixture that records every console
// error, page error, failed request and HTTP error response, and a small API client to set
// up and check data behind the admin's back.
import http from "node:http";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));

/** KINTO_URL: the server's root, e.g. http://127.0.0.1:8888/v1 (no trailing slash). */
export const server = (process.env.KINTO_URL || "http://127.0.0.1:8888/v1").replace(/\/+$/, "");

/** The admin's page size in the journeys (maxPerPage): small, so that pagination shows. */
export const pageSize = 5;

/** CHROMIUM: the browser binary, Debian's by default (never a downloaded one). */
export const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";

/** Timeout of each wait on the page, in milliseconds (generous: CI machines are shared). */
export const stepTimeout = 20_000;

const contentTypes = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml", ".png": "image/png", ".woff": "font/woff", ".woff2": "font/woff2",
};

/**
 * serveAdmin serves dist/ on a free loopback port (so the admin is cross-origin to the API,
 * as it is when hosted apart from Kinto) and resolves to { url, close }.
 */
export function serveAdmin() {
  const root = path.join(here, "dist");
  const srv = http.createServer(async (req, res) => {
    let p = decodeURIComponent(new URL(req.url, "http://admin").pathname);
    if (p.endsWith("/")) p += "index.html";
    const file = path.join(root, path.normalize(p));
    if (!file.startsWith(root + path.sep)) {
      res.writeHead(403).end();
      return;
    }
    try {
      const body = await readFile(file);
      res.writeHead(200, { "Content-Type": contentTypes[path.extname(file)] || "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  return new Promise((resolve, reject) => {
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      resolve({
        url: `http://127.0.0.1:${srv.address().port}/`,
        close: () => new Promise(done => srv.close(done)),
      });
    });
  });
}

/**
 * launchBrowser starts headless Chromium with the switches this closed network needs (no
 * background, component or sync traffic, no QUIC) and resolves to { browser, close }.
 * playwright-core gives each launch a fresh profile of its own (--user-data-dir on a new
 * temporary directory, removed at close); it refuses that switch from the caller.
 */
export async function launchBrowser() {
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  return {
    browser,
    close: () => browser.close(),
  };
}

let counter = 0;

/** unique returns a fresh id with prefix, so journeys never share names. */
export function unique(prefix) {
  counter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** A user of the journeys: basic auth with any password creates the user. */
export function newUser(name = unique("user")) {
  return { username: name, password: `${name}-secret` };
}

/**
 * api calls the server as user (or anonymously when user is null) and resolves to
 * { status, headers, body }; it throws when the status is not the expected one.
 */
export async function api(user, method, pathname, body, expected = [200, 201]) {
  const headers = { Accept: "application/json" };
  if (user) headers.Authorization = "Basic " + Buffer.from(`${user.username}:${user.password}`).toString("base64");
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(server + pathname, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!expected.includes(res.status)) {
    throw new Error(`${method} ${pathname}: status ${res.status}, want ${expected}: ${text}`);
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** userID returns the principal of user, as the server's hello names it. */
export async function userID(user) {
  const { body } = await api(user, "GET", "/");
  return body.user.id;
}

/**
 * Journey is one user journey in a fresh browser context (empty local storage), recording
 * the problems that the journey must not have: console errors, uncaught page errors, failed
 * requests, and HTTP responses >= 400, except those the journey declares with expect().
 */
export class Journey {
  constructor(context, page, adminURL) {
    this.context = context;
    this.page = page;
    this.adminURL = adminURL;
    this.problems = [];
    this.expected = []; // { method, pattern, status } of HTTP errors that are part of the journey
    page.on("console", msg => {
      if (msg.type() === "error") this.problems.push(`console error: ${msg.text()} (${msg.location().url || "?"})`);
    });
    page.on("pageerror", err => this.problems.push(`page error: ${err.message}`));
    page.on("requestfailed", req => {
      this.problems.push(`request failed: ${req.method()} ${req.url()}: ${req.failure()?.errorText}`);
    });
    page.on("response", res => {
      if (res.status() < 400) return;
      const req = res.request();
      const i = this.expected.findIndex(e => e.method === req.method() && e.status === res.status() && e.pattern.test(res.url()));
      if (i >= 0) {
        this.expected[i].seen = true;
        return;
      }
      this.problems.push(`HTTP ${res.status()}: ${req.method()} ${res.url()}`);
    });
    page.on("dialog", dialog => dialog.accept()); // "Are you sure?" confirmations
  }

  /** expect declares an HTTP error response that is an expected part of the journey. */
  expect(method, pattern, status) {
    this.expected.push({ method, pattern, status, seen: false });
  }

  /** open loads the admin pointed at the server, with the journeys' page size. */
  async open(hash = "") {
    const q = new URLSearchParams({ server: server + "/", maxPerPage: String(pageSize) });
    await this.page.goto(`${this.adminURL}?${q}${hash ? "#" + hash : ""}`);
  }

  /** go moves the admin to a route (the part after #), as a link in the admin does. */
  async go(route) {
    await this.page.evaluate(r => { window.location.hash = r; }, route);
  }

  /**
   * login signs user in with the "Basic Auth" method of the login form and waits for the
   * admin's session bar.
   */
  async login(user) {
    const { page } = this;
    await this.open();
    await page.getByLabel("Basic Auth").check();
    await page.getByLabel("Username").fill(user.username);
    await page.getByLabel("Password").fill(user.password);
    await page.getByRole("button", { name: "Sign in using Basic Auth" }).click();
    await page.locator(".session-info-bar").waitFor({ timeout: stepTimeout });
    await this.notified("Authenticated.");
  }

  /**
   * notified waits for a success notification containing text, then closes it; an error
   * notification of the admin fails the journey at once, with its text.
   */
  async notified(text) {
    const success = this.page.locator(".notifications .alert-success", { hasText: text }).first();
    const failure = this.page.locator(".notifications .alert-danger").first();
    await success.or(failure).first().waitFor({ timeout: stepTimeout });
    if (await failure.isVisible()) {
      throw new Error(`the admin notified an error instead of "${text}": ${(await failure.innerText()).replace(/\s+/g, " ")}`);
    }
    await success.locator("button.close").click().catch(() => {});
  }

  /** setEditor replaces the content of the n-th CodeMirror JSON editor of the page. */
  async setEditor(n, value) {
    const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
    await this.page.locator(".CodeMirror").nth(n).waitFor({ timeout: stepTimeout });
    await this.page.evaluate(([i, v]) => document.querySelectorAll(".CodeMirror")[i].CodeMirror.setValue(v), [n, text]);
  }

  /** check fails with every problem recorded, and with expected errors that never came. */
  check() {
    const missing = this.expected.filter(e => !e.seen).map(e => `expected HTTP ${e.status} on ${e.method} ${e.pattern} did not happen`);
    assert.deepEqual([...this.problems, ...missing], [], "the journey had console errors or failed requests");
  }
}

/**
 * journeyRunner returns a function that runs fn(journey) in a fresh context of browser,
 * saves a screenshot when it fails (in SCREENSHOTS, when set), and checks the journey's
 * problems at the end.
 */
export function journeyRunner(getBrowser, getAdminURL) {
  return async (name, fn) => {
    const context = await getBrowser().newContext({ viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(stepTimeout);
    const page = await context.newPage();
    const j = new Journey(context, page, getAdminURL());
    try {
      await fn(j);
      // Let the requests of the last step finish, so that their failures are seen.
      await page.waitForLoadState("networkidle").catch(() => {});
      j.check();
    } catch (err) {
      if (process.env.SCREENSHOTS) {
        await page.screenshot({ path: path.join(process.env.SCREENSHOTS, `${name}.png`), fullPage: true }).catch(() => {});
      }
      if (j.problems.length) err.message += `\nproblems seen:\n  ${j.problems.join("\n  ")}`;
      throw err;
    } finally {
      await context.close();
    }
  };
}
