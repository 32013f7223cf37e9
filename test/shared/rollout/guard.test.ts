/**
 * The guard's test: a candidate clearly worse on enough pages is rolled back, noise and small
 * samples are not; the rollout share is stable per visitor and close to the asked percent.
 */
import { describe, expect, it } from "vitest";
import { inRollout, judgeRollout } from "../../../shared/rollout/guard.ts";

describe("judgeRollout", () => {
  it.each([
    // candidate visitors/failed, baseline visitors/failed, verdict
    [240, 231, 2_180, 0, "worse"],
    [100, 100, 100, 0, "worse"],
    [150, 30, 150, 5, "worse"],
    [99, 99, 5_000, 0, "wait"],
    [5_000, 5_000, 99, 0, "wait"],
    [150, 3, 150, 2, "not-worse"],
    [150, 0, 150, 40, "not-worse"],
    [150, 150, 150, 150, "not-worse"],
    [150, 0, 150, 0, "not-worse"],
    [1_000, 60, 1_000, 45, "not-worse"],
  ])("%i visitors with %i failed vs %i with %i: %s", (visitors, failed, baseVisitors, baseFailed, kind) => {
    expect(judgeRollout(7, { visitors, failedVisitors: failed }, { visitors: baseVisitors, failedVisitors: baseFailed }).kind).toBe(kind);
  });

  it("says in words what it saw", () => {
    const verdict = judgeRollout(7, { visitors: 240, failedVisitors: 231 }, { visitors: 2_180, failedVisitors: 0 });
    expect(verdict.kind === "worse" && verdict.detail).toMatch(
      /^automatic rollback of v7: fallbacks for 96% of 240 visitors vs 0% of 2,180 \(z = \d+\.\d, one-sided p < 0\.001\)$/,
    );
  });
});

describe("inRollout", () => {
  it.each([1, 10, 50, 90])("puts about %i%% of visitors in the candidate, the same ones every time", (percent) => {
    const visitors = Array.from({ length: 4_000 }, (_, index) => `visitor-${index}`);
    const inside = visitors.filter((visitor) => inRollout("salt-a", visitor, percent));
    expect(Math.abs((100 * inside.length) / visitors.length - percent)).toBeLessThan(3);
    expect(visitors.filter((visitor) => inRollout("salt-a", visitor, percent))).toEqual(inside);
  });

  it("picks other visitors under another salt (independent of earlier rollouts and experiments)", () => {
    const visitors = Array.from({ length: 2_000 }, (_, index) => `visitor-${index}`);
    const first = new Set(visitors.filter((visitor) => inRollout("salt-a", visitor, 50)));
    const both = visitors.filter((visitor) => first.has(visitor) && inRollout("salt-b", visitor, 50)).length;
    expect(Math.abs(both / visitors.length - 0.25)).toBeLessThan(0.04);
  });

  it("gives everyone the candidate at 100%", () => {
    expect(["a", "b", "c"].every((visitor) => inRollout("s", visitor, 100))).toBe(true);
  });
});
