/**
 * An experiment's report as the admin API and dashboard show it: the counts and sample ratio check
 * from its `ExperimentStats` object, with what a reader needs to interpret them — how the split was
 * planned, what a bandit learns from, and how clicks and conversions were attributed.
 * @module
 */

import type { ExperimentReport } from "../../durable-objects/experiment-stats.ts";
import type { Experiment } from "../../shared/rules/document.ts";
import { settings } from "../common/config.ts";
import { placed } from "../common/placement.ts";

/** The report of one experiment, as `GET /admin/api/experiments/:id` returns it. */
export type ExperimentReportView = ExperimentReport & {
  id: string;
  allocation: Experiment["allocation"];
  weights: number[] | null;
  /** What the bandit learns from; null for a fixed split, which learns nothing. */
  reward: "clicks" | "conversions" | null;
  /** How a click or conversion is credited: to one variant, the experiment's last exposure before it. */
  attribution: { model: "last-exposure"; windowHours: number; description: string };
};

/** Reads the live counts of experiment `id` and describes them. */
export async function experimentReport(env: Env, id: string, experiment: Experiment): Promise<ExperimentReportView> {
  const report = await placed(env.EXPERIMENT_STATS, env)
    .getByName(id)
    .report(experiment.variants, experiment.weights, experiment.allocation);
  const windowHours = settings(env).ATTRIBUTION_WINDOW_HOURS;
  return {
    id,
    allocation: experiment.allocation,
    weights: experiment.weights ?? null,
    reward: experiment.allocation === "bandit" ? (experiment.reward ?? "clicks") : null,
    attribution: { model: "last-exposure", windowHours, description: `last exposure within ${windowHours} h` },
    ...report,
  };
}
