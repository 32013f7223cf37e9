/**
 * The bundle check (`npm run check:bundle`, part of `npm test`) holds both Workers to their budgets:
 * the visitors' Worker to 300 KiB, so a change that drags the admin, the HTML parser or the regex
 * analyser back onto the page path fails the build.
 */
import { describe, expect, it } from "vitest";
import { BUNDLE_BUDGETS, bundleVerdict } from "../../scripts/check-bundle.ts";

const KIB = 1024;

describe("the bundle budgets", () => {
  it("hold the visitors' Worker to 300 KiB and check the admin Worker too", () => {
    expect(BUNDLE_BUDGETS.map(({ config, entry, budgetBytes }) => [config, entry, budgetBytes <= 300 * KIB])).toEqual([
      ["wrangler.toml", "workers/index.ts", true],
      ["wrangler.admin.toml", "workers/admin/index.ts", false],
    ]);
    expect(BUNDLE_BUDGETS[0]?.budgetBytes).toBe(300 * KIB);
  });

  const visitors = BUNDLE_BUDGETS[0];
  const admin = BUNDLE_BUDGETS[1];
  if (visitors === undefined || admin === undefined) throw new Error("both Workers need a budget");

  it.each([
    // [bundle, size, within]
    [visitors, 0, true],
    [visitors, 249_399, true],
    [visitors, 300 * KIB, true],
    [visitors, 300 * KIB + 1, false],
    // The visitors' Worker as it was before the split (decision 0012).
    [visitors, 565_397, false],
    [admin, admin.budgetBytes, true],
    [admin, admin.budgetBytes + 1, false],
  ])("judges %o at %i bytes within budget: %s", (bundle, size, within) => {
    const verdict = bundleVerdict(bundle, size);
    expect(verdict.withinBudget).toBe(within);
    expect(verdict.message).toContain(bundle.name);
    expect(verdict.message).toMatch(within ? /within budget$/ : /over by \d+\.\d KiB/);
  });
});
