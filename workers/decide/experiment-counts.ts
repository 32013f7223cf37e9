/**
 * Live success/trial counts for bandit experiments, as the decision step sees them: read from the
 * experiment's `ExperimentStats` object in the background and held in isolate memory, never
 * waited for on the page path. A decision uses counts at most `EXPERIMENT_STATS_TTL_MS` old (plus
 * one refresh); before the first read, the prior counts in the rules document.
 * @module
 */
import type { VariantCounts } from "../../shared/models/thompson.ts";
import type { CompiledRules } from "../../shared/rules/compile.ts";
import { settings } from "../common/config.ts";
import { placed } from "../common/placement.ts";

interface Held {
  counts: Record<string, VariantCounts>;
  fetchedAt: number;
}

const held = new Map<string, Held>();
const refreshing = new Set<string>();

async function refresh(env: Env, experiment: string, now: number): Promise<void> {
  refreshing.add(experiment);
  try {
    const stats = await placed(env.EXPERIMENT_STATS, env).getByName(experiment).counts();
    held.set(experiment, {
      counts: Object.fromEntries(
        Object.entries(stats).map(([variant, row]) => [variant, { successes: row.successes, trials: row.trials }]),
      ),
      fetchedAt: now,
    });
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
    if ((known === undefined || now - known.fetchedAt >= ttl) && !refreshing.has(experiment)) waitUntil(refresh(env, experiment, now));
  }
  return (experiment) => held.get(experiment)?.counts;
}
