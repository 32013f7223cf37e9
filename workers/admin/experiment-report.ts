/**
 * An experiment's report as the admin API and dashboard show it: the counts and sample ratio check
 * from its `ExperimentStats` object, with what a reader needs to interpret them — how the split was
 * planned, what a bandit learns from, and how clicks and conversions were attributed.
 * @module
 */

import { type ExperimentReport, reportOf } from "../../shared/experiments/stats-report.ts";
import type { Experiment } from "../../shared/rules/document.ts";
import { recordSampleRatioMismatch } from "../common/analytics.ts";
import { settings } from "../common/config.ts";
import { readExperimentRows } from "../common/experiment-shards.ts";

/** The report of one experiment, as `GET /admin/api/experiments/:id` returns it. */
export type ExperimentReportView = ExperimentReport & {
  id: string;
  allocation: Experiment["allocation"];
  weights: number[] | null;
  /** What the bandit learns from; null for a fixed split, which learns nothing. */
  reward: "clicks" | "conversions" | null;
  /** How a click or conversion is credited: to one variant, the experiment's last exposure before it. */
  attribution: { model: "last-exposure"; windowHours: number; description: string };
  /**
   * The objects the counts were summed from: `complete` is false when some shards did not answer,
   * and then `missing` names them and every count above lacks their share.
   */
  shards: { count: number; missing: number[]; complete: boolean };
};

/** Reads the live counts of experiment `id` and describes them. */
export async function experimentReport(env: Env, id: string, experiment: Experiment): Promise<ExperimentReportView> {
  const { rows, shards, missing } = await readExperimentRows(env, id);
  const report = reportOf(rows, experiment.variants, experiment.weights, experiment.allocation);
  const complete = missing.length === 0;
  // The "sample ratio mismatch" alert counts these (docs/analytics.md); not from a partial sum.
  if (complete && report.srm.flagged) recordSampleRatioMismatch(env.ANALYTICS, id, report.srm.pValue, report.srm.exposures);
  const windowHours = settings(env).ATTRIBUTION_WINDOW_HOURS;
  return {
    id,
    allocation: experiment.allocation,
    weights: experiment.weights ?? null,
    reward: experiment.allocation === "bandit" ? (experiment.reward ?? "clicks") : null,
    attribution: { model: "last-exposure", windowHours, description: `last exposure within ${windowHours} h` },
    ...report,
    shards: { count: shards, missing, complete },
  };
}
