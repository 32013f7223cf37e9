/**
 * The simulator's pure parts: the hourly comparison arm really only learns at hour boundaries,
 * regret is counted against the best true rate, and the lift interval covers the truth about as
 * often as a 95% interval should.
 */
import { describe, expect, it } from "vitest";
import { intervalChart, lineChart, ticks } from "../../scripts/simulate/charts.ts";
import {
  type Arrival,
  arrivals,
  cumulativeRegret,
  differenceOfProportions,
  hourlyArm,
  median,
  seededRandom,
  stepRegret,
} from "../../scripts/simulate/model.ts";

const RATES = [0.04, 0.05, 0.07];

describe("seeded arrivals", () => {
  it("gives the same visitors and click draws for the same seed, and others for another", () => {
    expect(arrivals(7, 50, 10, 2)).toEqual(arrivals(7, 50, 10, 2));
    expect(arrivals(7, 50, 10, 2)).not.toEqual(arrivals(8, 50, 10, 2));
    const stream = arrivals(7, 100, 10, 2);
    expect(stream[0]?.hour).toBe(0);
    expect(stream[50]?.hour).toBe(1);
    expect(new Set(stream.map((arrival) => arrival.visitor)).size).toBeLessThanOrEqual(10);
  });
});

describe("regret", () => {
  it.each([
    [0, 0.03],
    [1, 0.02],
    [2, 0],
  ])("charges variant %i the gap to the best rate (%f)", (chosen, regret) => {
    expect(stepRegret(RATES, chosen)).toBeCloseTo(regret, 12);
  });

  it("accumulates in order", () => {
    const curve = cumulativeRegret(RATES, [0, 1, 2, 0]);
    expect(curve.map((value) => Number(value.toFixed(4)))).toEqual([0.03, 0.05, 0.05, 0.08]);
  });
});

describe("hourly arm", () => {
  /** A stream where variant 2 always gets clicked and the others never, so any learning shows at once. */
  function obviousStream(perHour: number, hours: number): Arrival[] {
    return Array.from({ length: perHour * hours }, (_, index) => ({ visitor: index, hour: Math.floor(index / perHour), clickDraw: 0.5 }));
  }

  it("explores blindly for the whole first hour, then uses what the hour taught it", () => {
    const rates = [0, 0, 1];
    const choices = hourlyArm(obviousStream(600, 2), { rates, seed: 3, sticky: false });
    const share = (slice: number[]) => slice.filter((choice) => choice === 2).length / slice.length;
    // The first hour sees only the uniform prior: about a third on the best variant, early and late alike.
    expect(share(choices.slice(0, 300))).toBeLessThan(0.45);
    expect(share(choices.slice(300, 600))).toBeLessThan(0.45);
    // From the second hour on, the posterior is clear.
    expect(share(choices.slice(600))).toBeGreaterThan(0.99);
  });

  it("learns per event when an hour is a single view, as a per-event sampler does", () => {
    const rates = [0, 0, 1];
    const stream = obviousStream(1, 600);
    const choices = hourlyArm(stream, { rates, seed: 3, sticky: false });
    expect(choices.slice(300).filter((choice) => choice === 2).length / 300).toBeGreaterThan(0.95);
  });

  it("keeps a returning visitor's first variant when told to be sticky", () => {
    const stream: Arrival[] = Array.from({ length: 400 }, (_, index) => ({ visitor: index % 4, hour: index / 100, clickDraw: 0.5 }));
    const choices = hourlyArm(stream, { rates: RATES, seed: 11, sticky: true });
    for (let visitor = 0; visitor < 4; visitor++) {
      const theirs = choices.filter((_, index) => index % 4 === visitor);
      expect(new Set(theirs).size).toBe(1);
    }
  });

  it("has more regret than the same sampler updated per event, over the same stream", () => {
    const ratios = [1, 2, 3, 4, 5, 6, 7].map((seed) => {
      const stream = arrivals(seed, 2_000, 500, 2);
      const hourly = cumulativeRegret(RATES, hourlyArm(stream, { rates: RATES, seed, sticky: false })).at(-1) ?? 0;
      const perEvent =
        cumulativeRegret(
          RATES,
          hourlyArm(
            stream.map((arrival, index) => ({ ...arrival, hour: index })),
            { rates: RATES, seed, sticky: false },
          ),
        ).at(-1) ?? 0;
      return perEvent / hourly;
    });
    expect(median(ratios)).toBeLessThan(0.9);
  });
});

describe("lift interval", () => {
  it("is the difference of the rates with a 95% Wald interval", () => {
    const interval = differenceOfProportions({ successes: 140, trials: 1_000 }, { successes: 80, trials: 1_000 });
    expect(interval.estimate).toBeCloseTo(0.06, 12);
    const standardError = Math.sqrt((0.14 * 0.86) / 1_000 + (0.08 * 0.92) / 1_000);
    expect(interval.high - interval.estimate).toBeCloseTo(1.96 * standardError, 4);
    expect(interval.estimate - interval.low).toBeCloseTo(1.96 * standardError, 4);
  });

  it("covers the true lift in about 95% of simulated experiments", () => {
    const random = seededRandom(99);
    const draw = (rate: number, trials: number) => {
      let successes = 0;
      for (let index = 0; index < trials; index++) if (random() < rate) successes++;
      return { successes, trials };
    };
    let covered = 0;
    const runs = 400;
    for (let run = 0; run < runs; run++) {
      const interval = differenceOfProportions(draw(0.14, 600), draw(0.08, 600));
      if (interval.low <= 0.06 && 0.06 <= interval.high) covered++;
    }
    expect(covered / runs).toBeGreaterThan(0.91);
    expect(covered / runs).toBeLessThan(0.99);
  });

  it("spans everything when a group is empty", () => {
    expect(differenceOfProportions({ successes: 0, trials: 0 }, { successes: 3, trials: 10 })).toEqual({ estimate: 0, low: -1, high: 1 });
  });
});

describe("charts", () => {
  it("draws each series and escapes labels", () => {
    const svg = lineChart({
      title: "a < b",
      xLabel: "x",
      yLabel: "y",
      series: [
        {
          label: "one & two",
          color: "#000",
          points: [
            [0, 0],
            [1, 2],
          ],
        },
        {
          label: "",
          color: "#ccc",
          thin: true,
          points: [
            [0, 1],
            [1, 1],
          ],
        },
      ],
    });
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<polyline/g)?.length).toBe(3);
    expect(svg).toContain("a &lt; b");
    expect(svg).toContain("one &amp; two");
    const intervals = intervalChart({
      title: "t",
      xLabel: "x",
      format: String,
      rows: [{ label: "lift", estimate: 0.05, low: 0.01, high: 0.09, truth: 0.06 }],
    });
    expect(intervals).toContain("<circle");
  });

  it("picks round ticks", () => {
    expect(ticks(0, 10)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(ticks(0, 0.07)).toEqual([0, 0.02, 0.04, 0.06]);
  });
});
