/**
 * The admin API and the editor's access rules: every route refuses the unauthenticated; publish,
 * versions, diff, rollback and the audit log; validation messages; preview; sessions with CSRF;
 * Cloudflare Access assertions.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { RULES_LIVE_KEY, rulesVersionKey } from "../../../shared/rules/document.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { accessClaims, accessSettings, signAccessToken } from "../../support/worker/access.ts";
import { postEvents, publishRules, recordingAnalytics, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };

function json(method: string, path: string, body?: unknown, headers: Record<string, string> = ADMIN): Promise<Response> {
  return request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

function withHero(text: string): typeof demoRules {
  const document = structuredClone(demoRules);
  const hero = document.rules[0]?.actions.hero;
  if (hero !== undefined && "html" in hero) hero.html = `<h1>${text}</h1>`;
  return document;
}

async function homepageFor(cookie: string, overrides: Partial<Env> = {}): Promise<string> {
  return (await request("/", { headers: { ...BROWSER, cookie } }, { RULES_REFRESH_MS: "0", ...overrides })).text();
}

beforeEach(async () => {
  await publishRules();
});

describe("access", () => {
  const routes: [string, string][] = [
    ["GET", "/admin"],
    ["GET", "/admin/versions"],
    ["GET", "/admin/json"],
    ["GET", "/admin/rules/electronics-hero"],
    ["GET", "/admin/api/rules"],
    ["POST", "/admin/api/rules"],
    ["POST", "/admin/api/rules/validate"],
    ["GET", "/admin/api/rules/versions"],
    ["GET", "/admin/api/rules/versions/1"],
    ["GET", "/admin/api/rules/diff?from=1&to=1"],
    ["POST", "/admin/api/rules/rollback"],
    ["PUT", "/admin/api/models/models:related:access-check"],
    ["POST", "/admin/api/preview"],
    ["GET", "/admin/api/audit"],
    ["GET", "/admin/api/openapi.json"],
    ["GET", "/admin/api/docs"],
    ["GET", "/admin/api/experiments/x"],
    ["GET", "/admin/api/dead-letters"],
    ["POST", "/admin/api/dead-letters/replay"],
    ["GET", "/admin/api/kill-switch"],
    ["POST", "/admin/api/kill-switch"],
    ["POST", "/admin/api/rules/pause"],
    ["GET", "/admin/api/health"],
    ["GET", "/admin/health"],
    ["POST", "/admin/logout"],
  ];

  it.each(routes)("refuses %s %s without credentials, and lets the admin token in", async (method, path) => {
    const anonymous = await request(path, {
      method,
      headers: { "content-type": "application/json" },
      ...(method === "POST" || method === "PUT" ? { body: "{}" } : {}),
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toBe("application/problem+json");
    const admitted = await request(path, { method, headers: ADMIN, ...(method === "POST" || method === "PUT" ? { body: "{}" } : {}) });
    expect(admitted.status).not.toBe(401);
    expect(admitted.headers.get("x-frame-options")).toBe("DENY");
    expect(admitted.headers.get("content-security-policy")).toContain("script-src 'self'");
  });

  it("sends people at a browser to the sign-in page", async () => {
    const response = await request("/admin", { headers: { accept: "text/html" } });
    expect(response.status).toBe(303);
    expect(response.headers.get("location")).toBe("/admin/login");
  });

  it("signs the editor in with the token, and needs the page's CSRF token for changes", async () => {
    const refused = await request("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" },
      body: "name=Maria&token=wrong",
    });
    expect(refused.status).toBe(401);
    const crossSite = await request("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "cross-site" },
      body: `name=Maria&token=${env.ADMIN_TOKEN}`,
    });
    expect(crossSite.status).toBe(403);

    const signedIn = await request("/admin/login", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded", "sec-fetch-site": "same-origin" },
      body: `name=Maria&token=${env.ADMIN_TOKEN}`,
    });
    expect(signedIn.status).toBe(303);
    const setCookie = signedIn.headers.get("set-cookie") ?? "";
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    const cookie = setCookie.split(";")[0] ?? "";

    const page = await request("/admin", { headers: { cookie } });
    const html = await page.text();
    expect(page.status).toBe(200);
    expect(html).toContain("Signed in as Maria");
    const csrf = /name="csrf-token" content="([^"]+)"/.exec(html)?.[1] ?? "";
    expect(csrf).not.toBe("");

    const withoutCsrf = await json(
      "POST",
      "/admin/api/rules/validate",
      { document: demoRules },
      { cookie, "content-type": "application/json" },
    );
    expect(withoutCsrf.status).toBe(403);
    const withCsrf = await json(
      "POST",
      "/admin/api/rules",
      { document: withHero("From the editor"), message: "Editor change" },
      { cookie, "content-type": "application/json", "x-csrf-token": csrf },
    );
    expect(withCsrf.status).toBe(201);
    const audit = (await (await json("GET", "/admin/api/audit")).json()) as { entries: { actor: string; action: string }[] };
    expect(audit.entries[0]).toMatchObject({ actor: "Maria", action: "publish" });
  });

  it("accepts a valid Cloudflare Access assertion and refuses forged or expired ones", async () => {
    const access = accessSettings();
    const sign = (claims: Record<string, unknown>, kid = "test-key") => signAccessToken(claims, { alg: "RS256", kid });
    const now = Math.floor(Date.now() / 1000);
    const claims = accessClaims();
    const call = (assertion: string) => request("/admin/api/audit", { headers: { "cf-access-jwt-assertion": assertion } }, access);
    expect((await call(await sign(claims))).status).toBe(200);
    expect((await call(await sign({ ...claims, exp: now - 10 }))).status).toBe(401);
    expect((await call(await sign({ ...claims, aud: ["someone-else"] }))).status).toBe(401);
    expect((await call(await sign(claims, "unknown-key"))).status).toBe(401);
    const valid = await sign(claims);
    expect((await call(`${valid.slice(0, -6)}AAAAAA`)).status).toBe(401);
    // Without Access configured, even a valid assertion is not a way in.
    expect((await request("/admin/api/audit", { headers: { "cf-access-jwt-assertion": valid } })).status).toBe(401);
  });
});

describe("versions", () => {
  it("publishes versions in order, lists them, diffs them, rolls back, and homepages follow", async () => {
    const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }))) ?? "";
    const first = (await (await json("POST", "/admin/api/rules", { document: withHero("Version A hero"), message: "A" })).json()) as {
      version: number;
    };
    expect(await homepageFor(cookie)).toContain("Version A hero");
    const second = (await (await json("POST", "/admin/api/rules", { document: withHero("Version B hero"), message: "B" })).json()) as {
      version: number;
    };
    expect(second.version).toBe(first.version + 1);
    expect(await homepageFor(cookie)).toContain("Version B hero");

    const { versions } = (await (await json("GET", "/admin/api/rules/versions")).json()) as {
      versions: { version: number; live: boolean; message: string | null; author: string | null }[];
    };
    expect(versions[0]).toMatchObject({ version: second.version, live: true, message: "B", author: "admin-token" });
    const { changes } = (await (await json("GET", `/admin/api/rules/diff?from=${first.version}&to=${second.version}`)).json()) as {
      changes: { pointer: string; change: string }[];
    };
    expect(changes).toEqual([expect.objectContaining({ pointer: "/rules/electronics-hero/actions/hero/html", change: "changed" })]);

    expect((await json("POST", "/admin/api/rules/rollback", { version: first.version })).status).toBe(200);
    expect(await homepageFor(cookie)).toContain("Version A hero");
    expect((await json("POST", "/admin/api/rules/rollback", { version: 999 })).status).toBe(404);
    const audit = (await (await json("GET", "/admin/api/audit")).json()) as { entries: { action: string; version: number }[] };
    expect(audit.entries.slice(0, 3).map((entry) => [entry.action, entry.version])).toEqual([
      ["rollback", first.version],
      ["publish", second.version],
      ["publish", first.version],
    ]);
  });

  it("keeps the last good version live when someone writes an invalid document straight into KV", async () => {
    const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }))) ?? "";
    const good = (await (await json("POST", "/admin/api/rules", { document: withHero("Good hero"), message: "good" })).json()) as {
      version: number;
    };
    expect(await homepageFor(cookie)).toContain("Good hero");
    await env.RULES.put(rulesVersionKey(500), JSON.stringify({ version: 500, slots: { hero: { selector: "div + p" } }, rules: [] }));
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: 500 }));
    const analytics = recordingAnalytics();
    for (let attempt = 0; attempt < 3; attempt++) await homepageFor(cookie, { ANALYTICS: analytics.dataset });
    expect(await homepageFor(cookie, { ANALYTICS: analytics.dataset })).toContain("Good hero");
    // Counted for the dashboard ("rules-refused"), with the version refused and the one still serving.
    const refusals = analytics.points.filter((point) => point.blobs?.[0] === "rules" && point.blobs[1] === "refused");
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals[0]?.doubles?.slice(1)).toEqual([500, expect.any(Number)]);
    expect(refusals[0]?.doubles?.[2]).not.toBe(0);
    // Written past the publish, it carries no signature: that is the reason, whatever else is wrong with it.
    expect(String(refusals[0]?.blobs?.[2])).toMatch(/publish signature/);
    type Live = { version: number | null; refused: { version: number; problems: { message: string }[] } | null };
    const live = (await (await json("GET", "/admin/api/rules")).json()) as Live;
    // The admin sees what visitors get: the last good version, and why the live one is refused.
    expect(live.version).toBe(good.version);
    expect(live.refused?.version).toBe(500);
    expect(live.refused?.problems[0]?.message).toMatch(/publish signature/);
    // Rolling back to the good version clears the warning.
    expect((await json("POST", "/admin/api/rules/rollback", { version: good.version })).status).toBe(200);
    const after = (await (await json("GET", "/admin/api/rules")).json()) as Live;
    expect([after.version, after.refused]).toEqual([good.version, null]);
    forgetRules();
  });

  it("refuses to publish a document with errors, saying where", async () => {
    const broken = structuredClone(demoRules) as unknown as { rules: { id: string; actions: Record<string, unknown> }[] };
    if (broken.rules[0] !== undefined) broken.rules[0].actions = { hero: { type: "setHtml", html: "<script>alert(1)</script>" } };
    const response = await json("POST", "/admin/api/rules", { document: broken, message: "oops" });
    expect(response.status).toBe(422);
    const body = (await response.json()) as { problems: { pointer: string; severity: string }[] };
    expect(body.problems).toContainEqual(expect.objectContaining({ pointer: "/rules/0/actions/hero/html", severity: "error" }));
    expect((await json("POST", "/admin/api/rules", { message: "no document" })).status).toBe(422);
  });
});

describe("validate", () => {
  it("reports selectors, unknown attributes, rules that can never win and stale schedules", async () => {
    const draft = {
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' }, promo: { selector: "h1 ~ p" } },
      rules: [
        { id: "everyone", priority: 10, actions: { hero: { type: "setText", text: "Hi" } } },
        { id: "shadowed", priority: 1, condition: { "geo.country": "DE" }, actions: { hero: { type: "setText", text: "Hallo" } } },
        { id: "typo", condition: { "behaviour.views_10m.total": { $gte: 1 }, "utm.campaign": { $regex: "^spring" } }, actions: {} },
        { id: "over", schedule: { end: "2020-01-01T00:00:00Z" }, actions: { hero: { type: "setText", text: "Old" } } },
      ],
    };
    const schema = (await (await json("POST", "/admin/api/rules/validate", { document: draft })).json()) as {
      valid: boolean;
      problems: { pointer: string; message: string; severity: string }[];
    };
    expect(schema.valid).toBe(false);
    expect(schema.problems).toContainEqual(expect.objectContaining({ pointer: "/slots/promo/selector", severity: "error" }));

    draft.slots.promo.selector = "h1.promo";
    const lint = (await (await json("POST", "/admin/api/rules/validate", { document: draft })).json()) as {
      valid: boolean;
      problems: { pointer: string; message: string; severity: string }[];
    };
    const at = (pointer: string) => lint.problems.filter((problem) => problem.pointer === pointer).map((problem) => problem.severity);
    expect(lint.valid).toBe(true);
    expect(lint.problems.find((problem) => problem.pointer === "/rules/2/condition" && problem.severity === "warning")?.message).toMatch(
      /behaviour\.views_10m\.total/,
    );
    expect(at("/rules/1/priority")).toEqual(["warning"]);
    expect(at("/rules/3/schedule/end")).toEqual(["warning"]);
    expect(at("/rules/2/actions")).toEqual(["warning"]);
  });
});

describe("validate marketer content", () => {
  it("refuses the issue's five XSS vectors with a reason at each action's pointer", async () => {
    const vectors = [
      "<svg/onload=alert(1)>",
      "<details/open/ontoggle=alert(1)>",
      '<img src="x>" onerror=alert(1)>',
      '<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;">',
      '<a href="jav&#x61;script:alert(1)">x</a>',
    ];
    const draft = {
      version: 1,
      slots: { hero: { selector: '[data-slot="hero"]' } },
      rules: vectors.map((html, index) => ({ id: `xss-${index}`, actions: { hero: { type: "setHtml", html } } })),
    };
    const response = await json("POST", "/admin/api/rules/validate", { document: draft });
    expect(response.status).toBeLessThan(500);
    const body = (await response.json()) as { valid: boolean; problems: { pointer: string; message: string; severity: string }[] };
    expect(body.valid).toBe(false);
    for (const index of vectors.keys()) {
      const here = body.problems.filter((problem) => problem.pointer === `/rules/${index}/actions/hero/html`);
      expect([index, here.length > 0 && here.every((problem) => problem.severity === "error" && problem.message.length > 10)]).toEqual([
        index,
        true,
      ]);
    }
    const published = await json("POST", "/admin/api/rules", { document: draft, message: "xss" });
    expect(published.status).toBe(422);
  });
});

describe("preview", () => {
  it("shows the decisions and the page for a described visitor, against a draft", async () => {
    const draft = withHero("Draft hero for fans");
    const response = await json("POST", "/admin/api/preview", {
      document: draft,
      visitor: { attributes: { "behavior.views_10m.category.electronics": 3, "geo.country": "DE" } },
    });
    const body = (await response.json()) as {
      slots: { slot: string; ruleId: string }[];
      html: string;
      trace: { ruleId: string; outcome: string }[];
    };
    expect(body.slots.map((slot) => slot.slot)).toContain("hero");
    expect(body.html).toContain("Draft hero for fans");
    expect(body.trace.find((entry) => entry.ruleId === "electronics-hero")?.outcome).toBe("applied");
    // The live homepage is untouched by a preview.
    const live = (await (
      await json("POST", "/admin/api/preview", { visitor: { attributes: { "behavior.views_10m.category.electronics": 3 } } })
    ).json()) as { html: string };
    expect(live.html).toContain("Still thinking about new tech?");
  });

  it("previews a real visitor from their stored profile", async () => {
    const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" }))) ?? "";
    const visitorId = cookie.split("=")[1];
    const body = (await (await json("POST", "/admin/api/preview", { visitor: { visitorId } })).json()) as { slots: { slot: string }[] };
    expect(body.slots.map((slot) => slot.slot)).toContain("hero");
    const stranger = (await (await json("POST", "/admin/api/preview", { visitor: { visitorId: "Aaaaaaaaaaaaaaaaaaaaaa" } })).json()) as {
      slots: { slot: string }[];
    };
    expect(stranger.slots.map((slot) => slot.slot)).not.toContain("hero");
  });
});

describe("docs", () => {
  it("describes the API in OpenAPI 3.1 generated from the schemas", async () => {
    const spec = (await (await json("GET", "/admin/api/openapi.json")).json()) as {
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown }>>;
    };
    expect(spec.openapi).toBe("3.1.0");
    expect(Object.keys(spec.paths)).toEqual(
      expect.arrayContaining([
        "/admin/api/rules",
        "/admin/api/rules/validate",
        "/admin/api/rules/rollback",
        "/admin/api/preview",
        "/admin/api/rules/diff",
      ]),
    );
    expect(spec.paths["/admin/api/rules"]?.post?.requestBody).toBeDefined();
    const page = await (await request("/admin/api/docs", { headers: ADMIN })).text();
    expect(page).toContain("POST /admin/api/rules/rollback");
  });
});
