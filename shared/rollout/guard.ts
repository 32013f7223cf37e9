/**
 * The guarded rollout's arithmetic: which visitors get the candidate version, and whether the
 * candidate is worse than the version it would replace by more than chance explains. Pure: the
 * Durable Object that keeps the counts calls it (docs/decisions/0013-guarded-rollout.md).
 * @module
 */
import { hash } from "../experiments/bucketing.ts";

/** Pages served by one version during a rollout, and how many of them had something go wrong. */
export interface ArmCounts {
  /** Pages decided with this version. */
  pages: number;
  /** Of those, pages with a fallback, a failed action or an origin error. */
  failedPages: number;
}

/** How sure the guard must be before it rolls back, and on how much traffic. */
export interface GuardOptions {
  /** Fewest pages each version must have served before the test is run at all. */
  minPages: number;
  /** One-sided z threshold: 3.09 is p < 0.001. */
  zThreshold: number;
}

/** p < 0.001, one-sided, on at least 100 pages per version. */
export const DEFAULT_GUARD_OPTIONS: GuardOptions = { minPages: 100, zThreshold: 3.09 };

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
 * pooled standard error. No verdict below `minPages` per version: a handful of pages proves nothing.
 */
export function judgeRollout(
  version: number,
  candidate: ArmCounts,
  baseline: ArmCounts,
  options: GuardOptions = DEFAULT_GUARD_OPTIONS,
): Verdict {
  if (candidate.pages < options.minPages || baseline.pages < options.minPages)
    return {
      kind: "wait",
      reason: `${candidate.pages} and ${baseline.pages} pages so far; the test needs ${options.minPages} per version`,
    };
  const candidateRate = candidate.failedPages / candidate.pages;
  const baselineRate = baseline.failedPages / baseline.pages;
  const pooled = (candidate.failedPages + baseline.failedPages) / (candidate.pages + baseline.pages);
  const standardError = Math.sqrt(pooled * (1 - pooled) * (1 / candidate.pages + 1 / baseline.pages));
  // Both versions failing on every page (or on none) is no evidence against the candidate.
  const z = standardError === 0 ? 0 : (candidateRate - baselineRate) / standardError;
  if (z <= options.zThreshold) return { kind: "not-worse", z };
  return {
    kind: "worse",
    z,
    detail:
      `automatic rollback of v${version}: fallbacks ${percentOf(candidate.failedPages, candidate.pages)} of ${thousands(candidate.pages)} pages` +
      ` vs ${percentOf(baseline.failedPages, baseline.pages)} of ${thousands(baseline.pages)} (z = ${z.toFixed(1)}, one-sided p < 0.001)`,
  };
}
