/**
 * The page proxy reaches only the origin, whatever the path looks like, and never hands Tailor's
 * own credentials to it; Tailor's own paths (and only those) are answered by Tailor.
 */
import { createExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, inject, it } from "vitest";
import worker from "../../../workers/index.ts";
import { publishRules, track } from "../../support/worker/fixtures.ts";

interface Echo {
  method: string;
  url: string;
  headers: Record<string, string | undefined>;
  body: string;
}

const ECHO = inject("echoOriginUrl");
const STRAY = inject("strayHostUrl");
/** "127.0.0.1:<port>" of the stray host: what an attacker puts in the path. */
const STRAY_HOST = new URL(STRAY).host;
const ADMIN_TOKEN = env.ADMIN_TOKEN;

/** Sends a raw URL (no resolution against a base, so `//host` stays in the path) through the Worker. */
function send(url: string, init: RequestInit = {}, overrides: Partial<Env> = {}): Promise<Response> {
  return Promise.resolve(worker.fetch(new Request(url, init), { ...env, ORIGIN_URL: ECHO, ...overrides }, createExecutionContext()));
}

async function strayHits(): Promise<number> {
  return ((await (await fetch(`${STRAY}/_stray/hits`)).json()) as { hits: number }).hits;
}

/** Paths that a careless `new URL(path, origin)` (or a browser) reads as another host. */
const HOSTILE_PATHS = [
  `//${STRAY_HOST}/x`,
  `//${STRAY_HOST}`,
  `///${STRAY_HOST}/x`,
  `/\\${STRAY_HOST}/x`,
  `/\\\\${STRAY_HOST}/x`,
  `\\\\${STRAY_HOST}/x`,
  `/\\/${STRAY_HOST}/x`,
  `//\\${STRAY_HOST}/x`,
  `/%2F%2F${STRAY_HOST}/x`,
  `/%2f%2f${STRAY_HOST}/x`,
  `/%5C${STRAY_HOST}/x`,
  `/%5c%5c${STRAY_HOST}/x`,
  `/%2f%5c${STRAY_HOST}/x`,
  `/%5C/${STRAY_HOST}/x`,
  `/\t/${STRAY_HOST}/x`,
  `/\n/${STRAY_HOST}/x`,
  `/\r\n\t\\${STRAY_HOST}/x`,
  `/%09/${STRAY_HOST}/x`,
  `/..//${STRAY_HOST}/x`,
  `/./..//${STRAY_HOST}/x`,
  `/a/../..//${STRAY_HOST}/x`,
  `/%2e%2e//${STRAY_HOST}/x`,
  `//user:pass@${STRAY_HOST}/x`,
  `//${STRAY_HOST}/x?q=1#frag`,
  `//${STRAY_HOST}:80/x`,
];

describe("the page proxy reaches only the origin", () => {
  it.each(["GET", "POST", "PUT", "DELETE"])("%s: every path that looks like another host stays on the origin", async (method) => {
    const before = await strayHits();
    const echoHost = new URL(ECHO).host;
    for (const path of HOSTILE_PATHS) {
      const response = await send(`http://shop.test${path}`, {
        method,
        headers: { accept: "text/html" },
        ...(method === "GET" ? {} : { body: "x" }),
      });
      expect(response.status, path).toBe(200);
      const echo = (await response.json()) as Echo;
      expect(echo.headers.host, path).toBe(echoHost);
      expect(echo.method, path).toBe(method);
    }
    expect(await strayHits()).toBe(before);
  });

  it("gives the origin the path as the browser's URL parser left it", async () => {
    const echo = (await (await send(`http://shop.test//${STRAY_HOST}/x?q=1`)).json()) as Echo;
    expect(echo.url).toBe(`//${STRAY_HOST}/x?q=1`);
    const encoded = (await (await send(`http://shop.test/%2F%2F${STRAY_HOST}/x`)).json()) as Echo;
    expect(encoded.url).toBe(`/%2F%2F${STRAY_HOST}/x`);
  });

  it("keeps the admin preview's path on the origin too", async () => {
    await publishRules({
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      rules: [{ id: "hero", actions: { hero: { type: "setText", text: "Hi" } } }],
    });
    const before = await strayHits();
    for (const path of HOSTILE_PATHS.filter((candidate) => candidate.startsWith("/"))) {
      const response = await send("http://shop.test/admin/api/preview", {
        method: "POST",
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ path, visitor: {} }),
      });
      expect(response.status, path).toBe(200);
    }
    expect(await strayHits()).toBe(before);
  });
});

