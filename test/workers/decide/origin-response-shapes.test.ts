/**
 * The page path, with the origin's response edited in place: odd origin
 * responses (headers sent twice, odd casing, the origin's own cookies, null bodies) still leave no
 * shared-cache header, keep the origin's cookies next to Tailor's, and never throw; the preview token
 * never reaches the origin in any spelling, and a query without one reaches it as sent.
 */
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, inject, it, vi } from "vitest";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
const PAGE = '<!doctype html><html><body><section data-slot="hero"><h1>Default hero</h1></section></body></html>';
const SHARED = [
  "cdn-cache-control",
  "cloudflare-cdn-cache-control",
  "surrogate-control",
  "surrogate-key",
  "cache-tag",
  "expires",
  "pragma",
  "age",
  "etag",
  "last-modified",
  "content-md5",
  "digest",
  "repr-digest",
  "content-digest",
  "content-length",
];

beforeEach(async () => {
  await publishRules({
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    rules: [{ id: "hero-for-all", pages: ["/", "/c/*"], actions: { hero: { type: "setText", text: "Hello, you" } } }],
  });
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** The origin answers with `make()`'s response; the real fetch is used for anything else. */
function originAnswers(make: () => Response): void {
  const real = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation((input, init) => {
    const url = input instanceof Request ? input.url : String(input);
    if (url.startsWith(env.ORIGIN_URL)) return Promise.resolve(make());
    return real(input, init);
  });
}

describe("odd origin responses on a personalized page", () => {
  it("drops every shared-cache header however it was sent (twice, odd casing) and keeps the origin's cookies", async () => {
    originAnswers(() => {
      const headers = new Headers({ "Content-Type": "text/html; charset=utf-8" });
      for (const name of SHARED) {
        headers.append(name.toUpperCase(), "1");
        headers.append(
          name.replace(/^./, (c) => c.toUpperCase()),
          "2",
        );
      }
      headers.append("Cache-Control", "public, max-age=600");
      headers.append("cache-control", "s-maxage=3600");
      headers.append("Set-Cookie", "cart=1; Path=/");
      headers.append("Set-Cookie", "session=2; Path=/; HttpOnly");
      headers.append("Vary", "Accept-Encoding");
      headers.set("content-length", String(PAGE.length));
      return new Response(PAGE, { status: 200, headers });
    });
    const response = await request("/", { headers: BROWSER });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("Hello, you");
    for (const name of SHARED) expect(response.headers.get(name), name).toBeNull();
    expect(response.headers.get("cache-control")).toBe("private, no-cache");
    const cookies = response.headers.getAll("set-cookie");
    expect(cookies).toContain("cart=1; Path=/");
    expect(cookies).toContain("session=2; Path=/; HttpOnly");
    expect(cookies.some((cookie) => cookie.startsWith("tailor_vid="))).toBe(true);
    expect(response.headers.get("vary")).toMatch(/Accept-Encoding.*Cookie/);
  });

  it("serves the page with no slot actions (origin's copy returned) without its validators", async () => {
    await publishRules(
      {
        version: 2,
        slots: { hero: { selector: '[data-slot="hero"]' } },
        rules: [{ id: "headers-only", pages: ["/"], page: { headers: { "x-campaign": "spring" } }, actions: {} }],
      },
      2,
    );
    originAnswers(
      () =>
        new Response(PAGE, {
          headers: { "content-type": "text/html", etag: '"v1"', "last-modified": "Wed, 01 Jan 2025 00:00:00 GMT", age: "3" },
        }),
    );
    const response = await request("/", { headers: BROWSER });
    expect(response.status).toBe(200);
    for (const name of SHARED) expect(response.headers.get(name), name).toBeNull();
    expect(response.headers.get("cache-control")).toMatch(/^private, no-(cache|store)$/);
    expect(await response.text()).toBe(PAGE);
  });

  it.each([
    ["204", () => new Response(null, { status: 204, headers: { "content-type": "text/html", etag: '"x"' } })],
    ["304", () => new Response(null, { status: 304, headers: { "content-type": "text/html", etag: '"x"' } })],
    ["200 without a body", () => new Response(null, { status: 200, headers: { "content-type": "text/html", etag: '"x"' } })],
    ["an empty 200", () => new Response("", { status: 200, headers: { "content-type": "text/html", etag: '"x"' } })],
    ["a redirect", () => Response.redirect("https://shop.test/elsewhere", 302)],
    [
      "a 404 page",
      () => new Response(PAGE, { status: 404, headers: { "content-type": "text/html", "cache-control": "public, max-age=60" } }),
    ],
  ])("answers %s without throwing and keeps it out of shared caches when it is HTML", async (_, make) => {
    originAnswers(make);
    const response = await request("/", { headers: BROWSER });
    expect(response.status).toBeLessThan(500);
    await response.arrayBuffer();
    if ((response.headers.get("content-type") ?? "").startsWith("text/html")) {
      expect(response.headers.get("etag")).toBeNull();
      expect(response.headers.get("cache-control")).toMatch(/^private/);
    }
  });
});

describe("the origin's query", () => {
  interface Echo {
    url: string;
    headers: Record<string, string | undefined>;
  }
  const echo = { ORIGIN_URL: inject("echoOriginUrl") };
  const seen = async (path: string) => (await (await request(path, { headers: BROWSER }, echo)).json()) as Echo;

  it.each([
    "/?tailor_preview=SECRET",
    "/?tailor_preview=SECRET&tailor_preview=SECRET2",
    "/?a=1&tailor_preview=SECRET&b=2",
    "/?tailor%5Fpreview=SECRET",
    "/?tailor%5fpreview=SECRET",
    "/?%74ailor_preview=SECRET",
    "/?tailor_preview=SEC+RET%20X",
    "/?tailor_preview=",
    "/?tailor_preview",
    "/?tailor_preview=SECRET#frag",
    "/?a=%26tailor_preview%3Dkept&tailor_preview=SECRET",
  ])("%s reaches the origin without the token", async (path) => {
    const { url } = await seen(path);
    expect(url).not.toContain("SECRET");
    expect(new URL(url, "http://origin.test").searchParams.has("tailor_preview")).toBe(false);
  });

  it.each([
    "/?q=red%20shoes&tag=a+b",
    "/?a=%7e&b=~&c=%2B&d=%26&e",
    "/?x=%C3%BC&y=ü&z=%zz",
    "/?&&a=1&",
    "/?a=1;b=2",
    "/?tailor_previews=1&xtailor_preview=2",
  ])("%s reaches the origin as the visitor sent it", async (path) => {
    const sent = new URL(path, "http://shop.test");
    const { url } = await seen(path);
    expect(url).toBe(`${sent.pathname}${sent.search}`);
  });
});
