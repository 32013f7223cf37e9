/**
 * The health view: what the isolates reported (pages per minute and version, fallbacks by stage,
 * when each isolate last read the live pointer), the dead letters waiting and the kill switch, in
 * the API and on the editor's page.
 */
import { env } from "cloudflare:workers";
import { beforeEach, expect, it } from "vitest";
import type { RulesDocumentInput } from "../../../shared/rules/document.ts";
import { takeCounts } from "../../../workers/decide/page-counts.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };
const BROWSER = { "user-agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/156.0" };

const MISSING_MODEL: RulesDocumentInput = {
  version: 1,
  slots: { banner: { selector: '[data-slot="banner"]' } },
  models: { intent: { kv: "models:intent:not-uploaded" } },
  rules: [
    { id: "intent", pages: ["/"], condition: { "models.intent": { $gte: 0.5 } }, actions: { banner: { type: "setText", text: "Hi" } } },
  ],
};

beforeEach(async () => {
  await publishRules(MISSING_MODEL, 1);
  takeCounts();
});

it("shows the pages, fallbacks and isolates reported, the dead letters and the kill switch", async () => {
  for (let page = 0; page < 12; page++) expect((await request("/", { headers: BROWSER })).status).toBe(200);
  const pending = takeCounts();
  expect(pending).not.toBeNull();
  if (pending !== null) expect(await env.RULES_REGISTRY.getByName("registry").report(pending)).toEqual({ accepted: true });
  await env.DEAD_LETTERS.getByName("all").add([
    {
      queue: "tailor-events",
      reason: "upstream-rejected",
      detail: "422",
      attempts: 10,
      failedAt: Date.parse("2026-01-01T00:00:00Z"),
      body: {},
    },
  ]);
  await request("/admin/api/kill-switch", {
    method: "POST",
    headers: ADMIN,
    body: JSON.stringify({ enabled: true, reason: "health check" }),
  });

  const health = (await (await request("/admin/api/health", { headers: ADMIN })).json()) as {
    killSwitch: { enabled: boolean; reason: string };
    liveVersion: number;
    minutes: { version: number; pages: number; failedPages: number }[];
    fallbacks: { stage: string; version: number; pages: number }[];
    isolates: { serving: number; refreshedAt: string | null }[];
    deadLetters: { total: number; oldestFailedAt: string | null };
  };
  expect(health.killSwitch).toMatchObject({ enabled: true, reason: "health check" });
  expect(health.liveVersion).toBe(1);
  const pages = health.minutes.filter((row) => row.version === 1).reduce((sum, row) => sum + row.pages, 0);
  const failed = health.minutes.filter((row) => row.version === 1).reduce((sum, row) => sum + row.failedPages, 0);
  expect(pages).toBeGreaterThanOrEqual(12);
  expect(failed).toBeGreaterThanOrEqual(12);
  expect(health.fallbacks).toEqual(expect.arrayContaining([expect.objectContaining({ stage: "model-missing", version: 1 })]));
  expect(health.isolates.some((isolate) => isolate.serving === 1 && isolate.refreshedAt !== null)).toBe(true);
  expect(health.deadLetters.total).toBeGreaterThanOrEqual(1);
  expect(health.deadLetters.oldestFailedAt).not.toBeNull();

  const html = await (await request("/admin/health", { headers: { authorization: ADMIN.authorization } })).text();
  expect(html).toContain("model-missing (version 1)");
  expect(html).toContain("ON (health check)");
  expect(html).toContain("Dead letters waiting");
});
