import { describe, expect, it } from "vitest";
import { gammaQ, sampleRatioMismatch } from "../../../shared/experiments/srm.ts";

describe("sample ratio mismatch", () => {
  it("computes chi-square p-values that match the distribution's known values", () => {
    // Q(k/2, x/2) is the chi-square survival function: 3.841 is the 5% critical value at 1 degree
    // of freedom, 5.991 at 2, 10.828 the 0.1% value at 1.
    expect(gammaQ(0.5, 3.841 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(1, 5.991 / 2)).toBeCloseTo(0.05, 3);
    expect(gammaQ(0.5, 10.828 / 2)).toBeCloseTo(0.001, 4);
    expect(gammaQ(2, 0)).toBe(1);
  });

  it("passes a fair split and flags a skewed one", () => {
    expect(sampleRatioMismatch([5_012, 4_988]).flagged).toBe(false);
    expect(sampleRatioMismatch([5_300, 4_700]).flagged).toBe(true);
    expect(sampleRatioMismatch([2_010, 7_990], [0.2, 0.8]).flagged).toBe(false);
    expect(sampleRatioMismatch([5_000, 5_000], [0.2, 0.8]).flagged).toBe(true);
    expect(sampleRatioMismatch([0, 0]).flagged).toBe(false);
  });
});
