/**
 * The guarded rollout's arithmetic: which visitors get the candidate version, and whether the
 * candidate is worse than the version it would replace by more than chance explains. Pure: the
 * Durable Object that keeps the counts calls it (docs/decisions/0013-guarded-rollout.md).
 * @module
 */
import { hash } from "../experiments/bucketing.ts";

/**
 * Visitors served by one version during a rollout, and how many of them had something go wrong.
 * Visitors, not pages: one visitor who reloads a page hundreds of times (to dilute a bad version's
 * fault rate, or inflate a good one's) weighs as one.
 */
export interface ArmCounts {
  /** Distinct visitors whose pages were decided with this version. */
  visitors: number;
  /** Of those, visitors with at least one page with a fallback, a failed action or an origin error. */
  failedVisitors: number;
}

/** How sure the guard must be before it rolls back, and on how much traffic. */
export interface GuardOptions {
  /** Fewest visitors each version must have served before the test is run at all. */
  minVisitors: number;
  /** One-sided z threshold: 3.09 is p < 0.001. */
  zThreshold: number;
}

/** p < 0.001, one-sided, on at least 100 visitors per version. */
export const DEFAULT_GUARD_OPTIONS: GuardOptions = { minVisitors: 100, zThreshold: 3.09 };

/** What the guard concludes from the counts so far. */
export type Verdict = { kind: "wait"; reason: string } | { kind: "worse"; z: number; detail: string } | { kind: "not-worse"; z: number };

/** Whether the visitor with this pseudonym gets the candidate version of a rollout (stable per visitor and rollout). */
export function inRollout(salt: string, pseudonym: string, percent: number): boolean {
  return (hash(`rollout:${salt}`, pseudonym, 2) ?? 1) * 100 < percent;
}

function percentOf(part: number, whole: number): string {
  return `${Math.round((100 * part) / whole)}%`;
}

function thousands(count: number): string {
  return String(count).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * One-sided two-proportion z-test of "the candidate fails more often than the baseline", with the
 * pooled standard error. No verdict below `minVisitors` per version: a handful of visitors proves nothing.
 */
export function judgeRollout(
  version: number,
  candidate: ArmCounts,
  baseline: ArmCounts,
  options: GuardOptions = DEFAULT_GUARD_OPTIONS,
): Verdict {
  if (candidate.visitors < options.minVisitors || baseline.visitors < options.minVisitors)
    return {
      kind: "wait",
      reason: `${candidate.visitors} and ${baseline.visitors} visitors so far; the test needs ${options.minVisitors} per version`,
    };
  const candidateRate = candidate.failedVisitors / candidate.visitors;
  const baselineRate = baseline.failedVisitors / baseline.visitors;
  const pooled = (candidate.failedVisitors + baseline.failedVisitors) / (candidate.visitors + baseline.visitors);
  const standardError = Math.sqrt(pooled * (1 - pooled) * (1 / candidate.visitors + 1 / baseline.visitors));
  // Both versions failing on every page (or on none) is no evidence against the candidate.
  const z = standardError === 0 ? 0 : (candidateRate - baselineRate) / standardError;
  if (z <= options.zThreshold) return { kind: "not-worse", z };
  return {
    kind: "worse",
    z,
    detail:
      `automatic rollback of v${version}: fallbacks for ${percentOf(candidate.failedVisitors, candidate.visitors)} of ${thousands(candidate.visitors)} visitors` +
      ` vs ${percentOf(baseline.failedVisitors, baseline.visitors)} of ${thousands(baseline.visitors)} (z = ${z.toFixed(1)}, one-sided p < 0.001)`,
  };
}
