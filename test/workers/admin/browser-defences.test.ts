/**
 * What protects the editor in a browser, now taken from Hono (issue 15, item 4): `hono/csrf`
 * refuses changes sent from another origin, `hono/cookie` signs the session cookie, and
 * `hono/secure-headers` sets the security headers on every `/admin` response and on none of the
 * shop's pages.
 */
import { env } from "cloudflare:workers";
import { encodeBase64 } from "hono/utils/encode";
import { beforeEach, describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { encodeTextBase64Url, encodeUnpaddedBase64Url } from "../../../shared/base64url.ts";
import { placed } from "../../../workers/common/placement.ts";
import { accessAssertion, accessSettings } from "../../support/worker/access.ts";
import { type EditorSession, FORM, signIn } from "../../support/worker/admin-session.ts";
import { BASE, publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}` };

beforeEach(async () => {
  await publishRules();
});

async function problemType(response: Response): Promise<string> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return ((await response.json()) as { type: string }).type;
}

/** Every route that changes something, with a body it accepts (sent as text, as a form with `enctype="text/plain"` can). */
const CHANGES: [path: string, body: unknown][] = [
  ["/admin/api/rules/validate", { document: demoRules }],
  ["/admin/api/rules", { document: demoRules, message: "forged" }],
  ["/admin/api/rules/rollback", { version: 1 }],
  ["/admin/api/kill-switch", { enabled: false, reason: "forged" }],
  ["/admin/api/rules/pause", { kind: "rule", id: "electronics-hero", paused: true, reason: "forged" }],
  ["/admin/api/preview", { visitor: {} }],
  ["/admin/api/preview-links", { forced: { "hero-test": "b" } }],
  ["/admin/api/dead-letters/replay", {}],
  ["/admin/api/users/erase", { userId: "user-1" }],
  ["/admin/logout", {}],
];

/** How a browser marks a request another origin sent (or says nothing about where it came from). */
const CROSS_ORIGIN: [label: string, headers: Record<string, string>][] = [
  ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site" }],
  ["Sec-Fetch-Site: same-site (a sibling subdomain)", { "sec-fetch-site": "same-site", origin: "http://blog.shop.test" }],
  ["Sec-Fetch-Site: none", { "sec-fetch-site": "none" }],
  ["Sec-Fetch-Site: cross-site with Origin: null", { "sec-fetch-site": "cross-site", origin: "null" }],
  ["another Origin", { origin: "https://evil.example" }],
  ["a look-alike Origin", { origin: "http://shop.test.evil.example" }],
  ["Origin: null (a sandboxed frame)", { origin: "null" }],
  ["the same host over another scheme", { origin: "https://shop.test" }],
  ["the same host on another port", { origin: "http://shop.test:8080" }],
  ["neither Origin nor Sec-Fetch-Site", {}],
];

/** What a browser sends for a request from Tailor's own pages. */
const SAME_ORIGIN: [label: string, headers: Record<string, string>][] = [
  ["Sec-Fetch-Site: same-origin with Origin: null (Chromium under no-referrer)", { "sec-fetch-site": "same-origin", origin: "null" }],
  ["Sec-Fetch-Site: same-origin", { "sec-fetch-site": "same-origin" }],
  ["Origin of this host, no Sec-Fetch-Site (an older browser)", { origin: BASE }],
];

/** The body types a page on another site can send without a CORS preflight ("none" is read as text). */
const FORM_TYPES: (string | undefined)[] = ["text/plain", "Text/Plain; charset=utf-8", FORM, "multipart/form-data; boundary=x", undefined];

function change(body: unknown, headers: Record<string, string>, type: string | undefined): RequestInit {
  return { method: "POST", headers: { ...headers, ...(type === undefined ? {} : { "content-type": type }) }, body: JSON.stringify(body) };
}

async function auditDetails(): Promise<string[]> {
  const audit = (await (await request("/admin/api/audit", { headers: ADMIN })).json()) as { entries: { detail: string }[] };
  return audit.entries.map((entry) => entry.detail);
}

/** Credentials a browser attaches by itself, so a page on another site could borrow them. */
const AMBIENT: [label: string, credentials: (index: number) => Promise<{ headers: Record<string, string>; env: Partial<Env> }>][] = [
  [
    "a signed-in editor's cookie and CSRF token",
    async (index) => {
      const session: EditorSession = await signIn(`Cross ${index}`, `192.0.2.${100 + index}`);
      return { headers: { cookie: session.cookie, "x-csrf-token": session.csrf }, env: {} };
    },
  ],
  [
    "a Cloudflare Access assertion",
    async () => ({ headers: { "cf-access-jwt-assertion": await accessAssertion() }, env: accessSettings() }),
  ],
];

describe("cross-site changes (hono/csrf)", () => {
  const cases = AMBIENT.flatMap(([label, credentials]) =>
    CHANGES.map(([path, body], index) => [path, label, body, credentials, index] as const),
  );

  it.each(cases)(
    "refuses %s with %s from another origin (JSON included), and takes it from Tailor's own page",
    async (path, _, body, credentials, index) => {
      const { headers: ambient, env: overrides } = await credentials(index);
      const audit = await auditDetails();
      for (const [label, headers] of CROSS_ORIGIN) {
        // JSON too, where the browser says where it comes from: a preflight answered by someone
        // else (Access's own CORS settings) must not open the admin to other sites.
        const types = Object.keys(headers).length === 0 ? FORM_TYPES : [...FORM_TYPES, "application/json"];
        for (const type of types) {
          const response = await request(path, change(body, { ...ambient, ...headers }, type), overrides);
          expect(response.status, `${label}, ${type}`).toBe(403);
          expect(await problemType(response)).toBe("/problems/cross-site");
        }
      }
      // Nothing was done: the audit log is as it was.
      expect(await auditDetails()).toEqual(audit);
      // Sign-out comes last in each variant's run: it ends the session the later variants present.
      for (const [label, headers] of SAME_ORIGIN) {
        const response = await request(path, change(body, { ...ambient, ...headers }, "text/plain"), overrides);
        expect(response.status, label).not.toBe(403);
        expect(response.status, label).toBeLessThan(500);
        await response.arrayBuffer();
      }
    },
  );

  /** A browser's sign-in form post with `headers` saying where it comes from. */
  function signInFrom(headers: Record<string, string>, address: string): Promise<Response> {
    const form = new URLSearchParams({ name: "Signer", token: env.ADMIN_TOKEN }).toString();
    return request("/admin/login", {
      method: "POST",
      headers: { "content-type": FORM, "cf-connecting-ip": address, ...headers },
      body: form,
    });
  }

  it("refuses a sign-in form posted from another origin, and signs in from Tailor's own page", async () => {
    for (const [label, headers] of CROSS_ORIGIN) {
      const response = await signInFrom(headers, "192.0.2.150");
      expect(response.status, label).toBe(403);
      expect(await problemType(response)).toBe("/problems/cross-site");
    }
    for (const [label, headers] of SAME_ORIGIN) expect((await signInFrom(headers, "192.0.2.151")).status, label).toBe(303);
  });

  it("keeps the admin token working from the command line, whatever the body type and without Origin", async () => {
    for (const type of [...FORM_TYPES, "application/json"]) {
      const response = await request("/admin/api/rules/validate", change({ document: demoRules }, ADMIN, type));
      expect(response.status, String(type)).toBe(200);
    }
  });

  it("grants no CORS preflight, so no other origin can send the JSON changes the check lets pass", async () => {
    for (const [path] of CHANGES) {
      const response = await request(path, {
        method: "OPTIONS",
        headers: {
          origin: "https://evil.example",
          "access-control-request-method": "POST",
          "access-control-request-headers": "content-type",
        },
      });
      expect(response.headers.get("access-control-allow-origin"), path).toBeNull();
      expect(response.headers.get("access-control-allow-credentials"), path).toBeNull();
      await response.arrayBuffer();
    }
  });
});

/** HMAC-SHA-256 of `text` under `secret`. */
async function hmac(secret: string, text: string): Promise<ArrayBuffer> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", key, new TextEncoder().encode(text));
}

/** A cookie value in `hono/cookie`'s signed format, under `secret`. */
async function honoSigned(value: string, secret: string): Promise<string> {
  return encodeURIComponent(`${value}.${encodeBase64(await hmac(secret, value))}`);
}

/** An editor session listed in the registry, as sign-in opens one. */
async function openRegistrySession(actor: string, expiresAt: number): Promise<string> {
  const sid = crypto.randomUUID();
  await placed(env.RULES_REGISTRY, env).getByName("registry").openSession({ id: sid, actor, expiresAt });
  return sid;
}

describe("the signed session cookie (hono/cookie)", () => {
  const SESSION_KEY = `tailor-session:${env.ADMIN_TOKEN}`;

  /** Cookie values that must not open the editor, built from a genuine one. */
  const forgeries: [label: string, forge: (genuine: { json: string; signature: string }) => Promise<string> | string][] = [
    [
      "a cookie in the format used before Hono signed them, validly signed, its session open",
      async () => {
        const sid = await openRegistrySession("Old Format", Date.now() + 3_600_000);
        const payload = encodeTextBase64Url(JSON.stringify({ sid, actor: "Old Format", exp: Date.now() + 3_600_000 }));
        return `${payload}.${encodeUnpaddedBase64Url(await hmac(SESSION_KEY, payload))}`;
      },
    ],
    [
      "another actor under the genuine signature",
      ({ json, signature }) => encodeURIComponent(`${json.replace("Tamper", "Mallory")}.${signature}`),
    ],
    [
      "another session id under the genuine signature",
      ({ json, signature }) => encodeURIComponent(`${json.replace(/"sid":"[^"]+"/, `"sid":"${crypto.randomUUID()}"`)}.${signature}`),
    ],
    ["the genuine contents signed with another key", ({ json }) => honoSigned(json, "tailor-session:another-admin-token-0000")],
    ["the genuine contents unsigned", ({ json }) => encodeURIComponent(json)],
    ["the signature cut short", ({ json, signature }) => encodeURIComponent(`${json}.${signature.slice(0, 40)}=`)],
    [
      "one character of the signature changed",
      ({ json, signature }) => encodeURIComponent(`${json}.${signature.startsWith("A") ? "B" : "A"}${signature.slice(1)}`),
    ],
    [
      "a genuine signature on a session never opened",
      () => honoSigned(JSON.stringify({ sid: crypto.randomUUID(), actor: "Ghost", exp: Date.now() + 3_600_000 }), SESSION_KEY),
    ],
    [
      "a genuine signature on an expired session",
      async () =>
        honoSigned(
          JSON.stringify({ sid: await openRegistrySession("Late", Date.now() + 3_600_000), actor: "Late", exp: Date.now() - 1 }),
          SESSION_KEY,
        ),
    ],
    ["a genuine signature on contents that are not a session", () => honoSigned(JSON.stringify(["not", "a", "session"]), SESSION_KEY)],
    ["a genuine signature on text that is not JSON", () => honoSigned("{not json", SESSION_KEY)],
    ["broken percent-encoding", () => "%E0%A4%A.%%%"],
    ["an empty value", () => ""],
    ["5 KB of padding", ({ json, signature }) => encodeURIComponent(`${json}${" ".repeat(5_000)}.${signature}`)],
  ];

  it.each(forgeries.map(([label, forge], index) => [label, forge, index] as const))(
    "refuses %s: 401 from the API, the sign-in page for a browser, never a 500",
    async (_, forge, index) => {
      const { cookie } = await signIn(`Tamper ${index}`, `192.0.2.${200 + index}`);
      const [name = "", value = ""] = cookie.split("=");
      const decoded = decodeURIComponent(value);
      const cut = decoded.lastIndexOf(".");
      const genuine = { json: decoded.slice(0, cut), signature: decoded.slice(cut + 1) };
      // The genuine cookie opens the editor: only the forgery below is refused.
      expect((await request("/admin/api/rules", { headers: { cookie } })).status).toBe(200);
      const forged = `${name}=${await forge(genuine)}`;
      const api = await request("/admin/api/rules", { headers: { cookie: forged } });
      expect(api.status).toBe(401);
      expect(await problemType(api)).toBe("/problems/unauthorized");
      const page = await request("/admin", { headers: { cookie: forged, accept: "text/html" } });
      expect([page.status, page.headers.get("location")]).toEqual([303, "/admin/login"]);
    },
  );

  it.each([
    ["http", false],
    ["https", true],
  ] as const)(
    "issues the cookie over %s as HttpOnly, SameSite=Strict, scoped to /admin for 12 hours (Secure: %s)",
    async (scheme, secure) => {
      const response = await request(`${scheme}://shop.test/admin/login`, {
        method: "POST",
        headers: { "content-type": FORM, "sec-fetch-site": "same-origin", "cf-connecting-ip": "192.0.2.170" },
        body: new URLSearchParams({ name: "Flags", token: env.ADMIN_TOKEN }).toString(),
      });
      expect(response.status).toBe(303);
      const attributes = (response.headers.get("set-cookie") ?? "").split(/;\s*/).slice(1);
      expect(attributes).toEqual(expect.arrayContaining(["Max-Age=43200", "Path=/admin", "HttpOnly", "SameSite=Strict"]));
      expect(attributes.includes("Secure")).toBe(secure);
    },
  );
});

