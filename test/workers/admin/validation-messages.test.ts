/**
 * What a marketer or API client reads when a document or a request is refused for a reason its
 * schema gives no words of its own (a wrong type, a missing field, a limit, an unknown key). The
 * schemas use zod's functional build without a locale (docs/decisions/0012-bundle-budget.md), which
 * on its own says only "Invalid input"; these messages come from shared/zod.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import demoRules from "../../../demo-shop/rules.json";
import { postEvents, request, track } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

type Document = Record<string, unknown> & { rules: Record<string, unknown>[] };

interface Problem {
  pointer: string;
  message: string;
}

async function problemsFor(document: unknown): Promise<Problem[]> {
  const response = await request("/admin/api/rules/validate", { method: "POST", headers: ADMIN, body: JSON.stringify({ document }) });
  expect(response.status).toBe(200);
  return ((await response.json()) as { problems: Problem[] }).problems;
}

function firstRule(document: Document): Record<string, unknown> {
  const rule = document.rules[0];
  if (rule === undefined) throw new Error("the demo rules have no rule");
  return rule;
}

describe("messages for issues a schema gives no words for", () => {
  it.each<[string, (document: Document) => void, string, RegExp]>([
    ["a string for a number", (d) => (d.holdout = { share: "0.1" }), "/holdout/share", /^expected number, received string$/],
    ["a fraction for a whole number", (d) => (firstRule(d).priority = 1.5), "/rules/0/priority", /^expected a whole number/],
    ["a missing field", (d) => delete d.slots, "/slots", /^required \(expected record\)$/],
    ["an unknown key", (d) => (d.colour = "red"), "/", /^unknown key "colour"$/],
    ["a number over its maximum", (d) => (firstRule(d).priority = 5_000_000), "/rules/0/priority", /at most 1000000$/],
    ["a text over its length", (d) => (d.description = "x".repeat(2_001)), "/description", /^expected at most 2000 characters$/],
    ["too few items", (d) => (d.experiments = { e: { variants: ["a"] } }), "/experiments/e/variants", /^expected at least 2 items$/],
    [
      "a value outside an enum",
      (d) => (d.experiments = { e: { variants: ["a", "b"], allocation: "random" } }),
      "/experiments/e/allocation",
      /^expected one of "fixed", "bandit"$/,
    ],
    [
      "a value outside a union of literals",
      (d) => (d.experiments = { e: { variants: ["a", "b"], hashVersion: 3 } }),
      "/experiments/e/hashVersion",
      /^expected one of 1, 2$/,
    ],
    [
      "an unknown action type",
      (d) => (firstRule(d).actions = { hero: { type: "explode" } }),
      "/rules/0/actions/hero/type",
      /^expected "type" to be one of "setText", "setHtml", .*"recommendations"$/,
    ],
    [
      "a date that is not ISO 8601",
      (d) => (firstRule(d).schedule = { start: "tomorrow" }),
      "/rules/0/schedule/start",
      /^expected an ISO 8601 date and time/,
    ],
    ["a path without its slash", (d) => (firstRule(d).pages = ["home"]), "/rules/0/pages/0", /^must start with "\/"$/],
    [
      "a key that is not a name",
      (d) => (d.audiences = { "Bad Name": {} }),
      "/audiences/Bad Name",
      /^invalid key: use lower-case letters, digits/,
    ],
    ["an object for an array", (d) => (d.rules = {} as unknown as Document["rules"]), "/rules", /^expected array, received object$/],
  ])("%s is explained at its pointer", async (_, change, pointer, message) => {
    const document = structuredClone(demoRules) as unknown as Document;
    change(document);
    const problems = await problemsFor(document);
    expect(problems.find((problem) => problem.pointer === pointer)?.message).toMatch(message);
    for (const problem of problems) expect(problem.message).not.toMatch(/^Invalid input$/);
  });

  it("explains a refused event in the ingest API's problem, at its pointer", async () => {
    const response = await postEvents({ batch: [track("Product Viewed"), { type: "track", event: 42, messageId: "m-2" }] });
    expect(response.status).toBe(422);
    const body = (await response.json()) as { errors: { pointer: string; detail: string }[] };
    expect(body.errors).toContainEqual({ pointer: "/batch/1/event", detail: "expected string, received number" });
  });
});
