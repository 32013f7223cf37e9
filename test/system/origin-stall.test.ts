/**
 * An origin that sends a page's headers and then stalls must not hold the visitor's connection
 * open: the body ends by `ORIGIN_TIMEOUT_MS`. Only the real serving path shows this (once the
 * handler returns, workerd streams the origin's body itself), so this runs the built Worker on
 * Miniflare and reads its answers over HTTP.
 */
import { createServer, request as httpRequest, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type LocalTailor, startLocalTailor } from "../../scripts/lib/local-tailor.ts";

let origin: Server;
let tailor: LocalTailor;

beforeAll(async () => {
  origin = createServer((request, response) => {
    const type = new URL(request.url ?? "/", "http://origin.test").searchParams.get("type") ?? "text/html; charset=utf-8";
    response.writeHead(200, { "content-type": type });
    response.write('<!doctype html><html><body><section data-slot="hero"><h1>Default hero</h1></section><p>The rest is late');
  });
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", () => resolve()));
  tailor = await startLocalTailor({
    originUrl: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`,
    kafkaRestUrl: "http://127.0.0.1:9",
    bindings: { ORIGIN_TIMEOUT_MS: "500" },
    rules: {
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      rules: [{ id: "hero", pages: ["/", "/c/*"], actions: { hero: { type: "setText", text: "Hi" } } }],
    } as { version: number },
  });
}, 120_000);

afterAll(async () => {
  await tailor?.dispose();
  origin?.closeAllConnections();
  await new Promise((done) => origin?.close(done));
});

/**
 * Sends one request on a connection of its own (a body cut at the deadline closes its connection,
 * which a pooled client could otherwise pick for the next request) and says how the body ended. A
 * hang is caught by the test's timeout, never by a duration assert.
 */
function requestOnce(path: string, method: string): Promise<{ status: number; ending: "complete" | "cut off" }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(
      `${tailor.url}${path}`,
      {
        method,
        agent: false,
        headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 Safari/537.36", accept: "text/html" },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        response.on("data", () => undefined);
        response.on("end", () => resolve({ status, ending: response.complete ? "complete" : "cut off" }));
        response.on("error", () => resolve({ status, ending: "cut off" }));
        response.on("aborted", () => resolve({ status, ending: "cut off" }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(method === "POST" ? "q=1" : undefined);
  });
}

const REQUESTS = [
  { what: "a personalized page", path: "/", method: "GET" },
  { what: "a personalized page with a query", path: "/c/shoes?page=2", method: "GET" },
  { what: "a page no rule targets", path: "/about", method: "GET" },
  { what: "a pass-through asset", path: "/static/app.js?type=application/javascript", method: "GET" },
  { what: "a pass-through POST", path: "/basket/add", method: "POST" },
];

it.each(REQUESTS)("ends $what by the deadline when the origin stalls mid-body", { timeout: 60_000 }, async ({ path, method }) => {
  const { status, ending } = await requestOnce(path, method);
  expect(status).toBe(200);
  expect(["complete", "cut off"]).toContain(ending);
});
