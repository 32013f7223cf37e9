/**
 * An experiment's counts as stored (one row per variant, in each of its `ExperimentStats` shards),
 * merged and turned into the report: totals, and the sample ratio check. Pure, so the report is the
 * same whether the rows came from one object or were summed over several, and the shard an update
 * lands on is a pure function of the queue message it came in.
 * @module
 */
import { hash } from "./bucketing.ts";
import { type SrmResult, sampleRatioMismatch } from "./srm.ts";

export type VariantStats = {
  trials: number;
  successes: number;
  conversions: number;
  revenue: number;
};

/** One variant's row as an `ExperimentStats` object stores it. */
export type VariantRow = VariantStats & {
  variant: string;
  /** Sum of the bandit's shares for this variant over the exposures that carried them. */
  planned: number;
  /** Exposures of this variant that carried the bandit's shares. */
  plannedTrials: number;
};

/** How the sample ratio check was made, named in the report. */
export type SrmCheck = "chi-square against the planned weights" | "chi-square against the bandit's shares at each assignment";

export interface ExperimentReport {
  variants: Record<string, VariantStats>;
  /** Sums over the variants: each conversion is credited to one variant of the experiment. */
  totals: VariantStats;
  srm: SrmResult & {
    check: SrmCheck;
    /** Exposures the check looked at (for a bandit, those with recorded shares). */
    exposures: number;
  };
}

/** The most shards one experiment's counts may be spread over (`EXPERIMENT_STATS_SHARDS`). */
export const MAX_EXPERIMENT_SHARDS = 64;

/**
 * The shard (0..shards-1) that counts the updates of one queue message, from its `<kind>:<id>`.
 * Every id the objects remember to apply an update once is the message's own or is named by it
 * (a click's or conversion's message id is its record id), so a redelivery always meets the shard
 * that remembers it. The ids are made by Tailor (random decision and batch ids), never by a browser.
 */
export function statsShard(delivery: string, shards: number): number {
  if (shards <= 1) return 0;
  return Math.min(shards - 1, Math.floor((hash("tailor-experiment-stats", delivery, 2) ?? 0) * shards));
}

/** The rows of several shards summed per variant. */
export function mergeRows(shards: readonly (readonly VariantRow[])[]): VariantRow[] {
  const merged = new Map<string, VariantRow>();
  for (const rows of shards)
    for (const row of rows) {
      const sum = merged.get(row.variant);
      if (sum === undefined) {
        merged.set(row.variant, { ...row });
        continue;
      }
      sum.trials += row.trials;
      sum.successes += row.successes;
      sum.conversions += row.conversions;
      sum.revenue += row.revenue;
      sum.planned += row.planned;
      sum.plannedTrials += row.plannedTrials;
    }
  return [...merged.values()];
}

/** The live totals per variant, as the bandit reads them. */
export function countsOf(rows: readonly VariantRow[]): Record<string, VariantStats> {
  return Object.fromEntries(
    rows.map(({ variant, trials, successes, conversions, revenue }) => [variant, { trials, successes, conversions, revenue }]),
  );
}

/**
 * Counts per planned variant and the sample ratio check: a fixed split against its weights (equal
 * when not given); a bandit's exposures against the sum of the shares each was assigned with.
 */
export function reportOf(
  rows: readonly VariantRow[],
  variants: readonly string[],
  weights?: readonly number[],
  allocation: "fixed" | "bandit" = "fixed",
): ExperimentReport {
  const byVariant = new Map(rows.map((row) => [row.variant, row]));
  const all = Object.fromEntries(
    variants.map((variant): [string, VariantStats] => {
      const row = byVariant.get(variant);
      return [
        variant,
        { trials: row?.trials ?? 0, successes: row?.successes ?? 0, conversions: row?.conversions ?? 0, revenue: row?.revenue ?? 0 },
      ];
    }),
  );
  const totals = Object.values(all).reduce(
    (sum, row) => ({
      trials: sum.trials + row.trials,
      successes: sum.successes + row.successes,
      conversions: sum.conversions + row.conversions,
      revenue: sum.revenue + row.revenue,
    }),
    { trials: 0, successes: 0, conversions: 0, revenue: 0 },
  );
  if (allocation === "bandit") {
    const observed = variants.map((variant) => byVariant.get(variant)?.plannedTrials ?? 0);
    const planned = variants.map((variant) => byVariant.get(variant)?.planned ?? 0);
    return {
      variants: all,
      totals,
      srm: {
        ...sampleRatioMismatch(observed, planned),
        check: "chi-square against the bandit's shares at each assignment",
        exposures: observed.reduce((sum, count) => sum + count, 0),
      },
    };
  }
  return {
    variants: all,
    totals,
    srm: {
      ...sampleRatioMismatch(
        variants.map((variant) => all[variant]?.trials ?? 0),
        weights,
      ),
      check: "chi-square against the planned weights",
      exposures: totals.trials,
    },
  };
}
