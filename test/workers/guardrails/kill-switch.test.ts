/**
 * The kill switch end to end: while on, every page is the origin's byte for byte (no rewrite, no
 * visitor cookie, no exposures), `/v1/decide` answers defaults and ingest keeps storing; after
 * off, pages are personalized again; both changes are in the audit log with who and why. Pausing
 * one rule or experiment takes only that one out.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import type { RulesDocumentInput } from "../../../shared/rules/document.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { postEvents, publishRules, recordingFeedbackQueue, request, track, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json", "x-tailor-actor": "ops-alice" };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };
/** A long refresh interval: only the isolate that took the admin call can have switched. */
const SLOW_REFRESH = { RULES_REFRESH_MS: "600000" };

const DOCUMENT: RulesDocumentInput = {
  version: 1,
  slots: { hero: { selector: '[data-slot="hero"]' }, banner: { selector: '[data-slot="banner"]' } },
  experiments: { banner_test: { variants: ["a", "b"] } },
  rules: [
    { id: "everyone-hero", pages: ["/", "/c/*"], actions: { hero: { type: "setText", text: "Personal hero" } } },
    {
      id: "banner-experiment",
      pages: ["/", "/c/*"],
      experiment: {
        id: "banner_test",
        variants: { a: { banner: { type: "setText", text: "Banner A" } }, b: { banner: { type: "setText", text: "Banner B" } } },
      },
    },
  ],
};

function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return request(path, { method, headers: ADMIN, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

async function switchTo(enabled: boolean, reason: string): Promise<Response> {
  return admin("POST", "/admin/api/kill-switch", { enabled, reason });
}

async function returningCookie(): Promise<string> {
  const cookie = visitorCookieFrom(await postEvents(track("Product Viewed", { product_id: "el-01", category: "electronics" })));
  if (cookie === null) throw new Error("no cookie");
  return cookie;
}

beforeEach(async () => {
  await publishRules(DOCUMENT);
  const off = await switchTo(false, "test reset");
  expect(off.status).toBe(200);
});

describe("kill switch", () => {
  const pages = ["/", "/c/electronics", "/c/home"];

  it("serves every page byte for byte as the origin sent it, with no cookie and no exposures, until it is turned off", async () => {
    const returning = await returningCookie();
    // Personalized before.
    expect(await (await request("/", { headers: BROWSER }, SLOW_REFRESH)).text()).toContain("Personal hero");

    const on = await switchTo(true, "bad banner copy in production");
    expect(on.status).toBe(200);
    expect(await on.json()).toMatchObject({ enabled: true, reason: "bad banner copy in production", actor: "ops-alice (admin token)" });

    const feedback = recordingFeedbackQueue();
    for (const path of pages) {
      const fromOrigin = await (await fetch(`${env.ORIGIN_URL}${path}`, { headers: BROWSER })).text();
      for (const cookie of [undefined, returning]) {
        const response = await request(
          path,
          { headers: { ...BROWSER, ...(cookie === undefined ? {} : { cookie }) } },
          { ...SLOW_REFRESH, FEEDBACK_QUEUE: feedback.queue },
        );
        expect(response.status).toBe(200);
        expect(await response.text(), `${path} ${cookie ?? "new visitor"}`).toBe(fromOrigin);
        expect(response.headers.get("set-cookie") ?? "").not.toContain("tailor_vid");
        expect(response.headers.get("server-timing")).toBeNull();
      }
    }
    expect(feedback.sent).toEqual([]);

    // The JSON API answers defaults; ingest keeps storing.
    const decided = (await (await request("/v1/decide?path=/", { headers: { ...BROWSER, cookie: returning } }, SLOW_REFRESH)).json()) as {
      slots: unknown[];
    };
    expect(decided.slots).toEqual([]);
    expect((await postEvents(track("Product Viewed", { product_id: "el-02", category: "electronics" }), returning)).status).toBe(202);
    expect(await (await admin("GET", "/admin/api/kill-switch")).json()).toMatchObject({ enabled: true });

    expect((await switchTo(false, "copy fixed")).status).toBe(200);
    const after = await request("/", { headers: BROWSER }, SLOW_REFRESH);
    expect(await after.text()).toContain("Personal hero");
    expect(visitorCookieFrom(after)).not.toBeNull();

    const { entries } = (await (await admin("GET", "/admin/api/audit?limit=5")).json()) as {
      entries: { actor: string; action: string; detail: string }[];
    };
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "kill-switch-on", actor: "ops-alice (admin token)", detail: "bad banner copy in production" }),
        expect.objectContaining({ action: "kill-switch-off", actor: "ops-alice (admin token)", detail: "copy fixed" }),
      ]),
    );
  });

  it("reaches other isolates through the live pointer in KV", async () => {
    expect((await switchTo(true, "pointer check")).status).toBe(200);
    const pointer = (await env.RULES.get("rules:live", "json")) as { version: number; killSwitch?: { reason: string } };
    expect(pointer.killSwitch?.reason).toBe("pointer check");
    // A publish keeps the switch on: it is not a way around it.
    const published = await admin("POST", "/admin/api/rules", { document: DOCUMENT, message: "unrelated change" });
    expect(published.status).toBe(201);
    const fromOrigin = await (await fetch(`${env.ORIGIN_URL}/`, { headers: BROWSER })).text();
    expect(await (await request("/", { headers: BROWSER }, SLOW_REFRESH)).text()).toBe(fromOrigin);
  });

  it.each([
    [{ enabled: true }],
    [{ enabled: "yes", reason: "x" }],
    [{ enabled: true, reason: "" }],
    [{ enabled: true, reason: "x".repeat(501) }],
    [{ enabled: true, reason: "x", extra: 1 }],
    [[]],
    ["on"],
  ])("refuses %j with a 422 problem", async (input) => {
    const response = await admin("POST", "/admin/api/kill-switch", input);
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });

  it("is refused without credentials", async () => {
    const response = await request("/admin/api/kill-switch", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ enabled: true, reason: "anonymous" }),
    });
    expect(response.status).toBe(401);
    expect((await env.RULES.get("rules:live", "json")) as object).not.toHaveProperty("killSwitch");
  });
});

