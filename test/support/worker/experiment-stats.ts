/**
 * An experiment's counts as the bandit and the report see them: every shard of its
 * `ExperimentStats` summed (workers/common/experiment-shards.ts), not one object's share.
 */
import { env } from "cloudflare:workers";
import { countsOf, type VariantStats } from "../../../shared/experiments/stats-report.ts";
import { readExperimentRows } from "../../../workers/common/experiment-shards.ts";

/** The summed counts per variant of `experiment`; throws when a shard did not answer. */
export async function experimentCounts(experiment: string, on: Env = env): Promise<Record<string, VariantStats>> {
  const merged = await readExperimentRows(on, experiment);
  if (merged.missing.length > 0) throw new Error(`shards ${merged.missing.join(", ")} did not answer`);
  return countsOf(merged.rows);
}
