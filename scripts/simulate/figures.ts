/**
 * The simulation's charts from its results: cumulative regret of both bandit arms over simulated
 * time (every seed thin, the pointwise median of the seeds bold, as the headline ratio is a
 * median), and the lift scenario's rates and lift with their intervals and true values.
 * @module
 */
import { intervalChart, lineChart, type Series } from "./charts.ts";
import { median } from "./model.ts";
import type { BanditResult, LiftResult } from "./scenarios.ts";

function percent(rate: number): string {
  return `${Math.round(rate * 1_000) / 10}%`;
}

/** The median of the seeds' curves, point by point (the curves share their sampling of the horizon). */
function medianCurve(bandit: BanditResult, pick: (point: { perEvent: number; hourly: number }) => number): [number, number][] {
  const first = bandit.seeds[0]?.curve ?? [];
  return first.map((point, index) => [
    point.hour,
    median(bandit.seeds.map((seed) => pick(seed.curve[Math.min(index, seed.curve.length - 1)] ?? point))),
  ]);
}

export function regretChart(bandit: BanditResult): string {
  const thin = (color: string, pick: (point: { perEvent: number; hourly: number }) => number): Series[] =>
    bandit.seeds.map((seed) => ({ label: "", color, thin: true, points: seed.curve.map((point) => [point.hour, pick(point)] as const) }));
  return lineChart({
    title: `Cumulative regret, true click rates ${bandit.trueRates.map(percent).join(", ")}`,
    xLabel: `simulated hours (${bandit.plan.arrivals / bandit.plan.hours} views per hour; ${bandit.seeds.length} seeds, thin lines)`,
    yLabel: "cumulative regret (expected clicks lost)",
    series: [
      ...thin("#9ecae1", (point) => point.perEvent),
      ...thin("#fdd0a2", (point) => point.hourly),
      {
        label: "Tailor, per event (the Worker), median of seeds",
        color: "#1f77b4",
        points: medianCurve(bandit, (point) => point.perEvent),
      },
      { label: "Same sampler, refreshed hourly, median of seeds", color: "#ff7f0e", points: medianCurve(bandit, (point) => point.hourly) },
    ],
  });
}

function rateInterval(counts: { successes: number; trials: number }) {
  const rate = counts.trials === 0 ? 0 : counts.successes / counts.trials;
  const half = 1.96 * Math.sqrt((rate * (1 - rate)) / Math.max(1, counts.trials));
  return { estimate: rate, low: rate - half, high: rate + half };
}

export function liftChart(lift: LiftResult): string {
  return intervalChart({
    title: `Rule "electronics-hero" against the holdout (${lift.visitors} visitors)`,
    xLabel: "conversion rate, and lift (treated − holdout), from Tailor's records",
    format: (value) => `${Math.round(value * 100)}%`,
    rows: [
      { label: "treated", ...rateInterval(lift.recorded.treated), truth: lift.trueRates.treated },
      { label: "holdout", ...rateInterval(lift.recorded.holdout), truth: lift.trueRates.holdout },
      { label: "lift", ...lift.lift, truth: lift.trueLift },
    ],
  });
}