describe("kill switch with a broken live pointer", () => {
  const broken = [
    ["not JSON", "{"],
    ["an array", "[]"],
    ["a string version", JSON.stringify({ version: "1" })],
    ["version 0", JSON.stringify({ version: 0 })],
    ["an unknown key", JSON.stringify({ version: 1, extra: true })],
    ["a malformed switch", JSON.stringify({ version: 1, killSwitch: "on" })],
  ];

  it.each(broken)("still switches off personalization when the pointer is %s, on the version serving, audited", async (_label, raw) => {
    // This isolate serves version 1 before the pointer breaks.
    expect(await (await request("/", { headers: BROWSER })).text()).toContain("Personal hero");
    await env.RULES.put("rules:live", raw);

    const on = await switchTo(true, "emergency with a broken pointer");
    expect(on.status, await on.clone().text()).toBe(200);
    expect(await on.json()).toMatchObject({ enabled: true, reason: "emergency with a broken pointer" });
    expect(await env.RULES.get("rules:live", "json")).toMatchObject({
      version: 1,
      killSwitch: { reason: "emergency with a broken pointer" },
    });
    // Another isolate (no rules held) reads the repaired pointer and passes the page through.
    forgetRules();
    const fromOrigin = await (await fetch(`${env.ORIGIN_URL}/`, { headers: BROWSER })).text();
    expect(await (await request("/", { headers: BROWSER })).text()).toBe(fromOrigin);

    const { entries } = (await (await admin("GET", "/admin/api/audit?limit=5")).json()) as {
      entries: { action: string; version: number }[];
    };
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ action: "pointer-repair", version: 1 }),
        expect.objectContaining({ action: "kill-switch-on" }),
      ]),
    );
  });

  it.each(broken)("answers a clear 409 problem, not a 500, when the pointer is %s and no version is serving", async (_label, raw) => {
    await env.RULES.put("rules:live", raw);
    forgetRules();
    for (const enabled of [true, false]) {
      const response = await switchTo(enabled, "emergency with a broken pointer");
      expect(response.status).toBe(409);
      expect(response.headers.get("content-type")).toContain("application/problem+json");
      expect(((await response.json()) as { detail: string }).detail).toContain("roll back to a version first");
    }
    expect(await env.RULES.get("rules:live", "text")).toBe(raw);
  });
});

