/**
 * Live success/trial counts for bandit experiments, as the decision step sees them: read from the
 * experiment's `ExperimentStats` shards (all in parallel, summed) in the background and held in
 * isolate memory, never waited for on the page path. When a shard does not answer, the counts held
 * are kept rather than replaced by a partial sum. A decision uses counts at most `EXPERIMENT_STATS_TTL_MS` old (plus
 * one refresh); before the first read, the prior counts in the rules document.
 * @module
 */
import { countsOf, type VariantStats } from "../../shared/experiments/stats-report.ts";
import type { VariantCounts } from "../../shared/models/thompson.ts";
import type { CompiledRules } from "../../shared/rules/compile.ts";
import { prepareBanditShares } from "../../shared/rules/decide.ts";
import { settings } from "../common/config.ts";
import { readExperimentRows } from "../common/experiment-shards.ts";

interface Held {
  /** Successes as the experiment's `reward` says, per reward (built once per read, not per page). */
  counts: Record<Reward, Record<string, VariantCounts>>;
  fetchedAt: number;
}

type Reward = "clicks" | "conversions";

/** Trials are exposures either way; a success is a click or a conversion credited to the variant. */
function countsFor(rows: Record<string, VariantStats>, reward: Reward): Record<string, VariantCounts> {
  return Object.fromEntries(
    Object.entries(rows).map(([variant, row]) => [
      variant,
      { successes: reward === "conversions" ? row.conversions : row.successes, trials: row.trials },
    ]),
  );
}

const held = new Map<string, Held>();
const refreshing = new Set<string>();

async function refresh(env: Env, rules: CompiledRules, experiment: string, now: number): Promise<void> {
  refreshing.add(experiment);
  try {
    const merged = await readExperimentRows(env, experiment);
    // A partial sum would look like fewer trials and successes than the bandit has already seen.
    if (merged.missing.length > 0) return;
    const rows = countsOf(merged.rows);
    const counts = { clicks: countsFor(rows, "clicks"), conversions: countsFor(rows, "conversions") };
    // The bandit's shares for these counts, estimated here, after the response, not on a page.
    const compiled = rules.rules.find((rule) => rule.experiment?.id === experiment)?.experiment;
    if (compiled !== undefined) prepareBanditShares(compiled, counts[rules.document.experiments[experiment]?.reward ?? "clicks"]);
    held.set(experiment, { counts, fetchedAt: now });
  } catch (error) {
    console.error(JSON.stringify({ message: "experiment counts unavailable", experiment, error: String(error) }));
  } finally {
    refreshing.delete(experiment);
  }
}

/** The counts to decide with; stale or missing ones are refreshed after the response. */
export function liveCounts(
  env: Env,
  rules: CompiledRules,
  now: number,
  waitUntil: (promise: Promise<unknown>) => void,
): (experiment: string) => Readonly<Record<string, VariantCounts>> | undefined {
  const ttl = settings(env).EXPERIMENT_STATS_TTL_MS;
  for (const experiment of rules.bandits) {
    const known = held.get(experiment);
    if ((known === undefined || now - known.fetchedAt >= ttl) && !refreshing.has(experiment))
      waitUntil(refresh(env, rules, experiment, now));
  }
  return (experiment) => held.get(experiment)?.counts[rules.document.experiments[experiment]?.reward ?? "clicks"];
}
