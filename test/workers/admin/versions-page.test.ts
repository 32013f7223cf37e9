/**
 * The versions page tells the truth: each version is compared with the version that was serving
 * just before it was published (after a rollback that is an older one; a refused version never
 * served), and a refused version cannot be made live again.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { RULES_LIVE_KEY, rulesVersionKey } from "../../../shared/rules/document.ts";
import { forgetRules } from "../../../workers/common/rules-store.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

function withHero(text: string): typeof demoRules {
  const document = structuredClone(demoRules);
  const hero = document.rules[0]?.actions.hero;
  if (hero !== undefined && "html" in hero) hero.html = `<h1>${text}</h1>`;
  return document;
}

async function publish(document: unknown, message = "change"): Promise<number> {
  const response = await request("/admin/api/rules", { method: "POST", headers: ADMIN, body: JSON.stringify({ document, message }) });
  expect(response.status).toBe(201);
  return ((await response.json()) as { version: number }).version;
}

async function rollback(version: number): Promise<void> {
  const response = await request("/admin/api/rules/rollback", { method: "POST", headers: ADMIN, body: JSON.stringify({ version }) });
  expect(response.status).toBe(200);
}

/** The versions page's rows, by version: the changes listed and whether it offers "make live again". */
async function versionRows(): Promise<Map<number, { changes: string[]; base: string | null; canMakeLive: boolean; text: string }>> {
  const page = await request("/admin/versions", { headers: { ...ADMIN, accept: "text/html" } });
  expect(page.status).toBe(200);
  const html = await page.text();
  const rows = new Map<number, { changes: string[]; base: string | null; canMakeLive: boolean; text: string }>();
  for (const row of html.split("<tr").slice(1)) {
    const version = /^[^>]*><td>\s*(\d+)/.exec(row)?.[1];
    if (version === undefined) continue;
    rows.set(Number(version), {
      changes: [...row.matchAll(/<code>([^<]*)<\/code>/g)].map((match) => match[1] ?? ""),
      base: /against version (\d+)/.exec(row)?.[1] ?? null,
      canMakeLive: row.includes('class="rollback"'),
      text: row,
    });
  }
  return rows;
}

beforeEach(async () => {
  await publishRules();
});

describe("versions page", () => {
  it("compares a re-publish after a rollback with the version that was live, so an unchanged one shows no changes", async () => {
    const a = await publish(withHero("Hero A"), "A");
    const b = await publish(withHero("Hero B"), "B");
    await rollback(a);
    const again = await publish(withHero("Hero A"), "A again");
    const rows = await versionRows();
    expect(rows.get(again)).toMatchObject({ base: String(a), changes: [] });
    expect(rows.get(again)?.text).toContain("no changes");
    // The version rolled back from still diffs against the one before it, and can be made live again.
    expect(rows.get(b)).toMatchObject({ base: String(a), canMakeLive: true });
    expect(rows.get(b)?.changes).toEqual(["changed /rules/electronics-hero/actions/hero/html"]);
  });

  it("compares each publish with the version it replaced, across several rollbacks", async () => {
    const a = await publish(withHero("Hero A"), "A");
    const b = await publish(withHero("Hero B"), "B");
    await rollback(1);
    const c = await publish(withHero("Hero B"), "B on top of 1");
    await rollback(a);
    await rollback(b);
    const d = await publish(withHero("Hero B"), "B unchanged");
    const rows = await versionRows();
    expect(rows.get(a)?.base).toBe("1");
    expect(rows.get(c)).toMatchObject({ base: "1", changes: ["changed /rules/electronics-hero/actions/hero/html"] });
    expect(rows.get(d)).toMatchObject({ base: String(b), changes: [] });
  });

  const refusedDocuments: [string, string][] = [
    ["not JSON", "{not json"],
    ["an invalid selector", JSON.stringify({ slots: { hero: { selector: "div + p" } }, rules: [] })],
    ["a JSON array", "[]"],
    ["an empty object", "{}"],
    ["slots of the wrong type", JSON.stringify({ ...demoRules, slots: "hero" })],
  ];

  it.each(refusedDocuments)("does not offer to make live a refused version (%s), nor compare the next version with it", async (_, text) => {
    const good = await publish(withHero("Good hero"), "good");
    const refused = good + 1;
    await env.RULES.put(rulesVersionKey(refused), text);
    await env.RULES.put(RULES_LIVE_KEY, JSON.stringify({ version: refused }));
    forgetRules();
    const next = await publish(withHero("Good hero"), "same as the good one");
    const rows = await versionRows();
    expect(rows.get(refused)?.canMakeLive).toBe(false);
    expect(rows.get(refused)?.text).toContain("refused");
    expect(rows.get(next)).toMatchObject({ base: String(good), changes: [] });
    // The good version, no longer live, still can be.
    expect(rows.get(good)?.canMakeLive).toBe(true);
  });
});