describe("security headers (hono/secure-headers)", () => {
  const responses: [label: string, send: () => Promise<Response>][] = [
    ["the sign-in page", () => request("/admin/login", { headers: { accept: "text/html" } })],
    ["the editor's script", () => request("/admin/assets/admin.js")],
    ["the editor's page", () => request("/admin", { headers: { ...ADMIN, accept: "text/html" } })],
    ["a JSON answer", () => request("/admin/api/rules", { headers: ADMIN })],
    ["a 401 problem", () => request("/admin/api/rules")],
    ["the redirect to sign in", () => request("/admin", { headers: { accept: "text/html" } })],
    [
      "a refused cross-site change",
      () => request("/admin/login", { method: "POST", headers: { "content-type": FORM, "sec-fetch-site": "cross-site" }, body: "name=x" }),
    ],
  ];

  it.each(responses)("sets them on %s", async (_, send) => {
    const response = await send();
    await response.arrayBuffer();
    const csp = response.headers.get("content-security-policy") ?? "";
    for (const directive of ["default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"])
      expect(csp).toContain(directive);
    expect(csp).not.toContain("unsafe-eval");
    expect(response.headers.get("x-frame-options")).toBe("DENY");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    expect(response.headers.get("referrer-policy")).toBe("no-referrer");
    expect(response.headers.get("cross-origin-opener-policy")).toBe("same-origin");
    // No other site may load an admin answer into its own page, not even as a script or image.
    expect(response.headers.get("cross-origin-resource-policy")).toBe("same-origin");
    expect(response.headers.get("cache-control")).toBe("no-store");
    // HSTS would bind the shop's whole host (and its subdomains) to HTTPS: the shop's decision.
    expect(response.headers.get("strict-transport-security")).toBeNull();
  });

  it.each(["/", "/products/el-01", "/basket"])("leaves them off the shop's page %s", async (path) => {
    const response = await request(path, { headers: { accept: "text/html" } });
    await response.arrayBuffer();
    expect(response.headers.get("content-security-policy") ?? "").not.toContain("frame-ancestors 'none'");
    for (const header of [
      "x-frame-options",
      "cross-origin-resource-policy",
      "cross-origin-opener-policy",
      "origin-agent-cluster",
      "x-dns-prefetch-control",
    ])
      expect(response.headers.get(header), header).toBeNull();
  });
});
