// Shared helpers of the Node tests: the server URL (KINTO_URL, set by run.sh), clients for
// named users and unique names, so that runs against one database do not collide.
import { randomUUID } from "node:crypto";
import khttp from "kinto-http";

// kinto-http@5 is CommonJS; its default export sits under .default.
export const KintoClient = khttp.default ?? khttp;

export const server = process.env.KINTO_URL;
if (!server) {
  throw new Error("KINTO_URL is not set (run the tests through run.sh)");
}

export function auth(user) {
  return "Basic " + Buffer.from(`${user}:pw`).toString("base64");
}

export function clientFor(user) {
  return new KintoClient(server, { headers: { Authorization: auth(user) } });
}

export function unique(prefix) {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

// userID returns the user id the server derives from user's credentials.
export async function userID(user) {
  const info = await clientFor(user).fetchServerInfo();
  return info.user.id;
}
