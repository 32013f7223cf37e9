/**
 * Guarded publish: the candidate serves its share of visitors (stable per visitor), the isolates'
 * counts reach the registry, a bad version (its model document is missing) is rolled back by the
 * guard under generated traffic with the figures in the audit log, a good one is promoted when
 * its time is up, and a page never waits for the counts.
 */
import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RulesDocumentInput } from "../../../shared/rules/document.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { countPage, takeCounts } from "../../../workers/decide/page-counts.ts";
import { publishRules, request, visitorCookieFrom } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json", "x-tailor-actor": "ops-bob" };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36" };

function documentWith(heroText: string, extra: Partial<RulesDocumentInput> = {}): RulesDocumentInput {
  return {
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' }, recommendations: { selector: '[data-slot="recommendations"]' } },
    rules: [{ id: "hero", pages: ["/"], actions: { hero: { type: "setText", text: heroText } } }],
    ...extra,
  };
}

/** A version whose recommendations need a model document nobody uploaded. */
const MISSING_MODEL = documentWith("Candidate hero", {
  models: { related: { kv: "models:related:not-uploaded" } },
  rules: [
    {
      id: "hero",
      pages: ["/"],
      actions: {
        hero: { type: "setText", text: "Candidate hero" },
        recommendations: { type: "recommendations", model: "related", count: 4, template: "<a href='{{url}}'>{{name}}</a>" },
      },
    },
  ],
});

function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return request(path, { method, headers: ADMIN, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
}

function registry() {
  return env.RULES_REGISTRY.getByName("registry");
}

/** `count` homepage views by new visitors, a few at a time, then the isolate's pending counts reported. */
async function browseAsNewVisitors(count: number): Promise<string[]> {
  const bodies: string[] = [];
  for (let done = 0; done < count; done += 20) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(20, count - done) }, () => request("/", { headers: BROWSER }, { RULES_REFRESH_MS: "600000" })),
    );
    for (const response of batch) bodies.push(await response.text());
  }
  const pending = takeCounts();
  if (pending !== null) await registry().report(pending);
  return bodies;
}

let testStarted = 0;

/** This test's audit entries (the registry's log outlives each test's KV). */
async function auditEntries(): Promise<{ at: string; actor: string; action: string; version: number | null; detail: string }[]> {
  const { entries } = (await (await admin("GET", "/admin/api/audit?limit=50")).json()) as { entries: { at: string }[] };
  return entries.filter((entry) => Date.parse(entry.at) >= testStarted) as never;
}

async function publish(document: RulesDocumentInput, rollout?: { percent: number; minutes: number }): Promise<number> {
  const response = await admin("POST", "/admin/api/rules", { document, message: "guarded", ...(rollout === undefined ? {} : { rollout }) });
  expect(response.status, await response.clone().text()).toBe(201);
  return ((await response.json()) as { version: number }).version;
}

