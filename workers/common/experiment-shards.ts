/**
 * An experiment's counts spread over several `ExperimentStats` objects, so a popular experiment is
 * not capped at one object's throughput (docs/decisions/0020-sharded-experiment-stats.md).
 *
 * Shard 0 is the object named after the experiment (where every count lived before shards), shard
 * n > 0 is `<experiment>#<n>` (experiment names cannot contain `#`). The number of shards is fixed
 * per experiment at its first write and kept by shard 0 (`ExperimentStats.layout`); since it never
 * changes, each isolate asks once and keeps the answer. The consumer sends each queue message's
 * updates to one shard (`statsShard`), and readers sum all shards.
 * @module
 */
import type { ExperimentStats, StatsDelivery } from "../../durable-objects/experiment-stats.ts";
import { mergeRows, statsShard, type VariantRow } from "../../shared/experiments/stats-report.ts";
import { settings } from "./config.ts";
import { placed } from "./placement.ts";

/** Layouts already fixed, per jurisdiction and experiment; they never change, so they are kept. */
const layouts = new Map<string, number>();
/** Bounds the map for an isolate that sees many experiments over its life. */
const MAX_LAYOUTS = 10_000;

function layoutKey(env: Env, experiment: string): string {
  return `${settings(env).DATA_JURISDICTION}\u0000${experiment}`;
}

function keep(env: Env, experiment: string, shards: number): number {
  if (layouts.size >= MAX_LAYOUTS) layouts.clear();
  layouts.set(layoutKey(env, experiment), shards);
  return shards;
}

/** The object name of shard `shard` of `experiment`. */
export function statsObjectName(experiment: string, shard: number): string {
  return shard === 0 ? experiment : `${experiment}#${shard}`;
}

function stub(env: Env, experiment: string, shard: number): DurableObjectStub<ExperimentStats> {
  return placed(env.EXPERIMENT_STATS, env).getByName(statsObjectName(experiment, shard));
}

/** How many shards `experiment` writes to: fixed by its first write (this deployment's setting then). */
export async function layoutForWrite(env: Env, experiment: string): Promise<number> {
  const known = layouts.get(layoutKey(env, experiment));
  if (known !== undefined) return known;
  return keep(env, experiment, await stub(env, experiment, 0).layout(settings(env).EXPERIMENT_STATS_SHARDS));
}

/** How many shards hold `experiment`'s counts; 1 before its first write (shard 0 then holds all). */
async function layoutForRead(env: Env, experiment: string): Promise<number> {
  const known = layouts.get(layoutKey(env, experiment));
  if (known !== undefined) return known;
  const stored = await stub(env, experiment, 0).storedLayout();
  return stored === null ? 1 : keep(env, experiment, stored);
}

/**
 * Applies one consumer batch's updates for `experiment`: each queue message's updates go to its
 * shard, one `add` call per shard touched. Rejects if any shard failed (the messages are then
 * retried, and the shards that did count them skip them as already seen).
 */
export async function addExperimentUpdates(env: Env, experiment: string, deliveries: readonly StatsDelivery[]): Promise<void> {
  const shards = await layoutForWrite(env, experiment);
  const byShard = new Map<number, StatsDelivery[]>();
  for (const delivery of deliveries) {
    const shard = statsShard(delivery.delivery, shards);
    const group = byShard.get(shard);
    if (group === undefined) byShard.set(shard, [delivery]);
    else group.push(delivery);
  }
  await Promise.all([...byShard].map(([shard, group]) => stub(env, experiment, shard).add(group)));
}

/** An experiment's rows summed over the shards that answered, and which did not. */
export interface MergedRows {
  rows: VariantRow[];
  /** How many shards hold the experiment's counts. */
  shards: number;
  /** Shards whose counts are missing from `rows` (they did not answer). */
  missing: number[];
}

/** Reads every shard of `experiment` in parallel and sums the rows of those that answered. */
export async function readExperimentRows(env: Env, experiment: string): Promise<MergedRows> {
  const shards = await layoutForRead(env, experiment);
  const answers = await Promise.allSettled(Array.from({ length: shards }, (_, shard) => stub(env, experiment, shard).rows()));
  const rows: VariantRow[][] = [];
  const missing: number[] = [];
  answers.forEach((answer, shard) => {
    if (answer.status === "fulfilled") rows.push(answer.value);
    else missing.push(shard);
  });
  if (missing.length > 0)
    console.error(
      JSON.stringify({
        message: "experiment shards did not answer",
        experiment,
        missing,
        error: String(answers.find((answer) => answer.status === "rejected")?.reason),
      }),
    );
  return { rows: mergeRows(rows), shards, missing };
}
