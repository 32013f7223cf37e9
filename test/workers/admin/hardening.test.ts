/**
 * The admin surface under abuse (security issue 12, item 4): cross-site changes with an Access
 * assertion, sign-out that ends the session server-side, the editor's own sign-out button,
 * throttled sign-in, bounded request bodies, and a live pointer or version in KV that is not JSON.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { RULES_LIVE_KEY, rulesVersionKey } from "../../../shared/rules/document.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { accessAssertion, accessSettings } from "../../support/worker/access.ts";
import { FORM, signIn } from "../../support/worker/admin-session.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

async function problemOf(response: Response): Promise<{ type: string; title: string; status: number }> {
  expect(response.headers.get("content-type")).toBe("application/problem+json");
  return (await response.json()) as { type: string; title: string; status: number };
}

beforeEach(async () => {
  await publishRules();
});

describe("changes with a Cloudflare Access assertion", () => {
  const changes: [string, unknown][] = [
    ["/admin/api/rules/validate", { document: demoRules }],
    ["/admin/api/rules", { document: demoRules, message: "forged" }],
    ["/admin/api/rules/rollback", { version: 1 }],
    ["/admin/api/dead-letters/replay", {}],
  ];
  const crossSite: [string, Record<string, string>][] = [
    ["Sec-Fetch-Site: cross-site", { "sec-fetch-site": "cross-site" }],
    ["Sec-Fetch-Site: same-site", { "sec-fetch-site": "same-site" }],
    ["another Origin, no Sec-Fetch-Site", { origin: "https://evil.example" }],
    ["a look-alike Origin", { origin: "http://shop.test.evil.example" }],
    ["both cross-site", { "sec-fetch-site": "cross-site", origin: "https://evil.example" }],
  ];

  // The body types a page on another site can send without a CORS preflight; JSON needs one, and
  // `/admin` grants none (browser-defences.test.ts).
  it.each(crossSite)("refuses a cross-site change (%s) with 403, whatever the route or body type a form can send", async (_, headers) => {
    const assertion = await accessAssertion();
    for (const [path, body] of changes) {
      for (const type of ["text/plain", FORM, "multipart/form-data; boundary=x"]) {
        const response = await request(
          path,
          {
            method: "POST",
            headers: { "cf-access-jwt-assertion": assertion, "content-type": type, ...headers },
            body: JSON.stringify(body),
          },
          accessSettings(),
        );
        expect(response.status, `${path} as ${type}`).toBe(403);
        expect((await problemOf(response)).type).toBe("/problems/cross-site");
      }
    }
    const audit = (await (await request("/admin/api/audit", { headers: ADMIN })).json()) as { entries: { detail: string }[] };
    expect(audit.entries.map((entry) => entry.detail)).not.toContain("forged");
  });

  it("lets the same change through from Tailor's own page, and from a client that is not a browser", async () => {
    const assertion = await accessAssertion();
    const ownOrNoBrowser: Record<string, string>[] = [{ "sec-fetch-site": "same-origin" }, { origin: "http://shop.test" }, {}];
    for (const headers of ownOrNoBrowser) {
      const response = await request(
        "/admin/api/rules/validate",
        {
          method: "POST",
          headers: { "cf-access-jwt-assertion": assertion, "content-type": "application/json", ...headers },
          body: JSON.stringify({ document: demoRules }),
        },
        accessSettings(),
      );
      expect(response.status).toBe(200);
    }
  });
});

describe("editor sessions", () => {
  it("signs out with the page's own Sign out button (the form as rendered)", async () => {
    const { cookie, page } = await signIn("Button Tester", "192.0.2.11");
    const form = /<form method="post" action="([^"]+)" class="logout">([\s\S]*?)<\/form>/.exec(page);
    expect(form).not.toBeNull();
    const fields = new URLSearchParams();
    for (const [, name, value] of (form?.[2] ?? "").matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g))
      fields.set(name ?? "", value ?? "");
    // What Chromium sends for a same-origin form under referrer-policy no-referrer.
    const response = await request(form?.[1] ?? "", {
      method: "POST",
      headers: { cookie, "content-type": FORM, "sec-fetch-site": "same-origin", origin: "null" },
      body: fields.toString(),
    });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/admin/login");
    expect(response.headers.get("set-cookie")).toMatch(/tailor_admin=;.*Max-Age=0/);
  });

  it("ends the session server-side: a copy of the cookie stops working after sign-out", async () => {
    const { cookie, csrf } = await signIn("Copied Cookie", "192.0.2.12");
    const copy = cookie;
    expect((await request("/admin/api/rules", { headers: { cookie: copy } })).status).toBe(200);
    const out = await request("/admin/logout", {
      method: "POST",
      headers: { cookie, "x-csrf-token": csrf, "sec-fetch-site": "same-origin" },
    });
    expect(out.status).toBe(303);
    for (const [method, path] of [
      ["GET", "/admin/api/rules"],
      ["GET", "/admin/api/audit"],
      ["POST", "/admin/api/rules/validate"],
    ] as const) {
      const response = await request(path, {
        method,
        headers: { cookie: copy, "x-csrf-token": csrf, "content-type": "application/json", "sec-fetch-site": "same-origin" },
        ...(method === "POST" ? { body: JSON.stringify({ document: demoRules }) } : {}),
      });
      expect(response.status, `${method} ${path}`).toBe(401);
    }
    const page = await request("/admin", { headers: { cookie: copy, accept: "text/html" } });
    expect([page.status, page.headers.get("location")]).toEqual([303, "/admin/login"]);
    // Another editor's session is untouched.
    const other = await signIn("Still Here", "192.0.2.13");
    expect((await request("/admin/api/rules", { headers: { cookie: other.cookie } })).status).toBe(200);
  });

  it("refuses a cross-site change even with the session cookie and its CSRF token", async () => {
    const { cookie, csrf } = await signIn("Cross", "192.0.2.15");
    const crossSite: Record<string, string>[] = [{ "sec-fetch-site": "cross-site" }, { origin: "https://evil.example" }];
    for (const headers of crossSite) {
      const response = await request("/admin/api/rules/validate", {
        method: "POST",
        headers: { cookie, "x-csrf-token": csrf, "content-type": "text/plain", ...headers },
        body: JSON.stringify({ document: demoRules }),
      });
      expect(response.status).toBe(403);
    }
  });
});

describe("sign-in throttling", () => {
  /** Tries wrong tokens until a 429 or `attempts` run out. */
  async function hammer(attempt: (index: number) => Promise<Response>, attempts = 25): Promise<Response | undefined> {
    // The local limiter counts in fixed one-minute windows: a run that crosses a boundary starts
    // counting again, so allow two windows' worth of attempts (10 a minute).
    for (let index = 0; index < attempts; index++) {
      const response = await attempt(index);
      if (response.status === 429) return response;
      expect(response.status).toBe(401);
      await response.arrayBuffer();
    }
    return undefined;
  }

  function tryToken(name: string, address: string, token = "wrong-token-wrong-token"): Promise<Response> {
    return request("/admin/login", {
      method: "POST",
      headers: { "content-type": FORM, "sec-fetch-site": "same-origin", "cf-connecting-ip": address },
      body: new URLSearchParams({ name, token }).toString(),
    });
  }

  it("answers 429 with Retry-After after a burst from one address, whatever name it uses", async () => {
    const limited = await hammer((index) => tryToken(`Guesser ${index}`, "198.51.100.7"));
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get("retry-after")).toBe("60");
    expect(limited === undefined ? undefined : (await problemOf(limited)).title).toBe("Too many sign-in attempts");
    // Even the right token is refused from that address now: guessing cannot continue by luck.
    expect((await tryToken("Guesser", "198.51.100.7", env.ADMIN_TOKEN)).status).toBe(429);
    // Someone else, elsewhere, signs in as usual.
    expect((await tryToken("Elsewhere", "198.51.100.8", env.ADMIN_TOKEN)).status).toBe(303);
  });

  it("answers 429 after a burst for one name, spread over many addresses", async () => {
    const limited = await hammer((index) => tryToken("Target Editor", `203.0.113.${index + 1}`));
    expect(limited?.status).toBe(429);
    expect((await tryToken("Another Editor", "203.0.113.200")).status).toBe(401);
  });
});