beforeEach(async () => {
  testStarted = Date.now();
  await publishRules(documentWith("Live hero"), 1);
  // Any rollout left by an earlier test ends here (a rollback cancels it).
  expect((await admin("POST", "/admin/api/rules/rollback", { version: 1 })).status).toBe(200);
  takeCounts();
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe("guarded publish", () => {
  it("rolls a version whose model is missing back by itself under traffic, with the figures in the audit log", async () => {
    const live = await publish(documentWith("Live hero"));
    const candidate = await publish(MISSING_MODEL, { percent: 50, minutes: 15 });
    const rules = (await (await admin("GET", "/admin/api/rules")).json()) as {
      version: number;
      rollout: { version: number; percent: number };
    };
    expect(rules.version).toBe(live);
    expect(rules.rollout).toMatchObject({ version: candidate, percent: 50, previous: live, outcome: null });

    const bodies = await browseAsNewVisitors(300);
    const onCandidate = bodies.filter((body) => body.includes("Candidate hero")).length;
    // About half, by hash: well inside 30%..70% for 300 visitors.
    expect(onCandidate).toBeGreaterThan(90);
    expect(onCandidate).toBeLessThan(210);

    const rollback = (await auditEntries()).find((entry) => entry.action === "rollout-rollback");
    expect(rollback).toMatchObject({ actor: "rollout guard", version: candidate });
    expect(rollback?.detail).toMatch(
      new RegExp(`^automatic rollback of v${candidate}: fallbacks for 100% of \\d+ visitors vs 0% of \\d+ `),
    );
    expect(((await env.RULES.get("rules:live", "json")) as { version: number; rollout?: unknown }) ?? {}).toEqual({ version: live });

    // Everyone is back on the live version once their isolate re-reads the pointer.
    forgetRules();
    const after = await browseAsNewVisitors(40);
    expect(after.every((body) => body.includes("Live hero"))).toBe(true);
    const health = (await (await admin("GET", "/admin/api/health")).json()) as {
      recentRollouts: { version: number; outcome: string }[];
      fallbacks: { stage: string; version: number; pages: number }[];
    };
    expect(health.recentRollouts[0]).toMatchObject({ version: candidate, outcome: "rolled-back" });
    expect(health.fallbacks).toEqual(expect.arrayContaining([expect.objectContaining({ stage: "model-missing", version: candidate })]));
  });

  it("promotes a good version to everyone when its time is up", async () => {
    const live = await publish(documentWith("Live hero"));
    const candidate = await publish(documentWith("Better hero"), { percent: 50, minutes: 1 });
    const bodies = await browseAsNewVisitors(240);
    expect(bodies.some((body) => body.includes("Better hero"))).toBe(true);
    expect(bodies.some((body) => body.includes("Live hero"))).toBe(true);
    expect((await auditEntries()).find((entry) => entry.action === "rollout-rollback")).toBeUndefined();

    // Time is up: the alarm the registry set for the end fires.
    await runInDurableObject(registry(), (_, state) => {
      state.storage.sql.exec("UPDATE rollouts SET ends_at = ? WHERE version = ?", Date.now() - 1, candidate);
    });
    expect(await runDurableObjectAlarm(registry())).toBe(true);

    const promote = (await auditEntries()).find((entry) => entry.action === "rollout-promote");
    expect(promote).toMatchObject({ actor: "rollout guard", version: candidate });
    expect(promote?.detail).toMatch(
      new RegExp(`^promoted v${candidate} to everyone at the end of its rollout: 0 of \\d+ visitors with fallbacks vs 0 of \\d+`),
    );
    expect(await env.RULES.get("rules:live", "json")).toEqual({ version: candidate });
    const rules = (await (await admin("GET", "/admin/api/rules")).json()) as { version: number; rollout: unknown };
    expect(rules).toMatchObject({ version: candidate, rollout: null });
    expect(live).toBeLessThan(candidate);
    expect((await browseAsNewVisitors(20)).every((body) => body.includes("Better hero"))).toBe(true);
  });

  it("keeps each visitor on one version for the whole rollout", async () => {
    await publish(documentWith("Live hero"));
    await publish(documentWith("Better hero"), { percent: 50, minutes: 30 });
    const seen = new Set<string>();
    for (let visitor = 0; visitor < 12; visitor++) {
      const first = await request("/", { headers: BROWSER });
      const cookie = visitorCookieFrom(first);
      if (cookie === null) throw new Error("no cookie");
      const version = (await first.text()).includes("Better hero") ? "candidate" : "live";
      seen.add(version);
      for (let again = 0; again < 4; again++) {
        const body = await (await request("/", { headers: { ...BROWSER, cookie } })).text();
        expect(body.includes("Better hero") ? "candidate" : "live").toBe(version);
      }
    }
    expect(seen.size).toBe(2);
  });

  it("refuses a second guarded publish while one is rolling out", async () => {
    await publish(documentWith("Live hero"));
    await publish(documentWith("Better hero"), { percent: 10, minutes: 30 });
    const second = await admin("POST", "/admin/api/rules", { document: documentWith("Third"), message: "x" });
    expect(second.status).toBe(409);
    expect(second.headers.get("content-type")).toContain("application/problem+json");
  });

  it.each([
    [{ percent: 0, minutes: 15 }],
    [{ percent: 101, minutes: 15 }],
    [{ percent: 12.5, minutes: 15 }],
    [{ percent: "10", minutes: 15 }],
    [{ percent: 10, minutes: 0 }],
    [{ percent: 10, minutes: 1441 }],
    [{ percent: 10 }],
    [{ percent: 10, minutes: 15, salt: "mine" }],
  ])("refuses the rollout %j with a 422 problem", async (rollout) => {
    const response = await admin("POST", "/admin/api/rules", { document: documentWith("x"), message: "x", rollout });
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("counts", () => {
  it("never hold a page up: the report to the registry is left to waitUntil", async () => {
    const reports: unknown[] = [];
    const hanging = {
      getByName: () => ({
        report: (batch: unknown) => {
          reports.push(batch);
          return new Promise(() => {});
        },
      }),
    } as unknown as Env["RULES_REGISTRY"];
    // Far enough past the last report that this page's request sends one.
    vi.spyOn(Date, "now").mockReturnValue(Date.now() + 60 * 60_000);
    const response = await request("/", { headers: BROWSER }, { RULES_REGISTRY: hanging });
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("Live hero");
    expect(reports).toHaveLength(1);
  });

  it("reject a forged or malformed report at the registry", async () => {
    for (const bad of [
      { isolate: "x", serving: 1, refreshedAt: 0, versions: [{ version: 1, pages: -5 }] },
      { isolate: "", serving: 1, refreshedAt: 0, versions: [] },
      { isolate: "x", serving: 1, refreshedAt: 0, versions: [], extra: true },
    ])
      expect(await registry().report(bad as never)).toEqual({ accepted: false });
  });
});

describe("a rollout with too few visitors to test", () => {
  it.each([0, 20, 150])(
    "is not promoted when its time is up with %i pages counted (new pages stay off), and says so in the audit log",
    async (pages) => {
      const live = await publish(documentWith("Live hero"));
      const candidate = await publish(documentWith("Untested hero"), { percent: 10, minutes: 1 });
      if (pages > 0) await browseAsNewVisitors(pages);

      await runInDurableObject(registry(), (_, state) => {
        state.storage.sql.exec("UPDATE rollouts SET ends_at = ? WHERE version = ?", Date.now() - 1, candidate);
      });
      expect(await runDurableObjectAlarm(registry())).toBe(true);

      const entries = await auditEntries();
      expect(entries.find((entry) => entry.action === "rollout-promote")).toBeUndefined();
      const inconclusive = entries.find((entry) => entry.action === "rollout-inconclusive");
      expect(inconclusive).toMatchObject({ actor: "rollout guard", version: candidate });
      expect(inconclusive?.detail).toMatch(
        new RegExp(
          `^v${candidate} not promoted, v${live} stays live: too few visitors to test .*\\d+ of \\d+ visitors with fallbacks vs \\d+ of \\d+ \\(pages: .*\\)$`,
        ),
      );
      const health = (await (await admin("GET", "/admin/api/health")).json()) as { recentRollouts: { version: number; outcome: string }[] };
      expect(health.recentRollouts[0]).toMatchObject({ version: candidate, outcome: "inconclusive" });
      expect(await env.RULES.get("rules:live", "json")).toEqual({ version: live });
      forgetRules();
      expect((await browseAsNewVisitors(40)).every((body) => body.includes("Live hero"))).toBe(true);
    },
  );
});

describe("the kill switch during a rollout", () => {
  async function killSwitch(enabled: boolean): Promise<void> {
    const response = await admin("POST", "/admin/api/kill-switch", { enabled, reason: enabled ? "incident" : "incident over" });
    expect(response.status, await response.clone().text()).toBe(200);
  }

  it.each([
    ["no pages before the switch, its time ends while it is on", 0, "while-on"],
    ["some pages before the switch, its time ends while it is on", 60, "while-on"],
    ["no pages before the switch, its time ends after it is off", 0, "after-off"],
    ["some pages before the switch, its time ends after it is off", 60, "after-off"],
  ])("cancels it, so the previous version is what comes back (%s)", async (_label, pagesBefore, when) => {
    const live = await publish(documentWith("Live hero"));
    const candidate = await publish(documentWith("Stopped hero"), { percent: 50, minutes: 15 });
    if (pagesBefore > 0) await browseAsNewVisitors(pagesBefore);

    await killSwitch(true);
    const expire = async () => {
      await runInDurableObject(registry(), (_, state) => {
        state.storage.sql.exec("UPDATE rollouts SET ends_at = ? WHERE version = ?", Date.now() - 1, candidate);
      });
      // The switch deleted the rollout's alarm; firing whatever is left must not promote it.
      await runDurableObjectAlarm(registry());
    };
    if (when === "while-on") await expire();
    await killSwitch(false);
    if (when === "after-off") await expire();

    expect(await env.RULES.get("rules:live", "json")).toEqual({ version: live });
    const entries = await auditEntries();
    expect(entries.find((entry) => entry.action === "rollout-promote")).toBeUndefined();
    const cancel = entries.find((entry) => entry.action === "rollout-cancel");
    expect(cancel).toMatchObject({ version: candidate });
    expect(cancel?.detail).toMatch(
      new RegExp(`^cancelled by .*kill switch; version ${live} stays live: \\d+ of \\d+ visitors with fallbacks`),
    );
    const rules = (await (await admin("GET", "/admin/api/rules")).json()) as { version: number; rollout: unknown };
    expect(rules).toMatchObject({ version: live, rollout: null });
    const health = (await (await admin("GET", "/admin/api/health")).json()) as { recentRollouts: { version: number; outcome: string }[] };
    expect(health.recentRollouts[0]).toMatchObject({ version: candidate, outcome: "cancelled" });

    forgetRules();
    const after = await browseAsNewVisitors(40);
    expect(after.every((body) => body.includes("Live hero"))).toBe(true);
  });
});

describe("a visitor who loads many pages", () => {
  /** `pages` clean pages of one visitor, counted as the decision step counts them. */
  function cleanPagesOf(visitor: string, version: number, pages: number): void {
    for (let page = 0; page < pages; page++) countPage(version, { visitor, fallbacks: [], originError: false, decideMs: 1 });
  }

  it.each([
    ["one visitor", 1, 6_000],
    ["three visitors", 3, 2_000],
  ])("cannot dilute a bad version's failures with clean pages (%s, %i × %i pages)", async (_label, attackers, pages) => {
    const live = await publish(documentWith("Live hero"));
    const candidate = await publish(MISSING_MODEL, { percent: 50, minutes: 15 });
    for (let attacker = 0; attacker < attackers; attacker++) cleanPagesOf(`attacker-${attacker}`, candidate, pages);
    await browseAsNewVisitors(300);

    const rollback = (await auditEntries()).find((entry) => entry.action === "rollout-rollback");
    expect(rollback).toMatchObject({ actor: "rollout guard", version: candidate });
    expect(rollback?.detail).toMatch(
      new RegExp(`^automatic rollback of v${candidate}: fallbacks for 9\\d% of \\d+ visitors vs 0% of \\d+ `),
    );
    expect(await env.RULES.get("rules:live", "json")).toEqual({ version: live });
  });

  it("cannot make a good version look worse by reloading failing pages: the guard counts the visitor once", async () => {
    const live = await publish(documentWith("Live hero"));
    const candidate = await publish(documentWith("Better hero"), { percent: 50, minutes: 15 });
    // One visitor on the candidate whose every page fails (a profile deadline they provoke), 3,000 times.
    for (let page = 0; page < 3_000; page++)
      countPage(candidate, { visitor: "attacker", fallbacks: ["profile-unavailable:deadline"], originError: false, decideMs: 1 });
    await browseAsNewVisitors(240);

    const entries = await auditEntries();
    expect(entries.find((entry) => entry.action === "rollout-rollback")).toBeUndefined();
    const { current } = await registry().rollouts(1);
    const arm = current?.arms.find((one) => one.version === candidate);
    expect(arm?.failedVisitors).toBe(1);
    expect(arm?.failedPages).toBe(3_000);
    expect(live).toBeLessThan(candidate);
  });
});
