/**
 * The "done when", on the built Worker: a version whose model document is missing,
 * published to 50% of visitors, is brought back by the guard by itself while new visitors browse
 * the homepage, with the audit entry; the kill switch then turns every page back into the origin's.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import rules from "../../demo-shop/rules.json" with { type: "json" };
import { type System, startSystem, waitUntil } from "../support/system.ts";

const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0 system-test" };

let system: System;

beforeAll(async () => {
  system = await startSystem(rules, { RULES_REFRESH_MS: "1000" });
}, 180_000);

afterAll(async () => {
  await system.close();
});

function admin(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${system.tailor.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${system.adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function rollbackEntry(): Promise<{ detail: string; version: number } | undefined> {
  const { entries } = (await (await admin("GET", "/admin/api/audit?limit=20")).json()) as {
    entries: { action: string; detail: string; version: number }[];
  };
  return entries.find((entry) => entry.action === "rollout-rollback");
}

/** One homepage view by a new visitor (no cookie): its Server-Timing says whether a stage fell back. */
async function newVisitorPage(): Promise<string> {
  const response = await fetch(`${system.tailor.url}/`, { headers: BROWSER });
  await response.text();
  return response.headers.get("server-timing") ?? "";
}

it("rolls a version whose model is missing back by itself, then the kill switch serves the origin's pages", {
  timeout: 180_000,
}, async () => {
  // The intent model, scored for every homepage visitor, now lives in a KV document nobody uploaded.
  const bad = { ...rules, models: { ...rules.models, intent: { kv: "models:intent:not-uploaded" } } };
  const published = await admin("POST", "/admin/api/rules", { document: bad, message: "intent v2", rollout: { percent: 50, minutes: 15 } });
  expect(published.status).toBe(201);
  const { version } = (await published.json()) as { version: number };

  let pages = 0;
  let failed = 0;
  const rolledBack = await waitUntil(
    async () => {
      const timings = await Promise.all(Array.from({ length: 10 }, newVisitorPage));
      pages += timings.length;
      failed += timings.filter((timing) => timing.includes("model-missing")).length;
      return (await rollbackEntry()) !== undefined;
    },
    120_000,
    0,
  );
  const entry = await rollbackEntry();
  console.log(`guardrails: ${pages} pages (${failed} on the bad version) until "${entry?.detail ?? "no rollback"}"`);
  expect(rolledBack).toBe(true);
  expect(entry?.version).toBe(version);
  expect(entry?.detail).toMatch(new RegExp(`^automatic rollback of v${version}: fallbacks for 100% of \\d+ visitors vs 0% of \\d+`));
  expect(failed).toBeGreaterThan(0);

  // Every isolate reads the pointer within RULES_REFRESH_MS: then nobody gets the bad version.
  const clean = await waitUntil(async () => {
    const timings = await Promise.all(Array.from({ length: 20 }, newVisitorPage));
    return timings.every((timing) => !timing.includes("model-missing"));
  }, 30_000);
  expect(clean).toBe(true);

  expect((await admin("POST", "/admin/api/kill-switch", { enabled: true, reason: "system test" })).status).toBe(200);
  const returning = { ...BROWSER, cookie: "tailor_vid=systemxxxxxxxxxxxxxxxx" };
  const untouched = await waitUntil(async () => {
    const response = await fetch(`${system.tailor.url}/`, { headers: returning });
    const body = await response.text();
    return (
      response.headers.get("server-timing") === null &&
      !(response.headers.get("set-cookie") ?? "").includes("tailor_vid") &&
      !body.includes("data-p13n-rule")
    );
  }, 30_000);
  expect(untouched).toBe(true);
});