describe("pointer changes at the same time", () => {
  const registry = () => env.RULES_REGISTRY.getByName("registry");
  const on = () => registry().setKillSwitch({ enabled: true, reason: "incident", actor: "ops-alice" });
  const off = () => registry().setKillSwitch({ enabled: false, reason: "incident over", actor: "ops-alice" });
  const publish = () => registry().publish({ document: { ...DOCUMENT }, actor: "ops-bob", message: "unrelated change" });
  const rollback = () => registry().rollback({ version: 1, actor: "ops-bob" });
  const counts = (version: number, pages: number, failedPages: number) => ({
    version,
    pages,
    failedPages,
    visitors: pages,
    failedVisitors: failedPages,
    failedActions: 0,
    originErrors: 0,
    decideMs: 0,
    fallbacks: {},
  });

  async function pointer(): Promise<{ version: number; killSwitch?: unknown; rollout?: unknown }> {
    return (await env.RULES.get("rules:live", "json")) as never;
  }

  it.each([
    ["switch on, then publish", [on, publish], true],
    ["publish, then switch on", [publish, on], true],
    ["switch on, then roll back", [on, rollback], true],
    ["roll back, then switch on", [rollback, on], true],
  ])("keep the switch: %s", async (_label, calls, enabled) => {
    await Promise.all(calls.map((call) => call()));
    expect((await pointer()).killSwitch !== undefined).toBe(enabled);
  });

  it.each([
    ["switch off, then publish", [off, publish]],
    ["publish, then switch off", [publish, off]],
    ["switch off, then roll back", [off, rollback]],
  ])("do not bring a switch back that was turned off: %s", async (_label, calls) => {
    expect((await switchTo(true, "incident")).status).toBe(200);
    await Promise.all(calls.map((call) => call()));
    expect(await pointer()).not.toHaveProperty("killSwitch");
  });

  it.each([
    ["the guard first", true],
    ["the switch first", false],
  ])("keep the switch when the guard rolls back at the same moment (%s)", async (_label, guardFirst) => {
    const started = await registry().publish({
      document: { ...DOCUMENT },
      actor: "ops-bob",
      message: "guarded",
      rollout: { percent: 50, minutes: 15 },
    });
    if ("refused" in started) throw new Error(started.refused);
    // Every candidate page failed: the guard rolls back on this report.
    const report = () =>
      registry().report({ isolate: "test", serving: 1, refreshedAt: 0, versions: [counts(started.version, 200, 200), counts(1, 200, 0)] });
    await Promise.all(guardFirst ? [report(), on()] : [on(), report()]);
    expect(await pointer()).toMatchObject({ version: 1, killSwitch: { reason: "incident" } });
    expect(await pointer()).not.toHaveProperty("rollout");
  });
});

describe("editor", () => {
  it("shows the switch, who turned it on and why (escaped), on the dashboard and the health page", async () => {
    const reason = `<img src=x onerror="alert(1)"> checkout broken`;
    expect((await switchTo(true, reason)).status).toBe(200);
    for (const path of ["/admin", "/admin/health"]) {
      const html = await (await request(path, { headers: { authorization: ADMIN.authorization } })).text();
      expect(html).toContain("ON");
      expect(html).toContain("&lt;img src=x onerror=&quot;alert(1)&quot;&gt; checkout broken");
      expect(html).not.toContain("<img src=x");
    }
    const dashboard = await (await request("/admin", { headers: { authorization: ADMIN.authorization } })).text();
    expect(dashboard).toContain('class="kill-switch primary" data-enabled="false"');
    expect(dashboard).toContain('data-kind="rule" data-id="everyone-hero" data-paused="true"');
    expect(dashboard).toContain('data-kind="experiment" data-id="banner_test" data-paused="true"');
  });
});

describe("pause", () => {
  it("takes one rule out, or one experiment, and puts it back, each change audited", async () => {
    const texts = async () => (await request("/", { headers: BROWSER }, SLOW_REFRESH)).text();
    expect(await texts()).toContain("Personal hero");

    const paused = await admin("POST", "/admin/api/rules/pause", { kind: "rule", id: "everyone-hero", paused: true, reason: "typo" });
    expect(paused.status).toBe(200);
    const page = await texts();
    expect(page).not.toContain("Personal hero");
    expect(page).toMatch(/Banner [AB]/);

    expect(
      (await admin("POST", "/admin/api/rules/pause", { kind: "experiment", id: "banner_test", paused: true, reason: "SRM" })).status,
    ).toBe(200);
    expect(await texts()).not.toMatch(/Banner [AB]/);

    expect(
      (await admin("POST", "/admin/api/rules/pause", { kind: "rule", id: "everyone-hero", paused: false, reason: "fixed" })).status,
    ).toBe(200);
    const resumed = await texts();
    expect(resumed).toContain("Personal hero");
    expect(resumed).not.toMatch(/Banner [AB]/);

    const { entries } = (await (await admin("GET", "/admin/api/audit?limit=10")).json()) as {
      entries: { action: string; detail: string }[];
    };
    const details = entries.filter((entry) => entry.action === "publish").map((entry) => entry.detail);
    expect(details).toEqual(
      expect.arrayContaining(["pause rule everyone-hero: typo", "pause experiment banner_test: SRM", "resume rule everyone-hero: fixed"]),
    );
  });

  it.each([
    [{ kind: "rule", id: "no-such-rule", paused: true, reason: "x" }, 404],
    [{ kind: "experiment", id: "nope", paused: true, reason: "x" }, 404],
    [{ kind: "experiment", id: "__proto__", paused: true, reason: "x" }, 404],
    [{ kind: "audience", id: "x", paused: true, reason: "x" }, 422],
    [{ kind: "rule", id: "everyone-hero", paused: true }, 422],
  ])("refuses %j with %i", async (input, status) => {
    const response = await admin("POST", "/admin/api/rules/pause", input);
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });
});