describe("request bodies", () => {
  const routes = ["/admin/api/rules/validate", "/admin/api/rules", "/admin/api/rules/rollback", "/admin/api/preview"];
  const big = "x".repeat(2 * 1024 * 1024);

  it.each(routes)("refuses a body over 1 MiB at %s with 413, declared or streamed", async (path) => {
    const declared = await request(path, {
      method: "POST",
      headers: ADMIN,
      body: JSON.stringify({ document: { ...demoRules, padding: big }, message: "big" }),
    });
    expect(declared.status).toBe(413);
    expect((await problemOf(declared)).type).toBe("/problems/payload-too-large");
    const streamed = await request(path, {
      method: "POST",
      headers: ADMIN,
      body: new ReadableStream({
        start(controller) {
          for (let index = 0; index < 40; index++) controller.enqueue(new TextEncoder().encode(`"${"y".repeat(64 * 1024)}",`));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit);
    expect(streamed.status).toBe(413);
  });

  it.each(routes)("refuses deeply nested, malformed or non-UTF-8 JSON at %s with a 400 problem", async (path) => {
    const deep = `{"document":${"[".repeat(5_000)}${"]".repeat(5_000)}}`;
    const nestedCondition = {
      ...demoRules,
      rules: [{ id: "deep", condition: JSON.parse(`${'{"$and":['.repeat(40)}{}${"]}".repeat(40)}`) }],
    };
    for (const body of [
      deep,
      JSON.stringify({ document: nestedCondition, message: "deep" }),
      "{not json",
      new Uint8Array([0x7b, 0xff, 0x7d]),
    ]) {
      const response = await request(path, { method: "POST", headers: ADMIN, body });
      expect(response.status).toBe(400);
      await problemOf(response);
    }
  });

  it("refuses an oversized sign-in form with 413", async () => {
    const response = await request("/admin/login", {
      method: "POST",
      headers: { "content-type": FORM, "sec-fetch-site": "same-origin", "cf-connecting-ip": "192.0.2.99" },
      body: `name=Big&token=${"t".repeat(100_000)}`,
    });
    expect(response.status).toBe(413);
  });
});

describe("rules in KV that are not JSON", () => {
  beforeEach(() => forgetRules());

  it("keeps the API and the editor working when the live pointer is garbage, and a publish repairs it", async () => {
    await env.RULES.put(RULES_LIVE_KEY, "garbage");
    forgetRules();
    const live = await request("/admin/api/rules", { headers: ADMIN });
    expect(live.status).toBe(200);
    const body = (await live.json()) as { warnings: string[] };
    expect(body.warnings.join(" ")).toMatch(/rules:live is not \{"version": n\}/);
    for (const path of ["/admin/api/rules/versions", "/admin/api/audit"])
      expect((await request(path, { headers: ADMIN })).status, path).toBe(200);
    for (const path of ["/admin", "/admin/versions", "/admin/json"]) {
      const page = await request(path, { headers: { ...ADMIN, accept: "text/html" } });
      expect(page.status, path).toBe(200);
      if (path === "/admin") expect(await page.text()).toContain("rules:live is not");
      else await page.arrayBuffer();
    }
    const published = await request("/admin/api/rules", {
      method: "POST",
      headers: ADMIN,
      body: JSON.stringify({ document: demoRules, message: "repair" }),
    });
    expect(published.status).toBe(201);
    const { version } = (await published.json()) as { version: number };
    expect(JSON.parse((await env.RULES.get(RULES_LIVE_KEY)) ?? "null")).toEqual({ version });
    const after = (await (await request("/admin/api/rules", { headers: ADMIN })).json()) as { version: number; warnings: string[] };
    expect([after.version, after.warnings]).toEqual([version, []]);
  });

  it("answers a clear problem for a version that is not JSON, lists the rest, and a rollback repairs the live pointer", async () => {
    await env.RULES.put(rulesVersionKey(2), "{not json");
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: 2 }));
    forgetRules();
    const live = await request("/admin/api/rules", { headers: ADMIN });
    expect(live.status).toBe(200);
    expect(((await live.json()) as { warnings: string[] }).warnings.join(" ")).toMatch(/version 2 .*not JSON/);
    const versions = await request("/admin/api/rules/versions", { headers: ADMIN });
    expect(versions.status).toBe(200);
    expect(((await versions.json()) as { versions: { version: number }[] }).versions.map((entry) => entry.version)).toEqual([2, 1]);
    for (const path of ["/admin/api/rules/versions/2", "/admin/api/rules/diff?from=1&to=2", "/admin/api/rules/diff?from=2&to=1"]) {
      const response = await request(path, { headers: ADMIN });
      expect(response.status, path).toBe(422);
      expect((await problemOf(response)).type).toBe("/problems/unreadable-version");
    }
    const rollbackToBroken = await request("/admin/api/rules/rollback", {
      method: "POST",
      headers: ADMIN,
      body: JSON.stringify({ version: 2 }),
    });
    expect(rollbackToBroken.status).toBe(422);
    for (const path of ["/admin", "/admin/versions"]) {
      const page = await request(path, { headers: { ...ADMIN, accept: "text/html" } });
      expect(page.status, path).toBe(200);
      expect(await page.text()).toMatch(/not JSON/);
    }
    const rollback = await request("/admin/api/rules/rollback", { method: "POST", headers: ADMIN, body: JSON.stringify({ version: 1 }) });
    expect(rollback.status).toBe(200);
    const after = (await (await request("/admin/api/rules", { headers: ADMIN })).json()) as { version: number; warnings: string[] };
    expect([after.version, after.warnings]).toEqual([1, []]);
  });
});
