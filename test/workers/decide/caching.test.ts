/**
 * Nothing personal is kept by a shared cache: against an origin that sends every caching directive
 * and validator there is, a personalized page, a personalized redirect and `/v1/decide` carry none
 * of them, only `Cache-Control: private`.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, inject, it } from "vitest";
import worker from "../../../workers/index.ts";
import { CACHING_ORIGIN_HEADERS } from "../../support/caching-origin.ts";
import { publishRules } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };

/** What the caching origin sends that a shared cache or CDN acts on (`Cache-Control` is checked on its own). */
const SHARED_DIRECTIVES = Object.keys(CACHING_ORIGIN_HEADERS).filter((name) => name !== "cache-control");

/** Requests that get the origin's page unpersonalized, on a path rules target. */
const UNPERSONALIZED: { what: string; path: string; method: string; headers: Record<string, string> }[] = [
  {
    what: "a crawler",
    path: "/",
    method: "GET",
    headers: { "user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)" },
  },
  {
    what: "another crawler",
    path: "/c/shoes",
    method: "GET",
    headers: { "user-agent": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)" },
  },
  { what: "a Sec-Purpose prefetch", path: "/", method: "GET", headers: { ...BROWSER, "sec-purpose": "prefetch" } },
  { what: "a prerender", path: "/c/shoes", method: "GET", headers: { ...BROWSER, "sec-purpose": "prefetch;prerender" } },
  { what: "a Purpose prefetch", path: "/", method: "GET", headers: { ...BROWSER, purpose: "prefetch" } },
  { what: "a HEAD request", path: "/", method: "HEAD", headers: BROWSER },
  { what: "a HEAD request with a query", path: "/c/shoes?page=2", method: "HEAD", headers: BROWSER },
];

function send(path: string, init: RequestInit = {}): Promise<Response> {
  return Promise.resolve(
    worker.fetch(
      new Request(`http://shop.test${path}`, init),
      { ...env, ORIGIN_URL: inject("cachingOriginUrl") },
      createExecutionContext(),
    ),
  );
}

function expectNothingShared(response: Response, what: string): void {
  for (const name of SHARED_DIRECTIVES) expect(response.headers.get(name), `${what}: ${name}`).toBeNull();
  const cacheControl = response.headers.get("cache-control") ?? "";
  expect(cacheControl, what).toMatch(/^private, no-(cache|store)$/);
  expect(cacheControl, what).not.toMatch(/public|s-maxage|max-age|stale/);
}

beforeEach(async () => {
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [
      { id: "hero-for-all", pages: ["/", "/c/*"], actions: { hero: { type: "setText", text: "Hello, you" } } },
      { id: "away", pages: ["/go"], page: { redirect: { to: "/c/sale", status: 302 } }, actions: {} },
    ],
  });
});

describe("personalized responses carry no shared-cache directive from the origin", () => {
  it("for personalized pages, new and returning visitors alike", async () => {
    for (const [path, cookie] of [
      ["/", undefined],
      ["/c/shoes", undefined],
      ["/?utm_source=mail", undefined],
      ["/", "tailor_vid=AAAAAAAAAAAAAAAAAAAAAA"],
    ] as const) {
      const response = await send(path, { headers: { ...BROWSER, ...(cookie === undefined ? {} : { cookie }) } });
      expect(await response.text(), path).toContain("Hello, you");
      expectNothingShared(response, path);
      expect(response.headers.get("vary"), path).toMatch(/Cookie/);
    }
  });

  it("for a personalized redirect", async () => {
    const response = await send("/go", { headers: BROWSER, redirect: "manual" });
    expect(response.status).toBe(302);
    expect(response.headers.get("location")).toBe("/c/sale");
    expectNothingShared(response, "redirect");
  });

  it("for /v1/decide", async () => {
    const response = await send("/v1/decide?path=/", { headers: BROWSER });
    expect(response.status).toBe(200);
    expectNothingShared(response, "decide");
  });

  it.each(UNPERSONALIZED)("for the default page on a personalized path: $what", async ({ path, method, headers }) => {
    const response = await send(path, { method, headers });
    expect(response.status).toBe(200);
    if (method === "GET") expect(await response.text()).toContain("Default hero");
    for (const name of SHARED_DIRECTIVES) expect(response.headers.get(name), name).toBeNull();
    expect(response.headers.get("cache-control")).toBe("private, no-cache");
    expect(response.headers.get("vary")).toMatch(/Cookie/);
  });

  it.each(UNPERSONALIZED)("leaves the origin's caching alone on pages nobody personalizes: $what", async ({ method, headers }) => {
    const response = await send("/static/app.css", { method, headers });
    expect(response.headers.get("cache-control")).toBe("public, max-age=600, s-maxage=3600, stale-while-revalidate=60");
    expect(response.headers.get("etag")).toBe('"page-v1"');
    expect(response.headers.get("vary")).toBeNull();
  });
});
