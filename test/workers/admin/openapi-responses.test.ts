/**
 * What the admin API answers is what its OpenAPI document publishes: every operation is called
 * with a valid request and its answer is parsed with the very schema the document is generated
 * from, so a response shape that drifts from the published one fails here.
 */
import { env } from "cloudflare:workers";
import { beforeAll, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import * as z from "../../../shared/zod.ts";
import { OPERATIONS } from "../../../workers/admin/openapi.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

const EXPERIMENT_RULES = {
  version: 1,
  slots: { hero: { selector: '[data-slot="hero"]' } },
  experiments: { hero_test: { variants: ["calm", "bold"] } },
  rules: [
    {
      id: "hero-test",
      pages: ["/"],
      experiment: {
        id: "hero_test",
        variants: { calm: { hero: { type: "setText", text: "Calm" } }, bold: { hero: { type: "setText", text: "BOLD" } } },
      },
    },
  ],
};

/** A valid request for each operation, by method and path as the document names them. */
const CALLS: Record<string, { path: string; body?: unknown }> = {
  "get /admin/api/rules": { path: "/admin/api/rules" },
  "post /admin/api/rules/validate": { path: "/admin/api/rules/validate", body: { document: demoRules } },
  "post /admin/api/rules": { path: "/admin/api/rules", body: { document: EXPERIMENT_RULES, message: "second" } },
  "get /admin/api/rules/versions": { path: "/admin/api/rules/versions" },
  "get /admin/api/rules/versions/{version}": { path: "/admin/api/rules/versions/1" },
  "get /admin/api/rules/diff": { path: "/admin/api/rules/diff?from=1&to=2" },
  "post /admin/api/rules/rollback": { path: "/admin/api/rules/rollback", body: { version: 2 } },
  "post /admin/api/preview": { path: "/admin/api/preview", body: { path: "/", visitor: {} } },
  "post /admin/api/preview-links": { path: "/admin/api/preview-links", body: { forced: { hero_test: "bold" }, path: "/" } },
  "put /admin/api/models/{key}": {
    path: "/admin/api/models/models:related:openapi-1",
    body: { type: "logistic", intercept: 0, weights: { "session.page_views": 0.1 } },
  },
  "get /admin/api/audit": { path: "/admin/api/audit" },
  "get /admin/api/experiments/{id}": { path: "/admin/api/experiments/hero_test" },
  "get /admin/api/dead-letters": { path: "/admin/api/dead-letters" },
  "post /admin/api/dead-letters/replay": { path: "/admin/api/dead-letters/replay" },
  "get /admin/api/kill-switch": { path: "/admin/api/kill-switch" },
  "post /admin/api/kill-switch": { path: "/admin/api/kill-switch", body: { enabled: false, reason: "check" } },
  "post /admin/api/rules/pause": { path: "/admin/api/rules/pause", body: { kind: "rule", id: "hero-test", paused: true, reason: "check" } },
  "get /admin/api/health": { path: "/admin/api/health" },
  "post /admin/api/users/erase": { path: "/admin/api/users/erase", body: { userId: "openapi-user" } },
};

beforeAll(async () => {
  await publishRules(demoRules, 1);
});

it("has a valid request for every published operation", () => {
  expect(OPERATIONS.map((operation) => `${operation.method} ${operation.path}`).sort()).toEqual(Object.keys(CALLS).sort());
});

// In the document's order: the publish makes version 2, which the diff and rollback then use.
it.each(OPERATIONS.map((operation) => [`${operation.method} ${operation.path}`, operation] as const))(
  "%s answers what the OpenAPI document publishes",
  async (name, operation) => {
    const call = CALLS[name];
    if (call === undefined) throw new Error(`no request for ${name}`);
    const response = await request(call.path, {
      method: operation.method.toUpperCase(),
      headers: ADMIN,
      ...(call.body === undefined ? {} : { body: JSON.stringify(call.body) }),
    });
    expect(response.status, await response.clone().text()).toBe(operation.status ?? 200);
    const parsed = z.safeParse(operation.response, await response.json());
    expect(parsed.success ? [] : parsed.error.issues).toEqual([]);
  },
);
