/**
 * The admin API refuses rules documents with `$regex`/`$regexi` patterns that could backtrack
 * catastrophically: validation names each one by its JSON pointer with the reason, and publishing
 * such a document is refused and changes nothing.
 */
import { env } from "cloudflare:workers";
import { beforeEach, describe, expect, it } from "vitest";
import { EVERYDAY_PATTERNS } from "../../support/everyday-patterns.ts";
import { publishRules, request } from "../../support/worker/fixtures.ts";

const ADMIN = { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" };

const CATASTROPHIC = [
  "^((a+))+$",
  "^(?:a|a?)+$",
  "^(a|aa)+$",
  "^(\\w|\\d)+$",
  "^(a?){30}a{30}$",
  "(.*a){12}",
  "^(a+)+b",
  "(x+x+)+y",
  "^([a-zA-Z0-9])(([\\-.]|[_]+)?([a-zA-Z0-9]+))*(@){1}[a-z0-9]+[.]{1}(([a-z]{2,3})|([a-z]{2,3}[.]{1}[a-z]{2,3}))$",
  "(a|\\1)+",
  "^(?=(a+))\\1*$",
  "^([\\s\\S]|a)+$",
  "^(\\d|[0-9])+$",
  "(a{1,30}){1,30}",
  "a.*b.*c",
];

interface Checked {
  valid: boolean;
  problems: { pointer: string; message: string; severity: string }[];
}

function documentWith(patterns: readonly string[], operator: "$regex" | "$regexi" = "$regex") {
  return {
    version: 1,
    slots: { hero: { selector: '[data-slot="hero"]' } },
    audiences: { campaigners: { "utm.source": { [operator]: patterns[0] } } },
    rules: patterns.map((pattern, index) => ({
      id: `rule-${index}`,
      condition: { $or: [{ "geo.country": "DE" }, { "utm.campaign": { [operator]: pattern } }] },
      actions: { hero: { type: "setText", text: `Rule ${index}` } },
    })),
  };
}

function post(path: string, body: unknown): Promise<Response> {
  return request(path, { method: "POST", headers: ADMIN, body: JSON.stringify(body) });
}

beforeEach(async () => {
  await publishRules();
});

describe("POST /admin/api/rules/validate", () => {
  it.each(["$regex", "$regexi"] as const)("refuses every catastrophic %s pattern with its pointer and the reason", async (operator) => {
    const response = await post("/admin/api/rules/validate", { document: documentWith(CATASTROPHIC, operator) });
    expect(response.status).toBe(200);
    const checked = (await response.json()) as Checked;
    expect(checked.valid).toBe(false);
    CATASTROPHIC.forEach((pattern, index) => {
      const problem = checked.problems.find((found) => found.pointer === `/rules/${index}/condition/$or/1/utm.campaign/${operator}`);
      expect(problem, pattern).toEqual(
        expect.objectContaining({ severity: "error", message: expect.stringMatching(/backtrack|backreference|cube/) }),
      );
    });
    expect(checked.problems).toContainEqual(
      expect.objectContaining({ pointer: `/audiences/campaigners/utm.source/${operator}`, severity: "error" }),
    );
  });

  it("refuses invalid and over-long patterns with the parser's message", async () => {
    const checked = (await (await post("/admin/api/rules/validate", { document: documentWith(["(", "a".repeat(300)]) })).json()) as Checked;
    expect(checked.valid).toBe(false);
    expect(checked.problems).toContainEqual(
      expect.objectContaining({
        pointer: "/rules/0/condition/$or/1/utm.campaign/$regex",
        message: expect.stringMatching(/Unterminated group/),
      }),
    );
    expect(checked.problems).toContainEqual(
      expect.objectContaining({ pointer: "/rules/1/condition/$or/1/utm.campaign/$regex", message: expect.stringMatching(/at most 256/) }),
    );
  });

  it("accepts the patterns marketers write every day", async () => {
    const checked = (await (await post("/admin/api/rules/validate", { document: documentWith(EVERYDAY_PATTERNS) })).json()) as Checked;
    expect(checked.problems.filter((problem) => problem.severity === "error")).toEqual([]);
    expect(checked.valid).toBe(true);
  });
});

describe("POST /admin/api/rules", () => {
  it.each(CATASTROPHIC)("refuses to publish %s and leaves the live version alone", async (pattern) => {
    const response = await post("/admin/api/rules", { document: documentWith([pattern]), message: "hostile" });
    expect(response.status).toBe(422);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    const body = (await response.json()) as { problems: { pointer: string }[] };
    expect(body.problems.map((problem) => problem.pointer)).toContain("/rules/0/condition/$or/1/utm.campaign/$regex");
    const live = (await (await request("/admin/api/rules", { headers: ADMIN })).json()) as { version: number };
    expect(live.version).toBe(1);
  });
});