describe("GET /v1/decide with a hostile path", () => {
  /** Paths a URL parser reads as another host, or cannot read at all. */
  const NOT_PLAIN_PATHS = [
    "//",
    "///",
    "/\\",
    "//:99999/",
    "//[/",
    "//a%20b/",
    "//[::1/",
    "//x:notaport/",
    "//%00/",
    "/\\/x",
    "\\x",
    "/\t/x",
    "/\n/x",
    "/ /x",
    "/a\u0000b",
    ...HOSTILE_PATHS.filter((path) => path.startsWith("//") || /[\\\s]/.test(path)),
  ];
  /** Odd-looking paths that are still plain paths on Tailor's own host. */
  const PLAIN_PATHS = ["/", "/c/shoes?sort=price", "/%2F%2Fx/y", "/..//x", "/a/../b", "/%5C", "/p/é", "/?q=//evil.example", "/#frag"];

  it("refuses a path that is not a plain absolute path with a 400 problem, never a 5xx", async () => {
    await publishRules({
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      rules: [{ id: "hero", actions: { hero: { type: "setText", text: "Hi" } } }],
    });
    for (const path of NOT_PLAIN_PATHS) {
      const response = await send(`http://shop.test/v1/decide?path=${encodeURIComponent(path)}`);
      expect(response.status, JSON.stringify(path)).toBe(400);
      expect(response.headers.get("content-type"), JSON.stringify(path)).toBe("application/problem+json");
      expect(await response.json(), JSON.stringify(path)).toMatchObject({ type: "/problems/invalid-path" });
    }
    for (const path of PLAIN_PATHS) {
      const response = await send(`http://shop.test/v1/decide?path=${encodeURIComponent(path)}`);
      expect(response.status, JSON.stringify(path)).toBe(200);
    }
  });
});

/** Tailor's credentials, each as a browser or client would send it. */
const CREDENTIALS: { name: string; headers: Record<string, string>; secret: string }[] = [
  { name: "admin bearer token", headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, secret: ADMIN_TOKEN },
  { name: "admin token, lower-case scheme", headers: { authorization: `bearer ${ADMIN_TOKEN}` }, secret: ADMIN_TOKEN },
  { name: "admin token, extra spaces", headers: { authorization: `Bearer   ${ADMIN_TOKEN}  ` }, secret: ADMIN_TOKEN },
  { name: "admin token, bare", headers: { authorization: ADMIN_TOKEN }, secret: ADMIN_TOKEN },
  ...[
    `Token ${ADMIN_TOKEN}`,
    `Bearer "${ADMIN_TOKEN}"`,
    `Bearer '${ADMIN_TOKEN}'`,
    `Bearer\t${ADMIN_TOKEN}`,
    `Bearer ${ADMIN_TOKEN}, Bearer other-token`,
    `Bearer other-token, Bearer ${ADMIN_TOKEN}`,
    `Bearer other-token,${ADMIN_TOKEN}`,
    `Digest username="admin", response="${ADMIN_TOKEN}"`,
    `Basic ${btoa(`admin:${ADMIN_TOKEN}`)}`,
    `Basic ${btoa(`${ADMIN_TOKEN}:`)}`,
    `Basic ${btoa(`${ADMIN_TOKEN}:x`)}`,
    `basic   ${btoa(`anyone:${ADMIN_TOKEN}`)}`,
    `Bearer ${Array.from({ length: 30 }, (_, index) => `t${index}`).join(" ")} ${ADMIN_TOKEN}`,
  ].map((authorization) => ({
    name: `admin token as ${JSON.stringify(authorization)}`,
    headers: { authorization },
    // Basic credentials carry the token base64-encoded: that is what must not reach the origin.
    secret: authorization.includes(ADMIN_TOKEN) ? ADMIN_TOKEN : (authorization.split(/\s+/).pop() ?? authorization),
  })),
  { name: "admin session cookie", headers: { cookie: "tailor_admin=session-secret-value" }, secret: "session-secret-value" },
  {
    name: "admin session among shop cookies",
    headers: { cookie: "a=1;tailor_admin=session-secret-value ; b=2" },
    secret: "session-secret-value",
  },
  { name: "Access assertion header", headers: { "cf-access-jwt-assertion": "access-jwt-secret" }, secret: "access-jwt-secret" },
  { name: "Access cookie", headers: { cookie: "CF_Authorization=access-cookie-secret" }, secret: "access-cookie-secret" },
  { name: "Access app session", headers: { cookie: "x=1; CF_AppSession=app-session-secret" }, secret: "app-session-secret" },
  {
    name: "Access service token",
    headers: { "cf-access-client-id": "client-id-secret", "cf-access-client-secret": "client-secret-secret" },
    secret: "client-secret-secret",
  },
  { name: "visitor cookie", headers: { cookie: "tailor_vid=AAAAAAAAAAAAAAAAAAAAAA" }, secret: "AAAAAAAAAAAAAAAAAAAAAA" },
  {
    name: "preview token in the Referer",
    headers: { referer: "https://shop.test/?tailor_preview=preview-token-secret&x=1" },
    secret: "preview-token-secret",
  },
];

