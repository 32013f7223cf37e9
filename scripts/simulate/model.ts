/**
 * The simulator's pure parts: a seeded random stream, the comparison arm for the bandit scenario
 * (the same Thompson sampler Tailor uses, but with its posterior refreshed once per simulated hour,
 * as batch systems do), regret, and the intervals the scenarios report. No I/O, no clock: the
 * driver (`main.ts`) feeds them what the real Worker did.
 * @module
 */
import { thompsonChoice, type VariantCounts } from "../../shared/models/thompson.ts";

/** A seeded uniform [0, 1) stream (mulberry32): the same seed gives the same visitors and outcomes. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** One arrival in the bandit scenario: who comes, when (simulated hours) and their click draw. */
export interface Arrival {
  visitor: number;
  hour: number;
  /** Uniform draw shared by both arms: the visitor clicks variant v when `clickDraw < rates[v]`. */
  clickDraw: number;
}

/**
 * The arrival stream of one seed: `count` page views spread evenly over `hours`, by a population
 * of `visitors` who return (each arrival is a uniformly chosen visitor, so most come back).
 */
export function arrivals(seed: number, count: number, visitors: number, hours: number): Arrival[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, index) => ({
    visitor: Math.floor(random() * visitors),
    hour: (index * hours) / count,
    clickDraw: random(),
  }));
}

/** Expected regret of showing `chosen`: the best true rate minus the chosen one's. */
export function stepRegret(rates: readonly number[], chosen: number): number {
  return Math.max(...rates) - (rates[chosen] ?? 0);
}

/** Cumulative regret after each step, for the variants chosen in order. */
export function cumulativeRegret(rates: readonly number[], choices: readonly number[]): number[] {
  let total = 0;
  return choices.map((chosen) => {
    total += stepRegret(rates, chosen);
    return total;
  });
}

export interface HourlyArmOptions {
  rates: readonly number[];
  /** The seed of the sampler's own draws. */
  seed: number;
  /**
   * A returning visitor keeps the variant of their first visit (when the Worker does so too), so
   * the arms compare like with like.
   */
  sticky: boolean;
}

/**
 * The comparison arm: Thompson sampling whose posterior is the counts as of the start of the
 * current simulated hour. Every click and view of the hour is counted, but only seen by the
 * sampler from the next hour on, which is what an hourly batch job that recomputes the posteriors
 * gives the page. Returns the variant chosen for each arrival.
 */
export function hourlyArm(stream: readonly Arrival[], options: HourlyArmOptions): number[] {
  const random = seededRandom(options.seed);
  const live: VariantCounts[] = options.rates.map(() => ({ successes: 0, trials: 0 }));
  let posterior: VariantCounts[] = live.map((counts) => ({ ...counts }));
  let currentHour = 0;
  const kept = new Map<number, number>();
  return stream.map((arrival) => {
    const hour = Math.floor(arrival.hour);
    if (hour !== currentHour) {
      currentHour = hour;
      posterior = live.map((counts) => ({ ...counts }));
    }
    const chosen = (options.sticky ? kept.get(arrival.visitor) : undefined) ?? thompsonChoice(posterior, random);
    if (options.sticky && !kept.has(arrival.visitor)) kept.set(arrival.visitor, chosen);
    const counts = live[chosen];
    if (counts !== undefined) {
      counts.trials++;
      if (arrival.clickDraw < (options.rates[chosen] ?? 0)) counts.successes++;
    }
    return chosen;
  });
}

/** The standard normal quantile for a two-sided 95% interval. */
export const Z_95 = 1.959_963_984_540_054;

export interface Interval {
  estimate: number;
  low: number;
  high: number;
}

/**
 * The difference of two proportions (treated − control) with its 95% Wald interval: the lift in
 * conversion rate, in absolute terms. Empty groups give an interval over everything.
 */
export function differenceOfProportions(
  treated: { successes: number; trials: number },
  control: { successes: number; trials: number },
): Interval {
  if (treated.trials === 0 || control.trials === 0) return { estimate: 0, low: -1, high: 1 };
  const p1 = treated.successes / treated.trials;
  const p0 = control.successes / control.trials;
  const standardError = Math.sqrt((p1 * (1 - p1)) / treated.trials + (p0 * (1 - p0)) / control.trials);
  const estimate = p1 - p0;
  return { estimate, low: estimate - Z_95 * standardError, high: estimate + Z_95 * standardError };
}

/** The median (mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? Number.NaN) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}