describe("Tailor's credentials never reach the origin", () => {
  const paths = ["/", "/p/el-01", "/assets/site.css", "/api/cart?tailor_preview=preview-query-secret", "/checkout/"];
  const methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

  it.each(CREDENTIALS)("$name is stripped on every path and method", async ({ headers, secret }) => {
    for (const path of paths) {
      for (const method of methods) {
        const response = await send(`http://shop.test${path}`, {
          method,
          headers: { accept: "text/html", ...headers },
          ...(method === "GET" || method === "OPTIONS" ? {} : { body: "payload" }),
        });
        const echo = (await response.json()) as Echo;
        const seen = JSON.stringify(echo.headers);
        expect(seen, `${method} ${path}`).not.toContain(secret);
        expect(echo.url, `${method} ${path}`).not.toContain("preview-query-secret");
        expect(echo.headers["cf-access-jwt-assertion"]).toBeUndefined();
      }
    }
  });

  it("keeps the shop's own Authorization and cookies", async () => {
    for (const authorization of [
      "Bearer shop-api-token-0123456789",
      "Basic c2hvcDpzZWNyZXQ=",
      `Bearer ${ADMIN_TOKEN}x`,
      `Basic ${btoa(`admin:${ADMIN_TOKEN}x`)}`,
      'Digest username="shop", realm="staging", response="6629fae49393a05397450978507c4ef1"',
    ]) {
      const echo = (await (
        await send("http://shop.test/api/cart", {
          method: "POST",
          headers: { authorization, cookie: "cart=42; tailor_admin=s" },
          body: "{}",
        })
      ).json()) as Echo;
      expect(echo.headers.authorization).toBe(authorization);
      expect(echo.headers.cookie).toBe("cart=42");
    }
    const referred = (await (
      await send("http://shop.test/", { headers: { referer: "https://shop.test/c/shoes?sort=price" } })
    ).json()) as Echo;
    expect(referred.headers.referer).toBe("https://shop.test/c/shoes?sort=price");
  });
});

describe("Tailor's own paths", () => {
  it("answers unknown paths under its prefixes with its own 404 problem, not the origin", async () => {
    const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
    for (const [path, headers] of [
      ["/v1/nothing-here", {}],
      ["/v1/", {}],
      ["/v1", {}],
      ["/v1/events/extra", {}],
      ["/admin/api/nothing-here", admin],
      ["/admin/nothing", admin],
    ] as const) {
      const response = await send(`http://shop.test${path}`, { headers });
      expect(response.status, path).toBe(404);
      expect(response.headers.get("content-type"), path).toBe("application/problem+json");
    }
  });

  it("leaves paths that only start like Tailor's to the origin", async () => {
    for (const path of ["/v10/x", "/v1x", "/administrator", "/t.jsx", "/assets/t.js"]) {
      const echo = (await (await send(`http://shop.test${path}`)).json()) as Echo;
      expect(echo.url, path).toBe(path);
    }
  });

  it("moves the API and the tracker to the configured paths; the shop keeps its own /v1", async () => {
    const moved = { API_PREFIX: "/tailor/v1", TRACKER_PATH: "/assets/tailor.js" };
    const shopApi = await send(
      "http://shop.test/v1/events",
      { method: "POST", headers: { "content-type": "application/json" }, body: '{"shop":true}' },
      moved,
    );
    expect((await shopApi.json()) as Echo).toMatchObject({ method: "POST", url: "/v1/events", body: '{"shop":true}' });

    const ours = await send(
      "http://shop.test/tailor/v1/events",
      { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(track("Product Viewed")) },
      moved,
    );
    expect(ours.status).toBe(202);
    expect(await ours.json()).toMatchObject({ accepted: 1 });
    expect((await send("http://shop.test/tailor/v1/decide?path=/", {}, moved)).headers.get("content-type")).toMatch(/json/);
    expect((await send("http://shop.test/tailor/v1/unknown", {}, moved)).status).toBe(404);

    const tracker = await send("http://shop.test/assets/tailor.js", {}, moved);
    expect(tracker.headers.get("content-type")).toMatch(/javascript/);
    const script = await tracker.text();
    expect(script).toContain('"/tailor/v1/events"');
    expect(script).toContain("/tailor/v1/decide?path=");
    expect(script).not.toMatch(/[`"]\/v1\//);
    // The default tracker path is the shop's again.
    expect(((await (await send("http://shop.test/t.js", {}, moved)).json()) as Echo).url).toBe("/t.js");
  });

  it("serves the defaults when a setting is invalid", async () => {
    for (const API_PREFIX of ["", "v1", "/v1/", "/../x", "/a b", "/x?y", "//evil"]) {
      const response = await send("http://shop.test/t.js", {}, { API_PREFIX });
      const script = await response.text();
      expect(script, API_PREFIX).toContain('"/v1/events"');
    }
  });
});
